"""Task 2, conv_backward: checked against tf.GradientTape, finite differences, hand cases and
bad input."""
import numpy as np
import pytest
from hypothesis import example, given

from lenet import layers
from lenet.gradcheck import numerical_gradient

from cases import (BAD_CONV_ARRAYS, BAD_PADDINGS, BAD_PAIRS, CONV_CASES, HOSTILE_SMALL, PROPERTY,
                   big_endian, conv_cases, hostile_conv_cases, random_conv_inputs, rejected)
from checks import (assert_float16_rounded, assert_longdouble_matches, assert_matches,
                    assert_native_equal, assert_rejects, assert_signature, gemm_calls,
                    layer_source, tiny_chunks)
from oracles import conv_output_shape, course_padding, identity, tf_conv_gradients


def assert_gradients_match(got, refs, dtype, magnitudes=None):
    """conv_backward returned three arrays matching the three references (relative to the
    magnitudes' largest entries if given, see checks.assert_matches)."""
    assert len(got) == 3
    magnitudes = magnitudes or [None] * 3
    for gradient, ref, magnitude in zip(got, refs, magnitudes):
        scale = None if magnitude is None else (np.abs(magnitude).max() if magnitude.size else 0.0)
        assert_matches(gradient, ref, dtype, scale)


def gradient_magnitudes(dZ, A_prev, W, b, ph, pw, sh, sw):
    """TensorFlow's gradients of the absolute inputs: each entry the sum of its terms'
    magnitudes."""
    return tf_conv_gradients(np.abs(dZ), np.abs(A_prev), np.abs(W), b, ph, pw, sh, sw)


def random_inputs(seed, m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride,
                  dtype=np.float64):
    """Standard-normal dZ, A_prev, W, b (dZ shaped like the forward output), cast to dtype."""
    rng = np.random.default_rng(seed)
    A_prev, W, b = random_conv_inputs(rng, m, h_prev, w_prev, c_prev, kh, kw, c_new, dtype)
    ph, pw = course_padding(padding, h_prev, w_prev, kh, kw, *stride)
    dZ = rng.standard_normal(conv_output_shape(A_prev, W, ph, pw, *stride)).astype(dtype)
    return dZ, A_prev, W, b


