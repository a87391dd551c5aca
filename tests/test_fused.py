"""lenet.fused, the default engine's blocks (conv, bias, ReLU, max-pool 2x2/2), against TensorFlow:
outputs and gradients on LeNet-5's two blocks and on shapes that stress the phase grid (odd
sizes, odd and even kernels, kh != kw, both layouts, every padding parity), ties routed to the
first maximum, workspaces reused across calls, inputs left alone."""
import numpy as np
import pytest

from lenet import fused
from lenet.references import tensorflow

# (n, h, w, c_prev, kh, kw, c_new, padding): LeNet-5's blocks first.
SHAPES = [
    (3, 28, 28, 1, 5, 5, 6, 2),
    (3, 14, 14, 6, 5, 5, 16, 0),
    (2, 13, 11, 3, 5, 3, 4, 1),    # odd sizes: a last row and column no window pools
    (2, 12, 9, 5, 3, 3, 4, 1),     # odd padding, rows-major layout
    (2, 12, 9, 2, 4, 2, 4, 0),     # even kernels: a patch row of odd length
    (2, 9, 10, 7, 2, 2, 3, 1),
    (1, 7, 6, 1, 1, 1, 2, 0),      # 1x1 kernels
    (2, 8, 8, 4, 3, 5, 2, 3),      # padding wider than needed: whole rows of zeros
    (1, 7, 7, 3, 6, 6, 2, 0),      # one pooling window: the kernel nearly the image
]


def tf_block(A, W, b, padding, dP):
    """TensorFlow's P = max_pool(relu(conv(A padded, W) + b)) and the GradientTape gradients of
    sum(P * dP) with respect to A, W and b, all float64 NumPy arrays. TensorFlow's max-pool
    gradient goes to the first maximum of a window (row-major)."""
    tf = tensorflow()
    A, W, b = (tf.constant(x, tf.float64) for x in (A, W, b))
    with tf.GradientTape() as tape:
        tape.watch([A, W, b])
        padded = tf.pad(A, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
        Z = tf.nn.conv2d(padded, W, 1, "VALID") + b
        P = tf.nn.max_pool2d(tf.nn.relu(Z), 2, 2, "VALID")
        loss = tf.reduce_sum(P * tf.constant(dP, tf.float64))
    return [P.numpy()] + [g.numpy() for g in tape.gradient(loss, [A, W, b])]


def output_shape(n, h, w, kh, kw, c_new, padding):
    """The pooled output's shape."""
    return n, (h + 2 * padding - kh + 1) // 2, (w + 2 * padding - kw + 1) // 2, c_new


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_block_matches_tensorflow(shape):
    """Output, dA_prev, dW and db equal TensorFlow's to float64 rounding; the inputs are not
    written; without input_gradient, dA_prev is None and the rest unchanged."""
    n, h, w, c, kh, kw, c_new, padding = shape
    rng = np.random.default_rng(sum(shape))
    A = rng.standard_normal((n, h, w, c))
    W = rng.standard_normal((kh, kw, c, c_new))
    b = rng.standard_normal(c_new) * 0.5
    dP = rng.standard_normal(output_shape(n, h, w, kh, kw, c_new, padding))
    saved = [x.copy() for x in (A, W, b, dP)]
    P, cache = fused.conv_pool_forward(A, W, b, padding)
    got = [P.copy()] + [x.copy() for x in fused.conv_pool_backward(dP, cache)]
    want = tf_block(A, W, b, padding, dP)
    for name, g, r in zip(("P", "dA_prev", "dW", "db"), got, want):
        assert g.shape == r.shape and g.dtype == np.float64, name
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10 * np.abs(r).max(), err_msg=name)
    for before, after in zip(saved, (A, W, b, dP)):
        np.testing.assert_array_equal(before, after)
    dA_prev, dW, db = fused.conv_pool_backward(dP, cache, input_gradient=False)
    assert dA_prev is None
    np.testing.assert_array_equal(dW, got[2])
    np.testing.assert_array_equal(db, got[3])


