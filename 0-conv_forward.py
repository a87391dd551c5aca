#!/usr/bin/env python3
"""Task 0: forward pass of a 2-D convolutional layer (NHWC) in NumPy."""
import numpy as np


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
    dtype, work, (m, h_new, w_new, c_new), geometry = _check_conv_forward(
        A_prev, W, b, activation, padding, stride)
    kh, kw, c_prev, _ = W.shape
    W_mat = W.reshape(-1, c_new).astype(work, copy=False)  # (K, c_new)
    b_row = np.tile(b.reshape(c_new).astype(work), w_new)  # (w_new * c_new)
    Z = np.empty((m, h_new, w_new, c_new), work)
    # Z in chunks of images, or of output rows of one large image (see
    # _chunks): the memory used stays bounded whatever the shapes.
    row_bytes = w_new * (W_mat.shape[0] + c_new) * work.itemsize
    for n0, n1, y0, y1 in _chunks(m, h_new, row_bytes, CHUNK_BYTES):
        # the input these windows read, zero-padded: (n, span_h, span_w, c)
        slab, step_h, step_w = _slab(A_prev, n0, n1, y0, y1, geometry, work)
        windows = _window_matrix(slab, kh, kw, step_h, step_w)  # (.., K)
        Z_chunk = Z[n0:n1, y0:y1]  # (n, rows, w_new, c_new), contiguous
        # (n * rows * w_new, K) @ (K, c_new): every window times every kernel
        _matmul(windows, W_mat, Z_chunk.reshape(-1, c_new))
        Z_chunk.reshape(-1, w_new * c_new)[...] += b_row  # whole Z rows
    return activation(Z.astype(dtype, copy=False))


# The machinery below: argument checks, then how the windows are gathered.
# Twins: _compute_dtype, _pair, _chunks and _copy_runs are copied in
# 1-pool_forward.py, 2-conv_backward.py and 3-pool_backward.py; _padding,
# _conv_geometry, _axis, _slab and _window_matrix in 2-conv_backward.py
# (each task file stands alone; tests/test_task_files.py keeps the copies
# identical).

# Work memory of a chunk of images: large enough that a chunk's dozen NumPy
# calls cost little beside its work, small enough to stay in cache (of
# 2**18 to 2**24, 2**21 ran LeNet-5's layers fastest, idle and busy).
CHUNK_BYTES = 2 ** 21
LIMIT_BYTES = 2 ** 24  # work memory of a chunk: split an image beyond this
CHANNEL_LAST_FROM = 3  # c_prev from which windows are copied channel-last
RUN_BYTES = 256  # runs copied as one item of bytes up to this (_copy_runs)
# How products are handed to BLAS (see _block_rows): a product of
# THREAD_MACS multiply-adds or more as one call, which BLAS may spread over
# its threads; a smaller one as a stack of calls of about GEMM_MACS each, of
# GEMM_ROWS rows at least (thinner ones are slow matrix-vector products).
# GEMM_MACS suits OpenBLAS (NumPy's wheels for Linux, Windows): it keeps a
# call of 2**19 on one thread (2**20 goes to two), and on AVX-512 CPUs it
# computes calls of at most 10**6 with kernels for small matrices. Against
# one call per product, LeNet-5's layers run so (geometric means) 1.24x
# faster on one thread, 2 to 5x faster with one core busy, as fast idle;
# 1.2x slower idle with its AVX2 kernels, where one call can use the idle
# core. Other sizes, other BLAS libraries: benchmarks/blocks.py times them
# on the machine it runs on.
THREAD_MACS = 2 ** 24
GEMM_MACS = 2 ** 19
GEMM_ROWS = 8


def _check_conv_forward(A_prev, W, b, activation, padding, stride):
    """Check every argument; return (dtype, work dtype, Z's shape,
    geometry)."""
    shape, geometry = _conv_geometry(A_prev, W, b, padding, stride)
    if not callable(activation):
        raise TypeError("activation must be callable, got {}".format(
            type(activation).__name__))
    dtype = np.result_type(_compute_dtype("A_prev", A_prev),
                           _compute_dtype("W", W), _compute_dtype("b", b))
    # float16 is computed in float32, so that sums are not float16 sums
    return dtype, np.promote_types(dtype, np.float32), shape, geometry


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


