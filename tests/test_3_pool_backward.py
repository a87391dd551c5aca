"""Task 3, pool_backward: checked against tf.GradientTape, finite differences, the tie rule and
bad input."""
import numpy as np
import pytest
from hypothesis import given

from lenet.gradcheck import numerical_gradient

from cases import (BAD_MODES, BAD_PAIRS, BAD_POOL_A_PREV, POOL_CASES, PROPERTY, big_endian,
                   pool_cases, rejected)
from checks import (assert_float16_rounded, assert_longdouble_matches, assert_matches,
                    assert_native_equal, assert_rejects, assert_signature, tiny_chunks)
from oracles import pool_output_shape, tf_pool_gradient


def random_inputs(seed, shape, kernel_shape, stride, dtype=np.float64):
    """dA (standard normal, forward-output shaped) and a tie-free A_prev: distinct values 1
    apart."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    A_prev = (rng.permutation(size) - size / 2).reshape(shape).astype(dtype)
    dA = rng.standard_normal(pool_output_shape(A_prev, kernel_shape, stride)).astype(dtype)
    return dA, A_prev


def magnitude(dA, A_prev, kernel_shape, stride, mode):
    """The largest sum of magnitudes behind an entry of dA_prev (overlapping windows add up):
    TensorFlow's gradient for |dA|."""
    dA_prev = tf_pool_gradient(np.abs(dA), A_prev, kernel_shape, stride, mode)
    return dA_prev.max() if dA_prev.size else 0.0


def test_signature(pool_backward):
    """Parameter names and defaults are the contract's."""
    assert_signature(pool_backward, ["dA", "A_prev", "kernel_shape", "stride", "mode"],
                     stride=(1, 1), mode="max")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape, kernel_shape, stride", POOL_CASES)
def test_matches_tensorflow(pool_backward, shape, kernel_shape, stride, mode, dtype):
    """dA_prev equals TensorFlow's gradient (tie-free input) for tiling, overlapping, gapped
    windows."""
    dA, A_prev = random_inputs(0, shape, kernel_shape, stride, dtype)
    got = pool_backward(dA, A_prev, kernel_shape, stride=stride, mode=mode)
    assert_matches(got, tf_pool_gradient(dA, A_prev, kernel_shape, stride, mode), dtype)


@PROPERTY
@given(case=pool_cases())
def test_property_matches_tensorflow(pool_backward, case):
    """For drawn shapes, kernels, strides and modes dA_prev equals TensorFlow's gradient."""
    seed, shape, kernel_shape, stride, mode, dtype = case
    dA, A_prev = random_inputs(seed, shape, kernel_shape, stride, dtype)
    got = pool_backward(dA, A_prev, kernel_shape, stride=stride, mode=mode)
    assert_matches(got, tf_pool_gradient(dA, A_prev, kernel_shape, stride, mode), dtype,
                   magnitude(dA, A_prev, kernel_shape, stride, mode))


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("kernel_shape, stride",
                         [((2, 2), (2, 2)), ((3, 2), (1, 1)), ((2, 1), (3, 2))])
def test_finite_differences(pool_forward, pool_backward, kernel_shape, stride, mode):
    """dA_prev equals central differences of L = sum(pool_forward(A_prev) * dA) in float64."""
    dA, A_prev = random_inputs(1, (2, 7, 6, 2), kernel_shape, stride)
    # A_prev values are distinct integers, so a step of 1e-3 never changes a window's argmax and
    # L is linear around A_prev: central differences are exact up to rounding
    numeric = numerical_gradient(
        lambda x: np.sum(pool_forward(x, kernel_shape, stride=stride, mode=mode) * dA), A_prev,
        eps=1e-3)
    got = pool_backward(dA, A_prev, kernel_shape, stride=stride, mode=mode)
    np.testing.assert_allclose(got, numeric, rtol=1e-8, atol=1e-8 * np.abs(numeric).max())


def test_ties_all_zero_tiling_windows(pool_backward):
    """All-zero input, 2x2/2 max: every element ties for its window's max and gets its full dA."""
    A_prev = np.zeros((1, 4, 4, 1))
    dA = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    expected = [[1, 1, 2, 2],
                [1, 1, 2, 2],
                [3, 3, 4, 4],
                [3, 3, 4, 4]]
    got = pool_backward(dA, A_prev, (2, 2), stride=(2, 2), mode="max")
    np.testing.assert_array_equal(got[0, :, :, 0], expected)


