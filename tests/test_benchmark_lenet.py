"""benchmarks/lenet5.py: it runs and prints its tables, the ratio lines under them and the step
profile; its PyTorch (both layouts) and JAX LeNet-5s are the same network as the NumPy model
(checked when those libraries are installed). No timing is asserted."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lenet.data import load_mnist
from lenet.model import NumpyLeNet5

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "lenet5.py"


def load(name, path):
    """The module at `path`, imported under `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


benchmark = load("benchmark_lenet", SCRIPT)
step_profile = load("benchmark_step_profile", SCRIPT.with_name("step_profile.py"))


TORCH = importlib.util.find_spec("torch") is not None


def run(*args):
    """Run the benchmark with args as a user would, from the repository root."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=600)


def row(table, name):
    """The table's row of implementation `name`: (epoch s, x NumPy, x floor)."""
    line = next(line for line in table.splitlines()
                if line.startswith(benchmark.LABELS[name] + " "))
    return tuple(map(float, line[32:].split()))


def inverse_of_column(printed, times_numpy):
    """Whether `printed` (2 decimals) can be 1 / the x NumPy column's `times_numpy` (2 decimals):
    within both roundings."""
    value = float(printed)
    return 1 / (times_numpy + 0.005) - 0.005 <= value <= 1 / (times_numpy - 0.005) + 0.005


def ratio(table, prefix):
    """The text after `prefix` on the table's line that starts with it, or None."""
    lines = [line[len(prefix):] for line in table.splitlines() if line.startswith(prefix)]
    assert len(lines) <= 1, lines
    return lines[0] if lines else None


@pytest.mark.slow
def test_quick_prints_both_tables():
    """`--quick` exits 0 and prints the one-thread and default-threads tables, each with the
    floor and a row (epoch, ratio to NumPy, floor multiple) per implementation, or a skip note
    for an optional library that is not installed."""
    result = run("--quick")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    tables = out.split("\nOne thread each")[1].split("\nDefault threads")
    assert len(tables) == 2
    engines = ["numpy", "numpy-layers", "numpy-tasks"]
    for table, labels in zip(tables, [engines + ["tf1", "keras"],
                                      engines + ["numpy-blas-default", "tf1", "keras"]]):
        assert "single-core float32 GEMM" in table and "x floor" in table
        for name in labels:
            epoch, times_numpy, floor = row(table, name)
            assert epoch > 0 and floor > 1
            assert times_numpy == 1.0 if name == "numpy" else times_numpy > 0
        for name, module in benchmark.OPTIONAL.items():
            line = next(line for line in table.splitlines()
                        if line.startswith(benchmark.LABELS[name] + " "))
            installed = importlib.util.find_spec(module) is not None
            assert ("skipped: {} is not installed".format(module) in line) != installed
        assert ("NumPy / PyTorch eager (faster layout): " in table) == TORCH
        assert "NumPy / TensorFlow 1 graph: " in table and "NumPy / floor: " in table


@pytest.fixture(scope="module")
def quick_output():
    """stdout of `--quick --impl numpy tf1 torch torch-nchw`, split at its sections: the
    one-thread table, the step profile, the default-threads table."""
    result = run("--quick", "--impl", "numpy", "tf1", "torch", "torch-nchw")
    assert result.returncode == 0, result.stderr[-3000:]
    one, rest = result.stdout.split("\nOne thread each")[1].split("\nStep profile, ")
    profile, default = rest.split("\nDefault threads")
    return one, profile, default


@pytest.mark.slow
def test_quick_prints_the_step_profile_after_the_one_thread_table(quick_output):
    """The one-thread child profiles 20 steps of the fused engine (--quick); the profile's table
    (header, a row per part, the whole step) comes after the one-thread table."""
    _, profile, _ = quick_output
    lines = profile.splitlines()
    assert lines[0].startswith("NumPy LeNet-5 on the fused engine") and "20 steps" in lines[0]
    assert lines[1].split() == ["part", "us/step", "share", "floor", "us", "x", "floor"]
    step = next(line for line in lines if line.startswith("step "))
    micros, share, floor, times_floor = step.split()[1:]
    assert float(micros) > 0 and share == "100%" and float(floor) > 0
    assert float(times_floor) > 1
    for label, _ in step_profile.BLOCK_PARTS.values():
        assert any(line.startswith(label + " ") for line in lines), label


@pytest.mark.slow
def test_quick_prints_the_ratio_lines(quick_output):
    """Under each table, NumPy over TensorFlow 1's graph, over the faster PyTorch layout (named)
    and over the floor, matching the table's own columns; the targets only in the one-thread
    table. The PyTorch line appears when torch is installed."""
    one, _, default = quick_output
    for table, targets in ((one, True), (default, False)):
        numpy_epoch, _, numpy_floor = row(table, "numpy")
        tf1 = ratio(table, "NumPy / TensorFlow 1 graph: ")
        floor = ratio(table, "NumPy / floor: ")
        torch = ratio(table, "NumPy / PyTorch eager (faster layout): ")
        assert (torch is not None) == TORCH
        suffixes = {"tf1": " (target <= 1.0)", "floor": " (target <= 2.5)",
                    "torch": " (target <= 0.6)"} if targets else {}
        assert tf1.endswith(suffixes.get("tf1", "")) and ("target" in tf1) == targets
        assert floor == "{:.1f}{}".format(numpy_floor, suffixes.get("floor", ""))
        assert inverse_of_column(tf1.split()[0], row(table, "tf1")[1])
        if TORCH:
            value, _, named = torch.partition("; faster: ")
            assert value == value.split()[0] + suffixes.get("torch", "")
            faster = {"torch": row(table, "torch")[0], "torch-nchw": row(table, "torch-nchw")[0]}
            assert named in (benchmark.LABELS["torch"], benchmark.LABELS["torch-nchw"])
            name = "torch" if named == benchmark.LABELS["torch"] else "torch-nchw"
            assert faster[name] <= min(faster.values())
            assert inverse_of_column(value.split()[0], row(table, name)[1])


@pytest.mark.slow
def test_no_profile_leaves_the_profile_out():
    """`--no-profile`: the one-thread table and its ratio lines, no step profile."""
    result = run("--quick", "--impl", "numpy", "--threads", "one", "--no-profile")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "One thread each" in result.stdout and "NumPy / floor: " in result.stdout
    assert "Step profile" not in result.stdout and "us/step" not in result.stdout


@pytest.mark.slow
def test_help():
    """`--help` documents the options and says that PyTorch and JAX are optional."""
    result = run("--help")
    assert result.returncode == 0
    for option in ("--quick", "--epochs", "--images", "--data", "--impl", "--threads",
                   "--no-profile", "torch-nchw"):
        assert option in result.stdout
    assert "optional" in result.stdout


def test_bad_options_are_refused():
    """Fewer than 2 epochs (no epoch after the first to count) is a usage error."""
    with pytest.raises(SystemExit) as error:
        benchmark.main(["--epochs", "1"])
    assert error.value.code == 2


def test_flops_per_image_counts_the_parameters():
    """The floor's FLOP count: the dense layers' forward multiply-adds are their kernels' entries
    (from the model's weight shapes); each convolution does one multiply-add per kernel entry
    per output position (28x28 'same', 10x10 'valid'); backward doubles all of it but the
    first layer's input gradient."""
    shapes = [w.shape for w in NumpyLeNet5(seed=0).get_weights()[::2]]
    conv1, conv2 = (np.prod(s) for s in shapes[:2])
    dense = sum(np.prod(s) for s in shapes[2:])
    forward = 28 * 28 * conv1 + 10 * 10 * conv2 + dense
    assert benchmark.lenet_flops_per_image() == 2 * (3 * forward - 28 * 28 * conv1)


@pytest.fixture(scope="module")
def numpy_model_and_images():
    """A float32 NumpyLeNet5 with non-zero biases, and 4 embedded MNIST images (4, 28, 28, 1)."""
    model = NumpyLeNet5(seed=1)
    weights = model.get_weights()
    rng = np.random.default_rng(1)
    for index in (1, 3, 5, 7, 9):
        weights[index] = rng.normal(0, 0.1, weights[index].shape).astype(np.float32)
    model.set_weights(weights)
    X = load_mnist("embedded", verbose=False).X_train[:4, ..., None].astype(np.float32)
    return model, X


@pytest.mark.parametrize("channels_last", [True, False], ids=["channels_last", "nchw"])
def test_torch_lenet_is_the_same_network(numpy_model_and_images, channels_last):
    """With the NumPy model's weights (kernels moved to PyTorch's layouts, the first dense
    layer's rows from NHWC to NCHW flattening order), TorchLeNet5 gives the same logits in
    either layout, fed as its train_step feeds it; and each layout is the one it says."""
    torch = pytest.importorskip("torch")
    model, X = numpy_model_and_images
    W1, b1, W2, b2, W3, b3, W4, b4, W5, b5 = model.get_weights()
    W3_nchw = W3.reshape(5, 5, 16, 120).transpose(2, 0, 1, 3).reshape(400, 120)
    values = [W1.transpose(3, 2, 0, 1), b1, W2.transpose(3, 2, 0, 1), b2, W3_nchw.T, b3, W4.T,
              b4, W5.T, b5]
    net = benchmark.TorchLeNet5(seed=0, channels_last=channels_last)
    parameters = list(net.net.parameters())
    assert sum(p.numel() for p in parameters) == 61706
    conv2 = parameters[2]  # (16, 6, 5, 5): the two formats differ
    assert conv2.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert conv2.is_contiguous() != channels_last
    with torch.no_grad():
        for parameter, value in zip(parameters, values):
            parameter.copy_(torch.from_numpy(np.ascontiguousarray(value)))
        x = net.inputs(X)
        assert x.shape == (4, 1, 28, 28) and (channels_last or x.is_contiguous())
        logits = net.net(x).numpy()
    np.testing.assert_allclose(logits, model._logits(X)[0], rtol=0, atol=1e-5)


def test_jax_lenet_is_the_same_network(numpy_model_and_images):
    """With the NumPy model's weights (same order and shapes), JaxLeNet5 gives the same logits."""
    pytest.importorskip("jax")
    model, X = numpy_model_and_images
    logits = np.asarray(benchmark.JaxLeNet5._logits(model.get_weights(), X))
    np.testing.assert_allclose(logits, model._logits(X)[0], rtol=0, atol=1e-5)


def test_step_profile_parts_nest():
    """step_profile.profile on a few small steps: every part is timed (the dense layers, Adam and
    each block's forward and backward are called every step, so each is above zero); in every
    step the parts fit inside the step, and the fused engine's kinds of work, timed inside its
    blocks, inside the blocks' time (a clock counted twice, or a kind outside its block, breaks
    one of these); the medians come from those steps."""
    result = step_profile.profile("fused", steps=5, images=64, batch=4)
    parts, step, records = result["parts"], result["step"], result["records"]
    assert result["engine"] == "fused" and result["batch"] == 4 and result["steps"] == 5
    assert len(records) == 5
    for name in step_profile.BLOCK_PARTS:
        assert parts[name] > 0, name
    for record in records:
        blocks = sum(record[name] for name in step_profile.BLOCK_PARTS if "block" in name)
        kinds = sum(record[kind] for kind in step_profile.KINDS)
        assert 0 < kinds <= blocks
        assert sum(record[name] for name in step_profile.BLOCK_PARTS) <= record["step"]
        assert record["other"] >= 0
    assert step == sorted(record["step"] for record in records)[2]


def test_step_profile_script():
    """`step_profile.py --steps 3 --batch 2` prints both tables (the kinds of work on the fused
    engine); the layers engine prints the first only; --batch 0 is refused; --help names the
    options."""
    script = SCRIPT.with_name("step_profile.py")

    def profile(*args):
        """Run step_profile.py as a user would."""
        return subprocess.run([sys.executable, str(script), *args], cwd=str(ROOT),
                              capture_output=True, text=True, timeout=300)

    result = profile("--steps", "3", "--batch", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "batch 2, one thread, median of 3 steps" in result.stdout
    assert "by kind of work" in result.stdout and "products: " in result.stdout
    result = profile("--steps", "3", "--batch", "2", "--engine", "layers")
    assert result.returncode == 0 and "layers engine" in result.stdout
    assert "by kind of work" not in result.stdout
    result = profile("--batch", "0")
    assert result.returncode == 2 and "--batch must be >= 1" in result.stderr
    result = profile("--help")
    for option in ("--engine", "--steps", "--batch", "--data"):
        assert option in result.stdout
