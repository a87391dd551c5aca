#!/usr/bin/env python3
"""Task 2: backward pass of a 2-D convolutional layer (NHWC) in NumPy."""
import numpy as np


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
    dtype, work, float32_products, geometry = _check_conv_backward(
        dZ, A_prev, W, b, padding, stride)
    (m, h_new, w_new, c_new), (kh, kw) = dZ.shape, W.shape[:2]
    W_mat = W.reshape(-1, c_new).astype(work, copy=False)  # (K, c_new)
    dA_prev = np.zeros(A_prev.shape, work)
    dW = np.zeros(W_mat.shape, work)  # (K, c_new), K = kh * kw * c_prev
    db = np.zeros(c_new, np.promote_types(work, np.float64))  # exact sums
    # how dA_prev is gathered (see _add_windows), and its values per row
    by_rows, dA_values = _input_gradient_plan(A_prev.shape, W.shape, geometry)
    # work memory per output row: windows, dZ, the input gradient's values
    row_bytes = (w_new * (W_mat.shape[0] + c_new) + dA_values) * work.itemsize
    for n0, n1, y0, y1 in _chunks(m, h_new, row_bytes, CHUNK_BYTES):
        # the input these windows read, zero-padded: (n, span_h, span_w, c)
        slab, step_h, step_w = _slab(A_prev, n0, n1, y0, y1, geometry, work)
        windows = _window_matrix(slab, kh, kw, step_h, step_w)  # (R, K)
        dZ_mat = dZ[n0:n1, y0:y1].reshape(-1, c_new).astype(
            work, copy=False)  # (R, c_new), R = n * rows * w_new windows
        # db over whole rows of dZ, (w_new * c_new) at a time, then per x
        db += dZ_mat.reshape(-1, w_new * c_new).sum(
            axis=0, dtype=db.dtype).reshape(w_new, c_new).sum(axis=0)
        if float32_products:  # NumPy 1.x's loop answer (see the docstring)
            dW += _dW_float32_products(windows, dZ_mat)
        else:  # (K, R) @ (R, c_new)
            dW += _matmul_sum(windows.T, dZ_mat)
        # what the windows send back, W times dZ, added into dA_prev
        _add_windows(dA_prev, W_mat, dZ_mat, n0, n1, y0, y1, geometry,
                     by_rows)
    return (dA_prev.astype(dtype, copy=False),
            dW.reshape(W.shape).astype(dtype, copy=False),
            db.astype(dtype).reshape(1, 1, 1, c_new))


# The machinery below: argument checks, how the windows are gathered, and
# how their gradients go back. Twins: _compute_dtype, _pair, _chunks and
# _copy_runs are copied in 0-conv_forward.py, 1-pool_forward.py and
# 3-pool_backward.py; _padding, _conv_geometry, _axis, _slab and
# _window_matrix in 0-conv_forward.py (each task file stands alone;
# tests/test_task_files.py keeps the copies identical).

# Work memory of a chunk of images: large enough that a chunk's dozen NumPy
# calls cost little beside its work, small enough to stay in cache (of
# 2**18 to 2**24, 2**22 ran LeNet-5's layers fastest, idle and busy).
CHUNK_BYTES = 2 ** 22
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
PARTIAL_BYTES = 2 ** 20  # partial dW of one stack of GEMMs, summed after
PRODUCT_BYTES = 2 ** 22  # float32 products of one block (NumPy 1.x dW rule)
# NumPy 1.x casts a float64 scalar to a float32 array's dtype (value-based
# casting); NumPy 2 (NEP 50) does not. See _dW_float32_products.
VALUE_BASED_CASTING = int(np.__version__.split(".")[0]) < 2


def _check_conv_backward(dZ, A_prev, W, b, padding, stride):
    """Check every argument; return (dtype, work dtype, whether dW takes
    NumPy 1.x's float32 products, geometry)."""
    shape, geometry = _conv_geometry(A_prev, W, b, padding, stride)
    dZ_dtype = _compute_dtype("dZ", dZ)
    if dZ.shape != shape:
        raise ValueError("dZ must have the forward output shape {}, got {}"
                         .format(shape, dZ.shape))
    A_dtype = _compute_dtype("A_prev", A_prev)
    dtype = np.result_type(dZ_dtype, A_dtype, _compute_dtype("W", W))
    float32_products = (VALUE_BASED_CASTING and A_dtype == np.float32
                        and dZ_dtype == np.float64)
    # float16 is computed in float32, so that sums are not float16 sums
    return (dtype, np.promote_types(dtype, np.float32), float32_products,
            geometry)


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


