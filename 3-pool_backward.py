#!/usr/bin/env python3
"""Task 3: backward pass of a max or average pooling layer (NHWC) in NumPy."""
import numpy as np

CHUNK_BYTES = 2 ** 22  # work memory of one chunk of images (or of rows)


def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """Back propagation over a pooling layer (no padding).

    Window (y, x) covers A_prev[n, y*sh : y*sh + kh, x*sw : x*sw + kw, c].
    'max': every element equal to its window's maximum receives the full
    dA[n, y, x, c] (ties all receive it, as the published exercise output
    does) and the others receive nothing (an inf gradient stays inf there
    and 0 elsewhere). A window holding a NaN has the maximum NaN (as
    np.max and task 1): its NaN elements receive its gradient, the others
    nothing. 'avg': every element of the window receives dA / (kh * kw).
    Gradients from overlapping windows add up.

    Parameters
    ----------
    dA : numpy.ndarray, shape (m, h_new, w_new, c)
        Gradient of the loss with respect to the pooling output.
    A_prev : numpy.ndarray, shape (m, h_prev, w_prev, c)
        Input of the layer in the forward pass.
    kernel_shape : tuple (kh, kw)
        Size of the pooling window.
    stride : tuple (sh, sw)
        Strides of the pooling along height and width.
    mode : 'max' or 'avg'
        Maximum or average pooling.

    Returns
    -------
    numpy.ndarray, shape (m, h_prev, w_prev, c)
        dA_prev, the gradient with respect to A_prev. dA must have the
        forward output shape, h_new = (h_prev - kh) // sh + 1, likewise
        w_new. float32 gives float32, float64 gives float64, integers are
        computed in float64 (float16 in float32). The inputs are not
        modified.

    Raises
    ------
    TypeError
        If dA or A_prev is not a numpy.ndarray of real numbers.
    ValueError
        On a wrong ndim, a dA that does not match the forward output, an
        unknown mode, a kernel or stride below 1, or a kernel larger than
        the input.
    """
    dtype, (kh, kw, sh, sw), shape = _pool_geometry(
        A_prev, kernel_shape, stride, mode)
    dtype = np.result_type(dtype, _real("dA", dA))
    if dA.shape != shape:
        raise ValueError("dA must have the forward output shape {}, got {}"
                         .format(shape, dA.shape))
    work = np.promote_types(dtype, np.float32)  # float16 sums in float32
    m, h_new, w_new, c = dA.shape
    dA_prev = np.zeros(A_prev.shape, work)
    # In chunks of images (or of output rows of one large image): the
    # window maxima, one tap's mask and its shares stay small.
    for n, y in _chunks(m, h_new, 4 * w_new * c * dA_prev.itemsize):
        rows = range(h_new)[y]
        span = slice(rows.start * sh, (rows.stop - 1) * sh + kh)
        A, target = A_prev[n, span], dA_prev[n, span]  # the rows read
        grad = dA[n, y].astype(work)  # (n, rows, w_new, c)
        taps = [(i, j, len(rows), w_new, sh, sw)
                for i in range(kh) for j in range(kw)]
        if mode == "avg":
            share = grad / (kh * kw)  # rounded once, then added
        else:  # the window maxima, as in task 1 (a NaN wins)
            peak = _tap(A, *taps[0]).astype(work)
            for t in taps[1:]:
                np.maximum(peak, _tap(A, *t), out=peak)
        for t in taps:
            if mode == "max":  # the maxima, and NaN in a NaN window
                top = (_tap(A, *t) == peak) | np.isnan(_tap(A, *t))
                share = np.where(top, grad, 0)  # no 0 * inf; +0.0 off top
            view = _tap(target, *t)
            view += share
    return dA_prev.astype(dtype, copy=False)


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
