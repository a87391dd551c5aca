"""Independent references for the task tests: TensorFlow ops and the contract's formulas, plus
shared assertions, the shapes and inputs every conv or pool test draws from, and bad arguments."""
import inspect
import math

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, settings, strategies as st

PROPERTY = settings(max_examples=60, deadline=None, database=None)


def identity(Z):
    """Identity activation, so conv_forward returns Z itself."""
    return Z


# The contract's formulas

def course_padding(padding, h_prev, w_prev, kh, kw, sh, sw):
    """(ph, pw) by the contract: 'valid' is 0, 'same' the course's symmetric rule, a tuple as given."""
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
    """Reference Z in float64: tf.nn.conv2d ('VALID' unless told) on the input padded by (ph, pw)."""
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
    """Reference dA_prev in float64: GradientTape of sum(pool(A_prev) * dA), pooling as in tf_pool."""
    (A,) = _float64_constants(A_prev)
    with tf.GradientTape() as tape:
        tape.watch(A)
        loss = tf.reduce_sum(_pool(A, kernel_shape, stride, mode) * dA.astype(np.float64))
    return tape.gradient(loss, A).numpy()


def numerical_gradient(loss, x, step):
    """Central differences of the scalar loss(x) with respect to every element of x."""
    gradient = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        gradient[index] = (loss(plus) - loss(minus)) / (2 * step)
    return gradient


# Shared assertions

def assert_matches(got, ref, dtype):
    """got has dtype and ref's shape, and agrees to 1e-10 (float64) or 1e-5 (float32) relative."""
    assert isinstance(got, np.ndarray)
    assert got.dtype == dtype
    assert got.shape == ref.shape
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    atol = rtol * np.abs(ref).max() if ref.size else 0.0
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


def assert_signature(function, names, **defaults):
    """function's parameters are `names`, in that order, and those in defaults default to the value."""
    parameters = inspect.signature(function).parameters
    assert list(parameters) == names
    for name, default in defaults.items():
        assert parameters[name].default == default


def assert_rejects(function, arguments, name, value, error, pattern):
    """function(**arguments) with arguments[name] replaced by value raises error matching pattern."""
    with pytest.raises(error, match=pattern):
        function(**dict(arguments, **{name: value}))


# Shapes and inputs

# (m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride)
CONV_CASES = [
    (2, 7, 9, 3, 3, 3, 4, "same", (1, 1)),
    (2, 7, 9, 3, 3, 2, 4, "valid", (2, 3)),
    (3, 10, 8, 2, 4, 5, 3, "same", (2, 2)),
    (1, 6, 5, 1, 2, 3, 1, (1, 2), (3, 1)),
    (2, 5, 5, 2, 5, 5, 2, "valid", (1, 1)),
    (2, 11, 7, 2, 3, 1, 3, "same", (3, 2)),
    (4, 28, 28, 1, 5, 5, 6, "same", (1, 1)),
    (2, 13, 10, 3, 2, 2, 2, "valid", (3, 3)),
]

# (A_prev shape, kernel_shape, stride): tiling, overlapping (stride < kernel), gaps (stride > kernel)
POOL_CASES = [
    ((2, 6, 6, 3), (2, 2), (2, 2)),
    ((2, 7, 9, 2), (3, 2), (1, 1)),
    ((3, 9, 8, 1), (3, 3), (2, 1)),
    ((2, 10, 11, 2), (2, 1), (3, 4)),
    ((1, 12, 7, 4), (1, 1), (2, 3)),
    ((2, 5, 6, 3), (5, 6), (1, 1)),
    ((4, 28, 28, 2), (2, 2), (2, 2)),
    ((2, 8, 8, 2), (4, 4), (2, 2)),
]