def test_ties_overlapping_windows_add_up(pool_backward):
    """3x3 input [[1, 0, 1], [0, 1, 0], [1, 0, 1]], 2x2 max with stride 1, dA = [[1, 2], [3, 4]]."""
    A_prev = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]).reshape(1, 3, 3, 1)
    dA = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    # Every 2x2 window holds two 1s: its outer corner and the centre, which tie for the max.
    # Each corner is in one window and gets that window's dA; the centre is in all four windows
    # and collects 1 + 2 + 3 + 4 = 10; the zeros on the edges are never a max and get nothing.
    expected = [[1, 0, 2],
                [0, 10, 0],
                [3, 0, 4]]
    got = pool_backward(dA, A_prev, (2, 2), stride=(1, 1), mode="max")
    np.testing.assert_array_equal(got[0, :, :, 0], expected)


def test_ties_all_zero_overlapping_windows(pool_backward):
    """All-zero 3x3, 2x2 max with stride 1: each element collects dA of every window it lies in."""
    dA = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    # window (p, q) covers rows p..p+1 and columns q..q+1; element (i, j) sums dA[p, q] over them
    expected = [[1, 1 + 2, 2],
                [1 + 3, 1 + 2 + 3 + 4, 2 + 4],
                [3, 3 + 4, 4]]
    got = pool_backward(dA, np.zeros((1, 3, 3, 1)), (2, 2), stride=(1, 1), mode="max")
    np.testing.assert_array_equal(got[0, :, :, 0], expected)


def test_ties_are_per_image_and_channel(pool_backward):
    """Ties are decided per image and channel: other images and channels keep their own max."""
    A_prev = np.zeros((2, 2, 2, 2))
    A_prev[1, 0, 1, 1] = 5.0  # image 1, channel 1 has a single max; everything else ties at 0
    dA = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 1, 1, 2)
    expected = np.empty((2, 2, 2, 2))
    expected[0, :, :, 0], expected[0, :, :, 1], expected[1, :, :, 0] = 1.0, 2.0, 3.0
    expected[1, :, :, 1] = [[0, 4], [0, 0]]
    np.testing.assert_array_equal(pool_backward(dA, A_prev, (2, 2), (2, 2), "max"), expected)


def test_avg_hand_computed(pool_backward):
    """Average pooling spreads dA / (kh * kw): tiling 2x2/2 and overlapping 2x2/1 on ones."""
    dA = np.array([[4.0, 8.0], [12.0, 16.0]]).reshape(1, 2, 2, 1)
    tiling = pool_backward(dA, np.zeros((1, 4, 4, 1)), (2, 2), (2, 2), "avg")
    np.testing.assert_array_equal(tiling[0, :, :, 0], [[1, 1, 2, 2], [1, 1, 2, 2],
                                                       [3, 3, 4, 4], [3, 3, 4, 4]])
    # overlapping: element (i, j) gets 1/4 for each of the windows it lies in (1, 2 or 4 of them)
    overlapping = pool_backward(np.ones((1, 2, 2, 1)), np.zeros((1, 3, 3, 1)), (2, 2), (1, 1),
                                "avg")
    np.testing.assert_array_equal(overlapping[0, :, :, 0],
                                  np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)


def test_avg_non_square_window(pool_backward):
    """A 1x3 average window with stride (1, 2) on 1x5: the middle element is in both windows."""
    dA = np.array([3.0, 6.0]).reshape(1, 1, 2, 1)
    got = pool_backward(dA, np.zeros((1, 1, 5, 1)), (1, 3), (1, 2), "avg")
    np.testing.assert_allclose(got.ravel(), [1, 1, 1 + 2, 2, 2], rtol=1e-15)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_gaps_get_no_gradient(pool_backward, mode):
    """Rows and columns no window covers (stride > kernel, or a remainder) get exactly zero."""
    dA, A_prev = random_inputs(2, (2, 7, 7, 2), (2, 1), (3, 3), np.float64)
    assert dA.shape == (2, 2, 3, 2)
    got = pool_backward(dA, A_prev, (2, 1), (3, 3), mode)
    # windows start at rows 0 and 3 and span 2 rows (row 6 is a remainder), at columns 0, 3 and 6
    covered = np.zeros((7, 7), dtype=bool)
    covered[np.ix_([0, 1, 3, 4], [0, 3, 6])] = True
    assert not got[:, ~covered].any()
    # avg: every covered element of every image and channel; max: one element per window (no ties)
    assert np.count_nonzero(got) == (2 * 12 * 2 if mode == "avg" else dA.size)


