"""Task 0, conv_forward: checked against tf.nn.conv2d, hand-made cases, dtype rules, bad input."""
import math

import numpy as np
import pytest
from hypothesis import given

from lenet import layers

from cases import (BAD_CONV_ARRAYS, BAD_PADDINGS, BAD_PAIRS, CONV_CASES, HOSTILE_SMALL, PROPERTY,
                   big_endian, conv_cases, hostile_conv_cases, random_conv_inputs, rejected)
from checks import (assert_float16_rounded, assert_longdouble_matches, assert_matches,
                    assert_native_equal, assert_rejects, assert_signature, gemm_calls, tiny_chunks)
from oracles import conv_output_shape, course_padding, identity, tf_conv


def relu(Z):
    """ReLU activation that returns a new array."""
    return np.maximum(Z, 0)


def test_signature(conv_forward):
    """Parameter names and defaults are the contract's."""
    assert_signature(conv_forward, ["A_prev", "W", "b", "activation", "padding", "stride"],
                     padding="same", stride=(1, 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride", CONV_CASES)
def test_matches_tensorflow(conv_forward, m, h_prev, w_prev, c_prev, kh, kw, c_new, padding,
                            stride, dtype):
    """Z equals tf.nn.conv2d on the explicitly padded input, for paddings, strides and dtypes."""
    A_prev, W, b = random_conv_inputs(0, m, h_prev, w_prev, c_prev, kh, kw, c_new, dtype)
    ph, pw = course_padding(padding, h_prev, w_prev, kh, kw, *stride)
    Z = conv_forward(A_prev, W, b, identity, padding=padding, stride=stride)
    assert_matches(Z, tf_conv(A_prev, W, b, ph, pw, *stride), dtype)


@pytest.mark.parametrize("kh, kw", [(1, 1), (3, 3), (5, 3), (1, 5)])
def test_same_equals_tensorflow_same_for_odd_kernels_stride_1(conv_forward, kh, kw):
    """With odd kernels and stride 1 the course 'same' is TensorFlow's 'SAME'."""
    A_prev, W, b = random_conv_inputs(1, 2, 6, 9, 2, kh, kw, 3)
    Z = conv_forward(A_prev, W, b, identity, padding="same")
    assert Z.shape == (2, 6, 9, 3)
    assert_matches(Z, tf_conv(A_prev, W, b, 0, 0, 1, 1, tf_padding="SAME"), np.float64)


@PROPERTY
@given(case=conv_cases())
def test_property_matches_tensorflow(conv_forward, case):
    """For drawn shapes, strides and paddings, Z equals TensorFlow's, with the formula's shape."""
    seed, shapes, padding, stride, (ph, pw), dtype = case
    A_prev, W, b = random_conv_inputs(seed, *shapes, dtype)
    Z = conv_forward(A_prev, W, b, identity, padding=padding, stride=stride)
    assert Z.shape == conv_output_shape(A_prev, W, ph, pw, *stride)
    assert_matches(Z, tf_conv(A_prev, W, b, ph, pw, *stride), dtype,
                   magnitude(A_prev, W, b, ph, pw, *stride))


@PROPERTY
@given(case=conv_cases())
def test_property_layers_both_ways_of_calling_blas_match_tensorflow(case):
    """lenet.layers: Z equals TensorFlow's whether each chunk's product is one BLAS call or a
    stack of the thinnest blocks (with a remainder)."""
    seed, shapes, padding, stride, (ph, pw), dtype = case
    A_prev, W, b = random_conv_inputs(seed, *shapes, dtype)
    want = tf_conv(A_prev, W, b, ph, pw, *stride)
    for calls in ("one", "blocks"):
        with gemm_calls(calls):
            Z = layers.conv_forward(A_prev, W, b, identity, padding=padding, stride=stride)
        assert_matches(Z, want, dtype, magnitude(A_prev, W, b, ph, pw, *stride))


@pytest.mark.parametrize("shape, kernel, stride, tiles", [
    ((4, 6, 5, 3), (1, 1), (1, 1), True),    # 1x1 kernel at stride 1
    ((4, 6, 5, 1), (6, 5), (1, 1), True),    # a kernel as large as the image
    ((4, 6, 5, 8), (6, 5), (2, 3), True),
    ((4, 6, 5, 3), (2, 2), (1, 1), False),   # overlapping windows
    ((4, 6, 5, 1), (3, 3), (1, 1), False),   # few channels: copied channel-first
    ((4, 6, 6, 2), (2, 2), (2, 2), False),   # tiling, but a window's rows are apart
])
def test_window_matrix_is_a_view_where_windows_tile(shape, kernel, stride, tiles):
    """lenet.layers.window_matrix is a view of the slab, not a copy, where the windows tile it,
    and a copy otherwise; either way each row is one window, flattened as W is."""
    slab = np.random.default_rng(44).standard_normal(shape)
    (kh, kw), (sh, sw) = kernel, stride
    matrix = layers.window_matrix(slab, kh, kw, sh, sw)
    assert np.shares_memory(matrix, slab) is tiles
    rows, columns = (shape[1] - kh) // sh + 1, (shape[2] - kw) // sw + 1
    want = [slab[n, y * sh:y * sh + kh, x * sw:x * sw + kw].reshape(-1)
            for n in range(shape[0]) for y in range(rows) for x in range(columns)]
    np.testing.assert_array_equal(matrix, np.array(want))


def magnitude(A_prev, W, b, ph, pw, sh, sw):
    """The largest sum of magnitudes behind an entry of Z: TensorFlow's Z of the absolute
    inputs."""
    Z = tf_conv(np.abs(A_prev), np.abs(W), np.abs(b), ph, pw, sh, sw)
    return Z.max() if Z.size else 0.0


def test_same_with_stride_2_uses_course_formula(conv_forward):
    """'same' with stride > 1 pads by the course formula (not TensorFlow's), checked shape and
    values."""
    h_prev, w_prev, kh, kw, sh, sw = 28, 20, 3, 5, 2, 3
    ph, pw = course_padding("same", h_prev, w_prev, kh, kw, sh, sw)
    h_new = (h_prev + 2 * ph - kh) // sh + 1
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    A_prev, W, b = random_conv_inputs(2, 2, h_prev, w_prev, 1, kh, kw, 2)
    Z = conv_forward(A_prev, W, b, identity, padding="same", stride=(sh, sw))
    assert Z.shape == (2, h_new, w_new, 2)
    assert Z.shape != (2, math.ceil(h_prev / sh), math.ceil(w_prev / sw), 2)  # TensorFlow's SAME
    assert_matches(Z, tf_conv(A_prev, W, b, ph, pw, sh, sw), np.float64)


def test_hand_computed_cross_correlation(conv_forward):
    """A 2x2 kernel [[1, 0], [0, -1]] on 1..9 gives a[i, j] - a[i+1, j+1] + b = -4 + 0.5 (no
    flip)."""
    A_prev = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    W = np.array([[1.0, 0.0], [0.0, -1.0]]).reshape(2, 2, 1, 1)
    b = np.full((1, 1, 1, 1), 0.5)
    Z = conv_forward(A_prev, W, b, identity, padding="valid")
    np.testing.assert_array_equal(Z, np.full((1, 2, 2, 1), -3.5))  # a flipped kernel gives +4.5


def test_hand_computed_same_box_sum(conv_forward):
    """A 3x3 box of ones with 'same' padding sums each zero-padded 3x3 neighbourhood of 1..9."""
    A_prev = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    Z = conv_forward(A_prev, np.ones((3, 3, 1, 1)), np.zeros((1, 1, 1, 1)), identity)
    expected = np.array([[12, 21, 16],   # 1+2+4+5, 1+2+3+4+5+6, 2+3+5+6
                         [27, 45, 33],   # every neighbourhood of the middle row has 6 or 9 terms
                         [24, 39, 28]])  # 4+5+7+8, 4+5+6+7+8+9, 5+6+8+9
    np.testing.assert_array_equal(Z[0, :, :, 0], expected)


def test_single_image_single_channel(conv_forward):
    """m = 1 and one channel in and out, with a non-square kernel and stride."""
    A_prev, W, b = random_conv_inputs(3, 1, 9, 7, 1, 2, 3, 1)
    Z = conv_forward(A_prev, W, b, identity, padding="same", stride=(2, 1))
    ph, pw = course_padding("same", 9, 7, 2, 3, 2, 1)
    assert_matches(Z, tf_conv(A_prev, W, b, ph, pw, 2, 1), np.float64)


@pytest.mark.parametrize("stride", [(1, 1), (2, 3)])
def test_kernel_1x1_is_a_matrix_product(conv_forward, stride):
    """A 1x1 'valid' convolution is A_prev[:, ::sh, ::sw] @ W[0, 0] + b."""
    A_prev, W, b = random_conv_inputs(4, 2, 5, 7, 3, 1, 1, 2)
    sh, sw = stride
    Z = conv_forward(A_prev, W, b, identity, padding="valid", stride=stride)
    assert_matches(Z, A_prev[:, ::sh, ::sw] @ W[0, 0] + b, np.float64)


def test_kernel_equal_to_input_size(conv_forward):
    """A kernel as large as the input gives one output per image: the full dot product plus b."""
    A_prev, W, b = random_conv_inputs(5, 3, 4, 6, 2, 4, 6, 5)
    Z = conv_forward(A_prev, W, b, identity, padding="valid")
    expected = np.einsum("nhwc,hwck->nk", A_prev, W).reshape(3, 1, 1, 5) + b
    assert_matches(Z, expected, np.float64)


@pytest.mark.parametrize("activation", [np.tanh, relu], ids=["tanh", "relu"])
def test_activation_is_applied(conv_forward, activation):
    """conv_forward(..., activation) is activation of the identity-activation result."""
    A_prev, W, b = random_conv_inputs(6, 2, 6, 5, 3, 3, 2, 4)
    Z = conv_forward(A_prev, W, b, identity, padding="valid", stride=(1, 2))
    out = conv_forward(A_prev, W, b, activation, padding="valid", stride=(1, 2))
    assert (Z < 0).any() and (Z > 0).any()
    np.testing.assert_allclose(out, activation(Z), rtol=1e-12, atol=1e-12)


def test_activation_receives_un_activated_Z_once(conv_forward):
    """The activation is called once with Z (bias included), and its new array is returned."""
    A_prev, W, b = random_conv_inputs(7, 2, 6, 5, 3, 3, 2, 4)
    calls = []

    def affine(Z):
        """Record the argument and return a new array."""
        calls.append(Z.copy())
        return 2 * Z + 1

    out = conv_forward(A_prev, W, b, affine, padding="same", stride=(2, 1))
    ref = tf_conv(A_prev, W, b, *course_padding("same", 6, 5, 3, 2, 2, 1), 2, 1)
    assert len(calls) == 1
    assert_matches(calls[0], ref, np.float64)
    assert_matches(out, 2 * ref + 1, np.float64)


def test_inputs_not_modified(conv_forward):
    """A_prev, W and b are unchanged, even when the activation works in place on its argument."""
    A_prev, W, b = random_conv_inputs(8, 2, 6, 5, 3, 3, 2, 4)
    copies = [A_prev.copy(), W.copy(), b.copy()]

    def relu_in_place(Z):
        """Overwrite Z with relu(Z) and return it."""
        np.maximum(Z, 0, out=Z)
        return Z

    for padding, stride in [("same", (1, 1)), ("valid", (2, 1)), ((2, 1), (1, 3))]:
        out = conv_forward(A_prev, W, b, relu_in_place, padding=padding, stride=stride)
        for array, copy in zip([A_prev, W, b], copies):
            np.testing.assert_array_equal(array, copy)
            assert not np.shares_memory(out, array)
    Z = conv_forward(A_prev, W, b, identity, padding="valid")
    np.testing.assert_array_equal(conv_forward(A_prev, W, b, relu_in_place, padding="valid"),
                                  relu(Z))


@pytest.mark.parametrize("A_dtype, W_dtype, expected", [
    (np.float32, np.float32, np.float32),
    (np.float64, np.float64, np.float64),
    (np.int64, np.int64, np.float64),
    (np.int32, np.int32, np.float64),
    (np.int64, np.float64, np.float64),
    (np.int64, np.float32, np.float64),
    (np.float32, np.float64, np.float64),
])
def test_dtype_rules(conv_forward, A_dtype, W_dtype, expected):
    """float32 stays float32, float64 stays float64, integers and mixed inputs compute in
    float64."""
    rng = np.random.default_rng(9)
    A_prev = rng.integers(-5, 6, (2, 5, 6, 2)).astype(A_dtype)
    W = rng.integers(-3, 4, (3, 2, 2, 3)).astype(W_dtype)
    b = rng.integers(-3, 4, (1, 1, 1, 3)).astype(W_dtype)
    Z = conv_forward(A_prev, W, b, identity, padding="same", stride=(2, 1))
    ph, pw = course_padding("same", 5, 6, 3, 2, 2, 1)
    assert_matches(Z, tf_conv(A_prev, W, b, ph, pw, 2, 1), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding, stride", [("same", (1, 1)), ("valid", (2, 3)), ((1, 2), (1, 2))])
def test_empty_batch(conv_forward, padding, stride, dtype):
    """m = 0 gives an empty output of the formula's shape and the input dtype."""
    A_prev, W, b = random_conv_inputs(10, 0, 7, 8, 2, 3, 2, 5, dtype)
    ph, pw = course_padding(padding, 7, 8, 3, 2, *stride)
    Z = conv_forward(A_prev, W, b, identity, padding=padding, stride=stride)
    assert Z.shape == conv_output_shape(A_prev, W, ph, pw, *stride)
    assert Z.dtype == dtype


def test_non_contiguous_inputs(conv_forward):
    """Transposed and strided views as A_prev, W and b give TensorFlow's answer."""
    rng = np.random.default_rng(11)
    A_prev = rng.standard_normal((2, 9, 6, 3)).transpose(0, 2, 1, 3)[:, :, ::2]  # (2, 6, 5, 3)
    W = rng.standard_normal((3, 2, 6, 4))[:, :, ::2][::-1]                        # (3, 2, 3, 4)
    b = rng.standard_normal((1, 1, 2, 8))[:, :, :1, ::2]                          # (1, 1, 1, 4)
    assert not (A_prev.flags.c_contiguous or W.flags.c_contiguous or b.flags.c_contiguous)
    Z = conv_forward(A_prev, W, b, identity, padding="same", stride=(2, 2))
    ph, pw = course_padding("same", 6, 5, 3, 2, 2, 2)
    assert_matches(Z, tf_conv(A_prev, W, b, ph, pw, 2, 2), np.float64)
    Fortran = conv_forward(np.asfortranarray(A_prev), np.asfortranarray(W), b, identity,
                           padding="same", stride=(2, 2))
    assert_matches(Fortran, tf_conv(A_prev, W, b, ph, pw, 2, 2), np.float64)


def good_arguments():
    """A valid call: A_prev (2, 5, 5, 3), W (3, 3, 3, 4), b (1, 1, 1, 4), identity activation."""
    A_prev, W, b = random_conv_inputs(12, 2, 5, 5, 3, 3, 3, 4)
    return dict(A_prev=A_prev, W=W, b=b, activation=identity, padding="same", stride=(1, 1))


def test_good_arguments_are_accepted(conv_forward):
    """The call the bad-input tests start from works (so each failure below is the one change)."""
    assert conv_forward(**good_arguments()).shape == (2, 5, 5, 4)


BAD_INPUTS = BAD_CONV_ARRAYS + [
    ("activation", None, TypeError, "activation"),   # not callable: TypeError
    ("activation", "relu", TypeError, "activation"),
] + rejected("padding", BAD_PADDINGS) + rejected("stride", BAD_PAIRS)


@pytest.mark.parametrize("name, value, error, pattern", BAD_INPUTS)
def test_bad_input(conv_forward, name, value, error, pattern):
    """Each bad argument raises the contract's error, naming the argument."""
    assert_rejects(conv_forward, good_arguments(), name, value, error, pattern)


@pytest.mark.parametrize("W_shape, padding", [
    ((6, 3, 3, 4), "valid"),     # 6 rows > 5
    ((3, 6, 3, 4), "valid"),     # 6 columns > 5
    ((3, 8, 3, 4), (1, 1)),      # 8 columns > 5 + 2 * 1
    ((8, 3, 3, 4), (1, 0)),      # 8 rows > 5 + 2 * 1
])
def test_kernel_larger_than_padded_input(conv_forward, W_shape, padding):
    """A kernel that does not fit the padded input is a ValueError naming W, A_prev or the
    kernel."""
    arguments = good_arguments()
    arguments.update(W=np.zeros(W_shape), padding=padding)
    with pytest.raises(ValueError, match=r"\bW\b|A_prev|kernel"):
        conv_forward(**arguments)


@pytest.mark.slow
def test_large_batch_matches_tensorflow(conv_forward):
    """An MNIST-like batch (1200 x 28 x 28 x 1, LeNet's 5x5x6 'same') equals TensorFlow's, across
    however many batch chunks the implementation works in."""
    A_prev, W, b = random_conv_inputs(13, 1200, 28, 28, 1, 5, 5, 6)
    Z = conv_forward(A_prev, W, b, identity)
    assert_matches(Z, tf_conv(A_prev, W, b, 2, 2, 1, 1), np.float64)


def test_big_endian_inputs(conv_forward):
    """Big-endian A_prev, W and b give exactly the native inputs' Z, in native byte order."""
    A_prev, W, b = random_conv_inputs(31, 2, 7, 6, 3, 3, 2, 4, np.float32)
    want = conv_forward(A_prev, W, b, identity, padding="same", stride=(2, 1))
    got = conv_forward(big_endian(A_prev), big_endian(W), big_endian(b), identity, padding="same",
                       stride=(2, 1))
    assert_native_equal(got, want)


def test_longdouble(conv_forward):
    """longdouble inputs give a longdouble Z equal to TensorFlow's float64 one."""
    A_prev, W, b = random_conv_inputs(32, 2, 7, 6, 3, 3, 2, 4)
    got = conv_forward(*(x.astype(np.longdouble) for x in (A_prev, W, b)), identity,
                       padding="valid", stride=(2, 1))
    assert_longdouble_matches(got, tf_conv(A_prev, W, b, 0, 0, 2, 1))


def test_float16_summed_in_float32(conv_forward):
    """float16 inputs give float16 Z rounded once from the exact sum (3,456 terms per output):
    the products are not summed in float16."""
    rng = np.random.default_rng(33)
    A_prev = rng.random((2, 30, 30, 96)).astype(np.float16)
    W = rng.random((6, 6, 96, 2)).astype(np.float16)
    b = np.zeros((1, 1, 1, 2), np.float16)
    Z = conv_forward(A_prev, W, b, identity, padding="valid")
    assert_float16_rounded(Z, tf_conv(A_prev, W, b, 0, 0, 1, 1))


@PROPERTY
@given(case=hostile_conv_cases())
def test_property_hostile_shapes_match_tensorflow(conv_forward, case):
    """Strides beyond the kernel, padding no window reads, kernels as large as the input: Z equals
    TensorFlow's, in the usual chunks and in chunks of one output row (images split)."""
    seed, shapes, padding, stride, (ph, pw), dtype = case
    A_prev, W, b = random_conv_inputs(seed, *shapes, dtype)
    want = tf_conv(A_prev, W, b, ph, pw, *stride)
    scale = magnitude(A_prev, W, b, ph, pw, *stride)
    assert_matches(conv_forward(A_prev, W, b, identity, padding=padding, stride=stride), want,
                   dtype, scale)
    with tiny_chunks(conv_forward):
        got = conv_forward(A_prev, W, b, identity, padding=padding, stride=stride)
    assert_matches(got, want, dtype, scale)


@pytest.mark.parametrize("m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride", HOSTILE_SMALL)
def test_hostile_shapes_match_tensorflow(conv_forward, m, h_prev, w_prev, c_prev, kh, kw, c_new,
                                         padding, stride):
    """The benchmark's shapes that punish shortcuts, at small m: Z equals TensorFlow's."""
    A_prev, W, b = random_conv_inputs(41, m, h_prev, w_prev, c_prev, kh, kw, c_new)
    ph, pw = course_padding(padding, h_prev, w_prev, kh, kw, *stride)
    assert_matches(conv_forward(A_prev, W, b, identity, padding=padding, stride=stride),
                   tf_conv(A_prev, W, b, ph, pw, *stride), np.float64)
