#!/usr/bin/env python3
"""Task 2, a wrong answer: the padding cut as [ph:-ph], empty for 'valid'."""
import numpy as np


def conv_backward(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    """Each dZ[n, y, x, k] adds W[..., k] * dZ into its window of dA_pad and
    window * dZ into dW[..., k]; db sums dZ."""
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    _, h_new, w_new, _ = dZ.shape
    sh, sw = stride
    if padding == "same":
        ph = max(0, -(-((h_prev - 1) * sh + kh - h_prev) // 2))
        pw = max(0, -(-((w_prev - 1) * sw + kw - w_prev) // 2))
    elif padding == "valid":
        ph, pw = 0, 0
    else:
        ph, pw = padding
    A_pad = np.pad(A_prev, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    dA_pad = np.zeros(A_pad.shape)
    dW = np.zeros(W.shape)
    db = np.sum(dZ, axis=(0, 1, 2), keepdims=True)
    for n in range(m):
        for y in range(h_new):
            for x in range(w_new):
                rows = slice(y * sh, y * sh + kh)
                cols = slice(x * sw, x * sw + kw)
                for k in range(c_new):
                    dA_pad[n, rows, cols, :] += W[:, :, :, k] * dZ[n, y, x, k]
                    dW[:, :, :, k] += A_pad[n, rows, cols, :] * dZ[n, y, x, k]
    dA_prev = np.zeros(A_prev.shape)
    dA_prev += dA_pad[:, ph:-ph, pw:-pw, :]
    return dA_prev, dW, db
