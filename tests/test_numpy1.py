"""Tasks 0-3 under NumPy 1.x, the graders' NumPy: the task files and lenet/layers.py each give
the same results as under this NumPy, on shapes that take every path of lenet/layers.py
(channel-first and channel-last windows, windows that tile, the input gradient by rows and by
taps, pooled columns as runs and one by one, max and average gradients by blocks and element by
element), with ties, NaN, inf and -0.0.

One script computes them all and saves them, once for the task files and once for
lenet/layers.py (both loaded by path); it runs in $NUMPY1_PYTHON (a venv holding
numpy==1.26.4 alone; .ci/run makes one) and in this interpreter. Pooling has no BLAS in it and
must give the same bits; the convolutions go through each NumPy's own OpenBLAS, whose kernels may
sum in another order, so they must agree to float precision. (A float32 A_prev with a float64 dZ
is left out: there the two NumPys differ on purpose, see test_2_conv_backward.py.)
"""
import subprocess
import sys

import numpy as np
import pytest

from checks import layer_source

SCRIPT = r"""
import importlib.util, sys
import numpy as np

def function(path, name):
    spec = importlib.util.spec_from_file_location(name + "_source", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)

conv_forward = function(sys.argv[1], "conv_forward")
pool_forward = function(sys.argv[2], "pool_forward")
conv_backward = function(sys.argv[3], "conv_backward")
pool_backward = function(sys.argv[4], "pool_backward")
rng = np.random.default_rng(45)
out = {}
for dtype in ("float16", "float32", "float64"):
    for c in (1, 3, 6, 9):
        for kernel, stride in (((2, 2), (2, 2)), ((3, 2), (3, 2)), ((2, 2), (3, 3)),
                               ((3, 3), (2, 1))):
            A = (np.round(rng.standard_normal((3, 9, 11, c)) * 2) / 2).astype(dtype)  # ties
            A[0, 1, 2, 0] = np.nan
            h, w = (9 - kernel[0]) // stride[0] + 1, (11 - kernel[1]) // stride[1] + 1
            dA = rng.standard_normal((3, h, w, c)).astype(dtype)
            dA[1, 0, 0, 0], dA[2, 0, 0, 0], dA[0, 1, 1, 0] = -0.0, np.inf, np.nan
            for mode in ("max", "avg"):
                key = "pool {} {} {} {} {}".format(dtype, c, kernel, stride, mode)
                out[key + " forward"] = pool_forward(A, kernel, stride, mode)
                out[key + " backward"] = pool_backward(dA, A, kernel, stride, mode)
for dtype in ("float32", "float64"):
    for c_prev, kernel, padding, stride in ((1, (5, 5), "same", (1, 1)),
                                            (3, (3, 3), "same", (1, 1)),
                                            (6, (5, 5), "valid", (1, 1)),
                                            (3, (3, 2), (1, 2), (2, 1)),
                                            (2, (2, 3), "valid", (1, 2)),
                                            (4, (1, 1), "valid", (1, 1)),
                                            (1, (9, 11), "valid", (1, 1))):
        A = rng.standard_normal((4, 9, 11, c_prev)).astype(dtype)
        W = rng.standard_normal(kernel + (c_prev, 5)).astype(dtype)
        b = rng.standard_normal((1, 1, 1, 5)).astype(dtype)
        Z = conv_forward(A, W, b, lambda z: z, padding, stride)
        dZ = rng.standard_normal(Z.shape).astype(dtype)
        key = "conv {} {} {} {} {}".format(dtype, c_prev, kernel, padding, stride)
        out[key + " Z"] = Z
        for name, array in zip(("dA_prev", "dW", "db"), conv_backward(dZ, A, W, b, padding,
                                                                        stride)):
            out[key + " " + name] = array
np.savez(sys.argv[5], numpy=np.array(np.__version__), **out)
"""


def results(python, implementation, path):
    """Run SCRIPT with `python` on the implementation's files (the four task files, or
    lenet/layers.py four times), loaded by path; return its arrays by name."""
    sources = [str(layer_source(implementation, name)) for name in
               ("conv_forward", "pool_forward", "conv_backward", "pool_backward")]
    done = subprocess.run([python, "-c", SCRIPT, *sources, str(path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with np.load(path) as saved:
        return {name: saved[name] for name in saved.files}


@pytest.mark.slow
def test_tasks_under_numpy1_give_this_numpys_results(tmp_path, numpy1_python, implementation):
    """Every pooling output and gradient has the same bits (NaN and signed zeros included) under
    NumPy 1.x as here, and every convolution output and gradient agrees to float precision: the
    task files, and lenet.layers."""
    old = results(numpy1_python, implementation, tmp_path / "numpy1.npz")
    new = results(sys.executable, implementation, tmp_path / "here.npz")
    assert str(old.pop("numpy")).startswith("1.") and not str(new.pop("numpy")).startswith("1.")
    assert old.keys() == new.keys() and len(old) == 3 * 4 * 4 * 2 * 2 + 2 * 7 * 4
    for name, want in new.items():
        got = old[name]
        assert got.dtype == want.dtype and got.shape == want.shape, name
        if name.startswith("pool"):
            assert got.tobytes() == want.tobytes(), name
        else:
            tolerance = 1e-12 if want.dtype == np.float64 else 1e-5
            scale = max(float(np.abs(want).max()), 1.0)
            assert float(np.abs(got - want).max()) <= tolerance * scale, name
