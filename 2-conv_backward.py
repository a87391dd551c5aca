#!/usr/bin/env python3
"""Task 2: backward pass of a 2-D convolutional layer (NHWC) in NumPy."""
import numpy as np

CHUNK_BYTES = 64 * 2 ** 20  # cap on the window matrix of one batch chunk


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
    return array.dtype


def _pair(name, value, low):
    """Return `value` as a tuple of two ints >= low, else raise ValueError."""
    if (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            and v >= low for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError("{} must be a pair of ints >= {}, got {!r}".format(
        name, low, value))


def _padding(padding, h_prev, w_prev, kh, kw, sh, sw):
    """Return (ph, pw): 'valid' -> 0, 'same' -> the course's symmetric rule."""
    if isinstance(padding, str) and padding == "valid":
        return 0, 0
    if isinstance(padding, str) and padding == "same":
        ph = -(-((h_prev - 1) * sh + kh - h_prev) // 2)  # ceil(... / 2)
        pw = -(-((w_prev - 1) * sw + kw - w_prev) // 2)
        return max(ph, 0), max(pw, 0)
    if isinstance(padding, str):
        raise ValueError("padding must be 'same', 'valid' or (ph, pw), "
                         "got {!r}".format(padding))
    return _pair("padding", padding, 0)


def conv_backward(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    """Back propagation over a convolutional layer.

    With Z = A_pad * W + b (cross-correlation, see task 0) and dZ = dL/dZ:
    dW[i, j, c, k] = sum over n, y, x of A_pad[n, y*sh + i, x*sw + j, c]
    * dZ[n, y, x, k]; db[k] = sum of dZ[..., k]; dA_pad[n, y*sh + i,
    x*sw + j, c] collects dZ[n, y, x, k] * W[i, j, c, k] from every window
    that covers it, and dA_prev is dA_pad without its padding.

    Parameters
    ----------
    dZ : numpy.ndarray, shape (m, h_new, w_new, c_new)
        Gradient of the loss with respect to the un-activated output Z.
    A_prev : numpy.ndarray, shape (m, h_prev, w_prev, c_prev)
        Input of the layer in the forward pass.
    W : numpy.ndarray, shape (kh, kw, c_prev, c_new)
        Kernels of the convolution.
    b : numpy.ndarray, shape (1, 1, 1, c_new)
        Biases (only their shape is used).
    padding : 'same', 'valid' or tuple (ph, pw)
        As in the forward pass: 'same' pads zeros on both sides with
        ph = ceil(((h_prev - 1) * sh + kh - h_prev) / 2), likewise pw
        (TensorFlow's 'SAME' only for odd kernels and stride 1).
    stride : tuple (sh, sw)
        Strides of the convolution along height and width.

    Returns
    -------
    tuple (dA_prev, dW, db)
        Gradients shaped like A_prev, W and b. dZ must have the forward
        output shape, h_new = (h_prev + 2 * ph - kh) // sh + 1, likewise
        w_new. float32 inputs give float32, float64 gives float64, integers
        are computed in float64. The inputs are not modified.

    Raises
    ------
    TypeError
        If an array argument is not a real numpy.ndarray.
    ValueError
        On wrong dimensions, mismatched shapes (dZ included), unknown
        padding, a stride below 1, or a kernel larger than the padded input.
    """
    dtype = np.result_type(_compute_dtype("dZ", dZ),
                           _compute_dtype("A_prev", A_prev),
                           _compute_dtype("W", W))
    _compute_dtype("b", b)
    if A_prev.ndim != 4 or 0 in A_prev.shape[1:]:
        raise ValueError("A_prev must have shape (m, h_prev, w_prev, c_prev) "
                         "with h_prev, w_prev, c_prev >= 1, got shape {}"
                         .format(A_prev.shape))
    if W.ndim != 4 or 0 in W.shape or W.shape[2] != A_prev.shape[3]:
        raise ValueError("W must have shape (kh, kw, c_prev, c_new) with "
                         "c_prev = A_prev.shape[3]; got W {} and A_prev {}"
                         .format(W.shape, A_prev.shape))
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    if b.shape != (1, 1, 1, c_new):
        raise ValueError("b must have shape (1, 1, 1, {}) to match W {}, "
                         "got {}".format(c_new, W.shape, b.shape))
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _padding(padding, h_prev, w_prev, kh, kw, sh, sw)
    if kh > h_prev + 2 * ph or kw > w_prev + 2 * pw:
        raise ValueError("kernel {}x{} of W is larger than the padded input "
                         "{}x{} (A_prev {}, padding ({}, {}))".format(
                             kh, kw, h_prev + 2 * ph, w_prev + 2 * pw,
                             A_prev.shape, ph, pw))
    h_new = (h_prev + 2 * ph - kh) // sh + 1
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    if dZ.shape != (m, h_new, w_new, c_new):
        raise ValueError("dZ must have the forward output shape {}, got {}"
                         .format((m, h_new, w_new, c_new), dZ.shape))

    W_mat = W.reshape(kh * kw * c_prev, c_new).astype(dtype, copy=False)
    dA_prev = np.empty((m, h_prev, w_prev, c_prev), dtype)
    dW = np.zeros((kh * kw * c_prev, c_new), dtype)
    db = dZ.sum(axis=(0, 1, 2), dtype=dtype).reshape(1, 1, 1, c_new)
    # Batch chunks keep the window matrix and its gradient under CHUNK_BYTES.
    row_bytes = 2 * h_new * w_new * kh * kw * c_prev * dtype.itemsize
    chunk = max(1, CHUNK_BYTES // row_bytes)
    for start in range(0, m, chunk):
        A = A_prev[start:start + chunk]
        n = A.shape[0]
        if ph == pw == 0 and A.dtype == dtype:
            A_pad = A
        else:  # zeros around, the chunk cast to dtype inside
            A_pad = np.zeros((n, h_prev + 2 * ph, w_prev + 2 * pw, c_prev),
                             dtype)
            A_pad[:, ph:ph + h_prev, pw:pw + w_prev, :] = A
        windows = np.lib.stride_tricks.sliding_window_view(
            A_pad, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]
        # windows: (n, h_new, w_new, c_prev, kh, kw) -> cols, one row a window
        cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, W_mat.shape[0])
        dZ_mat = dZ[start:start + n].reshape(-1, c_new).astype(dtype,
                                                               copy=False)
        dW += cols.T @ dZ_mat  # (kh * kw * c_prev, c_new)
        dcols = (dZ_mat @ W_mat.T).reshape(n, h_new, w_new, kh, kw, c_prev)
        # Each window's gradient goes back where the window was read from:
        # offset (i, j) of every window is a strided slice of A_pad.
        dA_pad = np.zeros_like(A_pad)
        for i in range(kh):
            for j in range(kw):
                dA_pad[:, i:i + sh * (h_new - 1) + 1:sh,
                       j:j + sw * (w_new - 1) + 1:sw] += dcols[:, :, :, i, j]
        dA_prev[start:start + n] = dA_pad[:, ph:ph + h_prev, pw:pw + w_prev]
    return dA_prev, dW.reshape(W.shape), db
