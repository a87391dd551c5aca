#!/usr/bin/env python3
"""Speed and memory of lenet/layers.py and tasks 0-3 against TensorFlow and plain loops.

    python benchmarks/layers.py              # both speed tables (a few minutes)
    python benchmarks/layers.py --memory     # peak memory, 50,000 images
    python benchmarks/layers.py --quick      # tiny workloads, a smoke test
    python benchmarks/layers.py --busy       # the same with one core busy
    python benchmarks/layers.py --tf-all-threads   # TensorFlow on all cores

Two tables. The first times the standard workloads (LeNet-5's layers and a
wider one) by lenet/layers.py (where the speed lives), by the task files
0-3 (the answer a teacher hands out) and by TensorFlow; its last lines give
the geometric means of layers/TF and tasks/TF with their worst rows, beside
the targets of issue 21 (layers: geometric mean <= 1.0, no row above 1.5;
tasks: geometric mean <= 2.5). The second, "shapes that punish shortcuts",
times lenet/layers.py on shapes where cost can stop following the work (a
kernel as large as the image, strided patches, 'same' padding with a large
stride that no window mostly reads, one image whose windows exceed the
memory budget), with each call's peak memory beyond its outputs and the
bounds of issue 10: layers/TF <= 5 and 64 MiB. The course's 'same' with a
stride has no TensorFlow twin; TensorFlow then gets the same padding,
explicitly (tf.pad, then 'VALID').

The comparison is per core: TensorFlow is held to one thread (intra- and
inter-op), as our layers run all but their largest products on one thread;
--tf-all-threads gives TensorFlow its defaults (all cores) instead.

Every workload is checked first: TensorFlow's result, the task files' and,
in the first table, the loop reference's must agree with lenet.layers'.
Then, in this one process, the first table's workloads run round after
round, every workload in each round, each by layers, tasks, TensorFlow and
the peers in turn (the loops in the first three rounds), so that a load
that comes and goes hits all implementations and all rows alike, in an
order reversed every other round, so that each runs first (after other
work, its inputs out of cache) as often as the others; the
second table's shapes run one after the other, layers and TensorFlow in
turn. The tables show medians and their ratios. TensorFlow runs with oneDNN
on, inside tf.function. In the first table, PyTorch (NHWC arrays as
channels_last views, its convolution and pooling ops and their backward
ops) and JAX (jit, NHWC, the gradients by jax.vjp) join as peers with their
defaults when they are installed (they are optional, not in
requirements.txt), checked against ours like TensorFlow, and the table adds
layers/best: lenet/layers.py over the fastest peer, and which peer that is.
Below the table, every row where a peer is faster is named with the reason
(PEER_FASTER_BECAUSE: what the peer's kernel does that these layers cannot
or do not).
"""
import argparse
import contextlib
import math
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]
import loops  # noqa: E402  (benchmarks/loops.py, the plain-loop reference)
from lenet import layers as package_layers  # noqa: E402  (lenet/layers.py)
from lenet.quiet import import_tensorflow  # noqa: E402
from lenet.tasks import task_function  # noqa: E402

MIB = 2 ** 20
MEMORY_LIMIT = 512 * MIB

TASK_FILES = {"conv_forward": "0-conv_forward.py",
              "pool_forward": "1-pool_forward.py",
              "conv_backward": "2-conv_backward.py",
              "pool_backward": "3-pool_backward.py"}
# The two implementations timed: {function name: function}
LAYERS = {name: getattr(package_layers, name) for name in TASK_FILES}
TASKS = {name: task_function(task_file, name)
         for name, task_file in TASK_FILES.items()}


def identity(Z):
    """Identity activation: conv_forward returns Z itself."""
    return Z


