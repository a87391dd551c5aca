"""Task 4: LeNet-5 in a TensorFlow-1 graph: architecture, initialization, Adam, training.

Each test builds task 4's ``lenet5(x, y)`` in a fresh ``tf.Graph`` (graph mode, as with eager
execution disabled) and reads the graph, its variables and its session runs.
"""
import numpy as np
import pytest
import tensorflow as tf

from lenet.data import as_images, load_mnist, one_hot
from lenet.tasks import task_module
from checks import (LENET5_PARAMS, LENET5_WEIGHT_SHAPES, assert_adam_steps, assert_distinct_draws,
                    assert_he_normal)

tf1 = tf.compat.v1


@pytest.fixture(scope="module")
def lenet5():
    """Task 4: lenet5."""
    return task_module("4-lenet5.py").lenet5


class Built:
    """Task 4's graph built in a graph of its own, with its session and initial weights."""

    def __init__(self, lenet5, seed):
        """Build with graph seed ``seed`` (None: no seed) and initialize the variables."""
        self.graph = tf.Graph()
        with self.graph.as_default():
            if seed is not None:
                tf1.set_random_seed(seed)
            self.x = tf1.placeholder(tf.float32, (None, 28, 28, 1))
            self.y = tf1.placeholder(tf.float32, (None, 10))
            self.outputs = lenet5(self.x, self.y)
            self.y_pred, self.train_op, self.loss, self.acc = self.outputs
            self.weights = tf1.trainable_variables()
            self.gradients = tf.gradients(self.loss, self.weights)
            init = tf1.global_variables_initializer()
        self.session = tf1.Session(graph=self.graph)
        self.session.run(init)

    def run(self, fetches, X, Y):
        """Run ``fetches`` on a batch."""
        return self.session.run(fetches, {self.x: X, self.y: Y})

    def ops(self, op_type):
        """The graph's operations of one type, in creation order."""
        return [op for op in self.graph.get_operations() if op.type == op_type]


@pytest.fixture(scope="module")
def built(lenet5):
    """The graph with seed 0."""
    model = Built(lenet5, seed=0)
    yield model
    model.session.close()


def test_returns_four_graph_objects(built):
    """(y_pred, train_op, loss, acc): a (m, 10) tensor, an operation, two scalar tensors."""
    assert isinstance(built.y_pred, tf.Tensor)
    assert built.y_pred.shape.as_list() == [None, 10]
    assert isinstance(built.train_op, tf.Operation)
    assert built.loss.shape.rank == 0 and built.acc.shape.rank == 0
    assert built.y_pred.op.type == "Softmax"


def test_weights_and_parameter_count(built):
    """Ten trainable variables in layer order, 61,706 parameters."""
    shapes = [tuple(v.shape.as_list()) for v in built.weights]
    assert shapes == LENET5_WEIGHT_SHAPES
    assert sum(int(np.prod(s)) for s in shapes) == LENET5_PARAMS


def test_layer_ops(built):
    """Two stride-1 convolutions ('SAME' then 'VALID'), two 2x2/2 max pools, three dense
    products, four ReLUs and one softmax, in the contract's order."""
    convs = built.ops("Conv2D")
    assert [op.get_attr("padding") for op in convs] == [b"SAME", b"VALID"]
    assert all(list(op.get_attr("strides")) == [1, 1, 1, 1] for op in convs)
    assert [op.outputs[0].shape.as_list() for op in convs] == [[None, 28, 28, 6],
                                                               [None, 10, 10, 16]]
    pools = built.ops("MaxPool")
    assert [op.outputs[0].shape.as_list() for op in pools] == [[None, 14, 14, 6],
                                                               [None, 5, 5, 16]]
    for op in pools:
        assert list(op.get_attr("ksize")) == [1, 2, 2, 1]
        assert list(op.get_attr("strides")) == [1, 2, 2, 1]
        assert op.get_attr("padding") == b"VALID"
    assert [op.outputs[0].shape.as_list() for op in built.ops("MatMul")
            if "gradients" not in op.name] == [[None, 120], [None, 84], [None, 10]]
    relus = [op for op in built.ops("Relu") if "gradients" not in op.name]
    assert len(relus) == 4
    assert len(built.ops("Softmax")) == 1


def test_he_normal_kernels_zero_biases(built):
    """Kernels are He-normal (variance 2 / fan_in, truncated); biases start at zero."""
    values = built.session.run(built.weights)
    for variable, value in zip(built.weights, values):
        if len(value.shape) == 1:
            assert not value.any(), variable.name
        else:
            assert_he_normal(value, variable.name)
    assert_distinct_draws(values[0::2])


