"""benchmarks/lenet5.py: it runs and prints its tables; its PyTorch and JAX LeNet-5s are the same
network as the NumPy model (checked when those libraries are installed). No timing is asserted."""
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
spec = importlib.util.spec_from_file_location("benchmark_lenet", SCRIPT)
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


def run(*args):
    """Run the benchmark with args as a user would, from the repository root."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=600)


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
            row = next(line for line in table.splitlines()
                       if line.startswith(benchmark.LABELS[name] + " "))
            epoch, ratio, floor = map(float, row[32:].split())
            assert epoch > 0 and floor > 1
            assert ratio == 1.0 if name == "numpy" else ratio > 0
        for name, module in benchmark.OPTIONAL.items():
            line = next(line for line in table.splitlines()
                        if line.startswith(benchmark.LABELS[name] + " "))
            installed = importlib.util.find_spec(module) is not None
            assert ("skipped: {} is not installed".format(module) in line) != installed
        assert ("NumPy / PyTorch:" in table) == (importlib.util.find_spec("torch") is not None)


@pytest.mark.slow
def test_help():
    """`--help` documents the options and says that PyTorch and JAX are optional."""
    result = run("--help")
    assert result.returncode == 0
    for option in ("--quick", "--epochs", "--images", "--data", "--impl", "--threads"):
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


def test_torch_lenet_is_the_same_network(numpy_model_and_images):
    """With the NumPy model's weights (kernels moved to PyTorch's layouts, the first dense
    layer's rows from NHWC to NCHW flattening order), TorchLeNet5 gives the same logits."""
    torch = pytest.importorskip("torch")
    model, X = numpy_model_and_images
    W1, b1, W2, b2, W3, b3, W4, b4, W5, b5 = model.get_weights()
    W3_nchw = W3.reshape(5, 5, 16, 120).transpose(2, 0, 1, 3).reshape(400, 120)
    values = [W1.transpose(3, 2, 0, 1), b1, W2.transpose(3, 2, 0, 1), b2, W3_nchw.T, b3, W4.T,
              b4, W5.T, b5]
    net = benchmark.TorchLeNet5(seed=0)
    parameters = list(net.net.parameters())
    assert sum(p.numel() for p in parameters) == 61706
    with torch.no_grad():
        for parameter, value in zip(parameters, values):
            parameter.copy_(torch.from_numpy(np.ascontiguousarray(value)))
        logits = net.net(torch.from_numpy(X).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(logits, model._logits(X)[0], rtol=0, atol=1e-5)


def test_jax_lenet_is_the_same_network(numpy_model_and_images):
    """With the NumPy model's weights (same order and shapes), JaxLeNet5 gives the same logits."""
    pytest.importorskip("jax")
    model, X = numpy_model_and_images
    logits = np.asarray(benchmark.JaxLeNet5._logits(model.get_weights(), X))
    np.testing.assert_allclose(logits, model._logits(X)[0], rtol=0, atol=1e-5)