def test_single_image_single_channel(pool_backward):
    """m = 1 and one channel, with a non-square kernel and stride."""
    for mode in ["max", "avg"]:
        dA, A_prev = random_inputs(3, (1, 9, 7, 1), (3, 2), (2, 1))
        assert_matches(pool_backward(dA, A_prev, (3, 2), (2, 1), mode),
                       tf_pool_gradient(dA, A_prev, (3, 2), (2, 1), mode), np.float64)


def test_kernel_1x1(pool_backward):
    """A 1x1 window with stride (2, 3) passes dA straight to A_prev[:, ::2, ::3], zero elsewhere."""
    dA, A_prev = random_inputs(4, (2, 7, 8, 3), (1, 1), (2, 3))
    expected = np.zeros_like(A_prev)
    expected[:, ::2, ::3] = dA
    for mode in ["max", "avg"]:
        np.testing.assert_array_equal(pool_backward(dA, A_prev, (1, 1), (2, 3), mode), expected)


def test_kernel_equal_to_input_size(pool_backward):
    """Global pooling: max sends dA to each image-channel's argmax, avg spreads dA / (h * w)."""
    dA, A_prev = random_inputs(5, (3, 5, 7, 2), (5, 7), (1, 1))
    expected = (A_prev == A_prev.max(axis=(1, 2), keepdims=True)) * dA
    np.testing.assert_array_equal(pool_backward(dA, A_prev, (5, 7), mode="max"), expected)
    assert_matches(pool_backward(dA, A_prev, (5, 7), mode="avg"),
                   np.broadcast_to(dA / 35, A_prev.shape), np.float64)


def test_defaults_are_max_and_stride_1(pool_backward):
    """Without stride and mode, the gradient is that of max pooling with stride (1, 1)."""
    dA, A_prev = random_inputs(6, (2, 5, 6, 2), (2, 3), (1, 1))
    assert_matches(pool_backward(dA, A_prev, (2, 3)),
                   tf_pool_gradient(dA, A_prev, (2, 3), (1, 1), "max"), np.float64)


