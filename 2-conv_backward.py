#!/usr/bin/env python3
"""Task 2: backward pass of a 2-D convolutional layer (NHWC) in NumPy."""
import numpy as np

CHUNK_BYTES = 2 ** 22  # work memory of one chunk of images (or of rows)
# NumPy 1.x multiplies a float32 array by a float64 scalar in float32
# (value-based casting); NumPy 2 (NEP 50) in float64. See the docstring.
VALUE_BASED_CASTING = int(np.__version__.split(".")[0]) < 2


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
        are computed in float64 (float16 in float32). The inputs are not
        modified. Under NumPy 1.x, with A_prev float32 and dZ float64, each
        product of dW is rounded to float32 before the float64 sum: what
        the loop answer dW += A_window * dZ[n, y, x, k] computes there.

    Raises
    ------
    TypeError
        If an array argument is not a numpy.ndarray of real numbers.
    ValueError
        On wrong dimensions, mismatched shapes (dZ included), unknown
        padding, a stride below 1, or a kernel larger than the padded input.
    """
    dtype, geometry, shape = _conv_geometry(A_prev, W, b, padding, stride)
    dtype = np.result_type(dtype, _real("dZ", dZ))
    if dZ.shape != shape:
        raise ValueError("dZ must have the forward output shape {}, got {}"
                         .format(shape, dZ.shape))
    work = np.promote_types(dtype, np.float32)  # float16 sums in float32
    float32_products = (VALUE_BASED_CASTING and _real("dZ", dZ) == np.float64
                        and _real("A_prev", A_prev) == np.float32)
    m, h_new, w_new, c_new = shape
    W_mat = W.reshape(-1, c_new).astype(work)  # (K, c_new), K = kh*kw*c_prev
    dA_prev = np.zeros(A_prev.shape, work)
    dW = np.zeros(W_mat.shape, work)
    for n, y in _chunks(m, h_new, _row_bytes(A_prev, W, geometry, work)):
        slab, inside, rows = _slab(A_prev, n, y, geometry, work)
        windows = _windows(slab, geometry)  # (K, R), R = n * rows * w_new
        grad = dZ[n, y].reshape(-1, c_new).astype(work)  # (R, c_new)
        if float32_products:  # see the docstring
            dW += _float32_products(windows, grad)
        else:  # (K, R) @ (R, c_new)
            dW += windows @ grad
        # what each window sends back, (K, c_new) @ (c_new, R), tap by tap
        d_slab = _scatter(W_mat @ grad.T, slab.shape, geometry)
        target = dA_prev[n, rows]  # a view: += adds in place
        target += d_slab[inside].transpose(1, 2, 3, 0)  # without the padding
    # sums in float64 (or longer) at least, rounded once to the dtype
    db = np.sum(dZ, axis=(0, 1, 2), keepdims=True,
                dtype=np.promote_types(work, np.float64))
    return (dA_prev.astype(dtype, copy=False),
            dW.reshape(W.shape).astype(dtype, copy=False), db.astype(dtype))


def _scatter(d_windows, shape, geometry):
    """The gradient of a slab of this shape (c_prev, n, span, width) from
    the gradients of its windows d_windows (K, R), laid out as _windows
    lays them: tap by tap, every window adds its tap to the slab."""
    kh, kw, sh, sw, ph, pw, h_new, w_new = geometry
    c, n, span, _ = shape
    rows = (span - kh) // sh + 1
    taps = d_windows.reshape(kh, kw, c, n, rows, w_new)
    d_slab = np.zeros(shape, d_windows.dtype)
    for i in range(kh):
        for j in range(kw):
            target = d_slab[:, :, i:i + sh * (rows - 1) + 1:sh,
                            j:j + sw * (w_new - 1) + 1:sw]
            target += taps[i, j]  # a view: += adds in place
    return d_slab


def _float32_products(windows, grad):
    """dW (K, c_new) as NumPy 1.x's loop answer computes it for A_prev
    float32 and dZ float64: each product float32(window value *
    float32(dZ)), the products summed in float64; CHUNK_BYTES of products
    at a time."""
    a, g = windows.astype(np.float32), grad.astype(np.float32)
    step = max(1, CHUNK_BYTES // (4 * a.shape[0] * g.shape[1]))
    return sum((a[:, r:r + step, None] * g[None, r:r + step]).sum(
        axis=1, dtype=np.float64) for r in range(0, g.shape[0], step))


def _slab(A_prev, n, y, geometry, work):
    """The zero-padded input that output rows y of images n read, channel
    first: (slab (c_prev, n, span, w_prev + 2 * pw), inside, rows), where
    slab[inside] holds A_prev[n, rows] (channel first)."""
    kh, kw, sh, sw, ph, pw, h_new, w_new = geometry
    A = A_prev[n]
    rows = range(h_new)[y]
    top = rows.start * sh - ph  # A_prev row of the slab's first row
    span = (len(rows) - 1) * sh + kh
    slab = np.zeros((A.shape[3], A.shape[0], span, A.shape[2] + 2 * pw),
                    work)
    first = max(0, top)  # the input's own rows: first:last
    last = max(first, min(A.shape[1], top + span))
    inside = (slice(None), slice(None), slice(first - top, last - top),
              slice(pw, pw + A.shape[2]))
    slab[inside] = A[:, first:last].transpose(3, 0, 1, 2)
    return slab, inside, slice(first, last)


def _windows(slab, geometry):
    """Every window of the slab as a column: (K, n * rows * w_new), rows
    ordered (kh, kw, c_prev) like W.reshape(K, c_new). Built tap by tap:
    tap (i, j) of window (y, x) is slab[:, :, y * sh + i, x * sw + j]."""
    kh, kw, sh, sw, ph, pw, h_new, w_new = geometry
    c, n, span, _ = slab.shape
    rows = (span - kh) // sh + 1
    windows = np.empty((kh, kw, c, n, rows, w_new), slab.dtype)
    for i in range(kh):
        for j in range(kw):
            windows[i, j] = slab[:, :, i:i + sh * (rows - 1) + 1:sh,
                                 j:j + sw * (w_new - 1) + 1:sw]
    return windows.reshape(kh * kw * c, -1)


def _row_bytes(A_prev, W, geometry, work):
    """Work memory per output row: two slabs' rows, twice the windows and
    twice Z's row (the backward pass needs each twice)."""
    kh, kw, sh, sw, ph, pw, h_new, w_new = geometry
    slab = sh * (A_prev.shape[2] + 2 * pw) * A_prev.shape[3]
    return 2 * (slab + w_new * W.size // W.shape[3]
                + w_new * W.shape[3]) * work.itemsize


