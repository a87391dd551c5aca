"""The main job, ``python -m lenet``: a short real run, its files, its table, bad arguments."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lenet.cli import IMPLS, main, table

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def run_job(*args, cwd=ROOT):
    """Run ``python -m lenet`` with ``args`` from the repo root; return the finished process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lenet", *map(str, args)], cwd=str(cwd),
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def job(tmp_path_factory, mnist_test_dir):
    """One epoch of all three implementations on the embedded data, scored on the official
    test set: the finished process and its output folder."""
    out = tmp_path_factory.mktemp("job") / "run"
    result = run_job("--epochs", 1, "--eval-data", mnist_test_dir, "--out", out)
    return result, out


def test_job_succeeds(job):
    """Exit code 0, and the folder is named in the last line."""
    result, out = job
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(out) in result.stdout.splitlines()[-1]


def test_results_json(job):
    """results.json holds exactly the contract's fields for each implementation, with sane
    values: 61,706 parameters, positive seconds, accuracies well above chance."""
    _, out = job
    results = json.loads((out / "results.json").read_text())
    assert list(results) == list(IMPLS)
    for impl, row in results.items():
        assert set(row) == {"params", "seconds_per_epoch", "train_accuracy", "test_accuracy"}
        assert row["params"] == 61706, impl
        assert row["seconds_per_epoch"] > 0, impl
        assert 0.8 < row["train_accuracy"] <= 1, impl
        assert 0.8 < row["test_accuracy"] <= 1, impl


def test_pictures(job):
    """curves.png and filters.png are PNG files."""
    _, out = job
    for name in ("curves.png", "filters.png"):
        assert (out / name).read_bytes()[:8] == PNG, name


def test_printed_table(job):
    """The table names the test set (the official 10,000 images) and has one aligned row per
    implementation, with the figures of results.json."""
    result, out = job
    assert "test accuracy on 10000 images from IDX folder" in result.stdout
    results = json.loads((out / "results.json").read_text())
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("implementation"))
    rows = lines[header + 2:header + 2 + len(IMPLS)]
    assert len({len(line) for line in lines[header:header + 2 + len(IMPLS)]}) == 1
    for row, (impl, figures) in zip(rows, results.items()):
        assert row.split()[-1] == "{:.4f}".format(figures["test_accuracy"])
        assert "61,706" in row


def test_progress_bars(job):
    """A tqdm bar per implementation and epoch, with the running loss and accuracy."""
    result, _ = job
    for impl in IMPLS:
        assert re.search(r"{}\s+epoch 1/1: 100%.*4000/4000.*acc=.*loss=".format(impl),
                         result.stderr), impl


def test_table_alignment():
    """table(): header, rule and rows all the same width; figures right-aligned."""
    text = table({"numpy": {"params": 61706, "seconds_per_epoch": 12.345,
                            "train_accuracy": 0.98765, "test_accuracy": 0.9612},
                  "keras": {"params": 61706, "seconds_per_epoch": 1.5,
                            "train_accuracy": 1.0, "test_accuracy": 0.95}})
    lines = text.splitlines()
    assert len(lines) == 4 and len({len(line) for line in lines}) == 1
    assert lines[2].endswith("12.35     0.9877    0.9612")
    assert lines[3].endswith(" 1.50     1.0000    0.9500")


@pytest.mark.parametrize("args, message", [
    (["--impl", "torch"], "--impl"),
    (["--epochs", "-1"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--seed", "x"], "--seed"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_bad_arguments(args, message, tmp_path, capsys):
    """A bad argument exits with code 2 and a message naming it, before any training."""
    with pytest.raises(SystemExit) as exit_info:
        main(args + ["--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_data_path(tmp_path, capsys):
    """A --data path that does not exist: exit code 2, the path named."""
    missing = tmp_path / "missing.npz"
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(missing), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert str(missing) in capsys.readouterr().err


def test_help():
    """--help names every option and the three implementations."""
    result = run_job("--help")
    assert result.returncode == 0, result.stderr
    for option in ("--impl", "--data", "--eval-data", "--epochs", "--batch-size", "--seed",
                   "--out"):
        assert option in result.stdout
    for impl in IMPLS:
        assert impl in result.stdout
