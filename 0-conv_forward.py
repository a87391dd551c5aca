#!/usr/bin/env python3
"""Task 0: forward pass of a 2-D convolutional layer (NHWC) in NumPy."""
import numpy as np

CHUNK_BYTES = 2 ** 19  # window matrix of one batch chunk: stays in cache
GEMM_WORK = 2 ** 19  # multiply-adds per GEMM call: OpenBLAS uses one thread
MANY_CHANNELS = 4  # from this c_prev on, window rows are copied channel-last


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


def _matmul(a, b, block, out):
    """out = a @ b for a (rows, k), b (k, c) and a contiguous out (rows, c),
    as a stack of GEMMs over blocks of `block` rows (block divides rows)."""
    rows, k = a.shape
    np.matmul(a.reshape(rows // block, block, k), b,
              out=out.reshape(rows // block, block, b.shape[1]))


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


def conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1)):
    """Forward propagation over a convolutional layer.

    Cross-correlation (no kernel flip), as in every deep-learning framework:
    Z[n, y, x, k] = sum over i, j, c of
    A_pad[n, y * sh + i, x * sw + j, c] * W[i, j, c, k] + b[0, 0, 0, k].

    Parameters
    ----------
    A_prev : numpy.ndarray, shape (m, h_prev, w_prev, c_prev)
        Output of the previous layer.
    W : numpy.ndarray, shape (kh, kw, c_prev, c_new)
        Kernels of the convolution.
    b : numpy.ndarray, shape (1, 1, 1, c_new)
        Biases, one per output channel.
    activation : callable
        Activation function applied to Z, e.g. a ReLU.
    padding : 'same', 'valid' or tuple (ph, pw)
        'valid' pads nothing. 'same' pads zeros on both sides with
        ph = ceil(((h_prev - 1) * sh + kh - h_prev) / 2), likewise pw.
        For odd kernels and stride 1 this equals TensorFlow's 'SAME';
        otherwise it differs: h_prev=28, kh=3, sh=2 gives ph=15 and
        h_new=28 here, while TensorFlow pads 0 top, 1 bottom and gives 14.
        A tuple (ph, pw) of non-negative ints pads that much on each side.
    stride : tuple (sh, sw)
        Strides of the convolution along height and width.

    Returns
    -------
    numpy.ndarray, shape (m, h_new, w_new, c_new)
        activation(Z), with h_new = (h_prev + 2 * ph - kh) // sh + 1,
        likewise w_new. float32 inputs give float32, float64 gives float64,
        integers are computed in float64 (float16 in float32, longdouble
        in longdouble). The inputs are not modified; big-endian arrays are
        accepted and give native-order results.

    Raises
    ------
    TypeError
        If an array argument is not a real numpy.ndarray, or activation is
        not callable.
    ValueError
        On wrong dimensions, mismatched shapes, unknown padding, a stride
        below 1, or a kernel larger than the padded input.
    """
    dtype = np.result_type(_compute_dtype("A_prev", A_prev),
                           _compute_dtype("W", W), _compute_dtype("b", b))
    if not callable(activation):
        raise TypeError("activation must be callable, got {}".format(
            type(activation).__name__))
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

    out_dtype, dtype = dtype, np.promote_types(dtype, np.float32)  # float16:
    # computed in float32, so that sums of products are not float16 sums
    W_mat = W.reshape(kh * kw * c_prev, c_new).astype(dtype, copy=False)
    Z = np.empty((m, h_new, w_new, c_new), dtype)
    b_row = np.tile(b.reshape(c_new).astype(dtype), w_new)  # (w_new * c_new)
    block, chunk = _blocks(h_new * w_new, W_mat.size,
                           W_mat.shape[0] * dtype.itemsize)
    for start in range(0, m, chunk):
        A_pad = _padded(A_prev[start:start + chunk], ph, pw, dtype)
        cols = _window_matrix(A_pad, kh, kw, sh, sw)
        Z_chunk = Z[start:start + chunk]
        # (n * h_new * w_new, kh * kw * c_prev) @ (kh * kw * c_prev, c_new)
        _matmul(cols, W_mat, np.gcd(len(cols), block), Z_chunk)
        Z_chunk.reshape(-1, w_new * c_new)[...] += b_row  # runs of a Z row
    return activation(Z.astype(out_dtype, copy=False))
