"""LeNet-5's convolution blocks (conv, bias, ReLU, 2x2/2 max-pool) fused.

The task functions (``0-conv_forward.py`` ... ``3-pool_backward.py``) are
general layers: any stride, padding, kernel and pooling window, inputs
checked, every gradient returned. A training step of LeNet-5 needs much
less, and this module does only that, for the model's two blocks

    conv 5x5 (stride 1, zero padding p) -> + bias -> ReLU -> max-pool 2x2/2

with the same results as the task functions followed by TensorFlow's
max-pool gradient routing (the first maximum of a window, in row-major
order, takes the window's gradient). What it does differently:

- The rows of the window matrix are ordered (dy, dx, n, y', x'): output
  (n, 2y' + dy, 2x' + dx). The four elements of every pooling window then
  sit in four contiguous planes of the convolution's output, so the
  pooling is three ``np.maximum`` calls on contiguous arrays, and the
  backward routing is a few more, with no strided views.
- Bias and ReLU commute with the maximum (the same bias for the window,
  ReLU monotone), so the ReLU runs on the pooled output only, and the
  first maximum of the ReLU outputs is the first maximum of the
  convolution outputs wherever the pooled value is positive (elsewhere
  the ReLU's derivative, 0, cancels the gradient).
- The window matrix of the forward pass is kept for the kernel gradient,
  and the input gradient is computed only when asked for (the first
  layer's input is the image: nothing needs its gradient).
- A one-channel input (the first layer) has no window matrix: a window
  matrix of 25 taps copies every pixel 100 times. Instead, the padded
  images are cut into their 36 "phase planes" S[a, b] = A_pad[:, a::2,
  b::2] (cropped to the pooled size), and output plane (dy, dx) of
  channel k is sum over a, b of W[a - dy, b - dx, k] * S[a, b]: one GEMM
  (4 c_new, 36) @ (36, rows) whose left matrix holds each kernel four
  times, shifted (zeros elsewhere). 1.44 times the multiply-adds, a
  quarter of the copying. The phase planes are the 6x6 windows at stride
  2, copied channel-first.
- In training, the large arrays (padded input, window matrix, outputs,
  gradients on the grid) live in a workspace that the caller keeps from
  step to step: fresh arrays of a megabyte or more cost page faults (the
  allocator hands them back to the system when freed), which took longer
  than the copies that fill them.

The padding and the windows are gathered by ``lenet.layers`` (``padded_slab``,
``window_view``, ``window_rows``, ``window_columns``), as in its general
layers.
"""
import numpy as np

from lenet.layers import padded_slab, window_columns, window_rows, window_view

FEW_CHANNELS = 4  # below this c_prev, the phase-plane GEMM is used
PLANES = ((0, 0), (0, 1), (1, 0), (1, 1))  # offsets (dy, dx) in a 2x2 window
_PHASE_INDEX = {}  # W.shape -> where W's entries go in the phase matrix


def _phase_index(kh, kw, c_prev, c_new):
    """Flat positions of W's entries in the phase matrix, one row per
    output plane (dy, dx): an int array (4, W.size).

    The phase matrix is (c_new * 4, (kh + 1) * (kw + 1) * c_prev): row
    (k, dy, dx), column (a, b, c); W[i, j, c, k] sits at column
    (i + dy, j + dx, c) of row (k, dy, dx).
    """
    key = (kh, kw, c_prev, c_new)
    if key not in _PHASE_INDEX:
        i, j, c, k = np.meshgrid(np.arange(kh), np.arange(kw),
                                 np.arange(c_prev), np.arange(c_new),
                                 indexing="ij")
        columns = (kh + 1) * (kw + 1) * c_prev
        _PHASE_INDEX[key] = np.array([
            ((k * 4 + dy * 2 + dx) * columns
             + ((i + dy) * (kw + 1) + j + dx) * c_prev + c).ravel()
            for dy in (0, 1) for dx in (0, 1)])
    return _PHASE_INDEX[key]


def _buffer(workspace, name, shape, dtype, zeros=False):
    """An array for ``name`` of this shape and dtype: the workspace's own,
    made on first use (zeros if asked), or a fresh one without a workspace.
    What is not written on each use keeps its first value."""
    if workspace is None:
        return (np.zeros if zeros else np.empty)(shape, dtype)
    key = (name, shape, np.dtype(dtype).str)
    if key not in workspace:
        workspace[key] = (np.zeros if zeros else np.empty)(shape, dtype)
    return workspace[key]