@pytest.mark.parametrize("seed", range(12))
def test_random_shapes_match_tensorflow(seed):
    """Random small blocks (1 to 7 channels on either side of FEW_CHANNELS, kernels 1x1 to 6x6,
    padding 0 to 3, sizes odd and even) match TensorFlow, forward and backward."""
    rng = np.random.default_rng(100 + seed)
    kh, kw = rng.integers(1, 7, 2)
    padding = int(rng.integers(0, 4))
    h, w = (int(k) - 2 * padding + 1 + int(rng.integers(1, 9)) for k in (kh, kw))
    h, w = max(h, 1), max(w, 1)
    while (h + 2 * padding - kh + 1) // 2 < 1 or (w + 2 * padding - kw + 1) // 2 < 1:
        h, w = h + 1, w + 1
    n, c, c_new = int(rng.integers(1, 4)), int(rng.integers(1, 8)), int(rng.integers(1, 6))
    A = rng.standard_normal((n, h, w, c))
    W = rng.standard_normal((kh, kw, c, c_new))
    b = rng.standard_normal(c_new)
    dP = rng.standard_normal(output_shape(n, h, w, kh, kw, c_new, padding))
    P, cache = fused.conv_pool_forward(A, W, b, padding)
    got = [P] + list(fused.conv_pool_backward(dP, cache))
    for name, g, r in zip(("P", "dA_prev", "dW", "db"), got, tf_block(A, W, b, padding, dP)):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10 * np.abs(r).max(),
                                   err_msg="{} {}".format(name, (n, h, w, c, kh, kw, c_new,
                                                                 padding)))


@pytest.mark.parametrize("c_prev", [1, 6])
def test_ties_go_to_the_first_maximum(c_prev):
    """Sparse small integers make many pooling windows tie at a positive maximum: the gradient of
    a tied window goes to its first maximum only, as TensorFlow's, and every output and gradient
    matches TensorFlow's to rounding."""
    rng = np.random.default_rng(c_prev)
    A = rng.integers(0, 2, (4, 12, 12, c_prev)) * (rng.random((4, 12, 12, c_prev)) < 0.2)
    W = rng.integers(-1, 2, (3, 3, c_prev, 5)).astype(np.float64)
    b = np.array([0.0, 1.0, 2.0, -1.0, 0.5])
    dP = rng.standard_normal((4, 5, 5, 5))
    A = A.astype(np.float64)
    P, cache = fused.conv_pool_forward(A, W, b, 0)
    # Windows whose positive maximum ties: many (a sixth or more), so the test means something.
    planes = np.stack([np.asarray(plane) for plane in cache.planes])
    maxima = planes.max(axis=0)
    assert (((planes == maxima).sum(axis=0) > 1) & (maxima > 0)).mean() > 0.15
    got = [P] + list(fused.conv_pool_backward(dP, cache))
    for g, r in zip(got, tf_block(A, W, b, 0, dP)):
        np.testing.assert_allclose(g, r, rtol=0, atol=1e-12)


def test_workspace_reuse():
    """A workspace keeps the arrays of a shape from call to call: results equal fresh calls on
    new inputs (the padding stays zero, no state leaks between calls), two shapes live side by
    side, and a new shape gets a new plan."""
    rng = np.random.default_rng(7)
    workspace = {}
    for n in (3, 3, 2, 3):
        A = rng.standard_normal((n, 10, 10, 2)).astype(np.float32)
        W = rng.standard_normal((5, 5, 2, 4)).astype(np.float32)
        b = rng.standard_normal(4).astype(np.float32)
        dP = rng.standard_normal((n, 4, 4, 4)).astype(np.float32)
        P, cache = fused.conv_pool_forward(A, W, b, 1, workspace)
        got = [P.copy()] + [x.copy() for x in fused.conv_pool_backward(dP, cache)]
        P, cache = fused.conv_pool_forward(A, W, b, 1)
        want = [P] + list(fused.conv_pool_backward(dP, cache))
        for g, r in zip(got, want):
            assert g.dtype == np.float32
            np.testing.assert_array_equal(g, r)
    assert len(workspace) == 2  # n = 3 and n = 2


def test_empty_output_refused():
    """A kernel larger than the padded input leaves no pooling window: a ValueError naming the
    shapes, not an empty result."""
    with pytest.raises(ValueError, match=r"empty.*\(1, 4, 4, 1\)"):
        fused.conv_pool_forward(np.zeros((1, 4, 4, 1)), np.zeros((5, 5, 1, 2)), np.zeros(2), 0)
