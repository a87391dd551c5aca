"""The one training protocol: every implementation's train_epoch(X, Y, batch_size, rng,
progress) takes its batches in the order rng.permutation draws, so one seed gives the NumPy,
TF1 and Keras models the same batches; progress reports running means."""
import numpy as np
import pytest

from lenet.training import StepTraining


class Recorder(StepTraining):
    """A model whose train_step records its batches and returns the batch's first label as
    its loss and 1 as its accuracy."""

    def __init__(self):
        self.batches = []

    def train_step(self, X, Y):
        self.batches.append(X.copy())
        return float(Y[0, 0]), 1.0


def test_step_training_follows_the_rng_order():
    """Batches are consecutive slices of rng.permutation(n), the last one shorter; the returned
    figures and the progress calls are size-weighted running means."""
    X = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    Y = np.arange(10, dtype=np.float32).reshape(10, 1)
    model, calls = Recorder(), []
    loss, acc = model.train_epoch(X, Y, 4, np.random.default_rng(7),
                                  lambda *call: calls.append(call))
    order = np.random.default_rng(7).permutation(10)
    assert [b.ravel().tolist() for b in model.batches] == [
        order[:4].tolist(), order[4:8].tolist(), order[8:].tolist()]
    firsts = [order[0], order[4], order[8]]
    assert loss == pytest.approx((4 * firsts[0] + 4 * firsts[1] + 2 * firsts[2]) / 10)
    assert acc == 1.0
    assert [c[0] for c in calls] == [4, 4, 2]
    assert calls[-1][1] == pytest.approx(loss)


def test_step_training_refuses_batch_size_zero():
    """batch_size < 1 is a ValueError, not an endless loop."""
    with pytest.raises(ValueError, match="batch_size"):
        Recorder().train_epoch(np.zeros((2, 1, 1, 1)), np.zeros((2, 1)), 0,
                               np.random.default_rng(0))


def test_keras_wrapper_feeds_fit_the_rng_order(monkeypatch):
    """KerasLeNet5.train_epoch passes fit the images in rng.permutation order, unshuffled."""
    from lenet.keras_lenet import KerasLeNet5
    model = KerasLeNet5(seed=0)
    seen = {}

    class History:
        history = {"loss": [0.5], "accuracy": [0.25]}

    def fit(x, y, **kwargs):
        seen.update(x=x, y=y, **kwargs)
        return History()

    monkeypatch.setattr(model.model, "fit", fit)
    X = np.random.default_rng(1).random((6, 28, 28)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[[3, 1, 4, 1, 5, 9]]
    assert model.train_epoch(X, Y, 2, np.random.default_rng(3)) == (0.5, 0.25)
    order = np.random.default_rng(3).permutation(6)
    np.testing.assert_array_equal(seen["x"][..., 0], X[order])
    np.testing.assert_array_equal(seen["y"], Y[order])
    assert seen["shuffle"] is False and seen["batch_size"] == 2
