#!/usr/bin/env python3
"""Task 2: backward pass of a 2-D convolutional layer (NHWC) in NumPy."""
import numpy as np

CHUNK_BYTES = 2 ** 21  # window matrix of one batch chunk: stays in cache
GEMM_WORK = 2 ** 19  # multiply-adds per GEMM call: OpenBLAS uses one thread
MANY_CHANNELS = 4  # from this c_prev on, window rows are copied channel-last
PRODUCT_BYTES = 2 ** 22  # float32 products of one block (NumPy 1.x dW rule)
# NumPy 1.x casts a float64 scalar to a float32 array's dtype (value-based
# casting); NumPy 2 (NEP 50) does not. See _dW_float32_products.
VALUE_BASED_CASTING = int(np.__version__.split(".")[0]) < 2


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


def _padded(A, ph, pw, dtype):
    """A (n, h, w, c) in dtype with ph zero rows and pw zero columns on
    each side: A itself when there is nothing to do."""
    if ph == pw == 0 and A.dtype == dtype:
        return A
    n, h, w, c = A.shape
    A_pad = np.empty((n, h + 2 * ph, w + 2 * pw, c), dtype)
    A_pad[:, :ph] = A_pad[:, h + ph:] = 0
    A_pad[:, :, :pw] = A_pad[:, :, w + pw:] = 0
    A_pad[:, ph:h + ph, pw:w + pw] = A
    return A_pad