def conv_pool_forward(A_prev, W, b, padding, workspace=None):
    """Pooled ReLU output of a block, and what its backward needs.

    Parameters
    ----------
    A_prev : numpy.ndarray, shape (n, h, w, c_prev)
        Input, of the dtype to compute in.
    W : numpy.ndarray, shape (kh, kw, c_prev, c_new)
        Kernels (stride 1, cross-correlation as in task 0).
    b : numpy.ndarray, shape (c_new,)
        Biases.
    padding : int
        Zero rows and columns added on each side before the convolution
        (2 for LeNet-5's 'same' 5x5 layer, 0 for its 'valid' one).
    workspace : dict, optional
        Arrays kept from call to call (see the module docstring). The
        output and the cache are its arrays: valid until the next call
        with the same workspace. None allocates fresh arrays.

    Returns
    -------
    tuple (P, cache)
        P, shape (n, h_out / 2, w_out / 2, c_new): max-pool 2x2/2 of
        ReLU(conv(A_prev, W) + b), h_out = h + 2 * padding - kh + 1
        (even), likewise w_out; cache, what ``conv_pool_backward`` needs
        (the window matrix, the convolution output, the window maxima).
    """
    n, h, w, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    p, dtype = padding, A_prev.dtype
    h_half = (h + 2 * p - kh + 1) // 2
    w_half = (w + 2 * p - kw + 1) // 2
    rows = n * h_half * w_half  # windows per plane
    if p:  # the border of the workspace's A_pad stays zero: only the
        # inside is written
        A_pad, _, _ = padded_slab(
            A_prev, 0, n, 0, h + 2 * p - kh + 1, (kh, kw, 1, 1, p, p), dtype,
            _buffer(workspace, "A_pad", (n, h + 2 * p, w + 2 * p, c_prev),
                    dtype, zeros=True))
    else:
        A_pad = np.ascontiguousarray(A_prev)
    tap_major = c_prev < FEW_CHANNELS
    if tap_major:
        # Phase planes (36 c_prev, rows), the (kh + 1) x (kw + 1) windows
        # at stride 2: S[a, b, c, n, y', x'] = A_pad[n, 2 y' + a, 2 x' + b, c]
        K_phase = (kh + 1) * (kw + 1) * c_prev
        cols = window_columns(window_view(A_pad, kh + 1, kw + 1, 2, 2),
                              _buffer(workspace, "cols", (K_phase, rows), dtype))
        phase_W = np.zeros((c_new * 4, len(cols)), dtype)
        phase_W.flat[_phase_index(*W.shape)] = W.ravel()
        # (4 c_new, 36 c_prev) @ (36 c_prev, rows) -> (c_new, 4, rows)
        Z = _buffer(workspace, "Z", (c_new, 4, rows), dtype)
        np.matmul(phase_W, cols, out=Z.reshape(4 * c_new, rows))
        Z += b[:, None, None]
        planes = [Z[:, o] for o in range(4)]  # (c_new, rows) each
    else:
        # (4 * rows, K): plane (dy, dx) holds the windows at stride 2 of
        # A_pad from (dy, dx) on, rows (n, y', x'), each window a row
        cols = _buffer(workspace, "cols", (4, rows, kh * kw * c_prev), dtype)
        for o, (dy, dx) in enumerate(PLANES):
            plane = A_pad[:, dy:dy + 2 * h_half + kh - 2,
                          dx:dx + 2 * w_half + kw - 2]
            window_rows(window_view(plane, kh, kw, 2, 2), cols[o])
        cols = cols.reshape(4 * rows, -1)
        # (4 * rows, K) @ (K, c_new) -> (4, rows, c_new)
        Z = _buffer(workspace, "Z", (4, rows, c_new), dtype)
        np.matmul(cols, W.reshape(-1, c_new), out=Z.reshape(4 * rows, c_new))
        Z += b
        planes = list(Z)  # (rows, c_new) each
    M = _buffer(workspace, "M", planes[0].shape, dtype)
    np.maximum(planes[0], planes[1], out=M)  # window maxima, before ReLU
    np.maximum(M, planes[2], out=M)
    np.maximum(M, planes[3], out=M)
    P = _buffer(workspace, "P", (n, h_half, w_half, c_new), dtype)
    if tap_major:  # (c_new, n * h' * w') -> (n, h', w', c_new)
        np.maximum(M.reshape(c_new, n, h_half, w_half).transpose(1, 2, 3, 0),
                   0, out=P)
    else:
        np.maximum(M.reshape(P.shape), 0, out=P)
    return P, (A_pad.shape, p, W, cols, Z, planes, M, tap_major, workspace)


