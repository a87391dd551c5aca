"""Grader rules for every task file: shebang, executable bit, docstrings, pycodestyle, imports,
runs alone."""
import ast
import os
import shutil
import stat
import subprocess
import sys

import pytest

from lenet.tasks import ROOT

# The graded task files at the repo root; every test here with a task_file argument runs once per
# entry.
TASK_FILES = [
    "0-conv_forward.py",
    "1-pool_forward.py",
    "2-conv_backward.py",
    "3-pool_backward.py",
    "4-lenet5.py",
    "5-lenet5.py",
]

# What a task file may import: (module, alias) pairs, checked on the syntax tree.
NUMPY_ONLY = {("numpy", "np")}

# One small call per task, run in a folder holding nothing but the task file, and what it must
# print.
SMOKE_CALLS = {
    "0-conv_forward.py": (
        "import numpy as np\n"
        "task = __import__('0-conv_forward')\n"
        "Z = task.conv_forward(np.ones((2, 5, 6, 1)), np.ones((3, 2, 1, 4)),\n"
        "                      np.zeros((1, 1, 1, 4)), lambda z: z, padding='valid')\n"
        "print(Z.shape, Z.dtype, Z[0, 0, 0, 0])\n",
        "(2, 3, 5, 4) float64 6.0",
    ),
    "1-pool_forward.py": (
        "import numpy as np\n"
        "task = __import__('1-pool_forward')\n"
        "A = task.pool_forward(np.arange(96.0).reshape(2, 4, 4, 3), (2, 2), (2, 2))\n"
        "print(A.shape, A.dtype, A[0, 0, 0, 0])\n",
        "(2, 2, 2, 3) float64 15.0",
    ),
    "2-conv_backward.py": (
        "import numpy as np\n"
        "task = __import__('2-conv_backward')\n"
        "grads = task.conv_backward(np.ones((2, 3, 5, 4)), np.ones((2, 5, 6, 1)),\n"
        "                           np.ones((3, 2, 1, 4)), np.zeros((1, 1, 1, 4)),\n"
        "                           padding='valid')\n"
        "print([g.shape for g in grads], grads[2][0, 0, 0, 0])\n",
        "[(2, 5, 6, 1), (3, 2, 1, 4), (1, 1, 1, 4)] 30.0",
    ),
    "3-pool_backward.py": (
        "import numpy as np\n"
        "task = __import__('3-pool_backward')\n"
        "dA = task.pool_backward(np.ones((2, 2, 2, 3)), np.ones((2, 4, 4, 3)), (2, 2), (2, 2),\n"
        "                        mode='avg')\n"
        "print(dA.shape, dA.dtype, dA[0, 0, 0, 0])\n",
        "(2, 4, 4, 3) float64 0.25",
    ),
    "4-lenet5.py": (
        "import numpy as np\n"
        "import tensorflow as tf\n"
        "tf.compat.v1.disable_eager_execution()\n"
        "task = __import__('4-lenet5')\n"
        "x = tf.compat.v1.placeholder(tf.float32, (None, 28, 28, 1))\n"
        "y = tf.compat.v1.placeholder(tf.float32, (None, 10))\n"
        "y_pred, train_op, loss, acc = task.lenet5(x, y)\n"
        "with tf.compat.v1.Session() as session:\n"
        "    session.run(tf.compat.v1.global_variables_initializer())\n"
        "    feed = {x: np.zeros((3, 28, 28, 1)), y: np.eye(10)[:3]}\n"
        "    p, _ = session.run([y_pred, train_op], feed)\n"
        "params = sum(int(np.prod(v.shape)) for v in tf.compat.v1.trainable_variables())\n"
        "print(params, p.shape, type(train_op).__name__)\n",
        "61706 (3, 10) Operation",
    ),
    "5-lenet5.py": (
        "import numpy as np\n"
        "from tensorflow import keras as K\n"
        "task = __import__('5-lenet5')\n"
        "model = task.lenet5(K.Input(shape=(28, 28, 1)))\n"
        "p = model.predict(np.zeros((3, 28, 28, 1)), verbose=0)\n"
        "print(model.count_params(), p.shape, type(model.optimizer).__name__)\n",
        "61706 (3, 10) Adam",
    ),
}


def function_name(task_file):
    """'0-conv_forward.py' -> 'conv_forward'."""
    return task_file[:-3].split("-", 1)[1]


def task_number(task_file):
    """'0-conv_forward.py' -> 0."""
    return int(task_file.split("-", 1)[0])


def parse(task_file):
    """Syntax tree of a task file (never imported here)."""
    return ast.parse((ROOT / task_file).read_text(), filename=task_file)


@pytest.mark.parametrize("task_file", TASK_FILES)
def test_task_file_exists(task_file):
    """The task file is at the repository root."""
    assert (ROOT / task_file).is_file(), f"{task_file} is missing from {ROOT}"


@pytest.mark.parametrize("task_file", TASK_FILES)
def test_shebang(task_file):
    """The first line is exactly the shebang."""
    first_line = (ROOT / task_file).read_text().split("\n", 1)[0]
    assert first_line == "#!/usr/bin/env python3"


