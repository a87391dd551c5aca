#!/usr/bin/env python3
"""Task 1: forward pass of a max or average pooling layer (NHWC) in NumPy."""
import numpy as np

CHUNK_BYTES = 2 ** 22  # work memory of one chunk of images (or of rows)


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
        is not modified.

    Raises
    ------
    TypeError
        If A_prev is not a numpy.ndarray of real numbers.
    ValueError
        On a wrong ndim, an unknown mode, a kernel or stride below 1, or a
        kernel larger than the input.
    """
    dtype, (kh, kw, sh, sw), (m, h_new, w_new, c) = _pool_geometry(
        A_prev, kernel_shape, stride, mode)
    # float16 averages are summed in float32
    work = np.promote_types(dtype, np.float32) if mode == "avg" else dtype
    out = np.empty((m, h_new, w_new, c), work)
    # In chunks of images (or of output rows of one large image): the
    # running result and one tap's values stay small.
    for n, y in _chunks(m, h_new, 2 * w_new * c * out.itemsize):
        rows = range(h_new)[y]
        A = A_prev[n, rows.start * sh:(rows.stop - 1) * sh + kh]
        # tap (i, j) of every window: (n, rows, w_new, c), a strided view
        taps = [_tap(A, i, j, len(rows), w_new, sh, sw)
                for i in range(kh) for j in range(kw)]
        pooled = taps[0].astype(work)
        for tap in taps[1:]:  # np.maximum keeps a NaN, as np.max does
            (np.maximum if mode == "max" else np.add)(pooled, tap, out=pooled)
        out[n, y] = pooled
    if mode == "avg":
        out /= kh * kw
    return out.astype(dtype, copy=False)


def _tap(array, i, j, rows, w_new, sh, sw):
    """Tap (i, j) of `rows` x w_new windows of array (n, span, w_prev, c),
    sh and sw apart: (n, rows, w_new, c), a view."""
    return array[:, i:i + sh * (rows - 1) + 1:sh,
                 j:j + sw * (w_new - 1) + 1:sw]


def _pool_geometry(A_prev, kernel_shape, stride, mode):
    """Check A_prev, kernel_shape, stride and mode; return (dtype of the
    result, (kh, kw, sh, sw), the output shape)."""
    dtype = _real("A_prev", A_prev)
    if A_prev.ndim != 4 or 0 in A_prev.shape[1:]:
        raise ValueError("A_prev must have shape (m, h_prev, w_prev, c), "
                         "got {}".format(A_prev.shape))
    kh, kw = _pair("kernel_shape", kernel_shape, 1)
    sh, sw = _pair("stride", stride, 1)
    if not (isinstance(mode, str) and mode in ("max", "avg")):
        raise ValueError("mode must be 'max' or 'avg', got {!r}".format(mode))
    m, h_prev, w_prev, c = A_prev.shape
    if kh > h_prev or kw > w_prev:
        raise ValueError("kernel_shape {} is larger than the input {}x{} of "
                         "A_prev {}".format((kh, kw), h_prev, w_prev,
                                            A_prev.shape))
    shape = (m, (h_prev - kh) // sh + 1, (w_prev - kw) // sw + 1, c)
    return dtype, (kh, kw, sh, sw), shape


def _real(name, array):
    """Check that `array` is an ndarray of real numbers; return the dtype
    its values are computed in (float64 for integers and booleans)."""
    if not isinstance(array, np.ndarray):
        raise TypeError("{} must be a numpy.ndarray, got {}".format(
            name, type(array).__name__))
    if array.dtype.kind in "biu":
        return np.dtype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError("{} must hold real numbers, got dtype {}".format(
            name, array.dtype))
    return array.dtype.newbyteorder("=")


def _pair(name, value, low):
    """`value` as a tuple of two ints >= low, else a ValueError."""
    if (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            and v >= low for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError("{} must be a pair of ints >= {}, got {!r}".format(
        name, low, value))


def _chunks(m, h_new, row_bytes):
    """(images, rows) slices covering the output in order, each needing
    about CHUNK_BYTES at row_bytes per output row: whole images, or rows
    of one image when one image needs more."""
    per_image = max(1, h_new * row_bytes)
    if per_image <= CHUNK_BYTES:
        step = CHUNK_BYTES // per_image
        for n0 in range(0, m, step):
            yield slice(n0, n0 + step), slice(0, h_new)
        return
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
    for n0 in range(m):
        for y0 in range(0, h_new, step):
            yield slice(n0, n0 + 1), slice(y0, y0 + step)