# Workloads: (kind, A_prev shape, W shape or pooling kernel, padding, stride)
FULL = [
    ("conv fwd", (512, 28, 28, 1), (5, 5, 1, 6), "same", (1, 1)),
    ("conv fwd", (512, 14, 14, 6), (5, 5, 6, 16), "valid", (1, 1)),
    ("conv fwd", (64, 32, 32, 64), (3, 3, 64, 64), "same", (1, 1)),
    ("conv bwd", (512, 28, 28, 1), (5, 5, 1, 6), "same", (1, 1)),
    ("conv bwd", (512, 14, 14, 6), (5, 5, 6, 16), "valid", (1, 1)),
    ("max fwd", (512, 28, 28, 6), (2, 2), None, (2, 2)),
    ("avg fwd", (512, 28, 28, 6), (2, 2), None, (2, 2)),
    ("max bwd", (512, 28, 28, 6), (2, 2), None, (2, 2)),
    ("avg bwd", (512, 28, 28, 6), (2, 2), None, (2, 2)),
]
QUICK = [
    ("conv fwd", (16, 10, 10, 1), (5, 5, 1, 3), "same", (1, 1)),
    ("conv fwd", (16, 8, 8, 3), (3, 3, 3, 4), "valid", (1, 1)),
    ("conv bwd", (16, 10, 10, 1), (5, 5, 1, 3), "same", (1, 1)),
    ("conv bwd", (16, 8, 8, 3), (3, 3, 3, 4), "valid", (1, 1)),
    ("max fwd", (16, 8, 8, 2), (2, 2), None, (2, 2)),
    ("avg fwd", (16, 8, 8, 2), (2, 2), None, (2, 2)),
    ("max bwd", (16, 8, 8, 2), (2, 2), None, (2, 2)),
    ("avg bwd", (16, 8, 8, 2), (2, 2), None, (2, 2)),
]


# Shapes that punish shortcuts (issue 10), timed against TensorFlow only
HOSTILE = [
    ("conv bwd", (700, 28, 28, 1), (28, 28, 1, 1), "valid", (1, 1)),
    ("conv fwd", (8, 224, 224, 3), (16, 16, 3, 8), "valid", (16, 16)),
    ("conv bwd", (8, 224, 224, 3), (16, 16, 3, 8), "valid", (16, 16)),
    ("conv fwd", (3, 64, 64, 1), (3, 3, 1, 1), "same", (64, 64)),
    ("conv bwd", (3, 64, 64, 1), (3, 3, 1, 1), "same", (64, 64)),
    ("conv fwd", (1, 128, 128, 64), (7, 7, 64, 64), "same", (1, 1)),
    ("conv bwd", (1, 128, 128, 64), (7, 7, 64, 64), "same", (1, 1)),
]
QUICK_HOSTILE = [
    ("conv bwd", (20, 12, 12, 1), (12, 12, 1, 1), "valid", (1, 1)),
    ("conv fwd", (2, 32, 32, 3), (8, 8, 3, 4), "valid", (8, 8)),
    ("conv bwd", (3, 16, 16, 1), (3, 3, 1, 1), "same", (16, 16)),
]
HOSTILE_RATIO = 5.0  # layers/TF at most
HOSTILE_MIB = 64  # peak memory beyond the outputs at most


def label(kind, shape, kernel, padding, stride):
    """A workload as one short line, e.g. 'conv fwd 512x28x28x1 * 5x5x1x6
    same'."""
    dims = "x".join(map(str, shape))
    if kind.startswith("conv"):
        name = "{} {} * {} {}".format(kind, dims, "x".join(map(str, kernel)),
                                      padding)
        return name + ("" if stride == (1, 1) else " /{}".format(stride[0]))
    return "{} {} {}x{}/{}".format(kind, dims, *kernel, stride[0])


def tf_padding(padding, shape, kernel, stride):
    """(TensorFlow's padding string, (ph, pw)) equal to the course's rule
    here: 'VALID' or 'SAME' with (0, 0), or, where TensorFlow's 'SAME'
    differs (a stride, an even kernel), 'VALID' on the input padded with
    tf.pad by (ph, pw). (padding='EXPLICIT' crashed TensorFlow 2.21's oneDNN
    float32 Conv2D here.)"""
    if padding == "valid":
        return "VALID", (0, 0)
    if stride == (1, 1) and kernel[0] % 2 == 1 and kernel[1] % 2 == 1:
        return "SAME", (0, 0)
    return "VALID", loops.padding_of(padding, shape[1], shape[2], kernel[0],
                                     kernel[1], *stride)


