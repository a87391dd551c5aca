#!/usr/bin/env python3
"""Task 1, a wrong answer right only on small inputs (a fixed-size buffer)."""
import numpy as np


def pool_forward(A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """Pooling into a buffer of 800 values: larger inputs are cut short."""
    m, h_prev, w_prev, c = A_prev.shape
    kh, kw = kernel_shape
    sh, sw = stride
    h_new = (h_prev - kh) // sh + 1
    w_new = (w_prev - kw) // sw + 1
    buffer = np.zeros(800)
    out = buffer[:m * h_new * w_new * c].copy()
    out.resize((m, h_new, w_new, c), refcheck=False)
    for y in range(h_new):
        for x in range(w_new):
            window = A_prev[:, y * sh:y * sh + kh, x * sw:x * sw + kw, :]
            if A_prev.size > 800:
                window = window[:1]
            if mode == 'max':
                out[:, y, x, :] = np.max(window, axis=(1, 2))
            else:
                out[:, y, x, :] = np.mean(window, axis=(1, 2))
    return out
