"""Task 5: LeNet-5 in Keras: layers, initialization, compilation, reproducibility, training."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow import keras as K

from lenet.data import as_images, load_mnist, one_hot
from lenet.tasks import task_module
from checks import (LENET5_PARAMS, LENET5_WEIGHT_SHAPES, assert_adam_steps, assert_he_normal,
                    assert_shared_draws)


@pytest.fixture(scope="module")
def lenet5():
    """Task 5: lenet5."""
    return task_module("5-lenet5.py").lenet5


@pytest.fixture(scope="module")
def model(lenet5):
    """A freshly built and compiled model (not trained)."""
    return lenet5(K.Input(shape=(28, 28, 1)))


def describe(layer):
    """What the contract fixes about one layer, as a tuple."""
    config = layer.get_config()
    kind = type(layer).__name__
    if kind == "Conv2D":
        return (kind, config["filters"], tuple(config["kernel_size"]), tuple(config["strides"]),
                config["padding"], config["activation"])
    if kind == "MaxPooling2D":
        return (kind, tuple(config["pool_size"]), tuple(config["strides"]), config["padding"])
    if kind == "Dense":
        return (kind, config["units"], config["activation"])
    return (kind,)


def test_layers_in_order(model):
    """The exact layer list, with each layer's output shape."""
    assert [describe(layer) for layer in model.layers] == [
        ("InputLayer",),
        ("Conv2D", 6, (5, 5), (1, 1), "same", "relu"),
        ("MaxPooling2D", (2, 2), (2, 2), "valid"),
        ("Conv2D", 16, (5, 5), (1, 1), "valid", "relu"),
        ("MaxPooling2D", (2, 2), (2, 2), "valid"),
        ("Flatten",),
        ("Dense", 120, "relu"),
        ("Dense", 84, "relu"),
        ("Dense", 10, "softmax"),
    ]
    assert [tuple(layer.output.shape) for layer in model.layers[1:]] == [
        (None, 28, 28, 6), (None, 14, 14, 6), (None, 10, 10, 16), (None, 5, 5, 16),
        (None, 400), (None, 120), (None, 84), (None, 10)]


def test_weights_and_parameter_count(model):
    """Ten weight arrays in layer order, 61,706 trainable parameters, none frozen."""
    assert [w.shape for w in model.get_weights()] == LENET5_WEIGHT_SHAPES
    assert model.count_params() == LENET5_PARAMS
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == LENET5_PARAMS


def test_he_normal_initializers(model):
    """Every kernel initializer is Keras's he_normal (variance scaling, scale 2, fan-in,
    truncated normal) with seed 0 for every layer, as the exercise asks; biases start at zero."""
    for layer in model.layers:
        if hasattr(layer, "kernel_initializer"):
            init = layer.kernel_initializer
            assert isinstance(init, K.initializers.VarianceScaling), layer.name
            assert (init.scale, init.mode, init.distribution) == (
                2.0, "fan_in", "truncated_normal"), layer.name
            assert init.get_config()["seed"] == 0, layer.name


def test_initial_weight_statistics(model):
    """The initial kernels look like He-normal draws; biases are zero. With one seed for every
    layer (the exercise's rule), Keras's stateless draws give each kernel the same leading
    standard-normal values, each scaled by its own He std."""
    weights = model.get_weights()
    for index, value in enumerate(weights):
        if value.ndim == 1:
            assert not value.any(), index
        else:
            assert_he_normal(value, "kernel {}".format(index))
    assert_shared_draws(weights[0::2])


def test_two_builds_identical(lenet5, model):
    """Two builds start from identical weights."""
    again = lenet5(K.Input(shape=(28, 28, 1)))
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_compiled_with_adam_defaults(model):
    """Adam with Keras's default hyper-parameters, categorical cross-entropy, accuracy."""
    assert isinstance(model.optimizer, K.optimizers.Adam)
    ours = model.optimizer.get_config()
    defaults = K.optimizers.Adam().get_config()
    for key in ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay",
                "clipnorm", "clipvalue", "use_ema"):
        assert ours[key] == defaults[key], key
    assert model.loss == "categorical_crossentropy"
    X = np.zeros((2, 28, 28, 1), np.float32)
    Y = one_hot([3, 4])
    names = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert set(names) == {"loss", "accuracy"}


def test_two_steps_are_adam(lenet5, batch):
    """Two train_on_batch steps change the weights exactly as Adam (lr 0.001, beta1 0.9,
    beta2 0.999, epsilon 1e-7) would, derived from Adam's definition and TF's gradients."""
    net = lenet5(K.Input(shape=(28, 28, 1)))
    X, Y = batch

    def gradients():
        """Gradients of the mean cross-entropy of the batch at the current weights."""
        with tf.GradientTape() as tape:
            loss = K.losses.categorical_crossentropy(Y, net(X, training=True))
            loss = tf.reduce_mean(loss)
        return [g.numpy() for g in tape.gradient(loss, net.trainable_weights)]

    before, g1 = net.get_weights(), gradients()
    net.train_on_batch(X, Y)
    middle, g2 = net.get_weights(), gradients()
    net.train_on_batch(X, Y)
    after = net.get_weights()
    flat = [np.concatenate([np.ravel(a) for a in arrays])
            for arrays in (g1, g2, before, middle, after)]
    assert_adam_steps(flat[:2], (flat[3] - flat[2], flat[4] - flat[3]), eps=1e-7)


@pytest.mark.slow
def test_probabilities_and_loss_decrease(lenet5, batch):
    """Outputs are probability rows; twenty steps on one batch bring its loss well down."""
    net = lenet5(K.Input(shape=(28, 28, 1)))
    X, Y = batch
    probabilities = net.predict(X, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    start = net.evaluate(X, Y, verbose=0)[0]
    for _ in range(20):
        net.train_on_batch(X, Y)
    assert net.evaluate(X, Y, verbose=0)[0] < 0.5 * start


@pytest.mark.slow
def test_one_epoch_beats_chance_on_the_real_test_set(lenet5, mnist_test_dir):
    """One epoch (batch 32) on the 4,000 embedded training images scores well above chance
    (10%) on the official 10,000-image MNIST test set."""
    train = load_mnist("embedded", verbose=False)
    test = load_mnist(mnist_test_dir, verbose=False)
    K.utils.set_random_seed(0)
    net = lenet5(K.Input(shape=(28, 28, 1)))
    net.fit(as_images(train.X_train), one_hot(train.Y_train), batch_size=32, epochs=1,
            verbose=0)
    loss, accuracy = net.evaluate(as_images(test.X_test), one_hot(test.Y_test),
                                  batch_size=1000, verbose=0)
    assert len(test.X_test) == 10000
    assert accuracy > 0.85, (loss, accuracy)


@pytest.mark.slow
def test_keras_wrapper_times_the_epoch_inside_fit(batch):
    """KerasLeNet5.epoch_seconds is the epoch as Keras times it: positive, and within the wall
    time of the whole train_epoch call (which adds fit's own set-up)."""
    import time

    from lenet.keras_lenet import KerasLeNet5
    model = KerasLeNet5(seed=0)
    X, Y = batch
    assert model.epoch_seconds is None
    start = time.perf_counter()
    model.train_epoch(X[..., 0], Y, 16, np.random.default_rng(0))
    wall = time.perf_counter() - start
    assert 0 < model.epoch_seconds <= wall
