"""Peak memory of tasks 0-3 beyond the arrays each call returns: on a full MNIST-sized batch, and on
shapes that punish shortcuts (one image's windows larger than the budget, padding no window reads).
Each test runs on the task files and on lenet.layers (the fixtures of conftest.py).

Issue 10 bounds it at 64 MiB for any call; the implementations work in chunks of images, or of
output rows of one image.
tracemalloc sees numpy's allocations. The inputs are made before it starts, so what counts is what
a call allocates: its peak less the nbytes of its outputs. Run with `pytest -s` to see the numbers.
"""
import tracemalloc

import numpy as np
import pytest

from oracles import identity

# Every test here runs a full MNIST-sized batch or a shape larger than the budget: slow lane.
pytestmark = pytest.mark.slow

MIB = 2 ** 20
LIMIT = 64 * MIB
M = 50000  # images in the MNIST training set


def peak_beyond_outputs(function, *args, **kwargs):
    """Run function(*args, **kwargs) under tracemalloc; return (peak, peak less the outputs'
    nbytes), both in bytes allocated during the call. The outputs are dropped here."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        outputs = function(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        if started:
            tracemalloc.stop()
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    output_bytes = sum(output.nbytes for output in outputs)
    # the outputs were allocated during the call, so a peak below them means nothing was traced
    assert peak >= output_bytes > 0
    return peak, peak - output_bytes


def check(label, peak, beyond):
    """Print the measurement and assert that what the call needed beyond its outputs is <= LIMIT."""
    print(f"\n{label:<28} peak {peak / MIB:7.1f} MiB, beyond outputs {beyond / MIB:6.1f} MiB "
          f"(limit {LIMIT / MIB:.0f} MiB)")
    assert beyond <= LIMIT, f"{label} needs {beyond / MIB:.1f} MiB beyond its outputs"


def mnist_batch(rng, dtype):
    """A standard-normal A_prev of shape (50000, 28, 28, 1) in dtype."""
    return rng.standard_normal((M, 28, 28, 1), dtype=dtype)


def conv_parameters(rng, dtype):
    """W (3, 3, 1, 2) and b (1, 1, 1, 2), standard normal, in dtype."""
    return (rng.standard_normal((3, 3, 1, 2), dtype=dtype),
            rng.standard_normal((1, 1, 1, 2), dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_forward(conv_forward, dtype):
    """conv_forward, 3x3x1x2 'valid', identity activation: Z (50000, 26, 26, 2) plus <= 64 MiB."""
    rng = np.random.default_rng(0)
    A_prev = mnist_batch(rng, dtype)
    W, b = conv_parameters(rng, dtype)
    peak, beyond = peak_beyond_outputs(conv_forward, A_prev, W, b, identity, padding="valid")
    del A_prev, W, b
    check(f"conv_forward {np.dtype(dtype).name}", peak, beyond)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_backward(conv_backward, dtype):
    """conv_backward, 3x3x1x2 'valid', dZ (50000, 26, 26, 2): the three gradients plus <= 64 MiB."""
    rng = np.random.default_rng(1)
    A_prev = mnist_batch(rng, dtype)
    W, b = conv_parameters(rng, dtype)
    dZ = rng.standard_normal((M, 26, 26, 2), dtype=dtype)
    peak, beyond = peak_beyond_outputs(conv_backward, dZ, A_prev, W, b, padding="valid")
    del dZ, A_prev, W, b
    check(f"conv_backward {np.dtype(dtype).name}", peak, beyond)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_forward(pool_forward, mode):
    """pool_forward, 2x2 windows, stride 2, float32: the output (50000, 14, 14, 1) plus <= 64
    MiB."""
    A_prev = mnist_batch(np.random.default_rng(2), np.float32)
    peak, beyond = peak_beyond_outputs(pool_forward, A_prev, (2, 2), (2, 2), mode)
    del A_prev
    check(f"pool_forward {mode} float32", peak, beyond)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_backward(pool_backward, mode):
    """pool_backward, 2x2 windows, stride 2, float32, dA (50000, 14, 14, 1): dA_prev plus <= 64
    MiB."""
    rng = np.random.default_rng(3)
    A_prev = mnist_batch(rng, np.float32)
    dA = rng.standard_normal((M, 14, 14, 1), dtype=np.float32)
    peak, beyond = peak_beyond_outputs(pool_backward, dA, A_prev, (2, 2), (2, 2), mode)
    del dA, A_prev
    check(f"pool_backward {mode} float32", peak, beyond)


# Shapes that punish shortcuts (issue 10): (A_prev shape, W shape, padding, stride, dtype). Before,
# conv_backward needed 1,570 MiB on the first, 452 MiB on the second, 4,599 MiB on the third.
HOSTILE = [
    ((700, 28, 28, 1), (28, 28, 1, 1), "valid", (1, 1), np.float32),     # kernel = image
    ((8, 224, 224, 3), (16, 16, 3, 8), "valid", (16, 16), np.float32),   # patches
    ((3, 64, 64, 1), (3, 3, 1, 1), "same", (64, 64), np.float64),        # padding mostly unread
    ((1, 128, 128, 64), (7, 7, 64, 64), "same", (1, 1), np.float64),     # one image > budget
]


@pytest.mark.parametrize("shape, W_shape, padding, stride, dtype", HOSTILE)
def test_hostile_shapes(conv_forward, conv_backward, shape, W_shape, padding, stride, dtype):
    """conv_forward and conv_backward on each shape: outputs plus <= 64 MiB."""
    rng = np.random.default_rng(4)
    A_prev = rng.standard_normal(shape).astype(dtype)
    W = rng.standard_normal(W_shape).astype(dtype)
    b = rng.standard_normal((1, 1, 1, W_shape[3])).astype(dtype)
    dZ = rng.standard_normal(conv_forward(A_prev[:1], W, b, identity, padding, stride).shape[1:])
    dZ = np.repeat(dZ[None].astype(dtype), shape[0], axis=0)
    label = "x".join(map(str, shape)) + " " + "x".join(map(str, W_shape))
    check(f"conv_forward {label}",
          *peak_beyond_outputs(conv_forward, A_prev, W, b, identity, padding, stride))
    check(f"conv_backward {label}",
          *peak_beyond_outputs(conv_backward, dZ, A_prev, W, b, padding, stride))