def test_inputs_not_modified(pool_backward):
    """dA and A_prev are unchanged and share no memory with the result."""
    for kernel_shape, stride in [((1, 1), (1, 1)), ((2, 2), (2, 2)), ((3, 2), (1, 2))]:
        for mode in ["max", "avg"]:
            dA, A_prev = random_inputs(7, (2, 6, 5, 3), kernel_shape, stride)
            A_prev[:, :2, :2] = 0.0  # ties as well
            copies = dA.copy(), A_prev.copy()
            got = pool_backward(dA, A_prev, kernel_shape, stride, mode)
            for array, copy in zip((dA, A_prev), copies):
                np.testing.assert_array_equal(array, copy)
                assert not np.shares_memory(got, array)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("dA_dtype, A_dtype, expected", [
    (np.float32, np.float32, np.float32),
    (np.float64, np.float64, np.float64),
    (np.int64, np.int64, np.float64),
    (np.int32, np.int32, np.float64),
    (np.float64, np.int64, np.float64),
    (np.int64, np.float64, np.float64),
    (np.float32, np.float64, np.float64),
    (np.float64, np.float32, np.float64),
])
def test_dtype_rules(pool_backward, mode, dA_dtype, A_dtype, expected):
    """float32 stays float32, float64 stays float64, integers and mixed inputs give float64."""
    dA, A_prev = random_inputs(8, (2, 5, 6, 2), (2, 3), (2, 1))
    dA, A_prev = np.round(3 * dA).astype(dA_dtype), A_prev.astype(A_dtype)
    got = pool_backward(dA, A_prev, (2, 3), (2, 1), mode)
    assert_matches(got, tf_pool_gradient(dA, A_prev, (2, 3), (2, 1), mode), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_empty_batch(pool_backward, mode, dtype):
    """m = 0 gives an empty dA_prev shaped like A_prev, in the input dtype."""
    got = pool_backward(np.zeros((0, 3, 3, 3), dtype), np.zeros((0, 7, 8, 3), dtype), (3, 2),
                        (2, 3), mode)
    assert got.shape == (0, 7, 8, 3)
    assert got.dtype == dtype


def test_non_contiguous_inputs(pool_backward):
    """Transposed, strided and Fortran-ordered views as dA and A_prev give TensorFlow's gradient."""
    _, A_base = random_inputs(9, (2, 12, 9, 3), (1, 1), (1, 1))
    A_prev = A_base.transpose(0, 2, 1, 3)[:, :, ::2]                                # (2, 9, 6, 3)
    dA_base = np.random.default_rng(9).standard_normal((2, 3, 8, 6))
    dA = dA_base.transpose(0, 2, 1, 3)[:, ::2, :, ::2]                              # (2, 4, 3, 3)
    assert dA.shape == pool_output_shape(A_prev, (3, 2), (2, 2))
    assert not (A_prev.flags.c_contiguous or dA.flags.c_contiguous)
    for mode in ["max", "avg"]:
        ref = tf_pool_gradient(dA, A_prev, (3, 2), (2, 2), mode)
        assert_matches(pool_backward(dA, A_prev, (3, 2), (2, 2), mode), ref, np.float64)
        fortran = np.asfortranarray(dA), np.asfortranarray(A_prev)
        assert_matches(pool_backward(*fortran, (3, 2), (2, 2), mode), ref, np.float64)


def good_arguments():
    """A valid call: dA (2, 3, 3, 3), A_prev (2, 6, 6, 3), kernel 2x2, stride 2, max."""
    dA, A_prev = random_inputs(10, (2, 6, 6, 3), (2, 2), (2, 2))
    return dict(dA=dA, A_prev=A_prev, kernel_shape=(2, 2), stride=(2, 2), mode="max")


def test_good_arguments_are_accepted(pool_backward):
    """The call the bad-input tests start from works (so each failure below is the one change)."""
    assert pool_backward(**good_arguments()).shape == (2, 6, 6, 3)


BAD_DA = [
    # not an ndarray or not a real dtype (TypeError); not the forward output's shape (ValueError)
    ("dA", np.zeros((2, 3, 3, 3)).tolist(), TypeError, "dA"),
    ("dA", np.zeros((2, 3, 3, 3), dtype=complex), TypeError, "dA"),
    ("dA", np.zeros((2, 3, 3, 3), dtype=object), TypeError, "dA"),
    ("dA", np.zeros((2, 3, 3)), ValueError, "dA"),
    ("dA", np.zeros((1, 3, 3, 3)), ValueError, "dA"),
    ("dA", np.zeros((2, 2, 3, 3)), ValueError, "dA"),
    ("dA", np.zeros((2, 3, 4, 3)), ValueError, "dA"),
    ("dA", np.zeros((2, 3, 3, 2)), ValueError, "dA"),
]
BAD_INPUTS = (BAD_DA + BAD_POOL_A_PREV + rejected("kernel_shape", BAD_PAIRS)
              + rejected("stride", BAD_PAIRS) + rejected("mode", BAD_MODES))


@pytest.mark.parametrize("name, value, error, pattern", BAD_INPUTS)
def test_bad_input(pool_backward, name, value, error, pattern):
    """Each bad argument raises the contract's error, naming the argument."""
    assert_rejects(pool_backward, good_arguments(), name, value, error, pattern)


def test_dA_shape_checked_against_kernel_and_stride(pool_backward):
    """A dA that fits 2x2/2 but not the 3x3/1 or 2x2/1 forward output is a ValueError on dA."""
    arguments = good_arguments()
    with pytest.raises(ValueError, match="dA"):
        pool_backward(**dict(arguments, kernel_shape=(3, 3), stride=(1, 1)))   # output 4x4
    with pytest.raises(ValueError, match="dA"):
        pool_backward(**dict(arguments, stride=(1, 1)))                        # output 5x5


@pytest.mark.parametrize("kernel_shape", [(7, 2), (2, 7)])
def test_kernel_larger_than_input(pool_backward, kernel_shape):
    """A window larger than A_prev is a ValueError naming kernel_shape or A_prev."""
    arguments = good_arguments()
    arguments.update(kernel_shape=kernel_shape, dA=np.zeros((2, 1, 1, 3)))
    with pytest.raises(ValueError, match="kernel_shape|A_prev"):
        pool_backward(**arguments)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_large_batch_matches_tensorflow(pool_backward, mode):
    """A large batch (400 x 28 x 28 x 16, overlapping 2x2 windows) equals TensorFlow's gradient,
    across however many batch chunks the implementation works in."""
    dA, A_prev = random_inputs(11, (400, 28, 28, 16), (2, 2), (1, 1))
    assert_matches(pool_backward(dA, A_prev, (2, 2), (1, 1), mode),
                   tf_pool_gradient(dA, A_prev, (2, 2), (1, 1), mode), np.float64)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_big_endian_inputs(pool_backward, mode):
    """Big-endian dA and A_prev give exactly the native inputs' dA_prev, in native byte order."""
    rng = np.random.default_rng(31)
    A_prev = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    dA = rng.standard_normal((2, 3, 5, 3)).astype(np.float32)
    assert_native_equal(pool_backward(big_endian(dA), big_endian(A_prev), (3, 2), (2, 1), mode),
                        pool_backward(dA, A_prev, (3, 2), (2, 1), mode))


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_longdouble(pool_backward, mode):
    """longdouble inputs give a longdouble dA_prev equal to TensorFlow's float64 one."""
    rng = np.random.default_rng(32)
    A_prev, dA = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((2, 3, 5, 3))
    got = pool_backward(dA.astype(np.longdouble), A_prev.astype(np.longdouble), (3, 2), (2, 1),
                        mode)
    assert_longdouble_matches(got, tf_pool_gradient(dA, A_prev, (3, 2), (2, 1), mode))


@pytest.mark.parametrize("kernel_shape, stride", [((2, 2), (2, 2)), ((3, 3), (1, 1))])
def test_float16_summed_in_float32(pool_backward, kernel_shape, stride):
    """float16 gradients of overlapping windows (and average shares) are summed in float32 and
    rounded once: within float16 rounding of TensorFlow's float64 gradient."""
    rng = np.random.default_rng(33)
    A_prev = rng.permutation(864).reshape(2, 12, 12, 3).astype(np.float16)  # exact, no ties
    h_new = (12 - kernel_shape[0]) // stride[0] + 1
    dA = (1 + rng.random((2, h_new, h_new, 3))).astype(np.float16)
    for mode in ("max", "avg"):
        got = pool_backward(dA, A_prev, kernel_shape, stride, mode)
        assert_float16_rounded(got, tf_pool_gradient(dA, A_prev, kernel_shape, stride, mode))


@pytest.mark.parametrize("sign", [1, -1])
def test_max_infinite_gradient_reaches_only_the_maximum(pool_backward, sign):
    """An infinite dA goes to its window's maximum only: inf there, 0 (not NaN) on the other
    elements, as TensorFlow does; tiling and overlapping windows alike."""
    rng = np.random.default_rng(34)
    A_prev = rng.permutation(2 * 6 * 6 * 2).reshape(2, 6, 6, 2).astype(np.float64)  # no ties
    for kernel_shape, stride in [((2, 2), (2, 2)), ((3, 3), (3, 1))]:
        h_new = (6 - kernel_shape[0]) // stride[0] + 1
        w_new = (6 - kernel_shape[1]) // stride[1] + 1
        dA = rng.standard_normal((2, h_new, w_new, 2))
        dA[0, 0, 0, 0] = sign * np.inf
        got = pool_backward(dA, A_prev, kernel_shape, stride, "max")
        assert not np.isnan(got).any()
        want = tf_pool_gradient(dA, A_prev, kernel_shape, stride, "max")
        np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
        finite = np.isfinite(want)
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12)
        assert got[0, :3, :3, 0][np.isinf(got[0, :3, :3, 0])].tolist() == [sign * np.inf]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
