"""Task 5's Keras LeNet-5 with the training interface of the other two.

Keras trains through ``model.fit`` (its compiled training loop, which is
how Keras is meant to run and what its speed should be measured by), one
epoch per call, with a callback that reports every step. Each ``fit`` call
costs Keras some set-up outside the epoch (up to a second or two here), so
``epoch_seconds`` is timed from the epoch's start to its end inside
``fit``: the epoch time Keras itself reports.
"""
import time

import numpy as np

from lenet.data import as_images
from lenet.quiet import import_tensorflow
from lenet.tasks import task_function

K = import_tensorflow().keras  # without TensorFlow's start-up log lines


class _EpochTimer(K.callbacks.Callback):
    """Times each epoch from its start to its end inside ``fit``."""

    def __init__(self):
        """No epoch timed yet."""
        super().__init__()
        self.started = self.seconds = None

    def on_epoch_begin(self, epoch, logs=None):
        """Start the clock."""
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        """Stop the clock."""
        self.seconds = time.perf_counter() - self.started


class _StepReport(K.callbacks.Callback):
    """Calls ``progress(batch_images, loss, acc)`` after every step."""

    def __init__(self, progress, n, batch_size):
        """Report steps of ``batch_size`` images out of ``n`` per epoch."""
        super().__init__()
        self.progress, self.n, self.batch_size = progress, n, batch_size
        self.seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        """Start counting images."""
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        """Report the step; Keras's logs hold running means over the epoch."""
        images = min(self.batch_size, self.n - self.seen)
        self.seen += images
        self.progress(images, float(logs["loss"]), float(logs["accuracy"]))


class KerasLeNet5:
    """Task 5's compiled model.

    Parameters
    ----------
    seed : int
        Seed of Keras's shuffling (``keras.utils.set_random_seed``); the
        initial weights are fixed by the task file's seeded he_normal.
    """

    def __init__(self, seed=0):
        """Build and compile task 5's model."""
        K.utils.set_random_seed(seed)
        self.model = task_function("5-lenet5.py", "lenet5")(
            K.Input(shape=(28, 28, 1)))
        self.epoch_seconds = None  # the last epoch, as Keras times it

    def count_params(self):
        """Number of parameters (61,706)."""
        return self.model.count_params()

    def get_weights(self):
        """Kernels and biases, layer by layer, as NumPy arrays."""
        return self.model.get_weights()

    def train_epoch(self, X, Y, batch_size, rng, progress=None):
        """One epoch of mini-batches; its mean loss and accuracy.

        The images go through ``fit`` in the order ``rng.permutation``
        draws (``fit`` itself does not shuffle), as for the other models
        (``lenet.training``). ``progress(batch_images, loss, acc)`` is
        called after every step, with Keras's running means of the epoch
        so far. Sets ``epoch_seconds`` to the epoch's time inside ``fit``.
        """
        order = rng.permutation(len(X))
        timer = _EpochTimer()
        callbacks = [timer] if progress is None else [
            timer, _StepReport(progress, len(X), batch_size)]
        history = self.model.fit(as_images(X)[order], np.asarray(Y)[order],
                                 batch_size=batch_size, epochs=1,
                                 shuffle=False, verbose=0,
                                 callbacks=callbacks)
        self.epoch_seconds = timer.seconds
        return (float(history.history["loss"][-1]),
                float(history.history["accuracy"][-1]))

    def evaluate(self, X, Y, batch_size=1000):
        """Mean loss and accuracy over (X, Y)."""
        loss, acc = self.model.evaluate(as_images(X), Y,
                                        batch_size=batch_size, verbose=0)
        return float(loss), float(acc)

    def predict(self, X, batch_size=1000):
        """Class probabilities (n, 10) for images X."""
        return np.asarray(self.model.predict(as_images(X),
                                             batch_size=batch_size,
                                             verbose=0))
