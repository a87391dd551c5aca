#!/usr/bin/env python3
"""Task 3, a vectorized answer computing in float32: pooling backward."""
import numpy as np


def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """Position by position in the window: 'max' sends dA to every element
    equal to its window's maximum, 'avg' sends dA / (kh * kw) everywhere."""
    _, h_new, w_new, _ = dA.shape
    kh, kw = kernel_shape
    sh, sw = stride
    windows = [(slice(i, i + sh * h_new, sh), slice(j, j + sw * w_new, sw))
               for i in range(kh) for j in range(kw)]
    dA = dA.astype(np.float32)
    dA_prev = np.zeros(A_prev.shape, np.float32)
    if mode == 'max':
        M = np.max([A_prev[:, r, c] for r, c in windows], axis=0)  # maxima
    for rows, cols in windows:
        if mode == 'max':
            dA_prev[:, rows, cols] += dA * (A_prev[:, rows, cols] == M)
        else:
            dA_prev[:, rows, cols] += dA / (kh * kw)
    return dA_prev
