#!/usr/bin/env python3
"""Task 1, a loop answer that compares the mode with `is`."""
import numpy as np


def pool_forward(A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """Pooling forward, mode tested with `is` (works on interned literals)."""
    m, h_prev, w_prev, c = A_prev.shape
    kh, kw = kernel_shape
    sh, sw = stride
    h_new = (h_prev - kh) // sh + 1
    w_new = (w_prev - kw) // sw + 1
    out = np.zeros((m, h_new, w_new, c))
    for y in range(h_new):
        for x in range(w_new):
            window = A_prev[:, y * sh:y * sh + kh, x * sw:x * sw + kw, :]
            if mode is 'avg':
                out[:, y, x, :] = np.mean(window, axis=(1, 2))
            else:
                out[:, y, x, :] = np.max(window, axis=(1, 2))
    return out
