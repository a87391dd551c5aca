#!/usr/bin/env python3
"""Task 3: backward pass of a max or average pooling layer (NHWC) in NumPy."""
import numpy as np


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
    dtype, work, (kh, kw, sh, sw) = _check_pool_backward(
        dA, A_prev, kernel_shape, stride, mode)
    m, h_new, w_new, c = dA.shape
    dA_prev = np.zeros(A_prev.shape, work)
    # In chunks of images (or of output rows of one large image) that stay
    # in cache: an output row's windows read max(sh, kh) rows of A_prev,
    # and its work memory takes kh + 4 rows at most (see _send_to_maxima).
    row_bytes = (max(sh, kh) + kh + 4) * A_prev.shape[2] * c * work.itemsize
    for n0, n1, y0, y1 in _chunks(m, h_new, row_bytes, CHUNK_BYTES):
        rows = slice(y0 * sh, (y1 - 1) * sh + kh)  # rows of A_prev read
        A, target = A_prev[n0:n1, rows], dA_prev[n0:n1, rows]
        grad = dA[n0:n1, y0:y1]  # (n, rows, w_new, c)
        if mode == "avg":
            _spread_averages(target, grad, kh, kw, sh, sw)
        else:
            _send_to_maxima(target, grad, A, kh, kw, sh, sw)
    return dA_prev.astype(dtype, copy=False)


# The machinery below: argument checks and the two gradients. Twins:
# _compute_dtype, _pair, _chunks and _copy_runs are copied in
# 0-conv_forward.py, 1-pool_forward.py and 2-conv_backward.py;
# _pool_geometry, _pool_columns and _combine in 1-pool_forward.py (each
# task file stands alone; tests/test_task_files.py keeps the copies
# identical).

CHUNK_BYTES = 2 ** 21  # work memory of a chunk: stays in cache (measured)
LIMIT_BYTES = 2 ** 24  # work memory of a chunk: split an image beyond this
SHORT_PIXEL_BYTES = 32  # pixels up to this size are pooled as runs of rows
RUN_BYTES = 256  # runs copied as one item of bytes up to this (_copy_runs)


def _check_pool_backward(dA, A_prev, kernel_shape, stride, mode):
    """Check every argument; return (dtype, work dtype, (kh, kw, sh, sw))."""
    dtype = np.result_type(_compute_dtype("dA", dA),
                           _compute_dtype("A_prev", A_prev))
    shape, geometry = _pool_geometry(A_prev, kernel_shape, stride, mode)
    if dA.shape != shape:
        raise ValueError("dA must have the forward output shape {}, got {}"
                         .format(shape, dA.shape))
    # float16 is computed in float32: overlapping windows' gradients and
    # the average's shares are sums, not rounded to float16 at every add
    return dtype, np.promote_types(dtype, np.float32), geometry


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


def _pool_geometry(A_prev, kernel_shape, stride, mode):
    """Check A_prev's shape, kernel_shape, stride and mode; return the
    output shape (m, h_new, w_new, c) and (kh, kw, sh, sw).

    Twins: in 1-pool_forward.py and 3-pool_backward.py."""
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
    return (m, h_new, w_new, c), (kh, kw, sh, sw)


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


def _window(array, i, j, h_new, w_new, sh, sw):
    """View of element (i, j) of every window, (n, h_new, w_new, c)."""
    return array[:, i:i + sh * (h_new - 1) + 1:sh,
                 j:j + sw * (w_new - 1) + 1:sw]


