"""Plain-loop reference layers, written the way typical course solutions are.

Each function loops in Python over the output rows, columns and kernels (or
channels) and vectorizes only over the batch. They follow the same contract
as tasks 0-3 (NHWC, the course's 'same' padding, every tied maximum receives
the full gradient) and serve as the slow baseline of benchmarks/layers.py;
tests/test_benchmarks.py checks them against TensorFlow and the task files.
"""
import numpy as np


def padding_of(padding, h_prev, w_prev, kh, kw, sh, sw):
    """(ph, pw) for 'valid', the course's symmetric 'same', or a tuple."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return (max(0, -(-((h_prev - 1) * sh + kh - h_prev) // 2)),
                max(0, -(-((w_prev - 1) * sw + kw - w_prev) // 2)))
    return padding


def _pad(A, ph, pw):
    """A (m, h, w, c) with ph zero rows and pw zero columns on each side."""
    return np.pad(A, ((0, 0), (ph, ph), (pw, pw), (0, 0)))


def conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1)):
    """Convolution forward: one window-times-kernel sum per (y, x, k)."""
    m, h_prev, w_prev, _ = A_prev.shape
    kh, kw, _, c_new = W.shape
    sh, sw = stride
    ph, pw = padding_of(padding, h_prev, w_prev, kh, kw, sh, sw)
    A_pad = _pad(A_prev, ph, pw)
    h_new = (h_prev + 2 * ph - kh) // sh + 1
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    Z = np.zeros((m, h_new, w_new, c_new), np.result_type(A_prev, W, b))
    for y in range(h_new):
        for x in range(w_new):
            window = A_pad[:, y * sh:y * sh + kh, x * sw:x * sw + kw, :]
            for k in range(c_new):
                Z[:, y, x, k] = (np.sum(window * W[:, :, :, k],
                                        axis=(1, 2, 3)) + b[0, 0, 0, k])
    return activation(Z)


def conv_backward(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    """Convolution backward: each (y, x, k) adds into dA_pad and dW."""
    m, h_prev, w_prev, _ = A_prev.shape
    kh, kw, _, c_new = W.shape
    sh, sw = stride
    ph, pw = padding_of(padding, h_prev, w_prev, kh, kw, sh, sw)
    dtype = np.result_type(dZ, A_prev, W)
    A_pad = _pad(A_prev, ph, pw).astype(dtype)
    dA_pad = np.zeros_like(A_pad)
    dW = np.zeros(W.shape, dtype)
    db = np.sum(dZ, axis=(0, 1, 2), keepdims=True).astype(dtype)
    _, h_new, w_new, _ = dZ.shape
    for y in range(h_new):
        for x in range(w_new):
            rows = slice(y * sh, y * sh + kh)
            cols = slice(x * sw, x * sw + kw)
            for k in range(c_new):
                g = dZ[:, y, x, k][:, None, None, None]  # (m, 1, 1, 1)
                dA_pad[:, rows, cols, :] += g * W[:, :, :, k]
                dW[:, :, :, k] += np.sum(g * A_pad[:, rows, cols, :], axis=0)
    dA_prev = dA_pad[:, ph:ph + h_prev, pw:pw + w_prev, :]
    return dA_prev, dW, db


def pool_forward(A_prev, kernel_shape, stride=(1, 1), mode="max"):
    """Pooling forward: the max or mean of each window, per (y, x)."""
    m, h_prev, w_prev, c = A_prev.shape
    kh, kw = kernel_shape
    sh, sw = stride
    h_new = (h_prev - kh) // sh + 1
    w_new = (w_prev - kw) // sw + 1
    reduce = np.max if mode == "max" else np.mean
    out = np.zeros((m, h_new, w_new, c), np.result_type(A_prev, np.float32))
    for y in range(h_new):
        for x in range(w_new):
            window = A_prev[:, y * sh:y * sh + kh, x * sw:x * sw + kw, :]
            out[:, y, x, :] = reduce(window, axis=(1, 2))
    return out


def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode="max"):
    """Pooling backward: each (y, x, channel) sends its gradient back."""
    m, h_new, w_new, c = dA.shape
    kh, kw = kernel_shape
    sh, sw = stride
    dA_prev = np.zeros(A_prev.shape, np.result_type(dA, A_prev, np.float32))
    for y in range(h_new):
        for x in range(w_new):
            rows = slice(y * sh, y * sh + kh)
            cols = slice(x * sw, x * sw + kw)
            for ch in range(c):
                g = dA[:, y, x, ch][:, None, None]  # (m, 1, 1)
                if mode == "max":
                    window = A_prev[:, rows, cols, ch]
                    top = np.max(window, axis=(1, 2), keepdims=True)
                    dA_prev[:, rows, cols, ch] += g * (window == top)
                else:
                    dA_prev[:, rows, cols, ch] += g / (kh * kw)
    return dA_prev