def _matmul_sum(a, b):
    """a @ b for a (K, R), b (R, C): a sum over R, in GEMM calls over
    blocks of R (see _block_rows), stacked so that their partial results
    take PARTIAL_BYTES at most, then added."""
    (K, R), C = a.shape, b.shape[1]
    total = np.zeros((K, C), np.result_type(a, b))
    block = _block_rows(R, K, C)  # R per GEMM
    stack = block * max(1, PARTIAL_BYTES // (K * C * total.itemsize))
    for start in range(0, R, stack):
        part_a, part_b = a[:, start:start + stack], b[start:start + stack]
        whole = part_b.shape[0] - part_b.shape[0] % block
        if whole:  # (whole / block, K, block) @ (whole / block, block, C)
            total += np.matmul(part_a[:, :whole].reshape(
                K, -1, block).transpose(1, 0, 2), part_b[:whole].reshape(
                    -1, block, C)).sum(axis=0)
        if whole < part_b.shape[0]:
            total += part_a[:, whole:] @ part_b[whole:]
    return total


def _matmul_by_rows(a, b):
    """a @ b.T for a (K, C), b (R, C), as (K, R), in GEMM calls over
    blocks of b's rows (see _block_rows)."""
    (K, C), R = a.shape, b.shape[0]
    out = np.empty((K, R), np.result_type(a, b))
    block = _block_rows(R, K, C)  # columns of out per GEMM
    whole = R - R % block
    if whole:  # (K, C) @ (R / block, C, block) -> (R / block, K, block)
        np.matmul(a, b[:whole].reshape(-1, block, C).transpose(0, 2, 1),
                  out=out[:, :whole].reshape(K, -1, block).transpose(1, 0, 2))
    if whole < R:
        np.matmul(a, b[whole:].T, out=out[:, whole:])
    return out


def _input_gradient_plan(A_shape, W_shape, geometry):
    """(by_rows, values): how _add_windows gathers dA_prev, and the values
    it holds per output row.

    By taps: the K = kh * kw * c_prev values each window sends back, added
    tap by tap. By rows, where a row's windows are one position apart:
    for each slab column, the kw * c_new values of dZ whose windows cover
    it, times the kernel, give kh * c_prev values, added kernel row by
    kernel row. Rows hold fewer values when c_new < kh * c_prev; they cost
    span_w / w_new times the multiply-adds, so only up to twice. Measured:
    LeNet-5's second layer (16 < 30) got its input gradient in half the
    time by rows; its first (6 > 5) 1.3x faster by taps in float32, 1.3x
    slower in float64."""
    _, h_prev, w_prev, c_prev = A_shape
    kh, kw, _, c_new = W_shape
    _, _, sh, sw, ph, pw = geometry
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    span_w, step_w, _ = _axis(w_prev, kw, sw, pw, 0, w_new)
    if step_w == 1 and span_w <= 2 * w_new and c_new < kh * c_prev:
        # row windows, their products, dZ's zero-widened rows
        return True, (span_w * (kw * c_new + kh * c_prev)
                      + (w_new + 2 * kw) * c_new)
    return False, w_new * kh * kw * c_prev


def _add_windows(dA_prev, W_mat, dZ_mat, n0, n1, y0, y1, geometry,
                 by_rows):
    """dA_prev[n0:n1] += what the windows of output rows y0:y1 send back:
    W_mat (K, c_new) times dZ_mat (n * rows * w_new, c_new), K ordered
    (kh, kw, c_prev), by rows or by taps (see _input_gradient_plan).

    Both add into a zero slab laid out like _slab's but channel-first,
    (c_prev, n, span_h, span_w), so that each add runs along a row; then
    the slab's input positions go into dA_prev (its padding is dropped)."""
    kh, kw, sh, sw, ph, pw = geometry
    m, h_prev, w_prev, c_prev = dA_prev.shape
    n, rows, c_new = n1 - n0, y1 - y0, dZ_mat.shape[1]
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    span_h, step_h, segments_h = _axis(h_prev, kh, sh, ph, y0, y1)
    span_w, step_w, segments_w = _axis(w_prev, kw, sw, pw, 0, w_new)
    d_slab = np.zeros((c_prev, n, span_h, span_w), dA_prev.dtype)
    if by_rows:
        # dZ's rows, channel-first, with kw - 1 zero columns each side:
        # slab column q is read by the windows at wide columns q .. q + kw
        # - 1, through their taps kw - 1 .. 0
        wide = np.zeros((c_new, n, rows, w_new + 2 * kw - 2), dZ_mat.dtype)
        wide[:, :, :, kw - 1:kw - 1 + w_new] = dZ_mat.reshape(
            n, rows, w_new, c_new).transpose(3, 0, 1, 2)
        s_c, s_n, s_y, s_x = wide.strides
        # (kw * c_new, n * rows * span_w), copied in runs of span_w
        row_windows = _copy_runs(np.lib.stride_tricks.as_strided(
            wide, (kw, c_new, n, rows, span_w), (s_x, s_c, s_n, s_y, s_x),
            writeable=False)).reshape(kw * c_new, -1)
        # W_rows[(i, c), (j, k)] = W[i, kw - 1 - j, c, k]
        W_rows = W_mat.reshape(kh, kw, c_prev, c_new)[:, ::-1].transpose(
            0, 2, 1, 3).reshape(kh * c_prev, -1)
        d_rows = _matmul_by_rows(W_rows, row_windows.T).reshape(
            kh, c_prev, n, rows, span_w)
        for i in range(kh):
            d_slab[:, :, i:i + step_h * (rows - 1) + 1:step_h] += d_rows[i]
    else:
        # tap-major: (K, c_new) @ (c_new, n * rows * w_new)
        d_windows = _matmul_by_rows(W_mat, dZ_mat).reshape(
            kh, kw, c_prev, n, rows, w_new)
        for i in range(kh):
            for j in range(kw):
                d_slab[:, :, i:i + step_h * (rows - 1) + 1:step_h,
                       j:j + step_w * (w_new - 1) + 1:step_w] += d_windows[
                           i, j]
    for slab_rows, A_rows in segments_h:
        for slab_columns, A_columns in segments_w:
            dA_prev[n0:n1, A_rows, A_columns] += d_slab[
                :, :, slab_rows, slab_columns].transpose(1, 2, 3, 0)


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