def test_signature(conv_backward):
    """Parameter names and defaults are the contract's."""
    assert_signature(conv_backward, ["dZ", "A_prev", "W", "b", "padding", "stride"],
                     padding="same", stride=(1, 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride", CONV_CASES)
def test_matches_tensorflow(conv_backward, m, h_prev, w_prev, c_prev, kh, kw, c_new, padding,
                            stride, dtype):
    """dA_prev, dW and db equal TensorFlow's gradients for paddings, strides and dtypes."""
    dZ, A_prev, W, b = random_inputs(0, m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride,
                                     dtype)
    ph, pw = course_padding(padding, h_prev, w_prev, kh, kw, *stride)
    got = conv_backward(dZ, A_prev, W, b, padding=padding, stride=stride)
    assert_gradients_match(got, tf_conv_gradients(dZ, A_prev, W, b, ph, pw, *stride), dtype)


@pytest.mark.parametrize("kh, kw", [(1, 1), (3, 3), (5, 3), (1, 5)])
def test_same_equals_tensorflow_same_for_odd_kernels_stride_1(conv_backward, kh, kw):
    """With odd kernels and stride 1, gradients under 'same' are those of TensorFlow's 'SAME'."""
    dZ, A_prev, W, b = random_inputs(1, 2, 6, 9, 2, kh, kw, 3, "same", (1, 1))
    assert dZ.shape == (2, 6, 9, 3)
    refs = tf_conv_gradients(dZ, A_prev, W, b, 0, 0, 1, 1, tf_padding="SAME")
    assert_gradients_match(conv_backward(dZ, A_prev, W, b, padding="same"), refs, np.float64)


@PROPERTY
@given(case=conv_cases())
# float32 dW of 0.002 from 21 products of about 1: only a tolerance relative to the terms' sizes
# accepts its rounding (found by Hypothesis)
@example(case=(0, (1, 3, 7, 1, 1, 1, 1), "same", (1, 1), (0, 0), np.float32))
def test_property_matches_tensorflow(conv_backward, case):
    """For drawn shapes, strides and paddings the three gradients equal TensorFlow's."""
    seed, shapes, padding, stride, (ph, pw), dtype = case
    dZ, A_prev, W, b = random_inputs(seed, *shapes, padding, stride, dtype)
    got = conv_backward(dZ, A_prev, W, b, padding=padding, stride=stride)
    assert_gradients_match(got, tf_conv_gradients(dZ, A_prev, W, b, ph, pw, *stride), dtype,
                           gradient_magnitudes(dZ, A_prev, W, b, ph, pw, *stride))


@PROPERTY
@given(case=conv_cases())
def test_property_layers_both_ways_of_calling_blas_match_tensorflow(case):
    """lenet.layers: the gradients equal TensorFlow's whether each chunk's products are one BLAS
    call each or stacks of the thinnest blocks (with a remainder)."""
    seed, shapes, padding, stride, (ph, pw), dtype = case
    dZ, A_prev, W, b = random_inputs(seed, *shapes, padding, stride, dtype)
    refs = tf_conv_gradients(dZ, A_prev, W, b, ph, pw, *stride)
    magnitudes = gradient_magnitudes(dZ, A_prev, W, b, ph, pw, *stride)
    for calls in ("one", "blocks"):
        with gemm_calls(calls):
            got = layers.conv_backward(dZ, A_prev, W, b, padding=padding, stride=stride)
        assert_gradients_match(got, refs, dtype, magnitudes)


@pytest.mark.parametrize("padding, stride", [("same", (1, 1)), ("valid", (2, 1)), ((1, 2), (2, 3)),
                                             ("same", (2, 2))])
def test_finite_differences(conv_forward, conv_backward, padding, stride):
    """Gradients equal central differences of L = sum(conv_forward(A_prev, W, b) * dZ) in
    float64."""
    dZ, A_prev, W, b = random_inputs(2, 2, 5, 4, 2, 3, 2, 3, padding, stride)

    def loss(A_prev, W, b):
        """L for the given inputs (identity activation, so the output is Z)."""
        return np.sum(conv_forward(A_prev, W, b, identity, padding=padding, stride=stride) * dZ)

    dA_prev, dW, db = conv_backward(dZ, A_prev, W, b, padding=padding, stride=stride)
    # L is linear in each of A_prev, W and b, so central differences are exact up to rounding
    numeric = [numerical_gradient(lambda x: loss(x, W, b), A_prev, eps=1e-2),
               numerical_gradient(lambda x: loss(A_prev, x, b), W, eps=1e-2),
               numerical_gradient(lambda x: loss(A_prev, W, x), b, eps=1e-2)]
    for gradient, ref in zip([dA_prev, dW, db], numeric):
        np.testing.assert_allclose(gradient, ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())


def test_hand_computed_2x2(conv_backward):
    """One 3x3 image, 2x2 kernel [[1, 2], [3, 4]], 'valid', dZ = [[1, 0], [0, 0]]: only window (0,
    0)."""
    A_prev = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    W = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    dZ = np.array([[1.0, 0.0], [0.0, 0.0]]).reshape(1, 2, 2, 1)
    dA_prev, dW, db = conv_backward(dZ, A_prev, W, np.zeros((1, 1, 1, 1)), padding="valid")
    # dA_prev gets W placed over window (0, 0); dW is that window of A_prev; db is sum(dZ)
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], [[1, 2, 0], [3, 4, 0], [0, 0, 0]])
    np.testing.assert_array_equal(dW[:, :, 0, 0], [[1, 2], [4, 5]])
    np.testing.assert_array_equal(db, [[[[1.0]]]])


def test_hand_computed_same_padding_edges(conv_backward):
    """3x3 ones kernel, 'same', dZ all ones: dA_prev counts windows per pixel, dW sums padded
    views."""
    A_prev = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    dA_prev, dW, db = conv_backward(np.ones((1, 3, 3, 1)), A_prev, np.ones((3, 3, 1, 1)),
                                    np.zeros((1, 1, 1, 1)), padding="same")
    # corners lie in 4 of the 9 windows, edges in 6, the centre in all 9
    np.testing.assert_array_equal(dA_prev[0, :, :, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])
    # dW[i, j] sums A_prev over the pixels that kernel tap (i, j) touches: the 2x2 corner blocks,
    # the 2x3 / 3x2 edge blocks and the whole image for the centre tap
    np.testing.assert_array_equal(dW[:, :, 0, 0], [[12, 21, 16], [27, 45, 33], [24, 39, 28]])
    np.testing.assert_array_equal(db, [[[[9.0]]]])