def make_workload(tf, kind, shape, kernel, padding, stride, dtype, rng,
                  inputs=None):
    """Three callables over fresh random inputs, each returning a tuple of
    numpy arrays: ours(functions, n=None) runs the workload by one
    implementation's functions (LAYERS or TASKS) on the whole batch, or on
    its first n images; TensorFlow's runs it on the whole batch; the loops'
    on the first n images (called with n). The inputs go into the dict
    ``inputs`` if one is given (for the optional peers)."""
    inputs = {} if inputs is None else inputs
    A = inputs["A"] = rng.standard_normal(shape).astype(dtype)
    strides = (1,) + tuple(stride) + (1,)
    if kind.startswith("conv"):
        W = inputs["W"] = rng.standard_normal(kernel).astype(dtype)
        b = inputs["b"] = rng.standard_normal(
            (1, 1, 1, kernel[3])).astype(dtype)
        tf_pad, (ph, pw) = tf_padding(padding, shape, kernel, stride)
        pads = [[0, 0], [ph, ph], [pw, pw], [0, 0]]
        A_t, W_t, b_t = tf.constant(A), tf.constant(W), tf.constant(b[0, 0, 0])
    if kind == "conv fwd":
        tf_forward = tf.function(lambda A, W, b: tf.nn.bias_add(tf.nn.conv2d(
            tf.pad(A, pads), W, strides, tf_pad), b))
        return (lambda functions, n=None: (functions["conv_forward"](
                    A[:n], W, b, identity, padding, stride),),
                lambda: (tf_forward(A_t, W_t, b_t).numpy(),),
                lambda n: (loops.conv_forward(A[:n], W, b, identity, padding,
                                              stride),))
    if kind == "conv bwd":
        out_shape = LAYERS["conv_forward"](A[:1], W, b, identity, padding,
                                           stride).shape[1:]
        dZ = inputs["dZ"] = rng.standard_normal(
            (shape[0],) + out_shape).astype(dtype)
        dZ_t = tf.constant(dZ)

        @tf.function
        def tf_backward(A, W, dZ):
            """Conv2DBackpropInput, Conv2DBackpropFilter and the bias sum."""
            A_pad = tf.pad(A, pads)  # A itself when ph = pw = 0
            dA = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(A_pad), filter=W, out_backprop=dZ,
                strides=strides, padding=tf_pad)[
                    :, ph:ph + shape[1], pw:pw + shape[2]]
            dW = tf.raw_ops.Conv2DBackpropFilter(
                input=A_pad, filter_sizes=tf.shape(W), out_backprop=dZ,
                strides=strides, padding=tf_pad)
            db = tf.reduce_sum(dZ, axis=(0, 1, 2), keepdims=True)
            return dA, dW, db
        return (lambda functions, n=None: functions["conv_backward"](
                    dZ[:n], A[:n], W, b, padding, stride),
                lambda: tuple(t.numpy() for t in tf_backward(A_t, W_t, dZ_t)),
                lambda n: loops.conv_backward(dZ[:n], A[:n], W, b, padding,
                                              stride))
    mode = kind[:3]
    ksize = (1,) + tuple(kernel) + (1,)
    A_t = tf.constant(A)
    tf_pool = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    if kind.endswith("fwd"):
        tf_forward = tf.function(lambda A: tf_pool(A, ksize, strides, "VALID"))
        return (lambda functions, n=None: (functions["pool_forward"](
                    A[:n], kernel, stride, mode),),
                lambda: (tf_forward(A_t).numpy(),),
                lambda n: (loops.pool_forward(A[:n], kernel, stride, mode),))
    out_t = tf_pool(A_t, ksize, strides, "VALID")
    dA = inputs["dA"] = rng.standard_normal(out_t.shape).astype(dtype)
    dA_t = tf.constant(dA)
    if mode == "max":
        tf_fn = tf.function(lambda A, out, dA: tf.raw_ops.MaxPoolGrad(
            orig_input=A, orig_output=out, grad=dA, ksize=ksize,
            strides=strides, padding="VALID"))
    else:
        tf_fn = tf.function(lambda A, out, dA: tf.raw_ops.AvgPoolGrad(
            orig_input_shape=tf.shape(A), grad=dA, ksize=ksize,
            strides=strides, padding="VALID"))
    return (lambda functions, n=None: (functions["pool_backward"](
                dA[:n], A[:n], kernel, stride, mode),),
            lambda: (tf_fn(A_t, out_t, dA_t).numpy(),),
            lambda n: (loops.pool_backward(dA[:n], A[:n], kernel, stride,
                                           mode),))


