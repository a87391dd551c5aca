"""Run the per-task mains (tests/0-main.py ... 3-main.py) as subprocesses.

Each main must run from the repository root and from tests/, print the
shapes the classic exercise prints, pass its finite-difference checks and
save its picture. The expected number of images comes from lenet.data
itself, loaded with the same environment the subprocess sees.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lenet.data import load_mnist, nonempty_split

ROOT = Path(__file__).resolve().parent.parent

MAINS = ["0-main.py", "1-main.py", "2-main.py", "3-main.py"]
TIMEOUT = 120  # seconds; each main takes a few


def run_main(name, cwd, *args):
    """Run tests/<name> with ``cwd`` as working directory; return it."""
    script = os.path.join("tests", name) if cwd == ROOT else name
    return subprocess.run([sys.executable, script, *map(str, args)],
                          cwd=str(cwd), capture_output=True, text=True,
                          timeout=TIMEOUT)


def expected_lines(name, m):
    """Substrings main ``name`` must print when it uses m images."""
    if name == "0-main.py":
        return ["A_prev ({}, 28, 28, 1)".format(m),
                "A      ({}, 26, 26, 2)".format(m)]
    if name == "1-main.py":
        return ["A_prev ({}, 28, 28, 2)".format(m),
                "A      ({}, 14, 14, 2)".format(m)]
    if name == "2-main.py":
        return ["dA_prev (10, 28, 28, 1)", "dW (3, 3, 1, 2):",
                "db (1, 1, 1, 2):"]
    return ["dA_prev (10, 28, 28, 2)"]


def checked_names(name):
    """Names of the finite-difference checks main ``name`` reports."""
    return {"2-main.py": ["dA_prev", "dW", "db"],
            "3-main.py": ["max", "avg"]}.get(name, [])


def check_output(result, name, split, n_images, out):
    """Assert exit code, printed shapes, OK verdicts and the picture.

    ``split`` and ``n_images`` are the split the main should use and its
    size; mains 2 and 3 take its first 10 images.
    """
    report = "stdout:\n{}\nstderr:\n{}".format(result.stdout, result.stderr)
    assert result.returncode == 0, report
    stdout = result.stdout
    assert stdout.startswith("MNIST: "), report
    assert "using the {} split".format(split) in stdout, report
    assert " {} images".format(n_images) in stdout, report
    m = n_images if name in ("0-main.py", "1-main.py") else 10
    for line in expected_lines(name, m):
        assert line in stdout, report
    for check in checked_names(name):
        pattern = r"^\s+{}\s+\d+ entries\s+\S+\s+OK$".format(check)
        assert re.search(pattern, stdout, re.MULTILINE), report
    assert "FAILED" not in stdout, report
    picture = out / name.replace(".py", ".png")
    assert picture.is_file(), report
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def default_split():
    """(split name, number of images) the mains use with no --data."""
    split, images, _ = nonempty_split(load_mnist(verbose=False))
    return split, len(images)


@pytest.mark.parametrize("where", ["root", "tests"])
@pytest.mark.parametrize("name", MAINS)
def test_main_default_data(name, where, default_split, tmp_path):
    """The main runs from the root and from tests/ on the default data."""
    cwd = ROOT if where == "root" else ROOT / "tests"
    result = run_main(name, cwd, "--out", tmp_path)
    split, n_images = default_split
    check_output(result, name, split, n_images, tmp_path)


@pytest.mark.parametrize("name", MAINS)
def test_main_real_test_set(name, mnist_test_dir, tmp_path):
    """--data with the official t10k folder falls back to the test split."""
    splits = load_mnist(mnist_test_dir, verbose=False)
    split, images, _ = nonempty_split(splits)
    result = run_main(name, ROOT / "tests", "--data", mnist_test_dir,
                      "--out", tmp_path)
    check_output(result, name, split, len(images), tmp_path)
    if len(splits.X_train) == 0:
        assert "using the test split" in result.stdout


@pytest.mark.parametrize("name", MAINS)
def test_main_help(name):
    """--help lists --data, --out (default under the root) and --show."""
    result = run_main(name, ROOT, "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--data", "--out", "--show"):
        assert option in result.stdout
    assert "mains" in result.stdout


def test_main_bad_data(tmp_path):
    """A --data path that does not exist fails with the path named."""
    missing = tmp_path / "missing.npz"
    result = run_main("0-main.py", ROOT, "--data", missing, "--out",
                      tmp_path)
    assert result.returncode != 0
    assert str(missing) in result.stderr
    assert not (tmp_path / "0-main.png").exists()
