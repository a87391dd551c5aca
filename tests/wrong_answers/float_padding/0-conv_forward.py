#!/usr/bin/env python3
"""Task 0, a wrong answer: the 'same' padding left a float (np.ceil), which
np.pad refuses."""
import numpy as np


def conv_forward(A_prev, W, b, activation, padding="same", stride=(1, 1)):
    """Slides each kernel over the padded images and applies activation."""
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    sh, sw = stride
    if padding == "same":
        ph = np.ceil(((h_prev - 1) * sh + kh - h_prev) / 2)
        pw = np.ceil(((w_prev - 1) * sw + kw - w_prev) / 2)
    else:
        ph, pw = 0, 0
    images = np.pad(A_prev, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    h_new = int((h_prev + 2 * ph - kh) // sh) + 1
    w_new = int((w_prev + 2 * pw - kw) // sw) + 1
    Z = np.zeros((m, h_new, w_new, c_new))
    for y in range(h_new):
        for x in range(w_new):
            window = images[:, y * sh:y * sh + kh, x * sw:x * sw + kw, :]
            for k in range(c_new):
                Z[:, y, x, k] = np.sum(window * W[:, :, :, k], axis=(1, 2, 3))
    return activation(Z + b)
