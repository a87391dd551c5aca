#!/usr/bin/env python3
"""Task 2, a vectorized answer computing in float32: convolution backward."""
import numpy as np


def conv_backward(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    """Tap by tap: dW[i, j] is the slice the tap meets times dZ, and dZ
    times W[i, j] goes back into that slice of the padded dA_prev."""
    _, h_prev, w_prev, _ = A_prev.shape
    kh, kw, _, _ = W.shape
    _, h_new, w_new, _ = dZ.shape
    sh, sw = stride
    if padding == "same":
        ph = -(-((h_prev - 1) * sh + kh - h_prev) // 2)
        pw = -(-((w_prev - 1) * sw + kw - w_prev) // 2)
    else:
        ph = pw = 0
    A = np.pad(A_prev.astype(np.float32), ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    dZ = dZ.astype(np.float32)
    dA = np.zeros(A.shape, np.float32)
    dW = np.zeros(W.shape, np.float32)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i, i + sh * h_new, sh)
            cols = slice(j, j + sw * w_new, sw)
            tap = A[:, rows, cols]  # (m, h_new, w_new, c_prev)
            dW[i, j] = np.tensordot(tap, dZ, axes=([0, 1, 2], [0, 1, 2]))
            dA[:, rows, cols] += dZ @ W[i, j].T.astype(np.float32)
    db = dZ.sum(axis=(0, 1, 2), keepdims=True)
    return dA[:, ph:ph + h_prev, pw:pw + w_prev], dW, db
