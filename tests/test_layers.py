"""lenet/layers.py beyond the layer tests (which run on it and on the task files alike, see
conftest.py): its settings (Tuning, settings, tuning), the building blocks lenet.fused uses, and
what it may import."""
import ast
import dataclasses
import sys
import tracemalloc

import numpy as np
import pytest

from lenet import layers
from lenet.tasks import ROOT

from checks import TINY_CHUNKS
from oracles import identity


def test_imports_numpy_and_the_standard_library_only():
    """layers.py imports numpy and standard-library modules only, so that it loads by file path
    under another NumPy (tests/test_numpy1.py does) as the task files do."""
    tree = ast.parse((ROOT / "lenet" / "layers.py").read_text())
    found = {alias.name.split(".")[0] for node in ast.walk(tree)
             if isinstance(node, ast.Import) for alias in node.names}
    found |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom)}
    assert "numpy" in found
    assert not found - {"numpy"} - set(sys.stdlib_module_names), found


def test_every_setting_is_documented():
    """Each field of Tuning is named in its docstring, where its meaning is written."""
    doc = layers.Tuning.__doc__
    missing = [field.name for field in dataclasses.fields(layers.Tuning) if field.name not in doc]
    assert not missing


def test_tuning_sets_fields_for_a_block_and_restores_them():
    """Within tuning(...) the settings have the changed fields and the others as before; after the
    block, after an error inside it, and after nested blocks, the previous settings are back."""
    before = layers.settings
    with layers.tuning(gemm_macs=123, run_bytes=0) as inside:
        assert layers.settings is inside
        assert (inside.gemm_macs, inside.run_bytes) == (123, 0)
        assert inside.thread_macs == before.thread_macs
        with layers.tuning(gemm_macs=7):
            assert (layers.settings.gemm_macs, layers.settings.run_bytes) == (7, 0)
        assert layers.settings is inside
    assert layers.settings is before
    with pytest.raises(RuntimeError, match="inside"):
        with layers.tuning(limit_bytes=1):
            raise RuntimeError("inside")
    assert layers.settings is before


def test_unknown_setting_is_refused():
    """A field Tuning does not have is a TypeError before the block runs; nothing changes; the
    settings themselves cannot be changed in place (frozen)."""
    before = layers.settings
    with pytest.raises(TypeError):
        with layers.tuning(gemm_mac=1):
            pytest.fail("the block ran")
    assert layers.settings is before
    with pytest.raises(dataclasses.FrozenInstanceError):
        layers.settings.gemm_macs = 1