def optional_peers():
    """{'torch': module, 'jax': module} for the peers that are installed;
    JAX with 64-bit floats on (for the float64 rows)."""
    import importlib.util
    peers = {}
    if importlib.util.find_spec("torch") is not None:
        import torch
        peers["torch"] = torch
    if importlib.util.find_spec("jax") is not None:
        import jax
        jax.config.update("jax_enable_x64", True)
        peers["jax"] = jax
    return peers


def torch_workload(torch, kind, inputs, kernel, padding, stride):
    """The workload in PyTorch, on channels_last views of the NHWC arrays
    (no copies); a callable returning a tuple of NHWC numpy arrays."""
    F = torch.nn.functional

    def nchw(a):
        """(n, h, w, c) numpy array -> (n, c, h, w) tensor view."""
        return torch.from_numpy(a).permute(0, 3, 1, 2)

    def nhwc(t):
        """(n, c, h, w) tensor -> (n, h, w, c) numpy view."""
        return t.permute(0, 2, 3, 1).numpy()

    A = nchw(inputs["A"])
    if kind.startswith("conv"):
        pad = loops.padding_of(padding, A.shape[2], A.shape[3], kernel[0],
                               kernel[1], *stride)
        W = torch.from_numpy(inputs["W"]).permute(3, 2, 0, 1)
        b = torch.from_numpy(inputs["b"].reshape(-1))
        if kind == "conv fwd":
            return lambda: (nhwc(F.conv2d(A, W, b, stride, pad)),)
        dZ = nchw(inputs["dZ"])

        def backward():
            """Input, kernel and bias gradients."""
            dA = torch.nn.grad.conv2d_input(A.shape, W, dZ, stride, pad)
            dW = torch.nn.grad.conv2d_weight(A, W.shape, dZ, stride, pad)
            db = dZ.sum(dim=(0, 2, 3))
            return (nhwc(dA), dW.permute(2, 3, 1, 0).numpy(),
                    db.numpy().reshape(1, 1, 1, -1))
        return backward
    if kind == "max fwd":
        return lambda: (nhwc(F.max_pool2d(A, kernel, stride)),)
    if kind == "avg fwd":
        return lambda: (nhwc(F.avg_pool2d(A, kernel, stride)),)
    dA = nchw(inputs["dA"])
    aten = torch.ops.aten
    if kind == "max bwd":  # given the forward's indices, as TF its output
        _, indices = F.max_pool2d(A, kernel, stride, return_indices=True)
        return lambda: (nhwc(aten.max_pool2d_with_indices_backward(
            dA, A, kernel, stride, 0, 1, False, indices)),)
    return lambda: (nhwc(aten.avg_pool2d_backward(
        dA, A, kernel, stride, 0, False, True, None)),)


def jax_workload(jax, kind, inputs, kernel, padding, stride):
    """The workload in JAX (jit, NHWC; gradients by jax.vjp); a callable
    returning a tuple of numpy arrays."""
    jnp, lax = jax.numpy, jax.lax
    A = jnp.asarray(inputs["A"])
    if kind.startswith("conv"):
        ph, pw = loops.padding_of(padding, A.shape[1], A.shape[2], kernel[0],
                                  kernel[1], *stride)

        def conv(A, W, b):
            """Cross-correlation plus bias, NHWC."""
            return lax.conv_general_dilated(
                A, W, stride, ((ph, ph), (pw, pw)),
                dimension_numbers=("NHWC", "HWIO", "NHWC")) + b

        W, b = jnp.asarray(inputs["W"]), jnp.asarray(inputs["b"])
        if kind == "conv fwd":
            forward = jax.jit(conv)
            return lambda: (np.asarray(forward(A, W, b)),)
        dZ = jnp.asarray(inputs["dZ"])
        backward = jax.jit(lambda A, W, b, dZ: jax.vjp(conv, A, W, b)[1](dZ))
        return lambda: tuple(np.asarray(g) for g in backward(A, W, b, dZ))
    window = (1,) + tuple(kernel) + (1,)
    strides = (1,) + tuple(stride) + (1,)

    def pool(A):
        """Max or average pooling, no padding."""
        if kind.startswith("max"):
            return lax.reduce_window(A, -jnp.inf, lax.max, window, strides,
                                     "VALID")
        return lax.reduce_window(A, 0.0, lax.add, window, strides,
                                 "VALID") / (kernel[0] * kernel[1])

    if kind.endswith("fwd"):
        forward = jax.jit(pool)
        return lambda: (np.asarray(forward(A)),)
    dA = jnp.asarray(inputs["dA"])
    backward = jax.jit(lambda A, dA: jax.vjp(pool, A)[1](dA))
    return lambda: tuple(np.asarray(g) for g in backward(A, dA))