def _blocks(per_image, work_per_row, row_bytes):
    """(block, chunk): rows per GEMM and images per batch chunk.

    OpenBLAS runs a GEMM of at most GEMM_WORK multiply-adds on one thread;
    a larger one on all of them, and on a busy machine waiting for a second
    thread costs milliseconds per call. So small GEMMs go in stacks of
    one-thread blocks of whole images, about CHUNK_BYTES of window matrix a
    chunk; a layer whose GEMM for one image is larger gets one per chunk.
    """
    limit = max(1, GEMM_WORK // work_per_row)
    rows = max(1, CHUNK_BYTES // row_bytes)
    if per_image > limit:
        chunk = max(1, rows // per_image)
        return chunk * per_image, chunk
    block = per_image * (limit // per_image)
    return block, max(block, rows // block * block) // per_image


def _window_matrix(A_pad, kh, kw, sh, sw):
    """Every kh x kw window of A_pad (n, h_pad, w_pad, c_prev) as a row of a
    (n * h_new * w_new, kh * kw * c_prev) matrix, columns ordered like
    W.reshape(-1, c_new): one copy of a strided view."""
    n, h_pad, w_pad, c_prev = A_pad.shape
    h_new, w_new = (h_pad - kh) // sh + 1, (w_pad - kw) // sw + 1
    s_n, s_h, s_w, s_c = A_pad.strides
    # A view of all windows, no copy: (n, h_new, w_new, kh, kw, c_prev)
    windows = np.lib.stride_tricks.as_strided(
        A_pad, (n, h_new, w_new, kh, kw, c_prev),
        (s_n, sh * s_h, sw * s_w, s_h, s_w, s_c), writeable=False)
    if c_prev >= MANY_CHANNELS:  # copy runs of kw * c_prev (stride 1)
        return windows.reshape(n * h_new * w_new, -1)
    # Few channels: copy runs of w_new, (kh, kw, c_prev, n, h_new, w_new),
    # and return the transposed view (BLAS multiplies it without a copy).
    return windows.transpose(3, 4, 5, 0, 1, 2).reshape(
        kh * kw * c_prev, -1).T


def _dW_float32_products(cols, dZ_mat):
    """dW (K, c_new) in float64 as sums of float32 products: each product
    float32(window value * float32(dZ)), added up in float64.

    This is what the straightforward loop answer (dW += A_window *
    dZ[n, y, x, k]) computes under NumPy 1.x when A_prev is float32 and dZ
    float64: value-based casting turns the float64 scalar into float32 and
    multiplies in float32. Products of blocks of windows, PRODUCT_BYTES at a
    time, keep the memory bounded.
    """
    K, c_new = cols.shape[1], dZ_mat.shape[1]
    dZ32 = dZ_mat.astype(np.float32)
    dW = np.zeros((K, c_new))
    step = max(1, PRODUCT_BYTES // (4 * K * c_new))
    for start in range(0, len(cols), step):
        a = cols[start:start + step].astype(np.float32, copy=False)
        # (rows, K, 1) * (rows, 1, c_new) -> (rows, K, c_new) float32
        products = a[:, :, None] * dZ32[start:start + step, None, :]
        dW += products.sum(axis=0, dtype=np.float64)
    return dW


def _input_gradient(dZ, W_mat, pad_shape, kh, kw, sh, sw):
    """Gradient with respect to the padded input, (n, h_pad, w_pad, c_prev).

    Lay the padded images out one after the other, row after row: window
    (y, x) of image k starts at position q = k * h_pad * w_pad + y * sh *
    w_pad + x * sw, and its tap (i, j) is at q + i * w_pad + j. With dZ
    spread on that grid (zeros between), the gradient that tap (i, j) sends
    back, for the whole chunk, is one run shifted by i * w_pad + j: added
    channel-first, (c_prev, n * h_pad * w_pad) at a time.
    """
    n, h_pad, w_pad, c_prev = pad_shape
    h_new, w_new, c_new = dZ.shape[1:]
    size = h_pad * w_pad
    grid = np.zeros((n, h_pad, w_pad, c_new), dZ.dtype)
    grid[:, :sh * (h_new - 1) + 1:sh, :sw * (w_new - 1) + 1:sw] = dZ
    # One-thread GEMMs (see _blocks) over groups of g images, written as
    # (kh * kw * c_prev, n * size): (K, c_new) @ (n / g, c_new, g * size)
    g = np.gcd(n, max(1, GEMM_WORK // (W_mat.size * size)))
    taps = np.empty((kh, kw, c_prev, n, size), dZ.dtype)
    np.matmul(W_mat, grid.reshape(n // g, g * size, c_new).transpose(0, 2, 1),
              out=taps.reshape(-1, n // g, g * size).transpose(1, 0, 2))
    dA_flat = np.zeros((c_prev, (n + 1) * size), dZ.dtype)  # room to shift
    for i in range(kh):
        for j in range(kw):
            shift = i * w_pad + j
            target = dA_flat[:, shift:shift + n * size]  # (c_prev, n * size)
            target += taps[i, j].reshape(c_prev, -1)
    return dA_flat[:, :n * size].reshape(c_prev, n, h_pad, w_pad).transpose(
        1, 2, 3, 0)


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
        are computed in float64 (float16 in float32, longdouble in
        longdouble). The inputs are not modified; big-endian arrays are
        accepted and give native-order results.
        One exception keeps NumPy 1.x's published results: under NumPy
        older than 2, with A_prev float32 and dZ float64, each product
        A_pad value * float32(dZ value) of dW is rounded to float32 and the
        products are summed in float64. That is what the loop answer
        dW += A_window * dZ[n, y, x, k] computes there, since NumPy 1.x's
        value-based casting multiplies a float32 array by a float64 scalar
        in float32. NumPy >= 2 multiplies in float64, as this function
        does in every other case.

    Raises
    ------
    TypeError
        If an array argument is not a real numpy.ndarray.
    ValueError
        On wrong dimensions, mismatched shapes (dZ included), unknown
        padding, a stride below 1, or a kernel larger than the padded input.
    """
    dZ_dtype = _compute_dtype("dZ", dZ)
    A_dtype = _compute_dtype("A_prev", A_prev)
    dtype = np.result_type(dZ_dtype, A_dtype, _compute_dtype("W", W))
    _compute_dtype("b", b)
    float32_products = (VALUE_BASED_CASTING and A_dtype == np.float32
                        and dZ_dtype == np.float64)
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

    out_dtype, dtype = dtype, np.promote_types(dtype, np.float32)  # float16:
    # computed in float32, so that sums of products are not float16 sums
    W_mat = W.reshape(kh * kw * c_prev, c_new).astype(dtype, copy=False)
    dA_prev = np.zeros((m, h_prev, w_prev, c_prev), dtype)
    dW = np.zeros((kh * kw * c_prev, c_new), dtype)
    # db summed in float64 at least: exact to float32 rounding
    db = np.zeros(c_new, np.promote_types(dtype, np.float64))
    block, chunk = _blocks(h_new * w_new, W_mat.size,
                           W_mat.shape[0] * dtype.itemsize)
    for start in range(0, m, chunk):
        A_pad = _padded(A_prev[start:start + chunk], ph, pw, dtype)
        n = A_pad.shape[0]
        dZ_mat = dZ[start:start + n].reshape(-1, c_new).astype(dtype,
                                                               copy=False)
        db += dZ_mat.sum(axis=0, dtype=db.dtype)  # column sums
        cols = _window_matrix(A_pad, kh, kw, sh, sw)
        rows = np.gcd(len(cols), block)
        if float32_products:  # NumPy 1.x's loop answer (see the docstring)
            dW += _dW_float32_products(cols, dZ_mat)
        else:  # dW: (kh * kw * c_prev, c_new), summed over blocks of windows
            dW += np.matmul(cols.reshape(-1, rows, W_mat.shape[0]).transpose(
                0, 2, 1), dZ_mat.reshape(-1, rows, c_new)).sum(axis=0)
        dA_pad = _input_gradient(dZ_mat.reshape(n, h_new, w_new, c_new),
                                 W_mat, A_pad.shape, kh, kw, sh, sw)
        dA_prev[start:start + n] = dA_pad[:, ph:ph + h_prev, pw:pw + w_prev]
    return (dA_prev.astype(out_dtype, copy=False),
            dW.reshape(W.shape).astype(out_dtype, copy=False),
            db.astype(out_dtype).reshape(1, 1, 1, c_new))