def random_conv_inputs(seed, m, h_prev, w_prev, c_prev, kh, kw, c_new, dtype=np.float64):
    """Standard-normal A_prev, W, b with the given shapes, cast to dtype; seed may be a Generator."""
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((m, h_prev, w_prev, c_prev)).astype(dtype)
    W = rng.standard_normal((kh, kw, c_prev, c_new)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, c_new)).astype(dtype)
    return A_prev, W, b


@st.composite
def conv_cases(draw):
    """Batch, sizes, channels, kernel, stride, padding and dtype such that the kernel fits, and a seed:
    (seed, (m, h_prev, w_prev, c_prev, kh, kw, c_new), padding, stride, (ph, pw), dtype)."""
    m = draw(st.integers(1, 3))
    h_prev, w_prev = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    c_prev, c_new = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = draw(st.one_of(st.sampled_from(["same", "valid"]),
                             st.tuples(st.integers(0, 3), st.integers(0, 3))))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    ph, pw = course_padding(padding, h_prev, w_prev, kh, kw, *stride)
    assume(kh <= h_prev + 2 * ph and kw <= w_prev + 2 * pw)
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return seed, (m, h_prev, w_prev, c_prev, kh, kw, c_new), padding, stride, (ph, pw), dtype


@st.composite
def hostile_conv_cases(draw):
    """Like conv_cases, but with what punishes shortcuts: strides up to 8 (gaps between windows,
    'same' padding mostly unread), explicit padding up to 12, kernels as large as the input."""
    m = draw(st.integers(1, 2))
    h_prev, w_prev = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    c_prev, c_new = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, h_prev)), draw(st.integers(1, w_prev))
    stride = (draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    padding = draw(st.one_of(st.sampled_from(["same", "valid"]),
                             st.tuples(st.integers(0, 12), st.integers(0, 12))))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    ph, pw = course_padding(padding, h_prev, w_prev, kh, kw, *stride)
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return seed, (m, h_prev, w_prev, c_prev, kh, kw, c_new), padding, stride, (ph, pw), dtype


class tiny_chunks:
    """Context manager: the task function's module works in chunks of one output row of one image
    (its CHUNK_BYTES and LIMIT_BYTES set to 1), as it does on images too large for its memory
    limit; restored on exit."""

    def __init__(self, function):
        self.names = function.__globals__

    def __enter__(self):
        self.saved = {name: self.names[name] for name in ("CHUNK_BYTES", "LIMIT_BYTES")}
        self.names.update(CHUNK_BYTES=1, LIMIT_BYTES=1)

    def __exit__(self, *exc):
        self.names.update(self.saved)


@st.composite
def pool_cases(draw):
    """Batch, sizes, channels, kernel, stride (below, at and above the kernel), mode, dtype and a seed:
    (seed, A_prev shape, kernel_shape, stride, mode, dtype)."""
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 12)),
             draw(st.integers(1, 4)))
    kernel_shape = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    assume(kernel_shape[0] <= shape[1] and kernel_shape[1] <= shape[2])
    mode = draw(st.sampled_from(["max", "avg"]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    return seed, shape, kernel_shape, stride, mode, dtype


# Bad arguments: rows (name, value, error, pattern) for each task's test_bad_input

def rejected(name, values, error=ValueError, pattern=None):
    """One row per value: argument `name` set to it raises error, the message matching pattern
    (by default the argument's name)."""
    return [(name, value, error, pattern or name) for value in values]


# stride and kernel_shape (every value a task test has used for either)
BAD_PAIRS = [
    (0, 1), (1, 0), (2, 0),                 # an entry below 1
    (-1, 2), (2, -1), (1, -1), (1, -2),
    (1,), (1, 1, 1), (2, 2, 2), 2,          # not two entries
    (1.5, 1),                               # not an int
]
BAD_PADDINGS = ["full", (1,), (1, 2, 3), (-1, 0), (0, -2), (1.5, 1)]
BAD_MODES = ["min", "average"]

# A_prev, W and b of a conv call with A_prev (2, 5, 5, 3), W (3, 3, 3, 4), b (1, 1, 1, 4)
A_NAME, W_NAME, B_NAME = "A_prev", r"\bW\b", r"\bb\b"
BAD_CONV_ARRAYS = [
    # not an ndarray, or not a real dtype: TypeError
    ("A_prev", np.zeros((2, 5, 5, 3)).tolist(), TypeError, A_NAME),
    ("W", np.zeros((3, 3, 3, 4)).tolist(), TypeError, W_NAME),
    ("b", np.zeros((1, 1, 1, 4)).tolist(), TypeError, B_NAME),
    ("A_prev", np.zeros((2, 5, 5, 3), dtype=complex), TypeError, A_NAME),
    ("A_prev", np.full((2, 5, 5, 3), "x"), TypeError, A_NAME),
    ("W", np.zeros((3, 3, 3, 4), dtype=object), TypeError, W_NAME),
    ("b", np.zeros((1, 1, 1, 4), dtype=complex), TypeError, B_NAME),
    # shapes: ValueError
    ("A_prev", np.zeros((5, 5, 3)), ValueError, A_NAME),
    ("A_prev", np.zeros((2, 5, 5, 3, 1)), ValueError, A_NAME),
    ("W", np.zeros((3, 3, 3)), ValueError, W_NAME),
    ("W", np.zeros((3, 3, 2, 4)), ValueError, r"A_prev|\bW\b"),
    ("b", np.zeros(4), ValueError, B_NAME),
    ("b", np.zeros((1, 1, 4)), ValueError, B_NAME),
    ("b", np.zeros((1, 1, 1, 5)), ValueError, B_NAME),
    ("b", np.zeros((2, 1, 1, 4)), ValueError, B_NAME),
]

# A_prev of a pooling call with A_prev (2, 6, 6, 3)
BAD_POOL_A_PREV = [
    ("A_prev", np.zeros((2, 6, 6, 3)).tolist(), TypeError, "A_prev"),
    ("A_prev", np.zeros((2, 6, 6, 3), dtype=complex), TypeError, "A_prev"),
    ("A_prev", np.zeros((2, 6, 6, 3), dtype=object), TypeError, "A_prev"),
    ("A_prev", np.zeros((6, 6, 3)), ValueError, "A_prev"),
    ("A_prev", np.zeros((1, 2, 6, 6, 3)), ValueError, "A_prev"),
]


# LeNet-5 (tasks 4 and 5): the contract's architecture and initialization

LENET5_WEIGHT_SHAPES = [(5, 5, 1, 6), (6,), (5, 5, 6, 16), (16,), (400, 120), (120,),
                        (120, 84), (84,), (84, 10), (10,)]
LENET5_PARAMS = 61706
TRUNCATED_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def assert_he_normal(kernel, name):
    """A freshly initialized kernel looks like a He-normal draw (variance 2 / fan_in, truncated).

    fan_in is the product of all but the last dimension. With n draws the sample mean has
    standard error std / sqrt(n) and the sample std a relative error of about 1 / sqrt(2 n)
    (a truncated normal has a lighter tail, so this is generous); both are allowed 5 of those
    errors. Truncation at two standard deviations of the underlying normal, whose std is
    sqrt(2 / fan_in) / TRUNCATED_STD, bounds every value.
    """
    kernel = np.asarray(kernel, np.float64)
    n = kernel.size
    std = math.sqrt(2.0 / np.prod(kernel.shape[:-1]))
    assert abs(kernel.mean()) < 5 * std / math.sqrt(n), f"{name}: mean {kernel.mean()}"
    assert abs(kernel.std() / std - 1) < 5 / math.sqrt(2 * n), \
        f"{name}: std {kernel.std()}, He-normal {std}"
    assert np.abs(kernel).max() <= 2 * std / TRUNCATED_STD * (1 + 1e-6), f"{name}: not truncated"


def assert_distinct_draws(kernels):
    """No layer's kernel repeats another's random draw, not even scaled or as a prefix.

    A seeded initializer reused for every layer gives each kernel the same leading standard
    normal values, scaled by its own He std sqrt(2 / fan_in): divided by that std (not by the
    sample std, which differs between arrays by a few percent), the leading values coincide.
    """
    leading = [np.ravel(k)[:100] / math.sqrt(2.0 / np.prod(np.shape(k)[:-1])) for k in kernels]
    for i in range(len(leading)):
        for j in range(i + 1, len(leading)):
            assert not np.allclose(leading[i], leading[j], rtol=1e-4, atol=1e-4), \
                f"kernels {i} and {j} start with the same standardized values"


def assert_shared_draws(kernels):
    """Every kernel starts with the same standardized leading values: what one seeded, stateless
    initializer used for every layer gives (the check assert_distinct_draws refuses)."""
    leading = [np.ravel(k)[:100] / math.sqrt(2.0 / np.prod(np.shape(k)[:-1])) for k in kernels]
    for i in range(1, len(leading)):
        n = min(len(leading[0]), len(leading[i]))
        assert np.allclose(leading[0][:n], leading[i][:n], rtol=1e-4, atol=1e-4), \
            f"kernel {i} does not start with kernel 0's standardized values"


def assert_adam_steps(gradients, updates, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7, tiny=1e-5):
    """Two updates of one weight array match Adam with these hyper-parameters.

    ``gradients`` (g1, g2): the gradients at the initial weights and after the first update;
    ``updates`` (u1, u2): the changes of the weights in the two steps. Adam by its definition
    (Kingma and Ba, with the bias corrections folded into the step size, as TensorFlow and Keras
    do): m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2,
    w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m_t / (sqrt(v_t) + eps).

    A first step moves each weight by about lr * sign(g): where |g| is below ``tiny`` that sign
    is at the mercy of float32 rounding (the gradient we compute and the optimizer's may differ
    in the last bits), so those entries are left out. Elsewhere a step is checked to 1e-3 of lr.
    """
    g1, g2 = (np.asarray(g, np.float64) for g in gradients)
    m = v = 0.0
    checked = (np.abs(g1) > tiny) & (np.abs(g2) > tiny)
    assert checked.mean() > 0.5, "too few entries with a usable gradient"
    for t, (g, u) in enumerate(zip((g1, g2), updates), start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        step = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t) * m / (np.sqrt(v) + eps)
        np.testing.assert_allclose(np.asarray(u)[checked], -step[checked], rtol=0,
                                   atol=1e-3 * lr, err_msg=f"Adam step {t}")


# Odd dtypes and byte orders (issue 11)

def big_endian(array):
    """A copy of array stored big-endian (non-native on the usual little-endian machines)."""
    return array.astype(array.dtype.newbyteorder(">"))


def assert_native_equal(got, want):
    """got is a native-order array with want's dtype and exactly want's values."""
    assert got.dtype.isnative and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def assert_longdouble_matches(got, ref):
    """got is longdouble and agrees with the float64 reference ref to 1e-10 relative."""
    assert got.dtype == np.longdouble and got.shape == ref.shape
    np.testing.assert_allclose(got.astype(np.float64), ref, rtol=1e-10,
                               atol=1e-10 * np.abs(ref).max())


def assert_float16_rounded(got, ref):
    """got is float16 and within half a float16 ulp (2**-11 relative) of the exact float64 ref,
    relative to its largest element: what rounding the exact result once gives. Sums accumulated
    in float16 miss by more (1e-2 on a 2,000-term sum)."""
    assert got.dtype == np.float16 and got.shape == ref.shape
    error = np.abs(got.astype(np.float64) - ref).max() / np.abs(ref).max()
    assert error <= 2.0 ** -11, f"relative error {error:.2e} beyond float16 rounding"
    return error
