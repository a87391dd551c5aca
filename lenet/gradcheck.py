"""Central finite differences: the numeric gradients every check uses.

The demos, the grader (``lenet.grade``) and the tests compare analytic
gradients with these, in float64: the numeric derivative of f at x along
one entry is (f(x + eps) - f(x - eps)) / (2 eps), exact for the linear
dependence of a convolution on its inputs and kernels.
"""
import numpy as np


def central_difference(f, x, index, eps):
    """(f() at x[index] + eps  -  f() at x[index] - eps) / (2 eps).

    ``x`` (float64) is perturbed in place and restored; ``f()`` must read
    it. ``f`` may return an array: the difference is taken before any
    weighting, which keeps the rounding error of the numeric value tiny.
    """
    saved = x[index]
    try:
        x[index] = saved + eps
        plus = np.array(f(), dtype=np.float64)
        x[index] = saved - eps
        minus = np.array(f(), dtype=np.float64)
    finally:
        x[index] = saved
    return (plus - minus) / (2 * eps)


def numerical_gradient(loss, x, eps=1e-5):
    """The gradient of the scalar ``loss(x)`` with respect to every entry
    of ``x``, same shape as x, on a float64 copy (x is not modified)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        grad[index] = central_difference(lambda: loss(x), x, index, eps)
    return grad


def max_relative_error(forward, upstream, array, grad, entries, eps):
    """Worst relative error of ``grad`` against central finite differences.

    ``grad`` is the gradient of L = sum(forward() * upstream) with respect
    to ``array`` (float64), perturbed at each of ``entries``. The error of
    one entry is |a - n| / max(|a| + |n|, 1e-8), a the analytic and n the
    numeric value.
    """
    worst = 0.0
    for index in entries:
        numeric = np.sum(central_difference(forward, array, index, eps)
                         * upstream)
        analytic = grad[index]
        error = abs(analytic - numeric) / max(abs(analytic) + abs(numeric),
                                              1e-8)
        worst = max(worst, error)
    return worst


def report_check(name, count, error, tolerance):
    """Print one finite-difference check, OK or FAILED; return True if OK."""
    passed = error < tolerance
    print("  {:<8}{:>3} entries  {:.2e}  {}".format(
        name, count, error, "OK" if passed else "FAILED"))
    return passed