@pytest.mark.parametrize("task_file", TASK_FILES)
def test_executable(task_file):
    """The file is executable, with the owner bit set (root passes os.access if any x bit is)."""
    path = ROOT / task_file
    assert os.access(path, os.X_OK)
    assert path.stat().st_mode & stat.S_IXUSR, f"run: chmod +x {task_file}"


@pytest.mark.parametrize("task_file", TASK_FILES)
def test_module_docstring(task_file):
    """The module has a non-empty docstring."""
    docstring = ast.get_docstring(parse(task_file))
    assert docstring and docstring.strip()


@pytest.mark.parametrize("task_file", TASK_FILES)
def test_function_docstring(task_file):
    """The task function is defined at top level and has a non-empty docstring."""
    name = function_name(task_file)
    functions = {node.name: node for node in parse(task_file).body
                 if isinstance(node, ast.FunctionDef)}
    assert name in functions, f"{task_file} defines no top-level function {name}"
    docstring = ast.get_docstring(functions[name])
    assert docstring and docstring.strip()


@pytest.mark.parametrize("task_file", TASK_FILES)
def test_every_function_has_a_docstring(task_file):
    """Helpers count too: every function and class in the file has a docstring."""
    missing = [node.name for node in ast.walk(parse(task_file))
               if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not ast.get_docstring(node)]
    assert not missing, f"no docstring: {missing}"


@pytest.mark.parametrize("task_file", TASK_FILES)
def test_pycodestyle(task_file):
    """pycodestyle (default settings) reports nothing."""
    result = subprocess.run([sys.executable, "-m", "pycodestyle", str(ROOT / task_file)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def imports_of(task_file):
    """(module, alias) of each import in the file: `from m import x` gives (m, None), a call of
    __import__ gives ("__import__", None)."""
    found = []
    for node in ast.walk(parse(task_file)):
        if isinstance(node, ast.Import):
            found += [(alias.name, alias.asname) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found += [(node.module, None) for _ in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "__import__"):
            found.append(("__import__", None))
    return found


@pytest.mark.parametrize("task_file", TASK_FILES)
def test_imports(task_file):
    """Tasks 0-3 import nothing but `import numpy as np`, tasks 4-5 nothing but tensorflow."""
    found = imports_of(task_file)
    assert found, "the task file imports nothing"
    if task_number(task_file) <= 3:
        forbidden = [item for item in found if item not in NUMPY_ONLY]
    else:
        forbidden = [item for item in found
                     if item[0] != "tensorflow" and not item[0].startswith("tensorflow.")]
    assert not forbidden, f"forbidden imports: {forbidden}"


@pytest.mark.parametrize("task_file", TASK_FILES)
def test_smoke_call_defined(task_file):
    """Every task file in TASK_FILES has a smoke call here (add one with a new task)."""
    assert task_file in SMOKE_CALLS


# Tasks 4 and 5 import TensorFlow in a fresh interpreter (a few seconds each): slow lane.
RUN_ALONE = [pytest.param(task_file, marks=pytest.mark.slow) if task_number(task_file) >= 4
             else task_file for task_file in TASK_FILES]


@pytest.mark.parametrize("task_file", RUN_ALONE)
def test_runs_alone_in_empty_folder(task_file, tmp_path):
    """Copied alone into an empty folder, the file imports and computes the right small result."""
    code, expected = SMOKE_CALLS[task_file]
    shutil.copy(ROOT / task_file, tmp_path / task_file)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    left = sorted(path.name for path in tmp_path.iterdir() if path.name != "__pycache__")
    assert left == [task_file]


NUMPY_TASKS = ["0-conv_forward.py", "1-pool_forward.py", "2-conv_backward.py", "3-pool_backward.py"]


def helper_sources():
    """{helper name: {task file: source}} over the top-level functions of tasks 0-3."""
    found = {}
    for task_file in NUMPY_TASKS:
        text = (ROOT / task_file).read_text()
        for node in parse(task_file).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("_"):
                found.setdefault(node.name, {})[task_file] = ast.get_source_segment(text, node)
    return found


def test_twin_helpers_are_identical():
    """A helper defined in several of tasks 0-3 (each file must stand alone) has the same source in
    every one of them: a fix to one copy cannot be forgotten in the others. (No shared helper at
    all passes too.)"""
    for name, copies in helper_sources().items():
        first_file, first = next(iter(copies.items()))
        for task_file, source in copies.items():
            assert source == first, f"{name} in {task_file} differs from its twin in {first_file}"


def test_twin_check_can_fail(monkeypatch):
    """The twin check sees a difference: one copy of a shared helper changed by a character."""
    real = helper_sources()
    forged = {"_helper": {"0-conv_forward.py": "def _helper():\n    return 1",
                          "2-conv_backward.py": "def _helper():\n    return 2"}}
    monkeypatch.setitem(globals(), "helper_sources", lambda: {**real, **forged})
    with pytest.raises(AssertionError, match="_helper in 2-conv_backward.py differs"):
        test_twin_helpers_are_identical()
