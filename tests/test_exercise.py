"""The exercise's own examples: mains 0-3 run with our task files on the full classic training
split print the exercise's published outputs (lenet/published/N-main.txt).

Byte for byte under NumPy 1.x, the graders' NumPy: a venv holding numpy==1.26.4 alone, named by
$NUMPY1_PYTHON (.ci/run makes one), runs `python -m lenet.exercise`. Under this NumPy, tasks 0,
1 and 3 byte for byte and task 2 to float32 precision (NumPy >= 2.2 prints shape= in summarized
arrays, and NEP 50 makes the loop answer's dW products exact: see lenet/exercise.py).
"""
import subprocess
import sys

import numpy as np
import pytest

from lenet.data import load_mnist
from lenet.exercise import compare, exercise_output, published_output
from lenet.tasks import LAYER_TASKS, ROOT

from checks import layer_function


@pytest.fixture(scope="module")
def classic_train(mnist_test_dir):
    """The 50,000 classic training images (float32, bytes / 256)."""
    splits = load_mnist(mnist_test_dir, verbose=False)
    if not splits.is_full:
        pytest.skip("{} lacks the training files".format(mnist_test_dir))
    return splits.X_train


@pytest.mark.slow
@pytest.mark.parametrize("task", [0, 1, 2, 3])
def test_published_output(task, classic_train, implementation):
    """Each exercise main prints its published output with our task file, and with
    lenet.layers' function."""
    function = layer_function(implementation, LAYER_TASKS[task][1])
    output = exercise_output(task, classic_train, function)
    verdict, detail = compare(task, output)
    if task == 2 and int(np.__version__.split(".")[0]) >= 2:
        assert verdict in ("same", "same numbers"), detail
    else:
        assert verdict == "same", detail
        assert output == published_output(task)


@pytest.mark.slow
def test_published_outputs_under_numpy_1(mnist_test_dir, numpy1_python):
    """Under NumPy 1.26 (numpy alone, as the graders run it) all four mains print the published
    text byte for byte, task 2's dW included."""
    result = subprocess.run([numpy1_python, "-m", "lenet.exercise", "--data", str(mnist_test_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "NumPy 1." in result.stdout, result.stdout + result.stderr
    for task in range(4):
        assert "{}-main.py: same\n".format(task) in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0


def test_compare_reports_the_first_different_line():
    """compare() accepts the published text and points at the first line that differs."""
    for task in range(4):
        assert compare(task, published_output(task)) == ("same", "")
    verdict, detail = compare(0, "(49999, 26, 26, 2)\n")
    assert verdict == "differs" and "line 1" in detail and "49999" in detail
    text = published_output(3).replace("1.76405235", "1.76405236", 1)
    verdict, detail = compare(3, text)
    assert verdict == "differs" and "line 1:" in detail


def test_exercise_output_ignores_caller_print_options():
    """The text is printed with NumPy's defaults whatever the caller set (our demos set their
    own precision for their extras)."""
    X = np.zeros((10, 28, 28), np.float32)

    def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode="max"):
        return np.full((10, 28, 28, 2), 1 / 3)

    with np.printoptions(precision=2):
        text = exercise_output(3, X, pool_backward)
    assert "0.33333333" in text


def test_exercise_cli_refuses_a_small_source(capsys):
    """python -m lenet.exercise needs the full set: the embedded images are a usage error."""
    from lenet.exercise import main
    with pytest.raises(SystemExit) as info:
        main(["--data", "embedded"])
    assert info.value.code == 2 and "50,000" in capsys.readouterr().err


def test_runs_with_numpy_alone():
    """lenet.exercise, lenet.data and lenet.tasks import nothing beyond NumPy and the standard
    library at module level, so the NumPy 1.x venv can run them."""
    code = ("import sys, lenet.exercise, lenet.data, lenet.tasks; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'matplotlib', 'mlxtend', 'tqdm')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
