"""Oracles the task tests compare against, none of them our own code: the contract's formulas
(output sizes, the course's 'same' padding) and TensorFlow's ops and gradients, in float64.

Finite differences are lenet.gradcheck.numerical_gradient, the project's one central-difference
routine."""
import math

import numpy as np
import tensorflow as tf


def identity(Z):
    """Identity activation, so conv_forward returns Z itself."""
    return Z

# The contract's formulas


def course_padding(padding, h_prev, w_prev, kh, kw, sh, sw):
    """(ph, pw) by the contract: 'valid' is 0, 'same' the course's symmetric rule, a tuple as
    given."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return (math.ceil(((h_prev - 1) * sh + kh - h_prev) / 2),
                math.ceil(((w_prev - 1) * sw + kw - w_prev) / 2))
    return padding


def conv_output_shape(A_prev, W, ph, pw, sh, sw):
    """(m, h_new, w_new, c_new) of a convolution by the contract's formula."""
    m, h_prev, w_prev, _ = A_prev.shape
    kh, kw, _, c_new = W.shape
    return (m, (h_prev + 2 * ph - kh) // sh + 1, (w_prev + 2 * pw - kw) // sw + 1, c_new)


def pool_output_shape(A_prev, kernel_shape, stride):
    """(m, h_new, w_new, c) of a pooling by the contract's formula with no padding."""
    m, h_prev, w_prev, c = A_prev.shape
    return (m, (h_prev - kernel_shape[0]) // stride[0] + 1,
            (w_prev - kernel_shape[1]) // stride[1] + 1, c)


# TensorFlow references, all in float64 (a float64 numpy array would go through float32 unless
# passed as a float64 tf.constant)

def _float64_constants(*arrays):
    """Each array as a float64 tf.constant."""
    return [tf.constant(array.astype(np.float64)) for array in arrays]


def _conv2d(A, K, B, ph, pw, sh, sw, tf_padding):
    """Z = tf.nn.conv2d(A zero-padded by (ph, pw), K) + B; tf_padding is TensorFlow's own on top."""
    A_pad = tf.pad(A, [[0, 0], [ph, ph], [pw, pw], [0, 0]])
    return tf.nn.conv2d(A_pad, K, strides=(1, sh, sw, 1), padding=tf_padding) + B


def tf_conv(A_prev, W, b, ph, pw, sh, sw, tf_padding="VALID"):
    """Reference Z in float64: tf.nn.conv2d ('VALID' unless told) on the input padded by (ph,
    pw)."""
    return _conv2d(*_float64_constants(A_prev, W, b), ph, pw, sh, sw, tf_padding).numpy()


def tf_conv_gradients(dZ, A_prev, W, b, ph, pw, sh, sw, tf_padding="VALID"):
    """Reference (dA_prev, dW, db) in float64: GradientTape of sum(Z * dZ), Z as in tf_conv."""
    A, K, B = _float64_constants(A_prev, W, b)
    with tf.GradientTape() as tape:
        tape.watch([A, K, B])
        loss = tf.reduce_sum(_conv2d(A, K, B, ph, pw, sh, sw, tf_padding) * dZ.astype(np.float64))
    return [gradient.numpy() for gradient in tape.gradient(loss, [A, K, B])]


def _pool(A, kernel_shape, stride, mode):
    """TensorFlow's 'VALID' max_pool2d or avg_pool2d of the tensor A."""
    pool = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    return pool(A, ksize=kernel_shape, strides=stride, padding="VALID")


def tf_pool(A_prev, kernel_shape, stride, mode):
    """Reference pooling in float64 from TensorFlow's 'VALID' max_pool2d / avg_pool2d."""
    (A,) = _float64_constants(A_prev)
    return _pool(A, kernel_shape, stride, mode).numpy()


def tf_pool_gradient(dA, A_prev, kernel_shape, stride, mode):
    """Reference dA_prev in float64: GradientTape of sum(pool(A_prev) * dA), pooling as in
    tf_pool."""
    (A,) = _float64_constants(A_prev)
    with tf.GradientTape() as tape:
        tape.watch(A)
        loss = tf.reduce_sum(_pool(A, kernel_shape, stride, mode) * dA.astype(np.float64))
    return tape.gradient(loss, A).numpy()
