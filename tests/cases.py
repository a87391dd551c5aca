"""What the task tests feed the tasks: Hypothesis strategies and settings, hand-picked shape
tables, random inputs, odd byte orders, and the tables of bad arguments each task must reject."""
import numpy as np
import pytest
from hypothesis import assume, settings, strategies as st

from oracles import course_padding

PROPERTY = settings(max_examples=60, deadline=None, database=None)

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

# (A_prev shape, kernel_shape, stride): tiling, overlapping (stride < kernel), gaps
# (stride > kernel)
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
    """Standard-normal A_prev, W, b with the given shapes, cast to dtype; seed may be a
    Generator."""
    rng = np.random.default_rng(seed)
    A_prev = rng.standard_normal((m, h_prev, w_prev, c_prev)).astype(dtype)
    W = rng.standard_normal((kh, kw, c_prev, c_new)).astype(dtype)
    b = rng.standard_normal((1, 1, 1, c_new)).astype(dtype)
    return A_prev, W, b


@st.composite
def conv_cases(draw):
    """Batch, sizes, channels, kernel, stride, padding and dtype such that the kernel fits, and a
    seed: (seed, (m, h_prev, w_prev, c_prev, kh, kw, c_new), padding, stride, (ph, pw), dtype)."""
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


@st.composite
def pool_cases(draw):
    """Batch, sizes, channels, kernel, stride (below, at and above the kernel), mode, dtype and a
    seed: (seed, A_prev shape, kernel_shape, stride, mode, dtype)."""
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


def big_endian(array):
    """A copy of array stored big-endian (non-native on the usual little-endian machines)."""
    return array.astype(array.dtype.newbyteorder(">"))


# The shapes that punish shortcuts of benchmarks/layers.py (issue 10), at small m:
# (m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride)
HOSTILE_SMALL = [
    pytest.param(3, 28, 28, 1, 28, 28, 1, "valid", (1, 1), id="kernel-is-image"),
    pytest.param(1, 224, 224, 3, 16, 16, 8, "valid", (16, 16), id="patches",
                 marks=pytest.mark.slow),
    pytest.param(3, 64, 64, 1, 3, 3, 1, "same", (64, 64), id="same-stride-64"),
    pytest.param(1, 128, 128, 64, 7, 7, 64, "same", (1, 1), id="image-beyond-budget",
                 marks=pytest.mark.slow),
]
