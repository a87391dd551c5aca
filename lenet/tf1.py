"""Task 4's TensorFlow-1 LeNet-5 in a graph and session of its own.

``TF1LeNet5`` builds ``lenet5(x, y)`` from ``4-lenet5.py`` inside a private
``tf.Graph`` (so the graph code runs in graph mode whether or not the rest
of the process executes eagerly) and wraps the session calls that training
needs: one Adam step, evaluation in batches, prediction, save and restore.
"""
import os

import numpy as np

from lenet.data import NUM_CLASSES, as_images
from lenet.quiet import import_tensorflow
from lenet.tasks import task_function
from lenet.training import StepTraining

tf = import_tensorflow()  # without its start-up log lines (see lenet.quiet)
tf1 = tf.compat.v1


class TF1LeNet5(StepTraining):
    """Task 4's graph, its variables initialized, ready to train.

    Parameters
    ----------
    seed : int
        Graph-level seed (``tf.compat.v1.set_random_seed``): the same seed
        gives the same initial weights.
    """

    def __init__(self, seed=0):
        """Build the graph of task 4 and initialize its variables."""
        lenet5 = task_function("4-lenet5.py", "lenet5")
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf1.set_random_seed(seed)
            self.x = tf1.placeholder(tf.float32, (None, 28, 28, 1), "x")
            self.y = tf1.placeholder(tf.float32, (None, NUM_CLASSES), "y")
            self.y_pred, self.train_op, self.loss, self.acc = lenet5(
                self.x, self.y)
            self.weights = tf1.trainable_variables()
            self.saver = tf1.train.Saver()
            init = tf1.global_variables_initializer()
        self.session = tf1.Session(graph=self.graph)
        self.session.run(init)

    def count_params(self):
        """Number of trainable parameters (61,706)."""
        return sum(int(np.prod(v.shape)) for v in self.weights)

    def get_weights(self):
        """Kernels and biases, layer by layer, as NumPy arrays."""
        return self.session.run(self.weights)

    def train_step(self, X, Y):
        """One Adam step on a batch; its loss and accuracy before the step."""
        _, loss, acc = self.session.run(
            [self.train_op, self.loss, self.acc],
            {self.x: as_images(X), self.y: Y})
        return float(loss), float(acc)

    def evaluate(self, X, Y, batch_size=1000):
        """Mean loss and accuracy over (X, Y), in batches of batch_size.

        Raises ValueError when X is empty or X and Y differ in length, as
        the NumPy model does."""
        if len(X) == 0 or len(X) != len(Y):
            raise ValueError("X and Y must hold the same number (> 0) of "
                             "examples, got {} and {}".format(len(X), len(Y)))
        X = as_images(X)
        total_loss = total_correct = 0.0
        for start in range(0, len(X), batch_size):
            stop = start + batch_size
            loss, acc = self.session.run(
                [self.loss, self.acc],
                {self.x: X[start:stop], self.y: Y[start:stop]})
            n = len(X[start:stop])
            total_loss += loss * n
            total_correct += acc * n
        return total_loss / len(X), total_correct / len(X)

    def predict(self, X, batch_size=1000):
        """Class probabilities (n, 10) for images X, in batches."""
        X = as_images(X)
        parts = [self.session.run(self.y_pred, {self.x: X[i:i + batch_size]})
                 for i in range(0, len(X), batch_size)]
        return np.concatenate(parts) if parts else np.empty((0, NUM_CLASSES))

    def save(self, path):
        """Save the variables (Adam's slots included) as checkpoint path."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with self.graph.as_default():
            return self.saver.save(self.session, path)

    def restore(self, path):
        """Load the variables from checkpoint path (as written by save)."""
        if not os.path.exists(path + ".index"):
            raise ValueError("no TensorFlow checkpoint at {}".format(path))
        with self.graph.as_default():
            self.saver.restore(self.session, path)

    def close(self):
        """Release the session."""
        self.session.close()