def _spread_averages(target, grad, kh, kw, sh, sw):
    """target += each window's grad / (kh * kw) on each of its elements.

    Tiling windows over pixels of several channels: each share, spread
    over its window's columns, is added to its block of target (see
    _send_to_maxima; measured 1.2-1.7x faster, but slower with one channel
    or gaps between windows). Else the sum is separable, so is its
    gradient: each window's share over its kw columns, (n, h_new, w_prev,
    c), then over its kh rows."""
    n, h_new, w_new, c = grad.shape
    if (sh, sw) == (kh, kw) and c > 1:
        share = _spread(grad, kw, target.dtype)
        share /= kh * kw
        blocks = _blocks(target, kh, kw, sh, sw, h_new, w_new)
        np.add(blocks, share, out=blocks)  # (0 + -0.0 is +0.0, as before)
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

    The window maxima (n, h_new, w_new, c), over the kh rows of every
    window, then over its kw columns (as in task 1), are NaN where a window
    holds one; its NaN elements then count as the maximum. Only the hits
    receive anything, so an inf gradient never turns into NaN (0 * inf) on
    the other elements, and no -0.0 appears.

    Windows apart (no overlap): every window is one block, (n, h_new, kh,
    w_new, kw, c); the maxima and grads, spread over their windows' columns
    (copied pixel by pixel, see _copy_runs), are compared with and sent to
    whole blocks. Overlapping windows: element (i, j) of every window at a
    time, added where it is a hit."""
    n, h_new, w_new, c = grad.shape
    rows = _combine(np.maximum, [A[:, i:i + sh * (h_new - 1) + 1:sh]
                                 for i in range(kh)],
                    np.empty((n, h_new) + A.shape[2:], target.dtype))
    maxima = _pool_columns(np.maximum, rows, kw, sw,
                           np.empty(grad.shape, target.dtype))
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
    """View of every window of array as a block, (n, h_new, kh, w_new, kw,
    c), for windows that do not overlap (writeable: no element twice)."""
    s_n, s_h, s_w, s_c = array.strides
    return np.lib.stride_tricks.as_strided(
        array, (array.shape[0], h_new, kh, w_new, kw, array.shape[3]),
        (s_n, sh * s_h, s_h, sw * s_w, s_w, s_c))


def _spread(values, kw, dtype):
    """values (n, h_new, w_new, c) in dtype, each pixel repeated over the
    kw columns of its window: (n, h_new, 1, w_new, kw, c), which broadcasts
    over a block's kh rows."""
    n, h_new, w_new, c = values.shape
    shape = (n, h_new, 1, w_new, kw, c)
    return _copy_runs(np.broadcast_to(values[:, :, None, :, None], shape),
                      np.empty(shape, dtype))


def _select(hit, values, out):
    """out[...] = np.where(hit, values, 0), without a branch per element.

    np.where branches on each element, slow on a mask with no pattern; a
    float product would turn 0 * inf into NaN and 0 * -x into -0.0. The bit
    patterns of values times 0 or 1, as integers, are exact."""
    if values.dtype == out.dtype and out.itemsize in (2, 4, 8):
        bits = np.dtype("i{}".format(out.itemsize))
        np.multiply(values.view(bits), hit, out=out.view(bits))
    else:  # (long double)
        out[...] = np.where(hit, values, 0)


def _pool_columns(reduce, rows, kw, sw, out):
    """out (n, rows, w_new, c) = reduce over the kw columns of every window
    of rows (n, rows, w_prev, c), windows sw columns apart.

    Strided windows over short pixels (2 to SHORT_PIXEL_BYTES bytes of
    channels) would make NumPy loop over a few values at a time, and a
    call's overhead per loop dominates (1.5x slower, float32, 6 channels).
    Those are reduced instead as runs over the whole flattened chunk, each
    column with the kw - 1 columns to its right (runs spilling into the next
    row are never read); then every sw-th column is copied, each pixel as
    one item of bytes (see _copy_runs). Other shapes: one reduce per window
    column.

    Twins: in 1-pool_forward.py and 3-pool_backward.py."""
    c, pixel_bytes = rows.shape[3], rows.shape[3] * rows.itemsize
    span = sw * (out.shape[2] - 1) + 1  # first window's start to last's
    if sw == 1 or c == 1 or pixel_bytes > SHORT_PIXEL_BYTES:
        return _combine(reduce, [rows[:, :, j:j + span:sw]
                                 for j in range(kw)], out)
    flat = rows.reshape(-1)
    size = flat.size - (kw - 1) * c
    wide = np.empty_like(rows)  # wide[..., x, :]: the window starting at x
    _combine(reduce, [flat[j * c:j * c + size] for j in range(kw)],
             wide.reshape(-1)[:size])
    return _copy_runs(wide[:, :, :span:sw], out)  # pixels as items of bytes


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


def _combine(reduce, parts, out):
    """out = reduce(... reduce(parts[0], parts[1]) ..., parts[-1]): the
    elementwise max or sum of equally shaped arrays, in out's dtype.

    Twins: in 1-pool_forward.py and 3-pool_backward.py."""
    if len(parts) == 1:
        out[...] = parts[0]
    else:
        reduce(parts[0], parts[1], out=out, dtype=out.dtype)
    for part in parts[2:]:
        reduce(out, part, out=out)
    return out
