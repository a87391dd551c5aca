"""The four layers of tasks 0-3, fast: the same functions under the same contract.

``conv_forward``, ``pool_forward``, ``conv_backward`` and ``pool_backward`` take the task files'
arguments, check them the same way and keep the same contract (the conventions, ties, NaN and
inf, dtypes, errors and NumPy 1.x's float32 products of ``SPEC.md``), with memory bounded by
chunks on any shape; results differ from the task files' at most by the order of float sums.
Where the task files are the answer a teacher hands out, this module is where the speed lives,
once:

- a convolution gathers the zero-padded input its windows read (``padded_slab``) and copies its
  windows into one matrix (``window_matrix``), channel-last or channel-first, short runs of
  memory copied as single items of bytes (``copy_runs``); the product goes to BLAS in calls of
  a size the BLAS keeps on one thread (``Tuning.gemm_macs``);
- its input gradient is gathered by rows of dZ or tap by tap (``input_gradient_plan``);
- pooling reduces the rows of every window, then its columns, over short pixels as runs of
  whole rows; its gradient goes to whole blocks where windows do not overlap.

How the work is split (chunk sizes, BLAS call sizes, layout switches) is a ``Tuning``: the
current one is ``settings``, and ``tuning(**changes)`` sets fields for a block. No setting
changes what is computed, only how, so results differ between settings by float rounding at
most (the order of a sum); pooling gives the same bits under every setting. The defaults were
chosen by timing LeNet-5's layers: ``benchmarks/layers.py`` prints this module's speed against
TensorFlow and ``benchmarks/blocks.py`` the speed of each BLAS call size, on the machine they
run on.

This module imports NumPy and the standard library only, so that it also loads by file path
under another NumPy (the graders' NumPy 1.26), like the task files.
"""
import contextlib
import dataclasses

import numpy as np

__all__ = ["conv_forward", "pool_forward", "conv_backward", "pool_backward", "Tuning",
           "settings", "tuning", "padded_slab", "window_view", "window_matrix", "window_rows",
           "window_columns", "copy_runs", "input_gradient_plan"]


@dataclasses.dataclass(frozen=True)
class Tuning:
    """How the layers split their work. Every size is a count of bytes or multiply-adds.

    Attributes
    ----------
    conv_forward_chunk_bytes, pool_forward_chunk_bytes, conv_backward_chunk_bytes,
    pool_backward_chunk_bytes : int
        Work memory of a chunk of images in each function: large enough that a chunk's dozen
        NumPy calls cost little beside its work, small enough that it stays in cache. A chunk
        holds at least one image (or, see limit_bytes, one output row).
    limit_bytes : int
        Work memory above which one image is split into chunks of output rows: what bounds
        memory on any shape. Set to 1 with the chunk sizes, every chunk is one output row of
        one image.
    thread_macs : int
        A product of at least this many multiply-adds goes to BLAS as one call, which the BLAS
        may spread over its threads. 0: every product as one call.
    gemm_macs : int
        A smaller product goes as a stack of calls of about this many multiply-adds each, a
        size the BLAS computes on one thread: OpenBLAS (NumPy's wheels for Linux and Windows)
        keeps a call of 2**19 multiply-adds on one thread and spreads larger ones over several,
        which costs more than it gains on a busy machine. Other BLAS libraries draw their own
        lines: benchmarks/blocks.py times each size.
    gemm_rows : int
        Rows of a stacked call at least: thinner products are slow matrix-vector products.
    channel_last_from : int
        Input channels from which a window matrix is copied channel-last, a row per window in
        runs of kw * c_prev values; with fewer, channel-first, a column per window in runs of
        output columns (BLAS multiplies the transposed matrix without a copy).
    run_bytes : int
        Runs of memory up to this size are copied as one item of bytes each (copy_runs): NumPy
        copies a strided view run by run, and a call per run costs more than a short run's
        values.
    short_pixel_bytes : int
        Pixels (all channels of one position) up to this size are pooled as runs over whole
        rows rather than one window column at a time: strided windows over short pixels make
        NumPy loop over a few values at a time.
    partial_bytes : int
        Memory of the partial kernel gradients of one stack of BLAS calls, summed after.
    product_bytes : int
        Memory of the float32 products of one block of windows under NumPy 1.x's dW rule (see
        conv_backward).
    """

    conv_forward_chunk_bytes: int = 2 ** 21
    pool_forward_chunk_bytes: int = 2 ** 20
    conv_backward_chunk_bytes: int = 2 ** 22
    pool_backward_chunk_bytes: int = 2 ** 21
    limit_bytes: int = 2 ** 24
    thread_macs: int = 2 ** 24
    gemm_macs: int = 2 ** 19
    gemm_rows: int = 8
    channel_last_from: int = 3
    run_bytes: int = 256
    short_pixel_bytes: int = 32
    partial_bytes: int = 2 ** 20
    product_bytes: int = 2 ** 22


# The current settings, read by the layers at each call (read them as lenet.layers.settings:
# `from lenet.layers import settings` keeps the object of that moment).
settings = Tuning()


@contextlib.contextmanager
def tuning(**changes):
    """Within the block, the layers run with these fields of ``settings`` changed (see Tuning);
    the previous settings come back when it ends, also on an error.

    >>> with tuning(gemm_macs=2 ** 18):
    ...     Z = conv_forward(A_prev, W, b, activation)      # doctest: +SKIP

    An unknown field is a TypeError before the block runs. Yields the settings in force. The
    settings are the process's: a block changes them for every thread.
    """
    global settings
    saved = settings
    settings = dataclasses.replace(saved, **changes)
    try:
        yield settings
    finally:
        settings = saved


# NumPy 1.x casts a float64 scalar to a float32 array's dtype (value-based casting); NumPy 2
# (NEP 50) does not. See _dW_float32_products.
VALUE_BASED_CASTING = int(np.__version__.split(".")[0]) < 2


