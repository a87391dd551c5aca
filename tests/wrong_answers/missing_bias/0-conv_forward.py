#!/usr/bin/env python3
"""Wrong on purpose: the bias is left out."""
import numpy as np


def conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1)):
    """Z[n, y, x, k] = sum of window * W[..., k] + b[k], then activation(Z)."""
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    sh, sw = stride
    if padding == "same":
        ph = max(0, -(-((h_prev - 1) * sh + kh - h_prev) // 2))
        pw = max(0, -(-((w_prev - 1) * sw + kw - w_prev) // 2))
    elif padding == "valid":
        ph, pw = 0, 0
    else:
        ph, pw = padding
    A_pad = np.pad(A_prev, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    h_new = (h_prev + 2 * ph - kh) // sh + 1
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    Z = np.zeros((m, h_new, w_new, c_new))
    for n in range(m):
        for y in range(h_new):
            for x in range(w_new):
                window = A_pad[n, y * sh:y * sh + kh, x * sw:x * sw + kw, :]
                for k in range(c_new):
                    Z[n, y, x, k] = np.sum(window * W[:, :, :, k])
    return activation(Z)
