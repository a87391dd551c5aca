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
- A one-channel input (the first layer) uses a tap-major window matrix,
  (kh * kw, rows), copied in runs along the image rows; the GEMM then
  gives the output channel-major, (c_new, rows).
"""
import numpy as np

FEW_CHANNELS = 4  # below this c_prev, the window matrix is tap-major


def conv_pool_forward(A_prev, W, b, padding, keep=True):
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
    keep : bool
        Return what ``conv_pool_backward`` needs (the window matrix, the
        convolution output and the window maxima); else None.

    Returns
    -------
    tuple (P, cache)
        P, shape (n, h_out / 2, w_out / 2, c_new): max-pool 2x2/2 of
        ReLU(conv(A_prev, W) + b), h_out = h + 2 * padding - kh + 1
        (even), likewise w_out; cache for the backward pass, or None.
    """
    n, h, w, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    p = padding
    h_half = (h + 2 * p - kh + 1) // 2
    w_half = (w + 2 * p - kw + 1) // 2
    rows = n * h_half * w_half  # windows per plane
    if p:
        A_pad = np.zeros((n, h + 2 * p, w + 2 * p, c_prev), A_prev.dtype)
        A_pad[:, p:p + h, p:p + w] = A_prev
    else:
        A_pad = np.ascontiguousarray(A_prev)
    s_n, s_h, s_w, s_c = A_pad.strides
    tap_major = c_prev < FEW_CHANNELS
    if tap_major:
        # (kh, kw, c_prev, dy, dx, n, y', x') -> (K, 4 * rows), runs of x'
        windows = np.lib.stride_tricks.as_strided(
            A_pad, (kh, kw, c_prev, 2, 2, n, h_half, w_half),
            (s_h, s_w, s_c, s_h, s_w, s_n, 2 * s_h, 2 * s_w),
            writeable=False)
        cols = windows.reshape(kh * kw * c_prev, 4 * rows)
        # (c_new, K) @ (K, 4 * rows) -> (c_new, 4, rows)
        Z = (W.reshape(-1, c_new).T @ cols).reshape(c_new, 4, rows)
        Z += b[:, None, None]
        planes = [Z[:, o] for o in range(4)]  # (c_new, rows) each
    else:
        # (dy, dx, n, y', x', kh, kw, c_prev) -> (4 * rows, K), runs of
        # kw * c_prev
        windows = np.lib.stride_tricks.as_strided(
            A_pad, (2, 2, n, h_half, w_half, kh, kw, c_prev),
            (s_h, s_w, s_n, 2 * s_h, 2 * s_w, s_h, s_w, s_c),
            writeable=False)
        cols = windows.reshape(4 * rows, kh * kw * c_prev)
        # (4 * rows, K) @ (K, c_new) -> (4, rows, c_new)
        Z = (cols @ W.reshape(-1, c_new)).reshape(4, rows, c_new)
        Z += b
        planes = list(Z)  # (rows, c_new) each
    M = np.maximum(planes[0], planes[1])  # window maxima, before ReLU
    np.maximum(M, planes[2], out=M)
    np.maximum(M, planes[3], out=M)
    P = np.maximum(M, 0)
    if tap_major:  # (c_new, n * h' * w') -> (n, h', w', c_new)
        P = np.ascontiguousarray(
            P.reshape(c_new, n, h_half, w_half).transpose(1, 2, 3, 0))
    else:
        P = P.reshape(n, h_half, w_half, c_new)
    cache = (A_pad.shape, p, W, cols, Z, planes, M, tap_major)
    return P, (cache if keep else None)


def conv_pool_backward(dP, cache, input_gradient=True):
    """Gradients of a block, from what its forward pass kept.

    Parameters
    ----------
    dP : numpy.ndarray, shape (n, h_out / 2, w_out / 2, c_new)
        Gradient of the loss with respect to the block's output.
    cache : tuple
        What ``conv_pool_forward(..., keep=True)`` returned.
    input_gradient : bool
        Also compute the gradient with respect to the block's input.

    Returns
    -------
    tuple (dA_prev, dW, db)
        dA_prev shaped like the forward's A_prev (None unless
        input_gradient), dW like W, db of shape (c_new,). The max-pool
        gradient of each window goes to its first maximum (row-major), as
        TensorFlow's does.
    """
    pad_shape, p, W, cols, Z, planes, M, tap_major = cache
    c_new = W.shape[3]
    if tap_major:  # dP in the planes' layout, (c_new, rows)
        dP = dP.reshape(-1, c_new).T
    else:
        dP = dP.reshape(-1, c_new)
    dP = dP * (M > 0)  # the ReLU's derivative at the window's maximum
    dZ = np.empty_like(Z)
    dZ_planes = [dZ[:, o] for o in range(4)] if tap_major else list(dZ)
    for dZ_plane, route in zip(dZ_planes, _first_maximum(planes, M)):
        np.multiply(dP, route, out=dZ_plane)
    # Every window sends its whole gradient to one element: db is the sum
    # of dP (in float64, then rounded).
    db = dP.sum(axis=1 if tap_major else 0, dtype=np.float64)
    if tap_major:  # (c_new, 4 * rows) @ (4 * rows, K) -> (c_new, K)
        dW = (dZ.reshape(c_new, -1) @ cols.T).T
    else:  # (K, 4 * rows) @ (4 * rows, c_new)
        dW = cols.T @ dZ.reshape(-1, c_new)
    dA_prev = None
    if input_gradient:
        dA_prev = _input_gradient(dZ, W, pad_shape, p, tap_major)
    return dA_prev, dW.reshape(W.shape), db.astype(Z.dtype)


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


def _input_gradient(dZ, W, pad_shape, p, tap_major):
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
    grid = np.zeros((n, h_pad, w_pad, c_new), dZ.dtype)
    for o, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        plane = dZ[:, o].T if tap_major else dZ[o]  # (rows, c_new)
        grid[:, dy:dy + 2 * h_half:2, dx:dx + 2 * w_half:2] = (
            plane.reshape(n, h_half, w_half, c_new))
    # (K, c_new) @ (c_new, n * size) -> (kh, kw, c_prev, n * size)
    taps = (W.reshape(-1, c_new) @ grid.reshape(-1, c_new).T).reshape(
        kh, kw, c_prev, n * size)
    dA_flat = np.zeros((c_prev, (n + 1) * size), dZ.dtype)  # room to shift
    for i in range(kh):
        for j in range(kw):
            shift = i * w_pad + j
            dA_flat[:, shift:shift + n * size] += taps[i, j]
    dA_pad = dA_flat[:, :n * size].reshape(c_prev, n, h_pad, w_pad)
    return np.ascontiguousarray(
        dA_pad[:, :, p:h_pad - p, p:w_pad - p].transpose(1, 2, 3, 0))
