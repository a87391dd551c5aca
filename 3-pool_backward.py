#!/usr/bin/env python3
"""Task 3: backward pass of a max or average pooling layer (NHWC) in NumPy."""
import numpy as np

CHUNK_BYTES = 2 ** 19  # input gradient of one batch chunk: stays in cache


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


def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """Back propagation over a pooling layer (no padding).

    Window (y, x) covers A_prev[n, y*sh : y*sh + kh, x*sw : x*sw + kw, c].
    'max': every element equal to its window's maximum receives the full
    dA[n, y, x, c] (ties all receive it, as the published exercise output
    does) and the others receive nothing (an inf gradient stays inf there
    and 0 elsewhere). A window holding a NaN has the maximum NaN (as
    np.max and task 1): its NaN elements receive its gradient, the others
    nothing. TensorFlow skips NaN in the forward pass and sends the
    gradient to its first element if that is NaN, else to the maximum of
    the rest; we keep NumPy's NaN so that the gradient follows our forward
    pass and a NaN is never hidden. 'avg': every element of the window
    receives dA / (kh * kw). Gradients from overlapping windows add up.

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
        computed in float64 (float16 in float32). The inputs are
        not modified; big-endian arrays give native-order results.

    Raises
    ------
    TypeError
        If dA or A_prev is not a real numpy.ndarray.
    ValueError
        On a wrong ndim, a dA that does not match the forward output, an
        unknown mode, a kernel or stride below 1, or a kernel larger than
        the input.
    """
    dtype = np.result_type(_compute_dtype("dA", dA),
                           _compute_dtype("A_prev", A_prev))
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
    if dA.shape != (m, h_new, w_new, c):
        raise ValueError("dA must have the forward output shape {}, got {}"
                         .format((m, h_new, w_new, c), dA.shape))

    def window(array, i, j):
        """View of element (i, j) of every window, (n, h_new, w_new, c)."""
        return array[:, i:i + sh * (h_new - 1) + 1:sh,
                     j:j + sw * (w_new - 1) + 1:sw]

    # float16 computed in float32: overlapping windows' gradients and the
    # average's shares are sums, not rounded to float16 at every add
    out_dtype, dtype = dtype, np.promote_types(dtype, np.float32)
    dA_prev = np.zeros((m, h_prev, w_prev, c), dtype)
    overlap = sh < kh or sw < kw  # else each element is in one window at most
    chunk = max(1, CHUNK_BYTES // (h_prev * w_prev * c * dtype.itemsize))
    for start in range(0, m, chunk):  # batch chunks that stay in cache
        A, grad = A_prev[start:start + chunk], dA[start:start + chunk]
        target = dA_prev[start:start + chunk]
        if mode == "avg":
            # The sum is separable, so is its gradient: each window's share
            # over its kw columns, (n, h_new, w_prev, c), then its kh rows.
            share = np.zeros((len(A), h_new, w_prev, c), dtype)
            for j in range(kw):
                np.add(share[:, :, j:j + sw * (w_new - 1) + 1:sw], grad,
                       out=share[:, :, j:j + sw * (w_new - 1) + 1:sw])
            share /= kh * kw
            for i in range(kh):
                target[:, i:i + sh * (h_new - 1) + 1:sh] += share
            continue
        # Max: the window maxima (n, h_new, w_new, c), NaN where a window
        # holds one; then every element equal to its window's maximum, or
        # NaN, receives the window's gradient (and nothing else does).
        maxima = window(A, 0, 0).astype(dtype)
        for i in range(kh):
            for j in range(kw):
                np.maximum(maxima, window(A, i, j), out=maxima)
        nan = np.isnan(maxima).any()
        for i in range(kh):
            for j in range(kw):
                hit = window(A, i, j) == maxima  # (n, h_new, w_new, c) bool
                if nan:
                    hit |= np.isnan(window(A, i, j))
                if overlap:
                    np.add(window(target, i, j), grad,
                           out=window(target, i, j), where=hit)
                else:
                    np.copyto(window(target, i, j), grad, where=hit)
    return dA_prev.astype(out_dtype, copy=False)