def conv_pool_backward(dP, cache, input_gradient=True):
    """Gradients of a block, from what its forward pass kept.

    Parameters
    ----------
    dP : numpy.ndarray, shape (n, h_out / 2, w_out / 2, c_new)
        Gradient of the loss with respect to the block's output.
    cache : tuple
        What ``conv_pool_forward`` returned with the output.
    input_gradient : bool
        Also compute the gradient with respect to the block's input.

    Returns
    -------
    tuple (dA_prev, dW, db)
        dA_prev shaped like the forward's A_prev (None unless
        input_gradient; an array of the forward's workspace), dW like W,
        db of shape (c_new,). The max-pool gradient of each window goes to
        its first maximum (row-major), as TensorFlow's does.
    """
    pad_shape, p, W, cols, Z, planes, M, tap_major, workspace = cache
    c_new = W.shape[3]
    dtype = Z.dtype
    if tap_major:  # dP in the planes' layout, (c_new, rows)
        dP = dP.reshape(-1, c_new).T
    else:
        dP = dP.reshape(-1, c_new)
    # The ReLU's derivative at the window's maximum.
    dP = np.multiply(dP, M > 0, out=_buffer(workspace, "dP", M.shape, dtype))
    dZ = _buffer(workspace, "dZ", Z.shape, dtype)
    dZ_planes = [dZ[:, o] for o in range(4)] if tap_major else list(dZ)
    for dZ_plane, route in zip(dZ_planes, _first_maximum(planes, M)):
        np.multiply(dP, route, out=dZ_plane)
    # Every window sends its whole gradient to one element: db is the sum
    # of dP (in float64, then rounded).
    db = dP.sum(axis=1 if tap_major else 0, dtype=np.float64)
    if tap_major:  # (4 c_new, rows) @ (rows, 36 c_prev), then each W
        # entry is the sum of its four places in the phase matrix
        dW = (dZ.reshape(4 * c_new, -1) @ cols.T).ravel()[
            _phase_index(*W.shape)].sum(axis=0)
    else:  # (K, 4 * rows) @ (4 * rows, c_new)
        dW = cols.T @ dZ.reshape(-1, c_new)
    dA_prev = None
    if input_gradient:
        dA_prev = _input_gradient(dZ, W, pad_shape, p, tap_major, workspace)
    return dA_prev, dW.reshape(W.shape), db.astype(dtype)


def _first_maximum(planes, M):
    """Where each window's gradient goes: its first maximum, row-major.

    Parameters
    ----------
    planes : list of 4 numpy.ndarray
        The window elements at offsets (0, 0), (0, 1), (1, 0), (1, 1).
    M : numpy.ndarray
        The window maxima, shaped like each plane.

    Returns
    -------
    list of 4 bool numpy.ndarray
        True in plane o where it holds the maximum and no earlier plane
        does: exactly one True per window, as TensorFlow's MaxPoolGrad.
    """
    first = planes[0] == M
    taken = first.copy()
    routes = [first]
    for plane in planes[1:3]:
        hit = plane == M
        hit &= ~taken
        taken |= hit
        routes.append(hit)
    routes.append(~taken)  # the maximum is in the last plane
    return routes


def _input_gradient(dZ, W, pad_shape, p, tap_major, workspace):
    """Gradient with respect to the unpadded input, (n, h, w, c_prev).

    dZ is spread on the padded input's grid (n, h_pad, w_pad, c_new), zeros
    where no window starts; laid out image after image, row after row, tap
    (i, j) of the window that starts at flat position q is at
    q + i * w_pad + j. So each tap's gradient, for the whole batch, is one
    GEMM row block added to one shifted contiguous run.
    """
    n, h_pad, w_pad, c_prev = pad_shape
    kh, kw, _, c_new = W.shape
    h_half = (h_pad - kh + 1) // 2
    w_half = (w_pad - kw + 1) // 2
    size = h_pad * w_pad
    dtype = dZ.dtype
    # The same places are written every time: the rest stays zero.
    grid = _buffer(workspace, "grid", (n, h_pad, w_pad, c_new), dtype,
                   zeros=True)
    for o, (dy, dx) in enumerate(PLANES):
        plane = dZ[:, o].T if tap_major else dZ[o]  # (rows, c_new)
        grid[:, dy:dy + 2 * h_half:2, dx:dx + 2 * w_half:2] = (
            plane.reshape(n, h_half, w_half, c_new))
    # (K, c_new) @ (c_new, n * size) -> (kh, kw, c_prev, n * size)
    taps = _buffer(workspace, "taps", (kh, kw, c_prev, n * size), dtype)
    np.matmul(W.reshape(-1, c_new), grid.reshape(-1, c_new).T,
              out=taps.reshape(-1, n * size))
    dA_flat = _buffer(workspace, "dA_flat", (c_prev, (n + 1) * size), dtype)
    dA_flat[:, n * size:] = 0  # room to shift
    dA_flat[:, :n * size] = taps[0, 0]
    for i in range(kh):
        for j in range(kw):
            if i or j:
                shift = i * w_pad + j
                dA_flat[:, shift:shift + n * size] += taps[i, j]
    dA_pad = dA_flat[:, :n * size].reshape(c_prev, n, h_pad, w_pad)
    dA_prev = _buffer(workspace, "dA_prev",
                      (n, h_pad - 2 * p, w_pad - 2 * p, c_prev), dtype)
    np.copyto(dA_prev, dA_pad[:, :, p:h_pad - p, p:w_pad - p].transpose(
        1, 2, 3, 0))
    return dA_prev
