"""He-normal initialization as Keras's ``he_normal`` draws it."""
import numpy as np

# Keras's he_normal draws from a normal truncated at 2 standard deviations;
# this constant (the std of a unit normal truncated at +-2) rescales it so
# that the draws have variance 2 / fan_in.
TRUNCATED_STD = 0.87962566103423978


def he_normal(rng, shape):
    """A kernel of ``shape`` (fan-in: all axes but the last), variance
    2 / fan_in, from a normal truncated at two standard deviations.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws.
    shape : tuple of int
        Kernel shape, e.g. (5, 5, 1, 6) or (400, 120).

    Returns
    -------
    numpy.ndarray of float64, shape ``shape``
    """
    fan_in = int(np.prod(shape[:-1]))
    return np.sqrt(2.0 / fan_in) / TRUNCATED_STD * _truncated_normal(rng, shape)


def _truncated_normal(rng, shape):
    """Standard normal draws truncated to [-2, 2] by redrawing the rest.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the draws.
    shape : tuple of int
        Shape of the result.

    Returns
    -------
    numpy.ndarray of float64, shape ``shape``
    """
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return values
