#!/usr/bin/env python3
"""Task 1: forward pass of a max or average pooling layer (NHWC) in NumPy."""
import numpy as np


def pool_forward(A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """Forward propagation over a pooling layer (no padding).

    out[n, y, x, c] = max (or mean) of A_prev[n, y * sh + i, x * sw + j, c]
    over the window 0 <= i < kh, 0 <= j < kw. Windows may overlap
    (stride < kernel) or leave gaps (stride > kernel).

    Parameters
    ----------
    A_prev : numpy.ndarray, shape (m, h_prev, w_prev, c)
        Output of the previous layer.
    kernel_shape : tuple (kh, kw)
        Size of the pooling window.
    stride : tuple (sh, sw)
        Strides of the pooling along height and width.
    mode : 'max' or 'avg'
        Maximum or average pooling.

    Returns
    -------
    numpy.ndarray, shape (m, h_new, w_new, c)
        h_new = (h_prev - kh) // sh + 1, likewise w_new. float32 gives
        float32, float64 gives float64, integers are computed in float64
        (float16 averages are summed in float32). A window holding a NaN
        pools to NaN under 'max' (as np.max; TensorFlow skips NaN). A_prev
        is not modified; big-endian arrays give native-order results.

    Raises
    ------
    TypeError
        If A_prev is not a real numpy.ndarray.
    ValueError
        On a wrong ndim, an unknown mode, a kernel or stride below 1, or a
        kernel larger than the input.
    """
    dtype, work, (m, h_new, w_new, c), (kh, kw, sh, sw) = (
        _check_pool_forward(A_prev, kernel_shape, stride, mode))
    reduce = np.maximum if mode == "max" else np.add
    out = np.empty((m, h_new, w_new, c), work)
    # Windows are separable: first over the kh rows of every window, all
    # columns, then over its kw columns; in chunks of images (or of output
    # rows of one large image) whose row results stay in cache.
    row_bytes = 2 * A_prev.shape[2] * c * work.itemsize  # see _pool_columns
    for n0, n1, y0, y1 in _chunks(m, h_new, row_bytes, CHUNK_BYTES):
        A = A_prev[n0:n1, y0 * sh:(y1 - 1) * sh + kh]  # rows these read
        rows = _combine(reduce, [A[:, i:i + sh * (y1 - y0 - 1) + 1:sh]
                                 for i in range(kh)],
                        np.empty((n1 - n0, y1 - y0) + A.shape[2:], work))
        # rows: (n, rows, w_prev, c) -> (n, rows, w_new, c)
        _pool_columns(reduce, rows, kw, sw, out[n0:n1, y0:y1])
    if mode == "avg":
        out /= kh * kw
    return out.astype(dtype, copy=False)


# The machinery below: argument checks and the reduction. Twins:
# _compute_dtype, _pair, _chunks and _copy_runs are copied in
# 0-conv_forward.py, 2-conv_backward.py and 3-pool_backward.py;
# _pool_geometry, _pool_columns and _combine in 3-pool_backward.py (each
# task file stands alone; tests/test_task_files.py keeps the copies
# identical).

CHUNK_BYTES = 2 ** 20  # work memory of a chunk: stays in cache (measured)
LIMIT_BYTES = 2 ** 24  # work memory of a chunk: split an image beyond this
SHORT_PIXEL_BYTES = 32  # pixels up to this size are pooled as runs of rows
RUN_BYTES = 256  # runs copied as one item of bytes up to this (_copy_runs)


def _check_pool_forward(A_prev, kernel_shape, stride, mode):
    """Check every argument; return (dtype, work dtype, output shape,
    (kh, kw, sh, sw))."""
    dtype = _compute_dtype("A_prev", A_prev)
    shape, geometry = _pool_geometry(A_prev, kernel_shape, stride, mode)
    # float16 averages are summed in float32, not rounded at every add
    work = np.promote_types(dtype, np.float32) if mode == "avg" else dtype
    return dtype, work, shape, geometry


def _pool_columns(reduce, rows, kw, sw, out):
    """out (n, rows, w_new, c) = reduce over the kw columns of every window
    of rows (n, rows, w_prev, c), windows sw columns apart.

    Strided windows over short pixels (2 to SHORT_PIXEL_BYTES bytes of
    channels) would make NumPy loop over a few values at a time, and a
    call's overhead per loop dominates (1.5x slower, float32, 6 channels).
    Those are reduced instead as runs over the whole flattened chunk, each
    column with the kw - 1 columns to its right (runs spilling into the next
    row are never read); then every sw-th column is copied, each pixel as
    one item of bytes (see _copy_runs). Other shapes: one reduce per window
    column.

    Twins: in 1-pool_forward.py and 3-pool_backward.py."""
    c, pixel_bytes = rows.shape[3], rows.shape[3] * rows.itemsize
    span = sw * (out.shape[2] - 1) + 1  # first window's start to last's
    if sw == 1 or c == 1 or pixel_bytes > SHORT_PIXEL_BYTES:
        return _combine(reduce, [rows[:, :, j:j + span:sw]
                                 for j in range(kw)], out)
    flat = rows.reshape(-1)
    size = flat.size - (kw - 1) * c
    wide = np.empty_like(rows)  # wide[..., x, :]: the window starting at x
    _combine(reduce, [flat[j * c:j * c + size] for j in range(kw)],
             wide.reshape(-1)[:size])
    return _copy_runs(wide[:, :, :span:sw], out)  # pixels as items of bytes


def _copy_runs(view, out=None):
    """out[...] = view; with out None, view as a C-contiguous array (itself
    if it is one, as np.ascontiguousarray).

    NumPy copies a strided view a run along its last axis at a time, and
    each run's call costs more than a short run's values: runs of up to
    RUN_BYTES in memory are copied instead as one item of bytes each (1.7x
    faster on LeNet-5's windows and pooled pixels).

    Twins: in all four task files 0-3."""
    if out is None:
        if view.flags.c_contiguous:
            return view
        out = np.empty(view.shape, view.dtype)
    run_bytes = view.shape[-1] * view.itemsize
    if (0 < run_bytes <= RUN_BYTES and view.dtype == out.dtype
            and view.strides[-1] == out.strides[-1] == view.itemsize):
        run = np.dtype((np.void, run_bytes))
        np.copyto(out.view(run), view.view(run))
    else:
        np.copyto(out, view)
    return out


def _compute_dtype(name, array):
    """Check that `array` is a real ndarray; return the dtype to compute in.

    Twins: in all four task files 0-3."""
    if not isinstance(array, np.ndarray):
        raise TypeError("{} must be a numpy.ndarray, got {}".format(
            name, type(array).__name__))
    if array.dtype.kind in "biu":
        return np.dtype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError("{} must hold real numbers, got dtype {}".format(
            name, array.dtype))
    return array.dtype.newbyteorder("=")  # big-endian in, native out


def _pair(name, value, low):
    """Return `value` as a tuple of two ints >= low, else raise ValueError.

    Twins: in all four task files 0-3."""
    if (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            and v >= low for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError("{} must be a pair of ints >= {}, got {!r}".format(
        name, low, value))


def _pool_geometry(A_prev, kernel_shape, stride, mode):
    """Check A_prev's shape, kernel_shape, stride and mode; return the
    output shape (m, h_new, w_new, c) and (kh, kw, sh, sw).

    Twins: in 1-pool_forward.py and 3-pool_backward.py."""
    if A_prev.ndim != 4 or 0 in A_prev.shape[1:]:
        raise ValueError("A_prev must have shape (m, h_prev, w_prev, c) with "
                         "h_prev, w_prev, c >= 1, got shape {}".format(
                             A_prev.shape))
    kh, kw = _pair("kernel_shape", kernel_shape, 1)
    sh, sw = _pair("stride", stride, 1)
    if mode not in ("max", "avg"):
        raise ValueError("mode must be 'max' or 'avg', got {!r}".format(mode))
    m, h_prev, w_prev, c = A_prev.shape
    if kh > h_prev or kw > w_prev:
        raise ValueError("kernel_shape {} is larger than the input {}x{} of "
                         "A_prev {}".format((kh, kw), h_prev, w_prev,
                                            A_prev.shape))
    h_new = (h_prev - kh) // sh + 1
    w_new = (w_prev - kw) // sw + 1
    return (m, h_new, w_new, c), (kh, kw, sh, sw)


def _chunks(m, h_new, row_bytes, budget):
    """(n0, n1, y0, y1): images n0:n1, output rows y0:y1, covering the
    batch in order, at `row_bytes` of work memory per output row. A chunk
    is whole images, about `budget` bytes (at least one image), or rows of
    one image when one image would need more than LIMIT_BYTES.

    Twins: in all four task files 0-3."""
    per_image = max(1, h_new * row_bytes)
    if per_image <= LIMIT_BYTES:
        images = max(1, budget // per_image)
        for n0 in range(0, m, images):
            yield n0, min(m, n0 + images), 0, h_new
        return
    rows = max(1, LIMIT_BYTES // max(1, row_bytes))
    for n in range(m):
        for y0 in range(0, h_new, rows):
            yield n, n + 1, y0, min(h_new, y0 + rows)


def _combine(reduce, parts, out):
    """out = reduce(... reduce(parts[0], parts[1]) ..., parts[-1]): the
    elementwise max or sum of equally shaped arrays, in out's dtype.

    Twins: in 1-pool_forward.py and 3-pool_backward.py."""
    if len(parts) == 1:
        out[...] = parts[0]
    else:
        reduce(parts[0], parts[1], out=out, dtype=out.dtype)
    for part in parts[2:]:
        reduce(out, part, out=out)
    return out