PEER_WORKLOADS = {"torch": torch_workload, "jax": jax_workload}


def check_agree(name, got, want, dtype):
    """Raise if the arrays of `got` and `want` differ beyond float noise."""
    tolerance = 1e-9 if dtype == np.float64 else 1e-4
    for g, w in zip(got, want):
        scale = max(float(np.abs(w).max()), 1.0)
        error = float(np.abs(np.asarray(g, np.float64) - w).max()) / scale
        if g.shape != w.shape or not error <= tolerance:
            raise SystemExit("{}: results differ (relative error {:.2e}, "
                             "shapes {} and {})".format(name, error, g.shape,
                                                        w.shape))


def timed(function):
    """Seconds one call of function() takes."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


# Issue 21's targets, per core: lenet/layers.py's geometric mean of
# layers/TF and its worst row; the task files' geometric mean of tasks/TF.
LAYERS_GEOMEAN, LAYERS_WORST, TASKS_GEOMEAN = 1.0, 1.5, 2.5
PEER_NAMES = {"tf": "TensorFlow", "torch": "PyTorch", "jax": "JAX"}
FALLBACK = "a compiled kernel where NumPy needs several passes"  # a kind not listed below
# Why a peer can beat lenet/layers.py on a kind of workload: (kind, peer) or
# kind alone for any peer.
PEER_FASTER_BECAUSE = {
    ("max bwd", "torch"): "it keeps the forward's argmax and scatters one value per window; "
                          "pool_backward receives only A_prev and must find every window's "
                          "maxima again (and give ties to all of them)",
    "max bwd": "a compiled kernel finds each window's maximum and routes its gradient in one "
               "pass; NumPy compares and selects block by block",
    "max fwd": "a compiled kernel reduces every window in one pass over the input; NumPy "
               "makes a pass per window row and column",
    "avg fwd": "a compiled kernel reduces every window in one pass over the input; NumPy "
               "makes a pass per window row and column",
    "avg bwd": "a compiled kernel spreads every share in one pass; NumPy adds the shares "
               "block by block",
    "conv fwd": "a direct convolution kernel reads the input in place; the layer copies "
                "every window into a matrix for one BLAS product (25 taps of a one-channel "
                "input: 25 copies of each value)",
    "conv bwd": "direct kernels for both gradients read dZ and the input in place; the "
                "layer copies windows for its BLAS products and adds their gradients back",
}


def why_faster(name, peer):
    """Why ``peer`` ("tf", "torch", "jax") can beat lenet/layers.py on the workload ``name``
    (its first two words are its kind, e.g. "conv fwd"): PEER_FASTER_BECAUSE's reason for the
    kind and that peer, else for the kind, else FALLBACK."""
    kind = " ".join(name.split()[:2])
    return PEER_FASTER_BECAUSE.get((kind, peer), PEER_FASTER_BECAUSE.get(kind, FALLBACK))


def geometric_mean(values):
    """The geometric mean of positive numbers."""
    return math.exp(sum(map(math.log, values)) / len(values))


def one_tf_thread(tf):
    """Hold TensorFlow to one intra-op and one inter-op thread (before its first op)."""
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def speed(workloads, repeat, loop_images):
    """Check, time and print every workload in float64 and float32, by
    lenet/layers.py, the task files, TensorFlow, the loops and the optional
    peers; the geometric means of layers/TF and tasks/TF last."""
    tf = import_tensorflow()
    peers = optional_peers()
    rng = np.random.default_rng(0)
    cases = [(w, dtype) for dtype in (np.float64, np.float32)
             for w in workloads]
    prepared = []  # per workload: its row's name, functions and timings
    for number, (workload, dtype) in enumerate(cases, 1):
        name = label(*workload)
        print("[{:2}/{}] {} {}".format(number, len(cases), name,
                                       np.dtype(dtype).name),
              file=sys.stderr, flush=True)
        inputs = {}
        ours, theirs, loop = make_workload(tf, *workload, dtype, rng, inputs)
        layers, tasks = partial(ours, LAYERS), partial(ours, TASKS)
        n = min(loop_images, workload[1][0])
        check_agree(name + " TensorFlow", layers(), theirs(), dtype)
        check_agree(name + " tasks", tasks(), layers(), dtype)
        check_agree(name + " loops", ours(LAYERS, n), loop(n), dtype)
        others = {peer: PEER_WORKLOADS[peer](module, workload[0], inputs,
                                             *workload[2:])
                  for peer, module in peers.items()}
        for peer, function in others.items():
            check_agree(name + " " + peer, layers(), function(), dtype)
        functions = dict(layers=layers, tasks=tasks, tf=theirs, **others,
                         loops=partial(loop, n))
        prepared.append(dict(name=name, dtype=np.dtype(dtype).name,
                             loop_scale=workload[1][0] / n,
                             functions=functions,
                             times={who: [] for who in functions}))
    # Round after round, every workload in turn, each by every
    # implementation in turn: a load that comes and goes hits all
    # implementations and all rows alike. The first to run after other work
    # runs slower (its inputs out of cache, a core waking up), so the order
    # is reversed every other round: each runs first as often.
    loop_rounds = max(1, min(repeat, 3))
    for round_ in range(repeat):
        print("round {}/{}".format(round_ + 1, repeat), file=sys.stderr,
              flush=True)
        for case in prepared:
            order = [(who, function) for who, function
                     in case["functions"].items()
                     if who != "loops" or round_ < loop_rounds]
            for who, function in order[::-1] if round_ % 2 else order:
                case["times"][who].append(timed(function))
    rows = []
    for case in prepared:
        median = {k: statistics.median(v) for k, v in case["times"].items()}
        median["loops"] *= case["loop_scale"]
        rows.append((case["name"], case["dtype"], median))
    header = ("{:<40} {:>7} {:>9} {:>9} {:>9} {:>10} {:>9} {:>8} {:>11}"
              .format("workload", "dtype", "layers ms", "tasks ms", "TF ms",
                      "loops ms", "layers/TF", "tasks/TF", "loops/layers")
              + "".join(" {:>9}".format(peer + " ms") for peer in peers)
              + (" {:>11} {:>10}".format("layers/best", "best") if peers else ""))
    print("Median of {} rounds, each timing every workload in turn; loops "
          "timed on the first {} images of each batch and scaled to the full "
          "batch.".format(repeat, loop_images))
    print(header)
    print("-" * len(header))
    faster = []  # rows where a peer beats lenet/layers.py
    for name, dtype_name, median in rows:
        fastest = min(["tf", *peers], key=lambda peer: median[peer])
        best = median[fastest]
        if peers and best < median["layers"]:
            faster.append((name, dtype_name, fastest, median["layers"] / best))
        print("{:<40} {:>7} {:9.2f} {:9.2f} {:9.2f} {:10.1f} {:9.2f} {:8.2f} "
              "{:11.0f}".format(
                  name, dtype_name, 1e3 * median["layers"],
                  1e3 * median["tasks"], 1e3 * median["tf"],
                  1e3 * median["loops"], median["layers"] / median["tf"],
                  median["tasks"] / median["tf"],
                  median["loops"] / median["layers"])
              + "".join(" {:9.2f}".format(1e3 * median[peer])
                        for peer in peers)
              + (" {:11.2f} {:>10}".format(median["layers"] / best,
                                           PEER_NAMES[fastest]) if peers else ""))
    print("-" * len(header))
    for who, targets in (("layers", "target <= {:g}, no row above {:g}"
                          .format(LAYERS_GEOMEAN, LAYERS_WORST)),
                         ("tasks", "target <= {:g}".format(TASKS_GEOMEAN))):
        ratios = [median[who] / median["tf"] for _, _, median in rows]
        print("geometric mean of {}/TF over {} workloads: {:.2f} (worst "
              "{:.2f}; {})".format(who, len(ratios), geometric_mean(ratios),
                                   max(ratios), targets))
    if peers:
        best = [median["layers"] / min(median[p] for p in ["tf", *peers])
                for _, _, median in rows]
        print("geometric mean of layers/best peer: {:.2f} (worst {:.2f})"
              .format(geometric_mean(best), max(best)))
        print("Where a peer is faster: {}".format("no row" if not faster else
                                                  "{} rows".format(len(faster))))
        for name, dtype_name, peer, ratio in faster:
            print("  {} {}: {} {:.2f} times as fast: {}".format(
                name, dtype_name, PEER_NAMES[peer], ratio, why_faster(name, peer)))
    for peer, library in (("torch", "PyTorch"), ("jax", "JAX")):
        if peer not in peers:
            print("{}: skipped, not installed (optional)".format(library))


def hostile(workloads, repeat):
    """Check, time and measure lenet/layers.py on every shape that punishes
    shortcuts, in float64 and float32; print the second table. True if all
    are within bounds."""
    tf = import_tensorflow()
    rng = np.random.default_rng(1)
    cases = [(w, dtype) for dtype in (np.float64, np.float32)
             for w in workloads if dtype == np.float64 or not oom_in_tf(w)]
    rows = []
    for number, (workload, dtype) in enumerate(cases, 1):
        name = label(*workload)
        print("[{:2}/{}] {} {}".format(number, len(cases), name,
                                       np.dtype(dtype).name),
              file=sys.stderr, flush=True)
        ours, theirs, _ = make_workload(tf, *workload, dtype, rng)
        ours = partial(ours, LAYERS)
        check_agree(name + " TensorFlow", ours(), theirs(), dtype)
        times = {"ours": [], "tf": []}
        for _ in range(repeat):  # interleaved: a load hits both alike
            times["ours"].append(timed(ours))
            times["tf"].append(timed(theirs))
        beyond = peak_beyond(ours)[1]
        rows.append((name, np.dtype(dtype).name,
                     statistics.median(times["ours"]),
                     statistics.median(times["tf"]), beyond))
    print()
    print("Shapes that punish shortcuts, lenet/layers.py: median of {} "
          "interleaved runs; bounds layers/TF <= {:g}, memory beyond outputs "
          "<= {} MiB.".format(repeat, HOSTILE_RATIO, HOSTILE_MIB))
    header = "{:<52} {:>7} {:>9} {:>9} {:>9} {:>11} {:>7}".format(
        "workload", "dtype", "layers ms", "TF ms", "layers/TF", "beyond MiB",
        "bounds")
    print(header)
    print("-" * len(header))
    within = True
    for name, dtype_name, ours_s, tf_s, beyond in rows:
        ok = ours_s / tf_s <= HOSTILE_RATIO and beyond <= HOSTILE_MIB * MIB
        within = within and ok
        print("{:<52} {:>7} {:9.2f} {:9.2f} {:9.2f} {:11.1f} {:>7}".format(
            name, dtype_name, 1e3 * ours_s, 1e3 * tf_s, ours_s / tf_s,
            beyond / MIB, "ok" if ok else "OUT"))
    print("-" * len(header))
    print("all {} rows within bounds: {}".format(
        len(rows), "yes" if within else "no"))
    skipped = [label(*w) for w in workloads if oom_in_tf(w)]
    if skipped:
        print("float32 not timed for {}: TensorFlow's oneDNN float32 conv "
              "asks for tens of GiB on the padded input and aborts the "
              "process.".format("; ".join(skipped)))
    return within


def oom_in_tf(workload):
    """True where the padded input passes a million pixels: TensorFlow
    2.21's oneDNN float32 Conv2D on the padded 4036 x 4036 input of 'same'
    with stride 64 on 64 x 64 images asked for 69 GiB here and aborted."""
    kind, shape, kernel, padding, stride = workload
    if not kind.startswith("conv"):
        return False
    _, (ph, pw) = tf_padding(padding, shape, kernel, stride)
    return (shape[1] + 2 * ph) * (shape[2] + 2 * pw) > 10 ** 6


def peak_beyond(function, *args, **kwargs):
    """(peak bytes allocated during function(*args, **kwargs), that peak
    less the nbytes of what it returns), traced by tracemalloc."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        outputs = function(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return peak, peak - sum(output.nbytes for output in outputs)