def peak(function, *args):
    """Bytes allocated at the peak of function(*args), as tracemalloc sees them."""
    tracemalloc.start()
    try:
        function(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


SMALLEST_CHUNKS = dict(conv_forward_chunk_bytes=1, conv_backward_chunk_bytes=1)


@pytest.mark.parametrize("m, size, changes", [
    (8, 28, SMALLEST_CHUNKS),  # one image a chunk, 8 in the usual chunk
    (1, 64, TINY_CHUNKS),      # one output row a chunk (limit_bytes 1), the image in the usual
], ids=["chunk-bytes", "limit-bytes"])
def test_settings_are_read_at_each_call(m, size, changes):
    """The chunks follow the settings in force when a layer runs: in smaller chunks (one image,
    or one output row of one image), conv_forward and conv_backward need a fraction of the
    memory their usual chunk takes (the whole batch here), and give the same results to float
    precision."""
    rng = np.random.default_rng(0)
    A_prev, W = rng.standard_normal((m, size, size, 1)), rng.standard_normal((5, 5, 1, 6))
    b = rng.standard_normal((1, 1, 1, 6))
    dZ = rng.standard_normal((m, size, size, 6))
    calls = [(layers.conv_forward, A_prev, W, b, identity),
             (layers.conv_backward, dZ, A_prev, W, b)]
    for function, *args in calls:
        usual, whole = peak(function, *args), function(*args)
        with layers.tuning(**changes):
            small, parts = peak(function, *args), function(*args)
        whole, parts = [x if isinstance(x, tuple) else (x,) for x in (whole, parts)]
        outputs = sum(x.nbytes for x in whole)
        assert small - outputs < (usual - outputs) / 4, (function.__name__, usual, small, outputs)
        for got, want in zip(parts, whole):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_padded_slab_into_a_kept_array():
    """padded_slab builds the zero-padded input in a given array (writing only where the input
    lands, so a kept array's padding stays zero), refuses one of another shape, and returns the
    input's own images where nothing is padded."""
    A_prev = np.random.default_rng(1).standard_normal((2, 4, 5, 3))
    geometry = (3, 3, 1, 1, 1, 2)  # kh, kw, sh, sw, ph, pw
    out = np.zeros((2, 6, 9, 3))
    slab, step_h, step_w = layers.padded_slab(A_prev, 0, 2, 0, 4, geometry, np.float64, out)
    assert slab is out and (step_h, step_w) == (1, 1)
    np.testing.assert_array_equal(out, np.pad(A_prev, ((0, 0), (1, 1), (2, 2), (0, 0))))
    with pytest.raises(ValueError, match="out"):
        layers.padded_slab(A_prev, 0, 2, 0, 4, geometry, np.float64, np.zeros((2, 6, 8, 3)))
    slab, _, _ = layers.padded_slab(A_prev, 0, 1, 0, 2, (3, 3, 1, 1, 0, 0), np.float64)
    assert np.shares_memory(slab, A_prev) and slab.shape == (1, 4, 5, 3)


@pytest.mark.parametrize("channels", [1, 2, 6])
@pytest.mark.parametrize("step", [(1, 1), (2, 2), (3, 1)])
def test_window_rows_and_columns_into_a_given_array(channels, step):
    """window_view is a view of every window; window_rows and window_columns copy its windows
    into a given C-contiguous array (a row or a column per window, ordered as W is flattened)
    and return it reshaped; a non-contiguous or wrongly sized array is refused."""
    slab = np.random.default_rng(2).standard_normal((2, 9, 8, channels))
    kh, kw = 3, 2
    rows, columns = (9 - kh) // step[0] + 1, (8 - kw) // step[1] + 1
    want = np.array([slab[n, y * step[0]:y * step[0] + kh, x * step[1]:x * step[1] + kw].ravel()
                     for n in range(2) for y in range(rows) for x in range(columns)])
    windows = layers.window_view(slab, kh, kw, *step)
    assert windows.shape == (2, rows, columns, kh, kw, channels) and np.shares_memory(windows, slab)
    out = np.empty(want.shape)
    got = layers.window_rows(windows, out)
    assert np.shares_memory(got, out)
    np.testing.assert_array_equal(got, want)
    out = np.empty(want.T.shape)
    got = layers.window_columns(windows, out)
    assert np.shares_memory(got, out)
    np.testing.assert_array_equal(got, want.T)
    np.testing.assert_array_equal(layers.window_matrix(slab, kh, kw, *step), want)
    for bad in (np.empty(want.T.shape).T, np.empty(want.size + 1)):
        with pytest.raises(ValueError, match="out"):
            layers.window_rows(windows, bad)


def strided_views(rng, dtype):
    """Views of fresh arrays (a NaN, -0.0 and inf first) with runs along the last axis short and
    long, in memory or strided, reversed, transposed, overlapping, empty, of one value."""
    for shape in [(3, 4, 5, 6), (2, 7, 1, 70), (5, 1, 3, 1), (2, 3, 0, 4), (1, 1, 1, 300)]:
        base = rng.standard_normal(shape).astype(dtype)
        base.reshape(-1)[:3] = [np.nan, -0.0, np.inf][:base.size]
        yield base
        yield base[:, ::2, :, :]
        yield base[::-1, :, ::2, 1:]
        yield base[..., ::2]
        yield base[..., ::-1]
        yield base.transpose(0, 2, 1, 3)
        yield base.transpose(3, 1, 2, 0)
        yield np.lib.stride_tricks.as_strided(  # overlapping runs, as windows are
            base, (shape[0], max(0, shape[3] - 1), 2), (base.strides[0], base.strides[3],
                                                        base.strides[3]), writeable=False)


@pytest.mark.parametrize("run_bytes", [None, 0, 2 ** 62])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ">f8"])
def test_copy_runs_is_numpys_copy(run_bytes, dtype):
    """copy_runs gives np.ascontiguousarray's array, and copies into a given out as np.copyto
    does, whether runs go as items of bytes (run_bytes unbounded) or value by value (0), NaN
    payloads and signed zeros included; the viewed array is left as it was."""
    changes = {} if run_bytes is None else dict(run_bytes=run_bytes)
    rng = np.random.default_rng(7)
    with layers.tuning(**changes):
        for view in strided_views(rng, dtype):
            before = view.copy()
            got = layers.copy_runs(view)
            assert got.flags.c_contiguous and got.dtype == view.dtype and got.shape == view.shape
            assert bits(got) == bits(before)
            out = np.zeros(view.shape[:-1] + (view.shape[-1] + 3,), view.dtype)[..., 1:-2]
            assert layers.copy_runs(view, out) is out
            assert bits(out) == bits(before) and bits(view) == bits(before)


def bits(array):
    """The bytes of array's values in C order."""
    return np.ascontiguousarray(array).tobytes()