def _conv_geometry(A_prev, W, b, padding, stride):
    """Check A_prev, W, b, padding and stride; return (dtype of the result,
    geometry (kh, kw, sh, sw, ph, pw, h_new, w_new), Z's shape)."""
    dtype = np.result_type(*(_real("A_prev", A_prev), _real("W", W),
                             _real("b", b)))
    if A_prev.ndim != 4 or 0 in A_prev.shape[1:]:
        raise ValueError("A_prev must have shape (m, h_prev, w_prev, c_prev)"
                         ", got {}".format(A_prev.shape))
    if W.ndim != 4 or 0 in W.shape or W.shape[2] != A_prev.shape[3]:
        raise ValueError("W must have shape (kh, kw, c_prev, c_new) with "
                         "c_prev = A_prev.shape[3]; got W {} and A_prev {}"
                         .format(W.shape, A_prev.shape))
    (m, h_prev, w_prev, _), (kh, kw, _, c_new) = A_prev.shape, W.shape
    if b.shape != (1, 1, 1, c_new):
        raise ValueError("b must have shape (1, 1, 1, {}) to match W {}, "
                         "got {}".format(c_new, W.shape, b.shape))
    sh, sw = _pair("stride", stride, 1)
    if isinstance(padding, str) and padding in ("same", "valid"):
        # 'same': ceil(... / 2), which is never negative
        ph = -(-((h_prev - 1) * sh + kh - h_prev) // 2) * (padding == "same")
        pw = -(-((w_prev - 1) * sw + kw - w_prev) // 2) * (padding == "same")
    else:
        ph, pw = _pair("padding ('same', 'valid' or (ph, pw))", padding, 0)
    if kh > h_prev + 2 * ph or kw > w_prev + 2 * pw:
        raise ValueError("kernel {}x{} of W is larger than the padded input "
                         "{}x{} (A_prev {}, padding ({}, {}))".format(
                             kh, kw, h_prev + 2 * ph, w_prev + 2 * pw,
                             A_prev.shape, ph, pw))
    h_new = (h_prev + 2 * ph - kh) // sh + 1
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    return (dtype, (kh, kw, sh, sw, ph, pw, h_new, w_new),
            (m, h_new, w_new, c_new))


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
