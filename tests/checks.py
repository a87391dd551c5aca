"""Shared assertions of the tests: results against a reference, signatures, rejected arguments,
odd dtypes; the two implementations of tasks 0-3 (the task files and lenet.layers) and how a test
changes the way they split their work; and the LeNet-5 statistics (parameter count, He-normal
draws, Adam steps) of tasks 4 and 5 and lenet.model."""
import contextlib
import inspect
import math

import numpy as np
import pytest


# Shared assertions

def assert_matches(got, ref, dtype, scale=None):
    """got has dtype and ref's shape, and agrees to 1e-10 (float64) or 1e-5 (float32) relative.

    Relative to ``scale``, by default max |ref|. A sum's rounding error is relative to the sum of
    its terms' magnitudes, not to the sum, which cancellation can make tiny (a float32 dW of
    0.002 from 21 products of about 1): pass as scale the reference's largest such magnitude, the
    oracle applied to the inputs' absolute values.
    """
    assert isinstance(got, np.ndarray)
    assert got.dtype == dtype
    assert got.shape == ref.shape
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    if scale is None:
        scale = np.abs(ref).max() if ref.size else 0.0
    atol = rtol * scale
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol)


def assert_signature(function, names, **defaults):
    """function's parameters are `names`, in that order, and those in defaults default to the
    value."""
    parameters = inspect.signature(function).parameters
    assert list(parameters) == names
    for name, default in defaults.items():
        assert parameters[name].default == default


def assert_rejects(function, arguments, name, value, error, pattern):
    """function(**arguments), arguments[name] replaced by value, raises error matching pattern."""
    with pytest.raises(error, match=pattern):
        function(**dict(arguments, **{name: value}))


# The two implementations of tasks 0-3: the task files ("task") and lenet/layers.py ("layers")

IMPLEMENTATIONS = ["task", "layers"]
TASK_FILES = {"conv_forward": "0-conv_forward.py", "pool_forward": "1-pool_forward.py",
              "conv_backward": "2-conv_backward.py", "pool_backward": "3-pool_backward.py"}


def layer_source(implementation, name):
    """The file that defines layer function `name` ('conv_forward', ...) in `implementation`
    ('task' or 'layers'): its task file or lenet/layers.py, what a subprocess loads by path."""
    from lenet.tasks import ROOT
    return ROOT / (TASK_FILES[name] if implementation == "task" else "lenet/layers.py")


def layer_function(implementation, name):
    """Layer function `name` ('conv_forward', ...) of `implementation` ('task' or 'layers')."""
    if implementation == "layers":
        from lenet import layers
        return getattr(layers, name)
    from lenet.tasks import task_module
    return getattr(task_module(TASK_FILES[name]), name)


def is_layers(function):
    """True for a function of lenet.layers, False for a task file's."""
    from lenet import layers
    return getattr(layers, function.__name__, None) is function


# How the layers split their work, changed for a block (context managers)

TINY_CHUNKS = dict(conv_forward_chunk_bytes=1, pool_forward_chunk_bytes=1,
                   conv_backward_chunk_bytes=1, pool_backward_chunk_bytes=1, limit_bytes=1)


def tiny_chunks(function):
    """Within the block, the layer function works in its smallest chunks, as on images too large
    for its memory bound: for lenet.layers, every chunk one output row of one image
    (layers.tuning, every chunk size and limit_bytes 1); for a task file, its CHUNK_BYTES set to
    1, the one module constant a test may set on a task file."""
    from lenet import layers
    if is_layers(function):
        return layers.tuning(**TINY_CHUNKS)
    return chunk_bytes(function, 1)


@contextlib.contextmanager
def chunk_bytes(function, value):
    """Within the block, the task file of `function` has CHUNK_BYTES = value; restored after."""
    names = function.__globals__
    assert "CHUNK_BYTES" in names, f"the task file of {function.__name__} has no CHUNK_BYTES"
    saved = names["CHUNK_BYTES"]
    names["CHUNK_BYTES"] = value
    try:
        yield
    finally:
        names["CHUNK_BYTES"] = saved


def gemm_calls(calls):
    """Within the block, lenet.layers hands every product to BLAS as one call (calls='one':
    thread_macs 0) or as stacks of the thinnest blocks, gemm_rows rows each (calls='blocks': no
    product big enough for one call, gemm_macs 1)."""
    from lenet import layers
    values = {"one": dict(thread_macs=0), "blocks": dict(thread_macs=2 ** 62, gemm_macs=1)}
    return layers.tuning(**values[calls])


def column_runs(runs):
    """Within the block, lenet.layers' pooling reduces window columns as runs over whole rows
    for every strided shape with more than one channel (runs=True: short_pixel_bytes
    unbounded), or one reduce per window column for every shape (runs=False:
    short_pixel_bytes 0)."""
    from lenet import layers
    return layers.tuning(short_pixel_bytes=2 ** 62 if runs else 0)


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
