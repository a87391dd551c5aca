"""Task 1, pool_forward: checked against tf.nn.max_pool2d / avg_pool2d, hand cases and bad input."""
import contextlib

import numpy as np
import pytest
from hypothesis import given

from lenet import layers

from cases import (BAD_MODES, BAD_PAIRS, BAD_POOL_A_PREV, POOL_CASES, PROPERTY, big_endian,
                   pool_cases, rejected)
from checks import (assert_float16_rounded, assert_longdouble_matches, assert_matches,
                    assert_native_equal, assert_rejects, assert_signature, column_runs,
                    tiny_chunks)
from oracles import pool_output_shape, tf_pool


def random_input(seed, shape, dtype=np.float64):
    """Standard-normal A_prev of the given shape, cast to dtype."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_signature(pool_forward):
    """Parameter names and defaults are the contract's."""
    assert_signature(pool_forward, ["A_prev", "kernel_shape", "stride", "mode"],
                     stride=(1, 1), mode="max")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape, kernel_shape, stride", POOL_CASES)
def test_matches_tensorflow(pool_forward, shape, kernel_shape, stride, mode, dtype):
    """Max and average pooling equal TensorFlow's for overlapping, tiling and gapped windows."""
    A_prev = random_input(0, shape, dtype)
    out = pool_forward(A_prev, kernel_shape, stride=stride, mode=mode)
    assert out.shape == pool_output_shape(A_prev, kernel_shape, stride)
    assert_matches(out, tf_pool(A_prev, kernel_shape, stride, mode), dtype)


@PROPERTY
@given(case=pool_cases())
def test_property_matches_tensorflow(pool_forward, case):
    """For drawn shapes, kernels, strides and modes the output equals TensorFlow's."""
    seed, shape, kernel_shape, stride, mode, dtype = case
    A_prev = random_input(seed, shape, dtype)
    out = pool_forward(A_prev, kernel_shape, stride=stride, mode=mode)
    assert out.shape == pool_output_shape(A_prev, kernel_shape, stride)
    assert_matches(out, tf_pool(A_prev, kernel_shape, stride, mode), dtype)


