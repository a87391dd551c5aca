"""The references every check compares tasks 0-3 with: the contract's formulas and TensorFlow.

One home for both users: the tests (``tests/oracles.py`` re-exports these names) and the grader
(``lenet.grade``), so that what "right" means is written once. None of it is our own layer code:

- the contract's formulas: the course's 'same' padding, the output sizes;
- TensorFlow's ops in float64: ``tf.nn.conv2d`` on an explicitly zero-padded input (so the
  course's symmetric padding, not TensorFlow's 'SAME'), ``tf.nn.max_pool2d`` / ``avg_pool2d``
  ('VALID'), and ``tf.GradientTape`` for the backward passes.

Importing this module imports NumPy only; ``tensorflow()`` imports TensorFlow on first use, quiet
(see ``lenet.quiet``) and with its portable kernels: its oneDNN float32 conv2d returned garbage
(values up to ~1e22) on some strided shapes with TensorFlow 2.21, and a reference must not.
"""
import math
import os

import numpy as np

from lenet.quiet import import_tensorflow


def identity(Z):
    """Identity activation, so that conv_forward returns Z itself."""
    return Z


# The contract's formulas

def course_padding(padding, h_prev, w_prev, kh, kw, sh, sw, rounding="ceil"):
    """(ph, pw) by the contract: 'valid' is (0, 0); 'same' is the course's symmetric rule
    ph = ceil(((h_prev - 1) * sh + kh - h_prev) / 2), likewise pw; a tuple (ph, pw) as given.

    With rounding "floor", 'same' rounds the total padding N = (h_prev - 1) * sh + kh - h_prev
    down instead: the other reading of the exercise, which does not say how to halve an odd N
    (even kernels, stride > 1); the grader and the --tasks check accept either when used
    throughout."""
    if isinstance(padding, str) and padding == "valid":
        return 0, 0
    if isinstance(padding, str) and padding == "same":
        half = math.ceil if rounding == "ceil" else math.floor
        return (half(((h_prev - 1) * sh + kh - h_prev) / 2),
                half(((w_prev - 1) * sw + kw - w_prev) / 2))
    return tuple(padding)


def conv_output_shape(A_prev, W, ph, pw, sh, sw):
    """(m, h_new, w_new, c_new) of a convolution: h_new = (h_prev + 2 ph - kh) // sh + 1."""
    m, h_prev, w_prev, _ = np.shape(A_prev)
    kh, kw, _, c_new = np.shape(W)
    return (m, (h_prev + 2 * ph - kh) // sh + 1, (w_prev + 2 * pw - kw) // sw + 1, c_new)


def pool_output_shape(A_prev, kernel_shape, stride):
    """(m, h_new, w_new, c) of a pooling (no padding): h_new = (h_prev - kh) // sh + 1."""
    m, h_prev, w_prev, c = np.shape(A_prev)
    return (m, (h_prev - kernel_shape[0]) // stride[0] + 1,
            (w_prev - kernel_shape[1]) // stride[1] + 1, c)


# TensorFlow, in float64

_tf = None


def tensorflow():
    """TensorFlow, imported on first use: quiet, with oneDNN off (its portable kernels)."""
    global _tf
    if _tf is None:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        _tf = import_tensorflow()
    return _tf


def _float64(*arrays):
    """Each array as a float64 tf.constant (a float64 NumPy array would go through float32 as a
    plain argument of some ops)."""
    tf = tensorflow()
    return [tf.constant(np.asarray(array, np.float64)) for array in arrays]


def _conv2d(A, K, B, ph, pw, sh, sw, tf_padding):
    """Z = tf.nn.conv2d(A zero-padded by (ph, pw), K, stride) + B, on tensors; tf_padding is
    TensorFlow's own padding on top ('VALID' for the contract)."""
    tf = tensorflow()
    A_pad = tf.pad(A, [[0, 0], [ph, ph], [pw, pw], [0, 0]])
    return tf.nn.conv2d(A_pad, K, strides=(1, sh, sw, 1), padding=tf_padding) + B


def tf_conv(A_prev, W, b, ph, pw, sh, sw, tf_padding="VALID"):
    """Z in float64 (no activation): tf.nn.conv2d of A_prev padded by (ph, pw), plus b."""
    return _conv2d(*_float64(A_prev, W, b), ph, pw, sh, sw, tf_padding).numpy()


def tf_conv_gradients(dZ, A_prev, W, b, ph, pw, sh, sw, tf_padding="VALID"):
    """[dA_prev, dW, db] in float64: the GradientTape gradients of sum(Z * dZ), Z as in tf_conv.

    Z is cropped to dZ's height and width when it is larger (the grader's variants of a
    student's mistake); None when it is smaller than dZ."""
    tf = tensorflow()
    A, K, B = _float64(A_prev, W, b)
    h_new, w_new = np.shape(dZ)[1:3]
    with tf.GradientTape() as tape:
        tape.watch([A, K, B])
        Z = _conv2d(A, K, B, ph, pw, sh, sw, tf_padding)
        if Z.shape[1] < h_new or Z.shape[2] < w_new:
            return None
        loss = tf.reduce_sum(Z[:, :h_new, :w_new] * np.asarray(dZ, np.float64))
    return [gradient.numpy() for gradient in tape.gradient(loss, [A, K, B])]


def _pool(A, kernel_shape, stride, mode):
    """TensorFlow's 'VALID' max_pool2d ('max') or avg_pool2d ('avg') of the tensor A."""
    tf = tensorflow()
    pool = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    return pool(A, ksize=tuple(kernel_shape), strides=tuple(stride), padding="VALID")


def tf_pool(A_prev, kernel_shape, stride, mode):
    """The pooled output in float64."""
    (A,) = _float64(A_prev)
    return _pool(A, kernel_shape, stride, mode).numpy()


def tf_pool_gradient(dA, A_prev, kernel_shape, stride, mode):
    """dA_prev in float64: the GradientTape gradient of sum(pool(A_prev) * dA).

    TensorFlow gives a window's gradient to its first maximum only; the contract gives it to
    every tied maximum, so ties need the contract's own definition (the tests and the grader
    build inputs without ties or compute that case separately). The pooled output is cropped
    to dA's size when larger; None when it is smaller."""
    tf = tensorflow()
    (A,) = _float64(A_prev)
    h_new, w_new = np.shape(dA)[1:3]
    with tf.GradientTape() as tape:
        tape.watch(A)
        out = _pool(A, kernel_shape, stride, mode)
        if out.shape[1] < h_new or out.shape[2] < w_new:
            return None
        loss = tf.reduce_sum(out[:, :h_new, :w_new] * np.asarray(dA, np.float64))
    return tape.gradient(loss, A).numpy()


def max_pool_gradient_all_ties(dA, A_prev, kernel_shape, stride):
    """The contract's max-pool gradient in float64, where TensorFlow's differs (ties): every
    element equal to its window's maximum receives the window's full gradient; overlapping
    windows add up. Written from the definition, one window position at a time."""
    kh, kw = kernel_shape
    sh, sw = stride
    dA_prev = np.zeros(np.shape(A_prev))
    for y in range(dA.shape[1]):
        for x in range(dA.shape[2]):
            rows, cols = slice(y * sh, y * sh + kh), slice(x * sw, x * sw + kw)
            window = A_prev[:, rows, cols]                                # (m, kh, kw, c)
            is_max = window == window.max(axis=(1, 2), keepdims=True)
            dA_prev[:, rows, cols] += is_max * dA[:, y:y + 1, x:x + 1]   # (m, 1, 1, c) each
    return dA_prev