def test_single_image_single_channel(conv_backward):
    """m = 1 and one channel in and out, with a non-square kernel and stride."""
    dZ, A_prev, W, b = random_inputs(3, 1, 9, 7, 1, 2, 3, 1, "same", (2, 1))
    ph, pw = course_padding("same", 9, 7, 2, 3, 2, 1)
    assert_gradients_match(conv_backward(dZ, A_prev, W, b, padding="same", stride=(2, 1)),
                           tf_conv_gradients(dZ, A_prev, W, b, ph, pw, 2, 1), np.float64)


def test_same_with_stride_2_uses_course_formula(conv_backward):
    """'same' with stride 2 on 28x20: dZ has the course formula's shape, gradients match TF."""
    h_prev, w_prev, kh, kw, sh, sw = 28, 20, 3, 5, 2, 3
    ph, pw = course_padding("same", h_prev, w_prev, kh, kw, sh, sw)
    dZ, A_prev, W, b = random_inputs(4, 2, h_prev, w_prev, 1, kh, kw, 2, "same", (sh, sw))
    assert dZ.shape == (2, (h_prev + 2 * ph - kh) // sh + 1, (w_prev + 2 * pw - kw) // sw + 1, 2)
    assert_gradients_match(conv_backward(dZ, A_prev, W, b, padding="same", stride=(sh, sw)),
                           tf_conv_gradients(dZ, A_prev, W, b, ph, pw, sh, sw), np.float64)


@pytest.mark.parametrize("stride", [(1, 1), (2, 3)])
def test_kernel_1x1(conv_backward, stride):
    """1x1 'valid': dA_prev[:, ::sh, ::sw] = dZ @ W[0, 0].T and zero elsewhere, dW = sum A^T dZ."""
    dZ, A_prev, W, b = random_inputs(5, 2, 5, 7, 3, 1, 1, 2, "valid", stride)
    sh, sw = stride
    dA_prev, dW, db = conv_backward(dZ, A_prev, W, b, padding="valid", stride=stride)
    expected = np.zeros_like(A_prev)
    expected[:, ::sh, ::sw] = dZ @ W[0, 0].T
    assert_matches(dA_prev, expected, np.float64)
    assert_matches(dW, np.einsum("nhwc,nhwk->ck", A_prev[:, ::sh, ::sw], dZ)[None, None],
                   np.float64)
    assert_matches(db, dZ.sum(axis=(0, 1, 2)).reshape(1, 1, 1, 2), np.float64)


def test_kernel_equal_to_input_size(conv_backward):
    """Kernel as large as the input: dA_prev[n] = W . dZ[n], dW = sum_n A_prev[n] x dZ[n]."""
    dZ, A_prev, W, b = random_inputs(6, 3, 4, 6, 2, 4, 6, 5, "valid", (1, 1))
    assert dZ.shape == (3, 1, 1, 5)
    dA_prev, dW, db = conv_backward(dZ, A_prev, W, b, padding="valid")
    assert_matches(dA_prev, np.einsum("hwck,nk->nhwc", W, dZ[:, 0, 0]), np.float64)
    assert_matches(dW, np.einsum("nhwc,nk->hwck", A_prev, dZ[:, 0, 0]), np.float64)
    assert_matches(db, dZ.sum(axis=0, keepdims=True), np.float64)


def test_inputs_not_modified(conv_backward):
    """dZ, A_prev, W and b are unchanged and share no memory with the gradients."""
    for padding, stride in [("same", (1, 1)), ("valid", (2, 1)), ((2, 1), (1, 3))]:
        inputs = random_inputs(7, 2, 6, 5, 3, 3, 2, 4, padding, stride)
        copies = [x.copy() for x in inputs]
        gradients = conv_backward(*inputs, padding=padding, stride=stride)
        for array, copy in zip(inputs, copies):
            np.testing.assert_array_equal(array, copy)
            for gradient in gradients:
                assert not np.shares_memory(gradient, array)


@pytest.mark.parametrize("dZ_dtype, A_dtype, W_dtype, expected", [
    (np.float32, np.float32, np.float32, np.float32),
    (np.float64, np.float64, np.float64, np.float64),
    (np.int64, np.int64, np.int64, np.float64),
    (np.int32, np.int32, np.int32, np.float64),
    (np.float64, np.int64, np.float64, np.float64),
    (np.int64, np.int64, np.float32, np.float64),
    (np.float32, np.float64, np.float64, np.float64),
    (np.float64, np.float32, np.float32, np.float64),
])
def test_dtype_rules(conv_backward, dZ_dtype, A_dtype, W_dtype, expected):
    """float32 stays float32, float64 stays float64, integers and mixed inputs give float64."""
    dZ, A_prev, W, b = random_inputs(8, 2, 5, 6, 2, 3, 2, 3, "same", (2, 1))
    # small integers: exact anywhere
    dZ, A_prev, W, b = (np.round(3 * x) for x in (dZ, A_prev, W, b))
    dZ, A_prev = dZ.astype(dZ_dtype), A_prev.astype(A_dtype)
    W, b = W.astype(W_dtype), b.astype(W_dtype)
    ph, pw = course_padding("same", 5, 6, 3, 2, 2, 1)
    assert_gradients_match(conv_backward(dZ, A_prev, W, b, padding="same", stride=(2, 1)),
                           tf_conv_gradients(dZ, A_prev, W, b, ph, pw, 2, 1), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding, stride", [("same", (1, 1)), ("valid", (2, 3)), ((1, 2), (1, 2))])
def test_empty_batch(conv_backward, padding, stride, dtype):
    """m = 0: dA_prev is empty like A_prev, dW and db are zeros shaped like W and b."""
    dZ, A_prev, W, b = random_inputs(9, 0, 7, 8, 2, 3, 2, 5, padding, stride, dtype)
    dA_prev, dW, db = conv_backward(dZ, A_prev, W, b, padding=padding, stride=stride)
    assert dA_prev.shape == A_prev.shape and dW.shape == W.shape and db.shape == b.shape
    assert dA_prev.dtype == dW.dtype == db.dtype == dtype
    assert not dW.any() and not db.any()


def test_non_contiguous_inputs(conv_backward):
    """Transposed, strided and Fortran-ordered views as inputs give TensorFlow's gradients."""
    rng = np.random.default_rng(10)
    A_prev = rng.standard_normal((2, 9, 6, 3)).transpose(0, 2, 1, 3)[:, :, ::2]  # (2, 6, 5, 3)
    W = rng.standard_normal((3, 2, 6, 4))[:, :, ::2][::-1]                        # (3, 2, 3, 4)
    b = rng.standard_normal((1, 1, 2, 8))[:, :, :1, ::2]                          # (1, 1, 1, 4)
    dZ = rng.standard_normal((2, 5, 6, 8)).transpose(0, 2, 1, 3)[..., ::2]        # (2, 6, 5, 4)
    assert not any(x.flags.c_contiguous for x in (dZ, A_prev, W, b))
    ph, pw = course_padding("same", 6, 5, 3, 2, 2, 2)
    assert dZ.shape == conv_output_shape(A_prev, W, ph, pw, 2, 2)
    refs = tf_conv_gradients(dZ, A_prev, W, b, ph, pw, 2, 2)
    assert_gradients_match(conv_backward(dZ, A_prev, W, b, padding="same", stride=(2, 2)), refs,
                           np.float64)
    fortran = [np.asfortranarray(x) for x in (dZ, A_prev, W, b)]
    assert_gradients_match(conv_backward(*fortran, padding="same", stride=(2, 2)), refs, np.float64)


def good_arguments():
    """A valid call: dZ (2, 5, 5, 4), A_prev (2, 5, 5, 3), W (3, 3, 3, 4), b (1, 1, 1, 4),
    'same'."""
    dZ, A_prev, W, b = random_inputs(11, 2, 5, 5, 3, 3, 3, 4, "same", (1, 1))
    return dict(dZ=dZ, A_prev=A_prev, W=W, b=b, padding="same", stride=(1, 1))


def test_good_arguments_are_accepted(conv_backward):
    """The call the bad-input tests start from works (so each failure below is the one change)."""
    shapes = [gradient.shape for gradient in conv_backward(**good_arguments())]
    assert shapes == [(2, 5, 5, 3), (3, 3, 3, 4), (1, 1, 1, 4)]


BAD_DZ = [
    # not an ndarray or not a real dtype (TypeError); not the forward output's shape (ValueError)
    ("dZ", np.zeros((2, 5, 5, 4)).tolist(), TypeError, "dZ"),
    ("dZ", np.zeros((2, 5, 5, 4), dtype=complex), TypeError, "dZ"),
    ("dZ", np.zeros((2, 5, 5, 4), dtype=object), TypeError, "dZ"),
    ("dZ", np.zeros((2, 5, 5)), ValueError, "dZ"),
    ("dZ", np.zeros((3, 5, 5, 4)), ValueError, "dZ"),
    ("dZ", np.zeros((2, 4, 5, 4)), ValueError, "dZ"),
    ("dZ", np.zeros((2, 5, 6, 4)), ValueError, "dZ"),
    ("dZ", np.zeros((2, 5, 5, 3)), ValueError, "dZ"),
]
BAD_INPUTS = (BAD_DZ + BAD_CONV_ARRAYS + rejected("padding", BAD_PADDINGS)
              + rejected("stride", BAD_PAIRS))


@pytest.mark.parametrize("name, value, error, pattern", BAD_INPUTS)
def test_bad_input(conv_backward, name, value, error, pattern):
    """Each bad argument raises the contract's error, naming the argument."""
    assert_rejects(conv_backward, good_arguments(), name, value, error, pattern)


def test_dZ_shape_checked_against_padding_and_stride(conv_backward):
    """A dZ that fits 'same' but not a 'valid' or (1, 1)-padded stride-2 output is a ValueError."""
    arguments = good_arguments()
    with pytest.raises(ValueError, match="dZ"):
        conv_backward(**dict(arguments, padding="valid"))                  # Z would be 3x3
    with pytest.raises(ValueError, match="dZ"):
        conv_backward(**dict(arguments, padding=(1, 1), stride=(2, 2)))    # Z would be 3x3
    conv_backward(**dict(arguments, stride=(2, 1)))  # course 'same', ph = 3: still 5 rows


@pytest.mark.parametrize("W_shape, padding", [((6, 3, 3, 4), "valid"), ((3, 8, 3, 4), (1, 1))])
def test_kernel_larger_than_padded_input(conv_backward, W_shape, padding):
    """A kernel that does not fit the padded input is a ValueError naming W, A_prev or the
    kernel."""
    arguments = good_arguments()
    arguments.update(W=np.zeros(W_shape), padding=padding, dZ=np.zeros((2, 1, 1, 4)))
    with pytest.raises(ValueError, match=r"\bW\b|A_prev|kernel"):
        conv_backward(**arguments)


@pytest.mark.slow
def test_large_batch_matches_tensorflow(conv_backward):
    """An MNIST-like batch (600 x 28 x 28 x 1, 5x5x6 'same') equals TensorFlow's gradients, across
    however many batch chunks the implementation works in (dW and db must add up over all)."""
    dZ, A_prev, W, b = random_inputs(12, 600, 28, 28, 1, 5, 5, 6, "same", (1, 1))
    assert_gradients_match(conv_backward(dZ, A_prev, W, b),
                           tf_conv_gradients(dZ, A_prev, W, b, 2, 2, 1, 1), np.float64)


# NumPy 1.x's rule for dW with a float32 A_prev and a float64 dZ (issue 9). The script runs in a
# fresh interpreter (NumPy 1.26 in $NUMPY1_PYTHON, or this one) and prints, as JSON, the largest
# differences between conv_backward's dW and two loop answers written here: products rounded to
# float32 (NumPy 1.x's loop) and exact float64 products (NumPy 2's loop), both summed in float64.
NUMPY1_SCRIPT = r"""
import importlib.util, json, sys
import numpy as np
spec = importlib.util.spec_from_file_location("conv_backward_source", sys.argv[1])
task = importlib.util.module_from_spec(spec)
spec.loader.exec_module(task)
rng = np.random.default_rng(21)
A_prev = rng.random((3, 7, 6, 2)).astype(np.float32)   # float32 like the exercise's MNIST
W = rng.standard_normal((3, 2, 2, 3))                  # float64
b = rng.standard_normal((1, 1, 1, 3))
sh, sw, ph, pw = 2, 1, 4, 1                             # the course's 'same' for this shape
h_new, w_new = (7 + 2 * ph - 3) // sh + 1, (6 + 2 * pw - 2) // sw + 1
dZ = rng.standard_normal((3, h_new, w_new, 3))          # float64
dA_prev, dW, db = task.conv_backward(dZ, A_prev, W, b, padding="same", stride=(sh, sw))
A_pad = np.pad(A_prev, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
loop32, loop64 = np.zeros(W.shape), np.zeros(W.shape)
for n in range(3):
    for y in range(h_new):
        for x in range(w_new):
            window = A_pad[n, y * sh:y * sh + 3, x * sw:x * sw + 2]   # (3, 2, 2) float32
            for k in range(3):
                loop32[..., k] += np.multiply(window, np.float32(dZ[n, y, x, k]), dtype=np.float32)
                loop64[..., k] += window.astype(np.float64) * dZ[n, y, x, k]
scale = np.abs(loop64).max()
print(json.dumps({"numpy": np.__version__, "dtype": str(dW.dtype),
                  "to_float32_products": float(np.abs(dW - loop32).max() / scale),
                  "to_float64_products": float(np.abs(dW - loop64).max() / scale),
                  "between_the_loops": float(np.abs(loop32 - loop64).max() / scale)}))
"""


def run_numpy1_script(python, implementation):
    """Run NUMPY1_SCRIPT with `python` on the file holding the implementation's conv_backward
    (2-conv_backward.py or lenet/layers.py, loaded by path); return its JSON result."""
    import json
    import subprocess
    source = layer_source(implementation, "conv_backward")
    result = subprocess.run([python, "-c", NUMPY1_SCRIPT, str(source)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_float32_A_float64_dZ_under_numpy1_rounds_products_to_float32(implementation):
    """Under NumPy 1.x, dW of a float32 A_prev and a float64 dZ is the float64 sum of products
    rounded to float32, as the loop answer computes there (the exercise's published dW)."""
    import os
    python = os.environ.get("NUMPY1_PYTHON", "")
    if not python or not os.path.exists(python):
        pytest.skip("set NUMPY1_PYTHON to an interpreter with NumPy 1.x (e.g. /tmp/np1/bin/python) "
                    "to check the NumPy 1.x dW rule")
    found = run_numpy1_script(python, implementation)
    assert found["numpy"].startswith("1."), found
    assert found["dtype"] == "float64"
    assert found["between_the_loops"] > 1e-9      # the two rules give different dW here...
    assert found["to_float32_products"] < 1e-13   # ...and NumPy 1.x follows its loop's


@pytest.mark.slow
def test_float32_A_float64_dZ_under_numpy2_is_exact(implementation):
    """Under NumPy >= 2 the same dW is the exact float64 answer (NEP 50: no value-based casting)."""
    import sys
    found = run_numpy1_script(sys.executable, implementation)
    assert not found["numpy"].startswith("1."), found
    assert found["between_the_loops"] > 1e-9
    assert found["to_float64_products"] < 1e-13


def test_big_endian_inputs(conv_backward):
    """Big-endian dZ, A_prev, W and b give exactly the native inputs' gradients, in native order."""
    inputs = random_inputs(31, 2, 7, 6, 3, 3, 2, 4, "same", (2, 1), np.float32)
    want = conv_backward(*inputs, padding="same", stride=(2, 1))
    got = conv_backward(*map(big_endian, inputs), padding="same", stride=(2, 1))
    for g, w in zip(got, want):
        assert_native_equal(g, w)


def test_longdouble(conv_backward):
    """longdouble inputs give longdouble gradients equal to TensorFlow's float64 ones."""
    dZ, A_prev, W, b = random_inputs(32, 2, 7, 6, 3, 3, 2, 4, "valid", (2, 1))
    got = conv_backward(*(x.astype(np.longdouble) for x in (dZ, A_prev, W, b)), padding="valid",
                        stride=(2, 1))
    for gradient, ref in zip(got, tf_conv_gradients(dZ, A_prev, W, b, 0, 0, 2, 1)):
        assert_longdouble_matches(gradient, ref)


def test_float16_summed_in_float32(conv_backward):
    """float16 inputs give float16 gradients rounded once from the exact sums (dW and db add
    3,200 terms each), never worse than TensorFlow's own float16 gradients."""
    rng = np.random.default_rng(33)
    dZ = rng.random((8, 20, 20, 2)).astype(np.float16)
    A_prev = rng.random((8, 24, 24, 3)).astype(np.float16)
    W = rng.random((5, 5, 3, 2)).astype(np.float16)
    b = np.zeros((1, 1, 1, 2), np.float16)
    got = conv_backward(dZ, A_prev, W, b, padding="valid")
    refs = tf_conv_gradients(dZ, A_prev, W, b, 0, 0, 1, 1)
    theirs = tf_float16_conv_gradients(dZ, A_prev, W)
    for gradient, ref, their in zip(got, refs, theirs):
        error = assert_float16_rounded(gradient, ref)
        assert error <= np.abs(their - ref).max() / np.abs(ref).max()


def tf_float16_conv_gradients(dZ, A_prev, W):
    """TensorFlow's gradients computed in float16 ('VALID', stride 1), as float64 arrays."""
    import tensorflow as tf
    A, K, D = (tf.constant(x.astype(np.float16)) for x in (A_prev, W, dZ))
    with tf.GradientTape() as tape:
        tape.watch([A, K])
        loss = tf.reduce_sum(tf.nn.conv2d(A, K, 1, "VALID") * D)
    dA, dW = tape.gradient(loss, [A, K])
    db = tf.reduce_sum(D, axis=(0, 1, 2), keepdims=True)
    return [x.numpy().astype(np.float64) for x in (dA, dW, db)]


@PROPERTY
@given(case=hostile_conv_cases())
def test_property_hostile_shapes_match_tensorflow(conv_backward, case):
    """Strides beyond the kernel, padding no window reads, kernels as large as the input: the
    gradients equal TensorFlow's, in the usual chunks and in chunks of one output row."""
    seed, shapes, padding, stride, (ph, pw), dtype = case
    dZ, A_prev, W, b = random_inputs(seed, *shapes, padding, stride, dtype)
    refs = tf_conv_gradients(dZ, A_prev, W, b, ph, pw, *stride)
    magnitudes = gradient_magnitudes(dZ, A_prev, W, b, ph, pw, *stride)
    assert_gradients_match(conv_backward(dZ, A_prev, W, b, padding=padding, stride=stride), refs,
                           dtype, magnitudes)
    with tiny_chunks(conv_backward):
        got = conv_backward(dZ, A_prev, W, b, padding=padding, stride=stride)
    assert_gradients_match(got, refs, dtype, magnitudes)


@pytest.mark.parametrize("m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride", HOSTILE_SMALL)
def test_hostile_shapes_match_tensorflow(conv_backward, m, h_prev, w_prev, c_prev, kh, kw, c_new,
                                         padding, stride):
    """The benchmark's shapes that punish shortcuts, at small m: the gradients equal
    TensorFlow's."""
    dZ, A_prev, W, b = random_inputs(41, m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride)
    ph, pw = course_padding(padding, h_prev, w_prev, kh, kw, *stride)
    assert_gradients_match(conv_backward(dZ, A_prev, W, b, padding=padding, stride=stride),
                           tf_conv_gradients(dZ, A_prev, W, b, ph, pw, *stride), np.float64)


@pytest.mark.parametrize("m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride, by_rows", [
    (3, 14, 14, 6, 5, 5, 16, "valid", (1, 1), True),  # LeNet-5's second layer: 16 < 5 * 6
    (3, 28, 28, 1, 5, 5, 6, "same", (1, 1), False),  # its first: 6 > 5 * 1
    (2, 9, 7, 3, 3, 2, 4, (1, 0), (2, 1), True),  # rows two apart, columns adjacent
    (2, 9, 7, 3, 3, 2, 4, "valid", (1, 2), False),  # columns two apart
    (2, 6, 6, 2, 6, 6, 1, "valid", (1, 1), False),  # one window a row: 6 columns for 1
])
def test_layers_input_gradient_by_rows_and_by_taps(m, h_prev, w_prev, c_prev, kh, kw, c_new,
                                                   padding, stride, by_rows):
    """lenet.layers gathers dA_prev by rows of dZ where that holds fewer values than by taps
    (see layers.input_gradient_plan); either way the gradients equal TensorFlow's."""
    dZ, A_prev, W, b = random_inputs(43, m, h_prev, w_prev, c_prev, kh, kw, c_new, padding,
                                     stride)
    ph, pw = course_padding(padding, h_prev, w_prev, kh, kw, *stride)
    plan = layers.input_gradient_plan(A_prev.shape, W.shape, (kh, kw, *stride, ph, pw))
    assert plan[0] is by_rows
    assert_gradients_match(layers.conv_backward(dZ, A_prev, W, b, padding=padding, stride=stride),
                           tf_conv_gradients(dZ, A_prev, W, b, ph, pw, *stride), np.float64)
