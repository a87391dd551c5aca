"""Shared pytest fixtures: the layer functions of tasks 0-3 (the task files and lenet.layers, each
test on both), the MNIST test set, tools the tests need."""
import os
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MNIST = ROOT.parent / "shared" / "data" / "mnist"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# References come from TensorFlow's portable (Eigen) CPU kernels. Its oneDNN
# float32 conv2d returns garbage (values up to ~1e22) on some strided shapes,
# e.g. a (3, 12, 3, 1) input, a (5, 2) kernel and strides (1, 3) (seen with
# TensorFlow 2.21 here): a reference must not, so tests switch oneDNN off.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lenet.output import probe_writable  # noqa: E402

from checks import IMPLEMENTATIONS, layer_function  # noqa: E402


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def implementation(request):
    """Which implementation the layer fixtures below give: 'task' (the task files) or 'layers'
    (lenet.layers). A test using any of them runs once on each, with the same oracles."""
    return request.param


@pytest.fixture(scope="session")
def conv_forward(implementation):
    """Task 0: conv_forward, of the task file or of lenet.layers."""
    return layer_function(implementation, "conv_forward")


@pytest.fixture(scope="session")
def pool_forward(implementation):
    """Task 1: pool_forward, of the task file or of lenet.layers."""
    return layer_function(implementation, "pool_forward")


@pytest.fixture(scope="session")
def conv_backward(implementation):
    """Task 2: conv_backward, of the task file or of lenet.layers."""
    return layer_function(implementation, "conv_backward")


@pytest.fixture(scope="session")
def pool_backward(implementation):
    """Task 3: pool_backward, of the task file or of lenet.layers."""
    return layer_function(implementation, "pool_backward")


@pytest.fixture(scope="session")
def batch():
    """64 real MNIST training images (the embedded set), NHWC float32, and their one-hot
    labels: the fixed batch of the LeNet-5 tests."""
    from lenet.data import load_mnist, one_hot
    from lenet.data import as_images
    splits = load_mnist("embedded", verbose=False)
    return as_images(splits.X_train[:64]), one_hot(splits.Y_train[:64])


@pytest.fixture(scope="session")
def mnist_test_dir():
    """Path to the real MNIST (all four IDX files, or the test set alone): $MNIST_PATH, else
    ../shared/data/mnist; skips without it, but fails in CI (CI=true), where it must exist."""
    env = os.environ.get("MNIST_PATH")
    if env and Path(env).exists():
        return Path(env)
    if SHARED_MNIST.is_dir():
        return SHARED_MNIST
    missing(f"MNIST test set not found: set MNIST_PATH or place it in {SHARED_MNIST}")


@pytest.fixture(scope="session")
def numpy1_python():
    """$NUMPY1_PYTHON, a Python with numpy==1.26.4 alone (the graders' NumPy; .ci/run makes
    one); skips without it, but fails in CI (CI=true), where it must exist."""
    python = os.environ.get("NUMPY1_PYTHON")
    if not python:
        missing("set NUMPY1_PYTHON to a Python with numpy==1.26.4 (.ci/run makes one)")
    return python


def missing(message):
    """Skip the test for want of a source or tool, or fail it in CI (CI=true), where every one
    must be there."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def unwritable_dir(tmp_path):
    """An existing folder in which this process cannot create files.

    A folder without write permission, except as root (which ignores permissions): then
    /sys, which the kernel keeps read-only even for root.
    """
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        probe_writable(folder)
    except OSError:
        yield folder
        folder.chmod(stat.S_IRWXU)
        return
    folder.chmod(stat.S_IRWXU)
    try:
        probe_writable("/sys")
    except OSError:
        yield "/sys"
        return
    pytest.skip("no folder here refuses writes (root, and /sys is writable)")
