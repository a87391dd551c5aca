#!/usr/bin/env python3
"""Wrong on purpose: = instead of += where windows overlap."""
import numpy as np


def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """'max': every element equal to the window's maximum gets dA; 'avg':
    every element gets dA / (kh * kw). Overlapping windows add up."""
    m, h_new, w_new, c = dA.shape
    kh, kw = kernel_shape
    sh, sw = stride
    dA_prev = np.zeros(A_prev.shape)
    for n in range(m):
        for y in range(h_new):
            for x in range(w_new):
                rows = slice(y * sh, y * sh + kh)
                cols = slice(x * sw, x * sw + kw)
                for ch in range(c):
                    if mode == 'max':
                        window = A_prev[n, rows, cols, ch]
                        mask = window == np.max(window)
                        dA_prev[n, rows, cols, ch] = mask * dA[n, y, x, ch]
                    else:
                        dA_prev[n, rows, cols, ch] = (dA[n, y, x, ch]
                                                      / (kh * kw))
    return dA_prev