def test_graph_seed_reproducible(lenet5, built):
    """The same graph seed gives the same initial weights, another seed others."""
    again, other = Built(lenet5, seed=0), Built(lenet5, seed=1)
    first = built.session.run(built.weights)
    for a, b in zip(first, again.session.run(again.weights)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other.session.run(other.weights)[0])


def test_softmax_loss_and_accuracy(built, batch):
    """y_pred is a probability distribution; loss and acc are the mean cross-entropy and the
    fraction of argmax hits, recomputed in NumPy from y_pred."""
    X, Y = batch
    y_pred, loss, acc = built.run([built.y_pred, built.loss, built.acc], X, Y)
    assert y_pred.shape == (64, 10)
    np.testing.assert_allclose(y_pred.sum(axis=1), 1, rtol=1e-5)
    expected_loss = -np.mean(np.log(np.sum(y_pred * Y, axis=1)))
    assert loss == pytest.approx(expected_loss, rel=1e-4)
    assert acc == pytest.approx(np.mean(y_pred.argmax(1) == Y.argmax(1)))


def test_train_op_is_adam_with_defaults(lenet5, batch):
    """Two steps of train_op change each weight exactly as Adam with TensorFlow 1's defaults
    (lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-8) would, derived from Adam's definition."""
    model = Built(lenet5, seed=3)
    X, Y = batch
    before = model.session.run(model.weights)
    g1 = model.run(model.gradients, X, Y)
    model.run(model.train_op, X, Y)
    middle = model.session.run(model.weights)
    g2 = model.run(model.gradients, X, Y)
    model.run(model.train_op, X, Y)
    after = model.session.run(model.weights)
    flat = [np.concatenate([np.ravel(a) for a in arrays])
            for arrays in (g1, g2, before, middle, after)]
    assert_adam_steps(flat[:2], (flat[3] - flat[2], flat[4] - flat[3]), eps=1e-8)


def test_loss_decreases_on_a_fixed_batch(lenet5, batch):
    """Twenty steps on one batch bring its loss well down."""
    model = Built(lenet5, seed=0)
    X, Y = batch
    start = model.run(model.loss, X, Y)
    for _ in range(20):
        model.run(model.train_op, X, Y)
    assert model.run(model.loss, X, Y) < 0.5 * start


@pytest.mark.slow
def test_one_epoch_beats_chance_on_the_real_test_set(mnist_test_dir):
    """One epoch (batch 32) on the 4,000 embedded training images scores well above chance
    (10%) on the official 10,000-image MNIST test set."""
    from lenet.tf1 import TF1LeNet5
    train = load_mnist("embedded", verbose=False)
    test = load_mnist(mnist_test_dir, verbose=False)
    model = TF1LeNet5(seed=0)
    model.train_epoch(as_images(train.X_train), one_hot(train.Y_train), 32,
                      np.random.default_rng(0))
    loss, accuracy = model.evaluate(as_images(test.X_test), one_hot(test.Y_test))
    assert len(test.X_test) == 10000
    assert accuracy > 0.85, (loss, accuracy)


def test_built_twice_in_one_graph(lenet5, built):
    """Two LeNet-5s fit in one graph: the second gets scopes of its own (conv1_1/...), the first
    keeps the names and, with the same graph seed, the initial weights of a graph built alone."""
    graph = tf.Graph()
    with graph.as_default():
        tf1.set_random_seed(0)
        x = tf1.placeholder(tf.float32, (None, 28, 28, 1))
        y = tf1.placeholder(tf.float32, (None, 10))
        first = lenet5(x, y)
        first_weights = tf1.trainable_variables()
        second = lenet5(x, y)
        second_weights = tf1.trainable_variables()[len(first_weights):]
        init = tf1.global_variables_initializer()
    assert [v.name for v in first_weights] == [v.name for v in built.weights]
    assert [v.name for v in second_weights] == [
        v.name.replace("/", "_1/", 1) for v in built.weights]
    with tf1.Session(graph=graph) as session:
        session.run(init)
        alone = built.session.run(built.weights)
        for a, b in zip(session.run(first_weights), alone):
            np.testing.assert_array_equal(a, b)
        assert not np.array_equal(session.run(second_weights[0]), alone[0])
        session.run([first[1], second[1]], {x: np.zeros((2, 28, 28, 1)), y: np.eye(10)[:2]})


def test_tf1_wrapper_evaluate_refuses_an_empty_set():
    """TF1LeNet5.evaluate on no examples (or mismatched ones) is a ValueError, as for the NumPy
    model, not a division by zero."""
    from lenet.tf1 import TF1LeNet5
    model = TF1LeNet5(seed=0)
    with pytest.raises(ValueError, match="same number"):
        model.evaluate(np.zeros((0, 28, 28, 1)), np.zeros((0, 10)))
    with pytest.raises(ValueError, match="same number"):
        model.evaluate(np.zeros((2, 28, 28, 1)), np.zeros((3, 10)))
