#!/usr/bin/env python3
"""Task 0, a vectorized answer computing in float32: convolution forward."""
import numpy as np


def conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1)):
    """Z: for each tap (i, j) of the kernel, the strided slice of the padded
    input it meets, times W[i, j]; then activation(Z + b)."""
    m, h_prev, w_prev, _ = A_prev.shape
    kh, kw, _, c_new = W.shape
    sh, sw = stride
    if padding == "same":
        ph = -(-((h_prev - 1) * sh + kh - h_prev) // 2)
        pw = -(-((w_prev - 1) * sw + kw - w_prev) // 2)
    else:
        ph = pw = 0
    A = np.pad(A_prev.astype(np.float32), ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    h_new = (h_prev + 2 * ph - kh) // sh + 1
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    Z = np.zeros((m, h_new, w_new, c_new), np.float32)
    for i in range(kh):
        for j in range(kw):
            tap = A[:, i:i + sh * h_new:sh, j:j + sw * w_new:sw]  # slice
            Z += tap @ W[i, j].astype(np.float32)  # (m, h_new, w_new, k)
    return activation(Z + b.astype(np.float32))