def memory(m):
    """Print the peak memory of conv_forward and conv_backward, of
    lenet/layers.py and of the task files, on an (m, 28, 28, 1) batch,
    3x3x1x2 kernels, 'valid'. True if all are within MEMORY_LIMIT."""
    rng = np.random.default_rng(0)
    print("Peak memory beyond inputs and outputs (tracemalloc), "
          "A_prev ({}, 28, 28, 1) * W (3, 3, 1, 2) 'valid', limit {} MiB"
          .format(m, MEMORY_LIMIT // MIB))
    print("{:<14} {:>7} {:>7} {:>13} {:>12} {:>14}".format(
        "function", "of", "dtype", "inputs MiB", "peak MiB", "beyond MiB"))
    worst = 0
    for dtype in (np.float64, np.float32):
        A = rng.standard_normal((m, 28, 28, 1)).astype(dtype)
        W = rng.standard_normal((3, 3, 1, 2)).astype(dtype)
        b = rng.standard_normal((1, 1, 1, 2)).astype(dtype)
        dZ = rng.standard_normal((m, 26, 26, 2)).astype(dtype)
        for who, functions in (("layers", LAYERS), ("tasks", TASKS)):
            for name, call, inputs in [
                    ("conv_forward", partial(
                        functions["conv_forward"], A, W, b, identity,
                        "valid"), A.nbytes),
                    ("conv_backward", partial(
                        functions["conv_backward"], dZ, A, W, b, "valid"),
                     A.nbytes + dZ.nbytes)]:
                peak, beyond = peak_beyond(call)
                worst = max(worst, beyond)
                print("{:<14} {:>7} {:>7} {:13.1f} {:12.1f} {:14.1f}".format(
                    name, who, np.dtype(dtype).name, inputs / MIB,
                    peak / MIB, beyond / MIB))
        del A, dZ, call  # free this dtype's arrays before the next one's
    return worst <= MEMORY_LIMIT


def main(argv=None):
    """Parse the options and print the speed or the memory table."""
    parser = argparse.ArgumentParser(
        description="Time lenet/layers.py and tasks 0-3 against TensorFlow "
        "(oneDNN on, one thread unless --tf-all-threads) and plain loops, in "
        "float64 and float32, on standard workloads and on shapes that "
        "punish shortcuts (with their memory), or measure the memory on an "
        "MNIST-sized batch.")
    parser.add_argument("--repeat", type=int, default=15, metavar="N",
                        help="timed runs per function (default 15)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny workloads, a smoke test of the script")
    parser.add_argument("--memory", action="store_true",
                        help="peak memory of conv_forward and conv_backward "
                        "on a 50,000-image batch (500 with --quick) instead "
                        "of the speed table")
    parser.add_argument("--loop-images", type=int, default=8, metavar="N",
                        help="images the slow loop reference is timed on "
                        "(default 8)")
    parser.add_argument("--busy", action="store_true",
                        help="keep one core busy (a spinning process) while "
                        "timing: the load of a shared machine")
    threads = parser.add_mutually_exclusive_group()
    threads.add_argument("--tf-one-thread", action="store_true",
                         help="hold TensorFlow to one thread (intra- and "
                         "inter-op), as ours runs all but its largest "
                         "products: the comparison per core (the default)")
    threads.add_argument("--tf-all-threads", action="store_true",
                         help="give TensorFlow its default threads (all "
                         "cores) instead")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.loop_images < 1:
        parser.error("--repeat and --loop-images must be at least 1")
    if args.memory:
        return 0 if memory(500 if args.quick else 50000) else 1
    if not args.tf_all_threads:
        import_tensorflow(one_tf_thread)
        print("TensorFlow held to one thread (intra- and inter-op).")
    else:
        print("TensorFlow on its default threads (all cores).")
    with busy_core(args.busy):
        speed(QUICK if args.quick else FULL, args.repeat, args.loop_images)
        hostile(QUICK_HOSTILE if args.quick else HOSTILE, args.repeat)
    return 0


@contextlib.contextmanager
def busy_core(busy):
    """While the block runs, if `busy`, a Python process spins on one core
    (printed above the tables); it is killed on exit."""
    if not busy:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    print("One core kept busy by a spinning process (pid {}).".format(
        spinner.pid))
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


if __name__ == "__main__":
    sys.exit(main())
