#!/usr/bin/env python3
"""Wrong on purpose: the mean divides by kh * kh."""
import numpy as np


def pool_forward(A_prev, kernel_shape, stride=(1, 1), mode='max'):
    """The maximum or the mean of every kh x kw window, channel by channel."""
    m, h_prev, w_prev, c = A_prev.shape
    kh, kw = kernel_shape
    sh, sw = stride
    h_new = (h_prev - kh) // sh + 1
    w_new = (w_prev - kw) // sw + 1
    out = np.zeros((m, h_new, w_new, c))
    for n in range(m):
        for y in range(h_new):
            for x in range(w_new):
                for ch in range(c):
                    window = A_prev[n, y * sh:y * sh + kh,
                                    x * sw:x * sw + kw, ch]
                    if mode == 'max':
                        out[n, y, x, ch] = np.max(window)
                    else:
                        out[n, y, x, ch] = np.sum(window) / (kh * kh)
    return out
