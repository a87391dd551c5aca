#!/usr/bin/env python3
"""Task 2, a wrong answer: the padding cut off as [ph:h_prev - ph], which
leaves h_prev - 2 * ph rows."""
import numpy as np


def conv_backward(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
    """Sums each output's gradient back into its window of the padded input."""
    m, h_prev, w_prev, c_prev = A_prev.shape
    kh, kw, _, c_new = W.shape
    _, h_new, w_new, _ = dZ.shape
    sh, sw = stride
    if padding == "same":
        ph = -(-((h_prev - 1) * sh + kh - h_prev) // 2)
        pw = -(-((w_prev - 1) * sw + kw - w_prev) // 2)
    else:
        ph, pw = 0, 0
    images = np.pad(A_prev, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    d_images = np.zeros(images.shape)
    dW = np.zeros(W.shape)
    db = np.sum(dZ, axis=(0, 1, 2), keepdims=True)
    for i in range(m):
        for y in range(h_new):
            for x in range(w_new):
                top, left = y * sh, x * sw
                for k in range(c_new):
                    g = dZ[i, y, x, k]
                    d_images[i, top:top + kh, left:left + kw] += W[..., k] * g
                    dW[..., k] += images[i, top:top + kh, left:left + kw] * g
    if padding == "same":
        d_images = d_images[:, ph:h_prev - ph, pw:w_prev - pw, :]
    return d_images, dW, db