# The layers

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
        ph = ceil(((h_prev - 1) * sh + kh - h_prev) / 2), likewise pw. For odd kernels and
        stride 1 this equals TensorFlow's 'SAME'; otherwise it differs: h_prev=28, kh=3, sh=2
        gives ph=15 and h_new=28 here, while TensorFlow pads 0 top, 1 bottom and gives 14.
        A tuple (ph, pw) of non-negative ints pads that much on each side.
    stride : tuple (sh, sw)
        Strides of the convolution along height and width.

    Returns
    -------
    numpy.ndarray, shape (m, h_new, w_new, c_new)
        activation(Z), with h_new = (h_prev + 2 * ph - kh) // sh + 1, likewise w_new. float32
        inputs give float32, float64 gives float64, integers are computed in float64 (float16
        in float32, longdouble in longdouble). The inputs are not modified; big-endian arrays
        are accepted and give native-order results.

    Raises
    ------
    TypeError
        If an array argument is not a real numpy.ndarray, or activation is not callable.
    ValueError
        On wrong dimensions, mismatched shapes, unknown padding, a stride below 1, or a kernel
        larger than the padded input.
    """
    dtype, work, (m, h_new, w_new, c_new), geometry = _check_conv_forward(
        A_prev, W, b, activation, padding, stride)
    kh, kw, c_prev, _ = W.shape
    W_mat = W.reshape(-1, c_new).astype(work, copy=False)  # (K, c_new)
    b_row = np.tile(b.reshape(c_new).astype(work), w_new)  # (w_new * c_new)
    Z = np.empty((m, h_new, w_new, c_new), work)
    # Z in chunks of images, or of output rows of one large image (see _chunks): the memory used
    # stays bounded whatever the shapes.
    row_bytes = w_new * (W_mat.shape[0] + c_new) * work.itemsize
    for n0, n1, y0, y1 in _chunks(m, h_new, row_bytes, settings.conv_forward_chunk_bytes):
        # the input these windows read, zero-padded: (n, span_h, span_w, c)
        slab, step_h, step_w = padded_slab(A_prev, n0, n1, y0, y1, geometry, work)
        windows = window_matrix(slab, kh, kw, step_h, step_w)  # (R, K)
        Z_chunk = Z[n0:n1, y0:y1]  # (n, rows, w_new, c_new), contiguous
        # (R, K) @ (K, c_new), R = n * rows * w_new: every window times every kernel
        _matmul(windows, W_mat, Z_chunk.reshape(-1, c_new))
        Z_chunk.reshape(-1, w_new * c_new)[...] += b_row  # whole Z rows
    return activation(Z.astype(dtype, copy=False))


def pool_forward(A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """Forward propagation over a pooling layer (no padding).

    out[n, y, x, c] = max (or mean) of A_prev[n, y * sh + i, x * sw + j, c] over the window
    0 <= i < kh, 0 <= j < kw. Windows may overlap (stride < kernel) or leave gaps (stride >
    kernel).

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
        h_new = (h_prev - kh) // sh + 1, likewise w_new. float32 gives float32, float64 gives
        float64, integers are computed in float64 (float16 averages are summed in float32). A
        window holding a NaN pools to NaN under 'max' (as np.max; TensorFlow skips NaN). A_prev
        is not modified; big-endian arrays give native-order results.

    Raises
    ------
    TypeError
        If A_prev is not a real numpy.ndarray.
    ValueError
        On a wrong ndim, an unknown mode, a kernel or stride below 1, or a kernel larger than
        the input.
    """
    dtype, work, (m, h_new, w_new, c), (kh, kw, sh, sw) = (
        _check_pool_forward(A_prev, kernel_shape, stride, mode))
    reduce = np.maximum if mode == "max" else np.add
    out = np.empty((m, h_new, w_new, c), work)
    # Windows are separable: first over the kh rows of every window, all columns, then over its
    # kw columns; in chunks of images (or of output rows of one large image) whose row results
    # stay in cache.
    row_bytes = 2 * A_prev.shape[2] * c * work.itemsize  # see _pool_columns
    for n0, n1, y0, y1 in _chunks(m, h_new, row_bytes, settings.pool_forward_chunk_bytes):
        A = A_prev[n0:n1, y0 * sh:(y1 - 1) * sh + kh]  # rows these read
        rows = _combine(reduce, [A[:, i:i + sh * (y1 - y0 - 1) + 1:sh] for i in range(kh)],
                        np.empty((n1 - n0, y1 - y0) + A.shape[2:], work))
        # rows: (n, rows, w_prev, c) -> (n, rows, w_new, c)
        _pool_columns(reduce, rows, kw, sw, out[n0:n1, y0:y1])
    if mode == "avg":
        out /= kh * kw
    return out.astype(dtype, copy=False)


def conv_backward(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    """Back propagation over a convolutional layer.

    With Z = A_pad * W + b (cross-correlation, see conv_forward) and dZ = dL/dZ:
    dW[i, j, c, k] = sum over n, y, x of A_pad[n, y*sh + i, x*sw + j, c] * dZ[n, y, x, k];
    db[k] = sum of dZ[..., k]; dA_pad[n, y*sh + i, x*sw + j, c] collects dZ[n, y, x, k] *
    W[i, j, c, k] from every window that covers it, and dA_prev is dA_pad without its padding.

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
        ph = ceil(((h_prev - 1) * sh + kh - h_prev) / 2), likewise pw (TensorFlow's 'SAME'
        only for odd kernels and stride 1).
    stride : tuple (sh, sw)
        Strides of the convolution along height and width.

    Returns
    -------
    tuple (dA_prev, dW, db)
        Gradients shaped like A_prev, W and b. dZ must have the forward output shape,
        h_new = (h_prev + 2 * ph - kh) // sh + 1, likewise w_new. float32 inputs give float32,
        float64 gives float64, integers are computed in float64 (float16 in float32, longdouble
        in longdouble). The inputs are not modified; big-endian arrays are accepted and give
        native-order results.
        One exception keeps NumPy 1.x's published results: under NumPy older than 2, with
        A_prev float32 and dZ float64, each product A_pad value * float32(dZ value) of dW is
        rounded to float32 and the products are summed in float64. That is what the loop
        answer dW += A_window * dZ[n, y, x, k] computes there, since NumPy 1.x's value-based
        casting multiplies a float32 array by a float64 scalar in float32. NumPy >= 2
        multiplies in float64, as this function does in every other case.

    Raises
    ------
    TypeError
        If an array argument is not a real numpy.ndarray.
    ValueError
        On wrong dimensions, mismatched shapes (dZ included), unknown padding, a stride below
        1, or a kernel larger than the padded input.
    """
    dtype, work, float32_products, geometry = _check_conv_backward(
        dZ, A_prev, W, b, padding, stride)
    (m, h_new, w_new, c_new), (kh, kw) = dZ.shape, W.shape[:2]
    W_mat = W.reshape(-1, c_new).astype(work, copy=False)  # (K, c_new)
    dA_prev = np.zeros(A_prev.shape, work)
    dW = np.zeros(W_mat.shape, work)  # (K, c_new), K = kh * kw * c_prev
    db = np.zeros(c_new, np.promote_types(work, np.float64))  # exact sums
    # how dA_prev is gathered (see _add_windows), and its values per row
    by_rows, dA_values = input_gradient_plan(A_prev.shape, W.shape, geometry)
    # work memory per output row: windows, dZ, the input gradient's values
    row_bytes = (w_new * (W_mat.shape[0] + c_new) + dA_values) * work.itemsize
    for n0, n1, y0, y1 in _chunks(m, h_new, row_bytes, settings.conv_backward_chunk_bytes):
        # the input these windows read, zero-padded: (n, span_h, span_w, c)
        slab, step_h, step_w = padded_slab(A_prev, n0, n1, y0, y1, geometry, work)
        windows = window_matrix(slab, kh, kw, step_h, step_w)  # (R, K)
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
        _add_windows(dA_prev, W_mat, dZ_mat, n0, n1, y0, y1, geometry, by_rows)
    return (dA_prev.astype(dtype, copy=False),
            dW.reshape(W.shape).astype(dtype, copy=False),
            db.astype(dtype).reshape(1, 1, 1, c_new))


def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """Back propagation over a pooling layer (no padding).

    Window (y, x) covers A_prev[n, y*sh : y*sh + kh, x*sw : x*sw + kw, c]. 'max': every element
    equal to its window's maximum receives the full dA[n, y, x, c] (ties all receive it, as the
    published exercise output does) and the others receive nothing (an inf gradient stays inf
    there and 0 elsewhere). A window holding a NaN has the maximum NaN (as np.max and
    pool_forward): its NaN elements receive its gradient, the others nothing. TensorFlow skips
    NaN in the forward pass and sends the gradient to its first element if that is NaN, else to
    the maximum of the rest; we keep NumPy's NaN so that the gradient follows our forward pass
    and a NaN is never hidden. 'avg': every element of the window receives dA / (kh * kw).
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
        dA_prev, the gradient with respect to A_prev. dA must have the forward output shape,
        h_new = (h_prev - kh) // sh + 1, likewise w_new. float32 gives float32, float64 gives
        float64, integers are computed in float64 (float16 in float32). The inputs are not
        modified; big-endian arrays give native-order results.

    Raises
    ------
    TypeError
        If dA or A_prev is not a real numpy.ndarray.
    ValueError
        On a wrong ndim, a dA that does not match the forward output, an unknown mode, a kernel
        or stride below 1, or a kernel larger than the input.
    """
    dtype, work, (kh, kw, sh, sw) = _check_pool_backward(dA, A_prev, kernel_shape, stride, mode)
    m, h_new, w_new, c = dA.shape
    dA_prev = np.zeros(A_prev.shape, work)
    # In chunks of images (or of output rows of one large image) that stay in cache: an output
    # row's windows read max(sh, kh) rows of A_prev, and its work memory takes kh + 4 rows at
    # most (see _send_to_maxima).
    row_bytes = (max(sh, kh) + kh + 4) * A_prev.shape[2] * c * work.itemsize
    for n0, n1, y0, y1 in _chunks(m, h_new, row_bytes, settings.pool_backward_chunk_bytes):
        rows = slice(y0 * sh, (y1 - 1) * sh + kh)  # rows of A_prev read
        A, target = A_prev[n0:n1, rows], dA_prev[n0:n1, rows]
        grad = dA[n0:n1, y0:y1]  # (n, rows, w_new, c)
        if mode == "avg":
            _spread_averages(target, grad, kh, kw, sh, sw)
        else:
            _send_to_maxima(target, grad, A, kh, kw, sh, sw)
    return dA_prev.astype(dtype, copy=False)


# Argument checks

def _check_conv_forward(A_prev, W, b, activation, padding, stride):
    """Check every argument; return (dtype, work dtype, Z's shape, geometry)."""
    shape, geometry = _conv_geometry(A_prev, W, b, padding, stride)
    if not callable(activation):
        raise TypeError("activation must be callable, got {}".format(
            type(activation).__name__))
    dtype = np.result_type(_compute_dtype("A_prev", A_prev), _compute_dtype("W", W),
                           _compute_dtype("b", b))
    # float16 is computed in float32, so that sums are not float16 sums
    return dtype, np.promote_types(dtype, np.float32), shape, geometry


def _check_pool_forward(A_prev, kernel_shape, stride, mode):
    """Check every argument; return (dtype, work dtype, output shape, (kh, kw, sh, sw))."""
    dtype = _compute_dtype("A_prev", A_prev)
    shape, geometry = _pool_geometry(A_prev, kernel_shape, stride, mode)
    # float16 averages are summed in float32, not rounded at every add
    work = np.promote_types(dtype, np.float32) if mode == "avg" else dtype
    return dtype, work, shape, geometry


def _check_conv_backward(dZ, A_prev, W, b, padding, stride):
    """Check every argument; return (dtype, work dtype, whether dW takes NumPy 1.x's float32
    products, geometry)."""
    shape, geometry = _conv_geometry(A_prev, W, b, padding, stride)
    dZ_dtype = _compute_dtype("dZ", dZ)
    if dZ.shape != shape:
        raise ValueError("dZ must have the forward output shape {}, got {}".format(
            shape, dZ.shape))
    A_dtype = _compute_dtype("A_prev", A_prev)
    dtype = np.result_type(dZ_dtype, A_dtype, _compute_dtype("W", W))
    float32_products = (VALUE_BASED_CASTING and A_dtype == np.float32
                        and dZ_dtype == np.float64)
    # float16 is computed in float32, so that sums are not float16 sums
    return dtype, np.promote_types(dtype, np.float32), float32_products, geometry


def _check_pool_backward(dA, A_prev, kernel_shape, stride, mode):
    """Check every argument; return (dtype, work dtype, (kh, kw, sh, sw))."""
    dtype = np.result_type(_compute_dtype("dA", dA), _compute_dtype("A_prev", A_prev))
    shape, geometry = _pool_geometry(A_prev, kernel_shape, stride, mode)
    if dA.shape != shape:
        raise ValueError("dA must have the forward output shape {}, got {}".format(
            shape, dA.shape))
    # float16 is computed in float32: overlapping windows' gradients and the average's shares
    # are sums, not rounded to float16 at every add
    return dtype, np.promote_types(dtype, np.float32), geometry


def _compute_dtype(name, array):
    """Check that `array` is a real ndarray; return the dtype to compute in."""
    if not isinstance(array, np.ndarray):
        raise TypeError("{} must be a numpy.ndarray, got {}".format(
            name, type(array).__name__))
    if array.dtype.kind in "biu":
        return np.dtype(np.float64)
    if array.dtype.kind != "f":
        raise TypeError("{} must hold real numbers, got dtype {}".format(name, array.dtype))
    return array.dtype.newbyteorder("=")  # big-endian in, native out


def _pair(name, value, low):
    """Return `value` as a tuple of two ints >= low, else raise ValueError."""
    if (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low
            for v in value)):
        return int(value[0]), int(value[1])
    raise ValueError("{} must be a pair of ints >= {}, got {!r}".format(name, low, value))