@pytest.mark.parametrize("kernel_shape, stride", [((2, 2), (2, 2)), ((2, 3), (3, 4)),
                                                  ((3, 3), (2, 1))])
def test_max_sends_nothing_else_anywhere(pool_backward, dtype, kernel_shape, stride):
    """Elements that are not their window's maximum get +0.0: never -0.0 from a negative dA (the
    exercise's loop answer adds mask * dA to zeros, and a printed -0. would differ), never NaN from
    a NaN or infinite dA; windows that tile, leave gaps or overlap, every dtype."""
    rng = np.random.default_rng(35)
    A_prev = rng.permutation(2 * 9 * 11 * 3).reshape(2, 9, 11, 3).astype(dtype)  # no ties
    h_new, w_new = [(n - k) // s + 1 for n, k, s in zip((9, 11), kernel_shape, stride)]
    dA = -1 - rng.random((2, h_new, w_new, 3)).astype(dtype)  # all negative
    dA[0, 0, 0, 0], dA[1, 0, 0, 1] = np.nan, -np.inf
    got = pool_backward(dA, A_prev, kernel_shape, stride, "max")
    hits = np.zeros(A_prev.shape, bool)
    for y in range(h_new):
        for x in range(w_new):
            window = A_prev[:, y * stride[0]:y * stride[0] + kernel_shape[0],
                            x * stride[1]:x * stride[1] + kernel_shape[1]]
            hits[:, y * stride[0]:y * stride[0] + kernel_shape[0],
                 x * stride[1]:x * stride[1] + kernel_shape[1]] |= (
                     window == window.max(axis=(1, 2), keepdims=True))
    assert not np.signbit(got[~hits]).any() and (got[~hits] == 0).all()
    assert np.isnan(got).sum() == 1 and np.isinf(got).sum() == 1
    assert (got[hits & ~np.isnan(got)] < 0).all()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("kernel_shape, stride, channels", [
    ((2, 2), (2, 2), 3), ((3, 2), (3, 2), 2), ((2, 2), (2, 2), 1), ((2, 3), (3, 4), 3)])
def test_avg_spreads_exact_shares(pool_backward, dtype, kernel_shape, stride, channels):
    """Average pooling over windows apart gives every element of a window dA / (kh * kw),
    rounded once (windows that tile or leave gaps; one channel or several), +0.0 for a -0.0 dA
    as the exercise's loop answer (0 + -0.0), and 0 outside every window."""
    rng = np.random.default_rng(36)
    (kh, kw), (sh, sw) = kernel_shape, stride
    A_prev = rng.standard_normal((2, 9, 11, channels)).astype(dtype)
    h_new, w_new = (9 - kh) // sh + 1, (11 - kw) // sw + 1
    dA = rng.standard_normal((2, h_new, w_new, channels)).astype(dtype)
    dA[0, 0, 0, 0] = -0.0
    got = pool_backward(dA, A_prev, kernel_shape, stride, "avg")
    want = np.zeros(A_prev.shape, np.promote_types(dtype, np.float32))
    for y in range(h_new):
        for x in range(w_new):
            want[:, y * sh:y * sh + kh, x * sw:x * sw + kw] += (
                dA[:, y, x].astype(want.dtype) / (kh * kw))[:, None, None]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want.astype(dtype))
    assert not np.signbit(got[got == 0]).any()


