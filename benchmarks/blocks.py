#!/usr/bin/env python3
"""How the size of the BLAS calls of lenet/layers.py's convolutions moves their speed here.

    python benchmarks/blocks.py                # LeNet-5's layers (half a minute)
    python benchmarks/blocks.py --one-thread   # BLAS held to one thread
    python benchmarks/blocks.py --busy         # one core kept busy
    python benchmarks/blocks.py --quick        # tiny layers, a smoke test

lenet.layers' conv_forward and conv_backward hand a product of fewer than
settings.thread_macs multiply-adds to BLAS as a stack of calls of about
settings.gemm_macs multiply-adds each (see lenet.layers.Tuning); a larger
product is one call. Which call size is fastest is the BLAS's business, not
the layer's. The OpenBLAS of NumPy's wheels for Linux and Windows keeps a
call of 2**19 on one thread and spreads a larger one over several threads;
on CPUs with AVX-512 it also computes small calls with kernels for small
matrices. Other BLAS libraries (MKL, Accelerate) draw their own lines.

This script times LeNet-5's two convolutions, forward and backward, in
float64 and float32, with gemm_macs set to each power of two from 2**15 to
2**23 and with every product as one call (thread_macs = 0), round after
round, every setting of every layer in each round, so that a load that
comes and goes hits all settings alike. It prints each median time over the
median with lenet.layers' default gemm_macs: a row whose smallest ratio lies
well below 1 says that this machine's BLAS wants another size. The sizes are
set with lenet.layers.tuning for each timing, and restored after it.
--one-thread holds BLAS to one thread through threadpoolctl (in
requirements.txt), as OPENBLAS_NUM_THREADS=1 would from the shell.
"""
import argparse
import contextlib
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
from layers import busy_core, identity  # noqa: E402  (benchmarks/layers.py)
from lenet import layers as fast  # noqa: E402  (lenet/layers.py)

SIZES = [2 ** k for k in range(15, 24)]
ONE_CALL = "one call"

# (label, A_prev's shape, W's shape, padding): LeNet-5's convolutions
FULL = [("28x28x1 * 5x5x1x6 same", (512, 28, 28, 1), (5, 5, 1, 6), "same"),
        ("14x14x6 * 5x5x6x16 valid", (512, 14, 14, 6), (5, 5, 6, 16),
         "valid")]
QUICK = [("8x8x1 * 3x3x1x2 same", (16, 8, 8, 1), (3, 3, 1, 2), "same"),
         ("6x6x2 * 3x3x2x4 valid", (16, 6, 6, 2), (3, 3, 2, 4), "valid")]


def workloads(shapes, seed=0):
    """(name, dtype name, call) for each layer forward and backward, float64
    then float32; each call runs lenet.layers' function on fixed random
    data."""
    rng = np.random.default_rng(seed)
    calls = []
    for dtype in (np.float64, np.float32):
        for label, a_shape, w_shape, padding in shapes:
            A = rng.standard_normal(a_shape).astype(dtype)
            W = rng.standard_normal(w_shape).astype(dtype)
            b = rng.standard_normal((1, 1, 1, w_shape[3])).astype(dtype)
            Z = fast.conv_forward(A, W, b, identity, padding)
            dZ = rng.standard_normal(Z.shape).astype(dtype)
            name = np.dtype(dtype).name
            calls.append(("conv fwd " + label, name, lambda A=A, W=W, b=b,
                          p=padding: fast.conv_forward(A, W, b, identity, p)))
            calls.append(("conv bwd " + label, name, lambda A=A, W=W, b=b,
                          p=padding, dZ=dZ: fast.conv_backward(
                              dZ, A, W, b, p)))
    return calls


def setting(size):
    """A context manager: within it, lenet.layers hands products to BLAS in
    calls of about `size` multiply-adds (ONE_CALL: each product as one
    call); its settings are restored after it."""
    if size == ONE_CALL:
        return fast.tuning(thread_macs=0)
    return fast.tuning(gemm_macs=size)


def measure(calls, settings, rounds):
    """{(workload index, setting): [seconds per round]}: in each round every
    workload under every setting, each once after one untimed call."""
    times = {}
    for _ in range(rounds):
        for index, (_, _, call) in enumerate(calls):
            for size in settings:
                with setting(size):
                    call()
                    start = time.perf_counter()
                    call()
                    times.setdefault((index, size), []).append(
                        time.perf_counter() - start)
    return times


def label(size):
    """A setting as a column heading: 2^19, or 'one' for one call."""
    return "one" if size == ONE_CALL else "2^{}".format(size.bit_length() - 1)


def blas_line():
    """One line naming the BLAS that NumPy runs, from threadpoolctl when it
    is installed, else from NumPy's build configuration."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "BLAS: see numpy.show_config() (threadpoolctl not installed)"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join("BLAS: {} {}, {} kernels, threads: {}".format(
        i.get("internal_api"), i.get("version"), i.get("architecture"),
        i.get("num_threads")) for i in infos) or "BLAS: not found"


def table(calls, times, settings, current):
    """Print each workload's median times over its median at `current`."""
    print("time over the time at gemm_macs = {} (median of {} rounds)".format(
        label(current), len(times[0, current])))
    print("{:<40} {:>7} {:>8} ".format("workload", "dtype", "ms")
          + " ".join("{:>5}".format(label(s)) for s in settings) + "  fastest")
    logs = {size: [] for size in settings}
    for index, (name, dtype, _) in enumerate(calls):
        medians = {s: statistics.median(times[index, s]) for s in settings}
        ratios = {s: medians[s] / medians[current] for s in settings}
        for size in settings:
            logs[size].append(math.log(ratios[size]))
        fastest = min(settings, key=ratios.get)
        print("{:<40} {:>7} {:>8.2f} ".format(name, dtype,
                                              medians[current] * 1e3)
              + " ".join("{:>5.2f}".format(ratios[s]) for s in settings)
              + "  " + label(fastest))
    print("{:<40} {:>7} {:>8} ".format("geometric mean", "", "")
          + " ".join("{:>5.2f}".format(math.exp(sum(logs[s]) / len(logs[s])))
                     for s in settings))
    print("one: every product as one call (thread_macs = 0)")


def main(argv=None):
    """Parse the options, time the settings and print the table."""
    parser = argparse.ArgumentParser(
        description="Time LeNet-5's convolutions (lenet/layers.py) with their "
        "products handed to BLAS in calls of 2^15 to 2^23 multiply-adds, and "
        "as one call each, against lenet.layers' default gemm_macs.")
    parser.add_argument("--rounds", type=int, default=9, metavar="N",
                        help="timed rounds (default 9)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny layers, a smoke test of the script")
    parser.add_argument("--busy", action="store_true",
                        help="keep one core busy (a spinning process) while "
                        "timing: the load of a shared machine")
    parser.add_argument("--one-thread", action="store_true",
                        help="hold BLAS to one thread (needs threadpoolctl)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    limits = contextlib.nullcontext()
    if args.one_thread:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            parser.error("--one-thread needs threadpoolctl: pip install "
                         "threadpoolctl")
        limits = threadpool_limits(1, user_api="blas")
    current = fast.settings.gemm_macs
    settings = sorted(set(SIZES) | {current}) + [ONE_CALL]
    calls = workloads(QUICK if args.quick else FULL)
    with limits, busy_core(args.busy):
        print(blas_line() + (", held to one thread" if args.one_thread
                             else ""))
        times = measure(calls, settings, args.rounds)
    table(calls, times, settings, current)
    return 0


if __name__ == "__main__":
    sys.exit(main())
