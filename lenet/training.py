"""The one training protocol of the three LeNet-5 implementations.

Every model the job trains has ``train_epoch(X, Y, batch_size, rng,
progress=None) -> (loss, accuracy)``: one epoch of mini-batches in the
order ``rng.permutation(len(X))`` draws, so that with one seed all three
see the same batches. ``StepTraining`` gives it to a model that has
``train_step(X, Y) -> (loss, accuracy)`` (the NumPy and TF1 ones); Keras's
wrapper runs the same order through ``fit``.
"""


class StepTraining:
    """Mixin: ``train_epoch`` from the model's ``train_step``."""

    def train_epoch(self, X, Y, batch_size, rng, progress=None):
        """Train for one epoch of shuffled mini-batches.

        Parameters
        ----------
        X : numpy.ndarray, shape (n, 28, 28, 1)
            Training images.
        Y : numpy.ndarray, shape (n, 10)
            One-hot labels.
        batch_size : int
            Images per step; the last batch may be smaller.
        rng : numpy.random.Generator
            Draws the order of the images, a new one each epoch.
        progress : callable, optional
            Called after each step as ``progress(batch_images, loss, acc)``
            with the running means of the epoch so far (as Keras reports).

        Returns
        -------
        (float, float)
            Mean loss and accuracy over the epoch's batches, each batch
            weighted by its size (the figures Keras's progress bar shows).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1, got {}".format(
                batch_size))
        order = rng.permutation(len(X))
        total_loss = total_correct = 0.0
        for start in range(0, len(X), batch_size):
            batch = order[start:start + batch_size]
            loss, acc = self.train_step(X[batch], Y[batch])
            total_loss += loss * len(batch)
            total_correct += acc * len(batch)
            if progress is not None:
                seen = start + len(batch)
                progress(len(batch), total_loss / seen, total_correct / seen)
        return total_loss / max(len(X), 1), total_correct / max(len(X), 1)
