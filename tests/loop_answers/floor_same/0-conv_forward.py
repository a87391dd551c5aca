#!/usr/bin/env python3
"""Task 0, a loop answer reading 'same' with floor: int() of the half."""
import numpy as np


def conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1)):
    """Convolution forward; padding is 'same' or 'valid' only."""
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    sh, sw = stride
    if padding == "same":
        ph = int(((h_prev - 1) * sh + kh - h_prev) / 2)
        pw = int(((w_prev - 1) * sw + kw - w_prev) / 2)
    elif padding == "valid":
        ph, pw = 0, 0
    else:
        raise ValueError("padding must be 'same' or 'valid'")
    A_pad = np.pad(A_prev, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    h_new = int((h_prev + 2 * ph - kh) / sh) + 1
    w_new = int((w_prev + 2 * pw - kw) / sw) + 1
    Z = np.zeros((m, h_new, w_new, c_new))
    for y in range(h_new):
        for x in range(w_new):
            window = A_pad[:, y * sh:y * sh + kh, x * sw:x * sw + kw, :]
            for k in range(c_new):
                Z[:, y, x, k] = np.sum(window * W[:, :, :, k], axis=(1, 2, 3))
    return activation(Z + b)