@PROPERTY
@given(case=pool_cases())
def test_property_layers_both_ways_of_pooling_columns_match_tensorflow(case):
    """lenet.layers: the output equals TensorFlow's whether window columns are reduced as runs
    over whole rows or one window column at a time (see Tuning.short_pixel_bytes), in whole
    chunks or one output row at a time, and both ways give the same bits."""
    seed, shape, kernel_shape, stride, mode, dtype = case
    A_prev = random_input(seed, shape, dtype)
    want = tf_pool(A_prev, kernel_shape, stride, mode)
    outs = []
    for runs in (True, False):
        for chunks in (contextlib.nullcontext(), tiny_chunks(layers.pool_forward)):
            with column_runs(runs), chunks:
                outs.append(layers.pool_forward(A_prev, kernel_shape, stride=stride, mode=mode))
            assert_matches(outs[-1], want, dtype)
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_hand_computed(pool_forward):
    """On 0..15 in a 4x4 grid, 2x2/2 max takes each block's bottom-right, avg its mean."""
    A_prev = np.arange(16.0).reshape(1, 4, 4, 1)
    max_out = pool_forward(A_prev, (2, 2), stride=(2, 2), mode="max")
    avg_out = pool_forward(A_prev, (2, 2), stride=(2, 2), mode="avg")
    np.testing.assert_array_equal(max_out[0, :, :, 0], [[5, 7], [13, 15]])
    # (0+1+4+5)/4 ...
    np.testing.assert_array_equal(avg_out[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_hand_computed_overlapping_non_square(pool_forward):
    """A 1x3 kernel with stride (1, 2) on [[3, 1, 4, 1, 5]]: windows 3 1 4 and 4 1 5 overlap at
    4."""
    A_prev = np.array([3.0, 1.0, 4.0, 1.0, 5.0]).reshape(1, 1, 5, 1)
    np.testing.assert_array_equal(pool_forward(A_prev, (1, 3), (1, 2), "max").ravel(), [4, 5])
    np.testing.assert_allclose(pool_forward(A_prev, (1, 3), (1, 2), "avg").ravel(), [8 / 3, 10 / 3],
                               rtol=1e-15)


def test_channels_and_images_are_independent(pool_forward):
    """Each image and channel is pooled on its own: a spike in one shows in no other."""
    A_prev = np.zeros((2, 4, 4, 3))
    A_prev[1, 2, 3, 2] = 7.0
    out = pool_forward(A_prev, (2, 2), (2, 2), "max")
    expected = np.zeros((2, 2, 2, 3))
    expected[1, 1, 1, 2] = 7.0
    np.testing.assert_array_equal(out, expected)


def test_single_image_single_channel(pool_forward):
    """m = 1 and one channel, with a non-square kernel and stride."""
    A_prev = random_input(1, (1, 9, 7, 1))
    for mode in ["max", "avg"]:
        assert_matches(pool_forward(A_prev, (3, 2), (2, 1), mode),
                       tf_pool(A_prev, (3, 2), (2, 1), mode), np.float64)


@pytest.mark.parametrize("stride", [(1, 1), (2, 3)])
def test_kernel_1x1_subsamples(pool_forward, stride):
    """A 1x1 window with stride (sh, sw) is A_prev[:, ::sh, ::sw] in both modes."""
    A_prev = random_input(2, (2, 7, 8, 3))
    expected = A_prev[:, ::stride[0], ::stride[1]]
    np.testing.assert_array_equal(pool_forward(A_prev, (1, 1), stride, "max"), expected)
    np.testing.assert_allclose(pool_forward(A_prev, (1, 1), stride, "avg"), expected, rtol=1e-15)


def test_kernel_equal_to_input_size(pool_forward):
    """A window the size of the image is global max / mean pooling."""
    A_prev = random_input(3, (3, 5, 7, 2))
    max_out = pool_forward(A_prev, (5, 7), mode="max")
    avg_out = pool_forward(A_prev, (5, 7), mode="avg")
    np.testing.assert_array_equal(max_out, A_prev.max(axis=(1, 2), keepdims=True))
    assert_matches(avg_out, A_prev.mean(axis=(1, 2), keepdims=True), np.float64)


def test_defaults_are_max_and_stride_1(pool_forward):
    """Without stride and mode, pooling is max with stride (1, 1)."""
    A_prev = random_input(4, (2, 5, 6, 2))
    assert_matches(pool_forward(A_prev, (2, 3)), tf_pool(A_prev, (2, 3), (1, 1), "max"), np.float64)


def test_inputs_not_modified(pool_forward):
    """A_prev is unchanged and shares no memory with the result, even for a 1x1 window."""
    A_prev = random_input(5, (2, 6, 5, 3))
    copy = A_prev.copy()
    for kernel_shape, stride in [((1, 1), (1, 1)), ((2, 2), (2, 2)), ((3, 2), (1, 2))]:
        for mode in ["max", "avg"]:
            out = pool_forward(A_prev, kernel_shape, stride, mode)
            np.testing.assert_array_equal(A_prev, copy)
            assert not np.shares_memory(out, A_prev)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("dtype, expected", [
    (np.float32, np.float32),
    (np.float64, np.float64),
    (np.int64, np.float64),
    (np.int32, np.float64),
    (np.uint8, np.float64),
])
def test_dtype_rules(pool_forward, mode, dtype, expected):
    """float32 stays float32, float64 stays float64, integer input is computed in float64."""
    A_prev = np.random.default_rng(6).integers(0, 200, (2, 5, 6, 2)).astype(dtype)
    out = pool_forward(A_prev, (2, 3), (2, 1), mode)
    assert_matches(out, tf_pool(A_prev, (2, 3), (2, 1), mode), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_empty_batch(pool_forward, mode, dtype):
    """m = 0 gives an empty output of the formula's shape and the input dtype."""
    A_prev = np.zeros((0, 7, 8, 3), dtype=dtype)
    out = pool_forward(A_prev, (3, 2), (2, 3), mode)
    assert out.shape == (0, 3, 3, 3)
    assert out.dtype == dtype


def test_non_contiguous_input(pool_forward):
    """Transposed, strided and Fortran-ordered views as A_prev give TensorFlow's answer."""
    base = random_input(7, (2, 9, 12, 3))
    views = [base.transpose(0, 2, 1, 3)[:, ::2], base[:, :, ::-2], np.asfortranarray(base)]
    for A_prev in views:
        for mode in ["max", "avg"]:
            assert_matches(pool_forward(A_prev, (3, 2), (2, 2), mode),
                           tf_pool(A_prev, (3, 2), (2, 2), mode), np.float64)


def good_arguments():
    """A valid call: A_prev (2, 6, 6, 3), kernel 2x2, stride 2, max."""
    return dict(A_prev=random_input(8, (2, 6, 6, 3)), kernel_shape=(2, 2), stride=(2, 2),
                mode="max")


def test_good_arguments_are_accepted(pool_forward):
    """The call the bad-input tests start from works (so each failure below is the one change)."""
    assert pool_forward(**good_arguments()).shape == (2, 3, 3, 3)


BAD_INPUTS = BAD_POOL_A_PREV + rejected("kernel_shape", BAD_PAIRS) + [
    ("kernel_shape", (7, 2), ValueError, "kernel_shape|A_prev"),   # larger than the 6x6 input
    ("kernel_shape", (2, 7), ValueError, "kernel_shape|A_prev"),
] + rejected("stride", BAD_PAIRS) + rejected("mode", BAD_MODES)


@pytest.mark.parametrize("name, value, error, pattern", BAD_INPUTS)
def test_bad_input(pool_forward, name, value, error, pattern):
    """Each bad argument raises the contract's error, naming the argument."""
    assert_rejects(pool_forward, good_arguments(), name, value, error, pattern)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_large_batch_matches_tensorflow(pool_forward, mode):
    """A large batch (400 x 28 x 28 x 16, overlapping 2x2 windows) equals TensorFlow's."""
    A_prev = random_input(9, (400, 28, 28, 16))
    assert_matches(pool_forward(A_prev, (2, 2), (1, 1), mode),
                   tf_pool(A_prev, (2, 2), (1, 1), mode), np.float64)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_big_endian_input(pool_forward, mode):
    """A big-endian A_prev gives exactly the native input's result, in native byte order."""
    A_prev = np.random.default_rng(31).standard_normal((2, 7, 6, 3)).astype(np.float32)
    assert_native_equal(pool_forward(big_endian(A_prev), (3, 2), (2, 1), mode),
                        pool_forward(A_prev, (3, 2), (2, 1), mode))


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_longdouble(pool_forward, mode):
    """A longdouble A_prev gives a longdouble result equal to TensorFlow's float64 one."""
    A_prev = np.random.default_rng(32).standard_normal((2, 7, 6, 3))
    assert_longdouble_matches(pool_forward(A_prev.astype(np.longdouble), (3, 2), (2, 1), mode),
                              tf_pool(A_prev, (3, 2), (2, 1), mode))


def test_float16_average_summed_in_float32(pool_forward):
    """A float16 average over 32x32 windows is the exact mean rounded once, not a float16 sum."""
    A_prev = np.random.default_rng(33).random((2, 64, 64, 3)).astype(np.float16)
    got = pool_forward(A_prev, (32, 32), (16, 16), "avg")
    assert_float16_rounded(got, tf_pool(A_prev, (32, 32), (16, 16), "avg"))


def test_nan_in_a_max_window_gives_nan(pool_forward):
    """A window holding a NaN pools to NaN under 'max' (np.max's rule; TensorFlow skips NaN),
    and to NaN under 'avg'; windows without one are unaffected."""
    A_prev = np.arange(16.0).reshape(1, 4, 4, 1)
    A_prev[0, 0, 1, 0] = np.nan
    for mode, clean in [("max", [13.0, 15.0]), ("avg", [10.5, 12.5])]:
        out = pool_forward(A_prev, (2, 2), (2, 2), mode)[0, :, :, 0]
        assert np.isnan(out[0, 0]) and out[0, 1] == (7.0 if mode == "max" else 4.5)
        assert list(out[1]) == clean


@PROPERTY
@given(case=pool_cases())
def test_property_split_inside_images(pool_forward, case):
    """In chunks of one output row of one image (as on images too large for the memory limit),
    the output still equals TensorFlow's."""
    seed, shape, kernel_shape, stride, mode, dtype = case
    A_prev = random_input(seed, shape, dtype)
    with tiny_chunks(pool_forward):
        out = pool_forward(A_prev, kernel_shape, stride=stride, mode=mode)
    assert_matches(out, tf_pool(A_prev, kernel_shape, stride, mode), dtype)