def _padding(padding, h_prev, w_prev, kh, kw, sh, sw):
    """Return (ph, pw): 'valid' -> 0, 'same' -> the course's symmetric rule.

    Twins: in 0-conv_forward.py and 2-conv_backward.py."""
    if isinstance(padding, str) and padding == "valid":
        return 0, 0
    if isinstance(padding, str) and padding == "same":
        # ceil(... / 2), never negative: (h_prev-1)*(sh-1) + kh-1 >= 0
        ph = -(-((h_prev - 1) * sh + kh - h_prev) // 2)
        pw = -(-((w_prev - 1) * sw + kw - w_prev) // 2)
        return ph, pw
    if isinstance(padding, str):
        raise ValueError("padding must be 'same', 'valid' or (ph, pw), "
                         "got {!r}".format(padding))
    return _pair("padding", padding, 0)


def _conv_geometry(A_prev, W, b, padding, stride):
    """Check A_prev, W, b, padding and stride; return Z's shape (m, h_new,
    w_new, c_new) and the geometry (kh, kw, sh, sw, ph, pw).

    Twins: in 0-conv_forward.py and 2-conv_backward.py."""
    for name, array in (("A_prev", A_prev), ("W", W), ("b", b)):
        _compute_dtype(name, array)
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
    return (m, h_new, w_new, c_new), (kh, kw, sh, sw, ph, pw)


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


def _axis(size, k, s, p, lo, hi):
    """Which padded positions outputs lo:hi read along one axis (input
    `size`, kernel k, stride s, padding p): (span, step, segments).

    The slab keeps `span` positions; output o's window starts at (o - lo)
    * step in it. When windows overlap or touch (s <= k) that is the run of
    positions they cover, step s; when they leave gaps (s > k) only their k
    positions each, step k: padding no window reads is never built.
    segments: (slab slice, input slice) pairs holding the input's values.

    Twins: in 0-conv_forward.py and 2-conv_backward.py."""
    if s <= k:
        first = lo * s - p  # input position of the slab's first element
        a, b = max(0, first), min(size, (hi - 1) * s + k - p)
        return ((hi - lo - 1) * s + k, s,
                [(slice(a - first, b - first), slice(a, b))] if a < b else [])
    segments = []
    for i in range(k):  # tap i of every window: a strided run of the input
        a = max(lo, -((i - p) // s))  # first o with o * s + i - p >= 0
        b = min(hi, (size - 1 - i + p) // s + 1)
        if a < b:
            segments.append((slice((a - lo) * k + i, (b - lo - 1) * k + i + 1,
                                   k),
                             slice(a * s + i - p, (b - 1) * s + i - p + 1, s)))
    return (hi - lo) * k, k, segments


def _slab(A_prev, n0, n1, y0, y1, geometry, dtype):
    """(slab, step_h, step_w): the zero-padded input of output rows y0:y1
    of images n0:n1, only the positions their windows read (see _axis),
    (n, span_h, span_w, c_prev) in dtype; window (y, x) starts at
    (y * step_h, x * step_w).

    Twins: in 0-conv_forward.py and 2-conv_backward.py."""
    kh, kw, sh, sw, ph, pw = geometry
    m, h_prev, w_prev, c_prev = A_prev.shape
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    span_h, step_h, rows = _axis(h_prev, kh, sh, ph, y0, y1)
    span_w, step_w, columns = _axis(w_prev, kw, sw, pw, 0, w_new)
    whole = [(slice(0, h_prev), slice(0, h_prev))], [
        (slice(0, w_prev), slice(0, w_prev))]
    if (rows, columns) == whole and A_prev.dtype == dtype:
        return A_prev[n0:n1], step_h, step_w  # nothing to pad or convert
    slab = np.zeros((n1 - n0, span_h, span_w, c_prev), dtype)
    for slab_rows, A_rows in rows:
        for slab_columns, A_columns in columns:
            slab[:, slab_rows, slab_columns] = A_prev[n0:n1, A_rows, A_columns]
    return slab, step_h, step_w


def _window_matrix(slab, kh, kw, step_h, step_w):
    """Every window of the slab (n, span_h, span_w, c_prev) as a row of a
    (n * rows * w_new, K) matrix, K = kh * kw * c_prev, columns ordered like
    W.reshape(K, c_new): one copy of a strided view, or none where the
    windows tile the slab.

    Twins: in 0-conv_forward.py and 2-conv_backward.py."""
    n, span_h, span_w, c_prev = slab.shape
    rows, w_new = (span_h - kh) // step_h + 1, (span_w - kw) // step_w + 1
    s_n, s_h, s_w, s_c = slab.strides
    # A view of all windows, no copy: (n, rows, w_new, kh, kw, c_prev)
    windows = np.lib.stride_tricks.as_strided(
        slab, (n, rows, w_new, kh, kw, c_prev),
        (s_n, step_h * s_h, step_w * s_w, s_h, s_w, s_c), writeable=False)
    runs = windows  # (n, rows, w_new, kh, kw * c_prev) where a window's
    if s_w == c_prev * s_c:  # row is one run in memory
        runs = windows.reshape(n, rows, w_new, kh, kw * c_prev)
    # Copy runs of kw * c_prev; none where windows tile the slab (1 x 1
    # kernels at stride 1, a kernel as large as the image).
    if c_prev >= CHANNEL_LAST_FROM or runs.flags.c_contiguous:
        return _copy_runs(runs).reshape(n * rows * w_new, -1)
    # Few channels: copy runs of w_new, (kh, kw, c_prev, n, rows, w_new),
    # and return the transposed view (BLAS multiplies it without a copy).
    return _copy_runs(windows.transpose(3, 4, 5, 0, 1, 2)).reshape(
        kh * kw * c_prev, -1).T


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


def _block_rows(R, K, C):
    """Rows per GEMM call of an (R, K) @ (K, C) product: all R when it has
    THREAD_MACS multiply-adds or more, else about GEMM_MACS of them, at
    least GEMM_ROWS rows.

    Twins: in 0-conv_forward.py and 2-conv_backward.py."""
    if R * K * C >= THREAD_MACS:
        return max(1, R)
    return max(1, min(R, max(GEMM_ROWS, GEMM_MACS // (K * C))))


def _matmul(a, b, out):
    """out = a @ b for a (R, K), b (K, C) and a C-contiguous out (R, C), in
    GEMM calls over blocks of rows (see _block_rows)."""
    (R, K), C = a.shape, b.shape[1]
    block = _block_rows(R, K, C)  # rows per GEMM
    whole = R - R % block
    if whole:
        np.matmul(a[:whole].reshape(-1, block, K), b,
                  out=out[:whole].reshape(-1, block, C))
    if whole < R:
        np.matmul(a[whole:], b, out=out[whole:])
