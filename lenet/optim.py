"""Adam in NumPy, step for step as Keras 3's ``keras.optimizers.Adam``."""
import numpy as np


class Adam:
    """Adam, step for step as Keras 3's ``keras.optimizers.Adam``.

    For step t = 1, 2, ... and every weight array w with gradient g::

        m += (g - m) * (1 - beta_1)
        v += (g * g - v) * (1 - beta_2)
        alpha = lr * sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
        w -= m * alpha / (sqrt(v) + epsilon)

    (Keras writes the moment updates in this form; it equals
    m = beta_1 * m + (1 - beta_1) * g.) Everything is computed in the
    weights' dtype, the scalars included, as Keras does.

    Parameters
    ----------
    learning_rate : float
        Step size lr.
    beta_1, beta_2 : float
        Decay rates of the first and second moment estimates.
    epsilon : float
        Added to sqrt(v) to avoid a division by zero.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7):
        """Set the hyper-parameters; the moments start empty."""
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.iterations = 0
        self.m = None
        self.v = None

    def step(self, weights, gradients):
        """Update every weight array in place by one Adam step.

        Parameters
        ----------
        weights : list of numpy.ndarray
            The weights, updated in place.
        gradients : list of numpy.ndarray
            Gradients of the loss, same shapes and order as ``weights``.
        """
        if self.m is None:
            self.m = [np.zeros_like(w) for w in weights]
            self.v = [np.zeros_like(w) for w in weights]
            self._scratch = [(np.empty_like(w), np.empty_like(w))
                             for w in weights]
        self.iterations += 1
        for w, g, m, v, (a, b) in zip(weights, gradients, self.m, self.v,
                                      self._scratch):
            scalar = w.dtype.type
            t = scalar(self.iterations)
            alpha = (scalar(self.learning_rate)
                     * np.sqrt(scalar(1) - scalar(self.beta_2) ** t)
                     / (scalar(1) - scalar(self.beta_1) ** t))
            # The formulas above, operation for operation, in two scratch
            # arrays (fresh temporaries of this size cost page faults).
            np.subtract(g, m, out=a)
            m += np.multiply(a, scalar(1 - self.beta_1), out=a)
            np.multiply(g, g, out=a)
            a -= v
            v += np.multiply(a, scalar(1 - self.beta_2), out=a)
            np.multiply(m, alpha, out=a)
            np.sqrt(v, out=b)
            b += scalar(self.epsilon)
            w -= np.divide(a, b, out=a)