def _padding(padding, h_prev, w_prev, kh, kw, sh, sw):
    """Return (ph, pw): 'valid' -> 0, 'same' -> the course's symmetric rule."""
    if isinstance(padding, str) and padding == "valid":
        return 0, 0
    if isinstance(padding, str) and padding == "same":
        # ceil(... / 2), never negative: (h_prev-1)*(sh-1) + kh-1 >= 0
        ph = -(-((h_prev - 1) * sh + kh - h_prev) // 2)
        pw = -(-((w_prev - 1) * sw + kw - w_prev) // 2)
        return ph, pw
    if isinstance(padding, str):
        raise ValueError("padding must be 'same', 'valid' or (ph, pw), got {!r}".format(
            padding))
    return _pair("padding", padding, 0)


def _conv_geometry(A_prev, W, b, padding, stride):
    """Check A_prev, W, b, padding and stride; return Z's shape (m, h_new, w_new, c_new) and
    the geometry (kh, kw, sh, sw, ph, pw)."""
    for name, array in (("A_prev", A_prev), ("W", W), ("b", b)):
        _compute_dtype(name, array)
    if A_prev.ndim != 4 or 0 in A_prev.shape[1:]:
        raise ValueError("A_prev must have shape (m, h_prev, w_prev, c_prev) with h_prev, "
                         "w_prev, c_prev >= 1, got shape {}".format(A_prev.shape))
    if W.ndim != 4 or 0 in W.shape or W.shape[2] != A_prev.shape[3]:
        raise ValueError("W must have shape (kh, kw, c_prev, c_new) with c_prev = "
                         "A_prev.shape[3]; got W {} and A_prev {}".format(
                             W.shape, A_prev.shape))
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    if b.shape != (1, 1, 1, c_new):
        raise ValueError("b must have shape (1, 1, 1, {}) to match W {}, got {}".format(
            c_new, W.shape, b.shape))
    sh, sw = _pair("stride", stride, 1)
    ph, pw = _padding(padding, h_prev, w_prev, kh, kw, sh, sw)
    if kh > h_prev + 2 * ph or kw > w_prev + 2 * pw:
        raise ValueError("kernel {}x{} of W is larger than the padded input {}x{} (A_prev {}, "
                         "padding ({}, {}))".format(kh, kw, h_prev + 2 * ph, w_prev + 2 * pw,
                                                    A_prev.shape, ph, pw))
    h_new = (h_prev + 2 * ph - kh) // sh + 1
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    return (m, h_new, w_new, c_new), (kh, kw, sh, sw, ph, pw)


def _pool_geometry(A_prev, kernel_shape, stride, mode):
    """Check A_prev's shape, kernel_shape, stride and mode; return the output shape (m, h_new,
    w_new, c) and (kh, kw, sh, sw)."""
    if A_prev.ndim != 4 or 0 in A_prev.shape[1:]:
        raise ValueError("A_prev must have shape (m, h_prev, w_prev, c) with h_prev, w_prev, "
                         "c >= 1, got shape {}".format(A_prev.shape))
    kh, kw = _pair("kernel_shape", kernel_shape, 1)
    sh, sw = _pair("stride", stride, 1)
    if mode not in ("max", "avg"):
        raise ValueError("mode must be 'max' or 'avg', got {!r}".format(mode))
    m, h_prev, w_prev, c = A_prev.shape
    if kh > h_prev or kw > w_prev:
        raise ValueError("kernel_shape {} is larger than the input {}x{} of A_prev {}".format(
            (kh, kw), h_prev, w_prev, A_prev.shape))
    h_new = (h_prev - kh) // sh + 1
    w_new = (w_prev - kw) // sw + 1
    return (m, h_new, w_new, c), (kh, kw, sh, sw)


# Chunks and copies

def _chunks(m, h_new, row_bytes, budget):
    """(n0, n1, y0, y1): images n0:n1, output rows y0:y1, covering the batch in order, at
    `row_bytes` of work memory per output row. A chunk is whole images, about `budget` bytes
    (at least one image), or rows of one image when one image would need more than
    settings.limit_bytes."""
    limit = settings.limit_bytes
    per_image = max(1, h_new * row_bytes)
    if per_image <= limit:
        images = max(1, budget // per_image)
        for n0 in range(0, m, images):
            yield n0, min(m, n0 + images), 0, h_new
        return
    rows = max(1, limit // max(1, row_bytes))
    for n in range(m):
        for y0 in range(0, h_new, rows):
            yield n, n + 1, y0, min(h_new, y0 + rows)


def copy_runs(view, out=None):
    """out[...] = view; with out None, view as a C-contiguous array (itself if it is one, as
    np.ascontiguousarray). Returns out.

    NumPy copies a strided view a run along its last axis at a time, and each run's call costs
    more than a short run's values: runs of up to settings.run_bytes in memory are copied
    instead as one item of bytes each. The values are copied exactly either way (NaN payloads
    and signed zeros included).
    """
    if out is None:
        if view.flags.c_contiguous:
            return view
        out = np.empty(view.shape, view.dtype)
    run_bytes = view.shape[-1] * view.itemsize
    if (0 < run_bytes <= settings.run_bytes and view.dtype == out.dtype
            and view.strides[-1] == out.strides[-1] == view.itemsize):
        run = np.dtype((np.void, run_bytes))
        np.copyto(out.view(run), view.view(run))
    else:
        np.copyto(out, view)
    return out


# The windows of a convolution

def _axis(size, k, s, p, lo, hi):
    """Which padded positions outputs lo:hi read along one axis (input `size`, kernel k, stride
    s, padding p): (span, step, segments).

    The slab keeps `span` positions; output o's window starts at (o - lo) * step in it. When
    windows overlap or touch (s <= k) that is the run of positions they cover, step s; when
    they leave gaps (s > k) only their k positions each, step k: padding no window reads is
    never built. segments: (slab slice, input slice) pairs holding the input's values.
    """
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
            segments.append((slice((a - lo) * k + i, (b - lo - 1) * k + i + 1, k),
                             slice(a * s + i - p, (b - 1) * s + i - p + 1, s)))
    return (hi - lo) * k, k, segments


def padded_slab(A_prev, n0, n1, y0, y1, geometry, dtype, out=None):
    """(slab, step_h, step_w): the zero-padded input of output rows y0:y1 of images n0:n1, only
    the positions their windows read (see _axis), (n, span_h, span_w, c_prev) in dtype; window
    (y, x) starts at (y * step_h, x * step_w).

    geometry is (kh, kw, sh, sw, ph, pw). Where nothing is padded or converted the slab is
    A_prev's own images. Else it is built in `out` if given (of the slab's shape and dtype, and
    zero wherever no input lands: an array kept from a call with the same shapes, whose padding
    is not written again), or in a new array.
    """
    kh, kw, sh, sw, ph, pw = geometry
    m, h_prev, w_prev, c_prev = A_prev.shape
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    span_h, step_h, rows = _axis(h_prev, kh, sh, ph, y0, y1)
    span_w, step_w, columns = _axis(w_prev, kw, sw, pw, 0, w_new)
    whole = [(slice(0, h_prev), slice(0, h_prev))], [(slice(0, w_prev), slice(0, w_prev))]
    if (rows, columns) == whole and A_prev.dtype == dtype:
        return A_prev[n0:n1], step_h, step_w  # nothing to pad or convert
    shape = (n1 - n0, span_h, span_w, c_prev)
    if out is None:
        slab = np.zeros(shape, dtype)
    elif out.shape != shape or out.dtype != dtype:
        raise ValueError("out must have shape {} and dtype {}, got {} {}".format(
            shape, np.dtype(dtype), out.shape, out.dtype))
    else:
        slab = out
    for slab_rows, A_rows in rows:
        for slab_columns, A_columns in columns:
            slab[:, slab_rows, slab_columns] = A_prev[n0:n1, A_rows, A_columns]
    return slab, step_h, step_w


def window_view(slab, kh, kw, step_h, step_w):
    """A read-only view of every kh x kw window of slab (n, span_h, span_w, c), windows
    step_h rows and step_w columns apart, no copy: (n, rows, w_new, kh, kw, c) with
    rows = (span_h - kh) // step_h + 1, likewise w_new."""
    n, span_h, span_w, c = slab.shape
    rows, w_new = (span_h - kh) // step_h + 1, (span_w - kw) // step_w + 1
    s_n, s_h, s_w, s_c = slab.strides
    return np.lib.stride_tricks.as_strided(
        slab, (n, rows, w_new, kh, kw, c), (s_n, step_h * s_h, step_w * s_w, s_h, s_w, s_c),
        writeable=False)


def window_rows(windows, out=None):
    """The windows of a window_view (n, rows, w_new, kh, kw, c) as the rows of an (n * rows *
    w_new, K) matrix, K = kh * kw * c, columns ordered like W.reshape(K, c_new): copied a window
    row (kw * c values, one run where the slab's pixels follow each other) at a time, into `out`
    (a C-contiguous array of R * K values) if given; with out None, no copy where the windows
    tile the slab (1 x 1 kernels at stride 1, a kernel as large as the image)."""
    n, rows, w_new, kh, kw, c = windows.shape
    runs = windows  # (n, rows, w_new, kh, kw * c) where a window's row is one run in memory
    if windows.strides[4] == c * windows.strides[5]:
        runs = windows.reshape(n, rows, w_new, kh, kw * c)
    return copy_runs(runs, _shaped(out, runs.shape)).reshape(n * rows * w_new, -1)


def window_columns(windows, out=None):
    """The windows of a window_view (n, rows, w_new, kh, kw, c) as the columns of a (K, n * rows
    * w_new) matrix, rows ordered (i, j, c) like W.reshape(K, c_new): copied in runs of w_new
    windows, into `out` (a C-contiguous array of K * R values) if given; with out None, into a
    new array unless the windows already lie so in memory."""
    n, rows, w_new, kh, kw, c = windows.shape
    columns = windows.transpose(3, 4, 5, 0, 1, 2)  # (kh, kw, c, n, rows, w_new)
    return copy_runs(columns, _shaped(out, columns.shape)).reshape(kh * kw * c, -1)


def _shaped(out, shape):
    """out (None, or a C-contiguous array) as a view of that shape, for copies into it."""
    if out is None:
        return None
    if not out.flags.c_contiguous or out.size != np.prod(shape, dtype=np.int64):
        raise ValueError("out must be a C-contiguous array of {} values".format(
            int(np.prod(shape, dtype=np.int64))))
    return out.reshape(shape)


def window_matrix(slab, kh, kw, step_h, step_w):
    """Every window of the slab (n, span_h, span_w, c_prev) as a row of a (n * rows * w_new, K)
    matrix, K = kh * kw * c_prev, columns ordered like W.reshape(K, c_new): one copy of a
    strided view, or none where the windows tile the slab.

    From settings.channel_last_from channels, a C-contiguous copy a row per window (window_rows);
    with fewer, a window's row holds few values, and the windows are copied channel-first, a
    column per window in runs of w_new (window_columns), and returned transposed (BLAS
    multiplies that view without a copy)."""
    windows = window_view(slab, kh, kw, step_h, step_w)
    if slab.shape[3] >= settings.channel_last_from or windows.flags.c_contiguous:
        return window_rows(windows)
    return window_columns(windows).T


# Products handed to BLAS

def _block_rows(R, K, C):
    """Rows per BLAS call of an (R, K) @ (K, C) product: all R when it has settings.thread_macs
    multiply-adds or more, else about settings.gemm_macs of them, at least settings.gemm_rows
    rows."""
    if R * K * C >= settings.thread_macs:
        return max(1, R)
    return max(1, min(R, max(settings.gemm_rows, settings.gemm_macs // (K * C))))


def _matmul(a, b, out):
    """out = a @ b for a (R, K), b (K, C) and a C-contiguous out (R, C), in BLAS calls over
    blocks of rows (see _block_rows)."""
    (R, K), C = a.shape, b.shape[1]
    block = _block_rows(R, K, C)  # rows per call
    whole = R - R % block
    if whole:
        np.matmul(a[:whole].reshape(-1, block, K), b, out=out[:whole].reshape(-1, block, C))
    if whole < R:
        np.matmul(a[whole:], b, out=out[whole:])


def _matmul_sum(a, b):
    """a @ b for a (K, R), b (R, C): a sum over R, in BLAS calls over blocks of R (see
    _block_rows), stacked so that their partial results take settings.partial_bytes at most,
    then added."""
    (K, R), C = a.shape, b.shape[1]
    total = np.zeros((K, C), np.result_type(a, b))
    block = _block_rows(R, K, C)  # R per call
    stack = block * max(1, settings.partial_bytes // (K * C * total.itemsize))
    for start in range(0, R, stack):
        part_a, part_b = a[:, start:start + stack], b[start:start + stack]
        whole = part_b.shape[0] - part_b.shape[0] % block
        if whole:  # (whole / block, K, block) @ (whole / block, block, C)
            total += np.matmul(part_a[:, :whole].reshape(K, -1, block).transpose(1, 0, 2),
                               part_b[:whole].reshape(-1, block, C)).sum(axis=0)
        if whole < part_b.shape[0]:
            total += part_a[:, whole:] @ part_b[whole:]
    return total


def _matmul_by_rows(a, b):
    """a @ b.T for a (K, C), b (R, C), as (K, R), in BLAS calls over blocks of b's rows (see
    _block_rows)."""
    (K, C), R = a.shape, b.shape[0]
    out = np.empty((K, R), np.result_type(a, b))
    block = _block_rows(R, K, C)  # columns of out per call
    whole = R - R % block
    if whole:  # (K, C) @ (R / block, C, block) -> (R / block, K, block)
        np.matmul(a, b[:whole].reshape(-1, block, C).transpose(0, 2, 1),
                  out=out[:, :whole].reshape(K, -1, block).transpose(1, 0, 2))
    if whole < R:
        np.matmul(a, b[whole:].T, out=out[:, whole:])
    return out


def _dW_float32_products(cols, dZ_mat):
    """dW (K, c_new) in float64 as sums of float32 products: each product
    float32(window value * float32(dZ)), added up in float64.

    This is what the straightforward loop answer (dW += A_window * dZ[n, y, x, k]) computes
    under NumPy 1.x when A_prev is float32 and dZ float64: value-based casting turns the float64
    scalar into float32 and multiplies in float32. Products of blocks of windows,
    settings.product_bytes at a time, keep the memory bounded.
    """
    K, c_new = cols.shape[1], dZ_mat.shape[1]
    dZ32 = dZ_mat.astype(np.float32)
    dW = np.zeros((K, c_new))
    step = max(1, settings.product_bytes // (4 * K * c_new))
    for start in range(0, len(cols), step):
        a = cols[start:start + step].astype(np.float32, copy=False)
        # (rows, K, 1) * (rows, 1, c_new) -> (rows, K, c_new) float32
        products = a[:, :, None] * dZ32[start:start + step, None, :]
        dW += products.sum(axis=0, dtype=np.float64)
    return dW


# The input gradient of a convolution

def input_gradient_plan(A_shape, W_shape, geometry):
    """(by_rows, values): how conv_backward gathers dA_prev (see _add_windows), and the values
    it holds per output row, for A_prev of A_shape, W of W_shape and geometry (kh, kw, sh, sw,
    ph, pw).

    By taps: the K = kh * kw * c_prev values each window sends back, added tap by tap. By rows,
    where a row's windows are one position apart: for each slab column, the kw * c_new values
    of dZ whose windows cover it, times the kernel, give kh * c_prev values, added kernel row by
    kernel row. Rows hold fewer values when c_new < kh * c_prev; they cost span_w / w_new times
    the multiply-adds, so they are taken only up to twice that. (benchmarks/layers.py times
    LeNet-5's two layers, one taken each way.)"""
    _, h_prev, w_prev, c_prev = A_shape
    kh, kw, _, c_new = W_shape
    _, _, sh, sw, ph, pw = geometry
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    span_w, step_w, _ = _axis(w_prev, kw, sw, pw, 0, w_new)
    if step_w == 1 and span_w <= 2 * w_new and c_new < kh * c_prev:
        # row windows, their products, dZ's zero-widened rows
        return True, (span_w * (kw * c_new + kh * c_prev) + (w_new + 2 * kw) * c_new)
    return False, w_new * kh * kw * c_prev


def _add_windows(dA_prev, W_mat, dZ_mat, n0, n1, y0, y1, geometry, by_rows):
    """dA_prev[n0:n1] += what the windows of output rows y0:y1 send back: W_mat (K, c_new) times
    dZ_mat (n * rows * w_new, c_new), K ordered (kh, kw, c_prev), by rows or by taps (see
    input_gradient_plan).

    Both add into a zero slab laid out like padded_slab's but channel-first, (c_prev, n,
    span_h, span_w), so that each add runs along a row; then the slab's input positions go into
    dA_prev (its padding is dropped)."""
    kh, kw, sh, sw, ph, pw = geometry
    m, h_prev, w_prev, c_prev = dA_prev.shape
    n, rows, c_new = n1 - n0, y1 - y0, dZ_mat.shape[1]
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    span_h, step_h, segments_h = _axis(h_prev, kh, sh, ph, y0, y1)
    span_w, step_w, segments_w = _axis(w_prev, kw, sw, pw, 0, w_new)
    d_slab = np.zeros((c_prev, n, span_h, span_w), dA_prev.dtype)
    if by_rows:
        # dZ's rows, channel-first, with kw - 1 zero columns each side: slab column q is read by
        # the windows at wide columns q .. q + kw - 1, through their taps kw - 1 .. 0
        wide = np.zeros((c_new, n, rows, w_new + 2 * kw - 2), dZ_mat.dtype)
        wide[:, :, :, kw - 1:kw - 1 + w_new] = dZ_mat.reshape(
            n, rows, w_new, c_new).transpose(3, 0, 1, 2)
        s_c, s_n, s_y, s_x = wide.strides
        # (kw * c_new, n * rows * span_w), copied in runs of span_w
        row_windows = copy_runs(np.lib.stride_tricks.as_strided(
            wide, (kw, c_new, n, rows, span_w), (s_x, s_c, s_n, s_y, s_x),
            writeable=False)).reshape(kw * c_new, -1)
        # W_rows[(i, c), (j, k)] = W[i, kw - 1 - j, c, k]
        W_rows = W_mat.reshape(kh, kw, c_prev, c_new)[:, ::-1].transpose(0, 2, 1, 3).reshape(
            kh * c_prev, -1)
        d_rows = _matmul_by_rows(W_rows, row_windows.T).reshape(kh, c_prev, n, rows, span_w)
        for i in range(kh):
            d_slab[:, :, i:i + step_h * (rows - 1) + 1:step_h] += d_rows[i]
    else:
        # tap-major: (K, c_new) @ (c_new, n * rows * w_new)
        d_windows = _matmul_by_rows(W_mat, dZ_mat).reshape(kh, kw, c_prev, n, rows, w_new)
        for i in range(kh):
            for j in range(kw):
                d_slab[:, :, i:i + step_h * (rows - 1) + 1:step_h,
                       j:j + step_w * (w_new - 1) + 1:step_w] += d_windows[i, j]
    for slab_rows, A_rows in segments_h:
        for slab_columns, A_columns in segments_w:
            dA_prev[n0:n1, A_rows, A_columns] += d_slab[
                :, :, slab_rows, slab_columns].transpose(1, 2, 3, 0)


# Pooling

def _combine(reduce, parts, out):
    """out = reduce(... reduce(parts[0], parts[1]) ..., parts[-1]): the elementwise max or sum
    of equally shaped arrays, in out's dtype."""
    if len(parts) == 1:
        out[...] = parts[0]
    else:
        reduce(parts[0], parts[1], out=out, dtype=out.dtype)
    for part in parts[2:]:
        reduce(out, part, out=out)
    return out


def _pool_columns(reduce, rows, kw, sw, out):
    """out (n, rows, w_new, c) = reduce over the kw columns of every window of rows (n, rows,
    w_prev, c), windows sw columns apart.

    Strided windows over short pixels (2 to settings.short_pixel_bytes bytes of channels) would
    make NumPy loop over a few values at a time, and a call's overhead per loop dominates. Those
    are reduced instead as runs over the whole flattened chunk, each column with the kw - 1
    columns to its right (runs spilling into the next row are never read); then every sw-th
    column is copied, each pixel as one item of bytes (see copy_runs). Other shapes: one reduce
    per window column. Both give the same bits.
    """
    c, pixel_bytes = rows.shape[3], rows.shape[3] * rows.itemsize
    span = sw * (out.shape[2] - 1) + 1  # first window's start to last's
    if sw == 1 or c == 1 or pixel_bytes > settings.short_pixel_bytes:
        return _combine(reduce, [rows[:, :, j:j + span:sw] for j in range(kw)], out)
    flat = rows.reshape(-1)
    size = flat.size - (kw - 1) * c
    wide = np.empty_like(rows)  # wide[..., x, :]: the window starting at x
    _combine(reduce, [flat[j * c:j * c + size] for j in range(kw)], wide.reshape(-1)[:size])
    return copy_runs(wide[:, :, :span:sw], out)  # pixels as items of bytes


def _window(array, i, j, h_new, w_new, sh, sw):
    """View of element (i, j) of every window, (n, h_new, w_new, c)."""
    return array[:, i:i + sh * (h_new - 1) + 1:sh, j:j + sw * (w_new - 1) + 1:sw]


def _spread_averages(target, grad, kh, kw, sh, sw):
    """target += each window's grad / (kh * kw) on each of its elements.

    Tiling windows over pixels of several channels: each share, spread over its window's
    columns, is added to its block of target (see _send_to_maxima). With one channel, or gaps
    between windows, the blocks do not pay: the sum is separable, so is its gradient, each
    window's share over its kw columns, (n, h_new, w_prev, c), then over its kh rows."""
    n, h_new, w_new, c = grad.shape
    if (sh, sw) == (kh, kw) and c > 1:
        share = _spread(grad, kw, target.dtype)
        share /= kh * kw
        blocks = _blocks(target, kh, kw, sh, sw, h_new, w_new)
        np.add(blocks, share, out=blocks)  # (0 + -0.0 is +0.0, as the separable way)
        return
    share = np.zeros((n, h_new, target.shape[2], c), target.dtype)
    for j in range(kw):
        columns = share[:, :, j:j + sw * (w_new - 1) + 1:sw]
        np.add(columns, grad, out=columns)
    share /= kh * kw
    for i in range(kh):
        target[:, i:i + sh * (h_new - 1) + 1:sh] += share


def _send_to_maxima(target, grad, A, kh, kw, sh, sw):
    """target += each window's grad on the elements equal to its maximum.

    The window maxima (n, h_new, w_new, c), over the kh rows of every window, then over its kw
    columns (as in pool_forward), are NaN where a window holds one; its NaN elements then count
    as the maximum. Only the hits receive anything, so an inf gradient never turns into NaN
    (0 * inf) on the other elements, and no -0.0 appears.

    Windows apart (no overlap): every window is one block, (n, h_new, kh, w_new, kw, c); the
    maxima and grads, spread over their windows' columns (copied pixel by pixel, see
    copy_runs), are compared with and sent to whole blocks. Overlapping windows: element (i, j)
    of every window at a time, added where it is a hit."""
    n, h_new, w_new, c = grad.shape
    rows = _combine(np.maximum, [A[:, i:i + sh * (h_new - 1) + 1:sh] for i in range(kh)],
                    np.empty((n, h_new) + A.shape[2:], target.dtype))
    maxima = _pool_columns(np.maximum, rows, kw, sw, np.empty(grad.shape, target.dtype))
    nan = np.isnan(maxima).any()
    if sh >= kh and sw >= kw:
        blocks = _blocks(A, kh, kw, sh, sw, h_new, w_new)
        hit = blocks == _spread(maxima, kw, target.dtype)
        if nan:
            hit |= np.isnan(blocks)
        _select(hit, _spread(grad, kw, target.dtype),
                _blocks(target, kh, kw, sh, sw, h_new, w_new))
        return
    for i in range(kh):
        for j in range(kw):
            element = _window(A, i, j, h_new, w_new, sh, sw)
            hit = element == maxima  # (n, h_new, w_new, c) bool
            if nan:
                hit |= np.isnan(element)
            place = _window(target, i, j, h_new, w_new, sh, sw)
            np.add(place, grad, out=place, where=hit)


def _blocks(array, kh, kw, sh, sw, h_new, w_new):
    """View of every window of array as a block, (n, h_new, kh, w_new, kw, c), for windows that
    do not overlap (writeable: no element twice)."""
    s_n, s_h, s_w, s_c = array.strides
    return np.lib.stride_tricks.as_strided(
        array, (array.shape[0], h_new, kh, w_new, kw, array.shape[3]),
        (s_n, sh * s_h, s_h, sw * s_w, s_w, s_c))


def _spread(values, kw, dtype):
    """values (n, h_new, w_new, c) in dtype, each pixel repeated over the kw columns of its
    window: (n, h_new, 1, w_new, kw, c), which broadcasts over a block's kh rows."""
    n, h_new, w_new, c = values.shape
    shape = (n, h_new, 1, w_new, kw, c)
    return copy_runs(np.broadcast_to(values[:, :, None, :, None], shape),
                     np.empty(shape, dtype))


def _select(hit, values, out):
    """out[...] = np.where(hit, values, 0), without a branch per element.

    np.where branches on each element, slow on a mask with no pattern; a float product would
    turn 0 * inf into NaN and 0 * -x into -0.0. The bit patterns of values times 0 or 1, as
    integers, are exact."""
    if values.dtype == out.dtype and out.itemsize in (2, 4, 8):
        bits = np.dtype("i{}".format(out.itemsize))
        np.multiply(values.view(bits), hit, out=out.view(bits))
    else:  # (long double)
        out[...] = np.where(hit, values, 0)
