#!/usr/bin/env python3
"""Task 1: forward pass of a max or average pooling layer (NHWC) in NumPy."""
import numpy as np

CHUNK_BYTES = 2 ** 19  # row maxima (or sums) of one batch chunk: in cache


def _compute_dtype(name, array):
    """Check that `array` is a real ndarray; return the dtype to compute in."""
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
    """Return `value` as a tuple of two ints >= low, else raise ValueError."""
    if (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            and v >= low for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError("{} must be a pair of ints >= {}, got {!r}".format(
        name, low, value))


def _combine(reduce, parts, out):
    """out = reduce(... reduce(parts[0], parts[1]) ..., parts[-1]): the
    elementwise max or sum of equally shaped arrays, in out's dtype."""
    if len(parts) == 1:
        out[...] = parts[0]
    else:
        reduce(parts[0], parts[1], out=out, dtype=out.dtype)
    for part in parts[2:]:
        reduce(out, part, out=out)
    return out


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
    dtype = _compute_dtype("A_prev", A_prev)
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

    reduce = np.maximum if mode == "max" else np.add
    out_dtype = dtype
    if mode == "avg":  # float16 sums in float32: no float16 rounding per add
        dtype = np.promote_types(dtype, np.float32)
    out = np.empty((m, h_new, w_new, c), dtype)
    # Windows are separable: first over the kh rows of every window, all
    # columns, then over its kw columns. Batch chunks stay in cache.
    chunk = max(1, CHUNK_BYTES // (h_new * w_prev * c * dtype.itemsize))
    for start in range(0, m, chunk):
        A = A_prev[start:start + chunk]
        rows = _combine(reduce, [A[:, i:i + sh * (h_new - 1) + 1:sh]
                                 for i in range(kh)],
                        np.empty((len(A), h_new, w_prev, c), dtype))
        # rows: (n, h_new, w_prev, c) -> (n, h_new, w_new, c)
        _combine(reduce, [rows[:, :, j:j + sw * (w_new - 1) + 1:sw]
                          for j in range(kw)], out[start:start + chunk])
    if mode == "avg":
        out /= kh * kw
    return out.astype(out_dtype, copy=False)
