#!/usr/bin/env python3
"""Task 2, a loop answer reading 'same' with floor: int() of the half."""
import numpy as np


def conv_backward(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    """Convolution backward; padding is 'same' or 'valid' only."""
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    _, h_new, w_new, _ = dZ.shape
    sh, sw = stride
    if padding == "same":
        ph = int(((h_prev - 1) * sh + kh - h_prev) / 2)
        pw = int(((w_prev - 1) * sw + kw - w_prev) / 2)
    elif padding == "valid":
        ph, pw = 0, 0
    else:
        raise ValueError("padding must be 'same' or 'valid'")
    A_pad = np.pad(A_prev, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    dA_pad = np.zeros(A_pad.shape)
    dW = np.zeros(W.shape)
    db = np.sum(dZ, axis=(0, 1, 2), keepdims=True)
    for i in range(m):
        for y in range(h_new):
            for x in range(w_new):
                r, c = y * sh, x * sw
                for k in range(c_new):
                    g = dZ[i, y, x, k]
                    dA_pad[i, r:r + kh, c:c + kw, :] += W[:, :, :, k] * g
                    dW[:, :, :, k] += A_pad[i, r:r + kh, c:c + kw, :] * g
    return dA_pad[:, ph:ph + h_prev, pw:pw + w_prev, :], dW, db