def test_max_nan_in_a_window(pool_backward):
    """A window holding NaN: its NaN elements receive its gradient, the others nothing (the
    window's maximum is NaN, as task 1 returns). TensorFlow agrees when the NaN is the window's
    first element; otherwise it sends the gradient to the maximum of the rest."""
    A_prev = np.arange(32.0).reshape(2, 4, 4, 1)
    A_prev[0, 0, 0, 0] = np.nan                          # first element of window (0, 0)
    A_prev[1, 2, 3, 0] = A_prev[1, 3, 2, 0] = np.nan     # two NaN in window (1, 1) of image 1
    dA = np.arange(1.0, 9.0).reshape(2, 2, 2, 1)
    got = pool_backward(dA, A_prev, (2, 2), (2, 2), "max")
    assert not np.isnan(got).any()
    expected = np.zeros_like(A_prev)
    expected[0, 0, 0, 0] = 1.0
    expected[0, 1, 3, 0], expected[0, 3, 1, 0], expected[0, 3, 3, 0] = 2.0, 3.0, 4.0
    expected[1, 1, 1, 0], expected[1, 1, 3, 0], expected[1, 3, 1, 0] = 5.0, 6.0, 7.0
    expected[1, 2, 3, 0] = expected[1, 3, 2, 0] = 8.0
    np.testing.assert_array_equal(got, expected)
    want = tf_pool_gradient(dA[:1], A_prev[:1], (2, 2), (2, 2), "max")  # NaN first: TF agrees
    np.testing.assert_array_equal(got[:1], want)


@PROPERTY
@given(case=pool_cases())
def test_property_split_inside_images(pool_backward, case):
    """In chunks of one output row of one image (overlapping windows then add up across chunks),
    dA_prev still equals TensorFlow's gradient."""
    seed, shape, kernel_shape, stride, mode, dtype = case
    dA, A_prev = random_inputs(seed, shape, kernel_shape, stride, dtype)
    with tiny_chunks(pool_backward):
        got = pool_backward(dA, A_prev, kernel_shape, stride=stride, mode=mode)
    assert_matches(got, tf_pool_gradient(dA, A_prev, kernel_shape, stride, mode), dtype,
                   magnitude(dA, A_prev, kernel_shape, stride, mode))
