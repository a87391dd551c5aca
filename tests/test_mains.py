"""Run the per-task mains (tests/0-main.py ... 3-main.py) as subprocesses.

Each main must run from the repository root and from tests/, print the
shapes the classic exercise prints, pass its finite-difference checks and
save its picture. The expected number of images comes from lenet.data
itself, loaded with the same environment the subprocess sees. Their checks
of arguments and output folders also run in-process (fast lane).
"""
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from lenet.data import load_mnist, nonempty_split
from lenet.exercise import published_output
from lenet.data import demo_images
from lenet.options import check_output_folders, demo_parser, load_or_exit, parse_demo_args
from lenet.tasks import ROOT

from tf_log import bare_tensorflow_noise, noise, user_env


MAINS = ["0-main.py", "1-main.py", "2-main.py", "3-main.py"]
TIMEOUT = 300  # seconds; tasks 0-3 take a few, one epoch of 4-5 about ten


def run_main(name, cwd, *args, env=None):
    """Run tests/<name> with ``cwd`` as working directory, in ``env`` (default: the user's,
    TF_CPP_MIN_LOG_LEVEL unset); return it."""
    script = os.path.join("tests", name) if cwd == ROOT else name
    return subprocess.run([sys.executable, script, *map(str, args)],
                          cwd=str(cwd), capture_output=True, text=True,
                          timeout=TIMEOUT, env=user_env() if env is None else env)


def expected_lines(name, m):
    """Substrings main ``name`` must print when it uses m images."""
    if name == "0-main.py":
        return ["A_prev ({}, 28, 28, 1)".format(m),
                "A      ({}, 26, 26, 2)".format(m)]
    if name == "1-main.py":
        return ["A_prev ({}, 28, 28, 2)".format(m),
                "A      ({}, 14, 14, 2)".format(m)]
    return []  # mains 2 and 3 print the exercise's arrays, checked against it


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
    task = int(name[0])
    exercise, _, extras = stdout.partition("\nMNIST: ")
    assert extras, report  # the exercise's output first, then ours
    assert "using the {} split".format(split) in stdout, report
    verdict = re.search(r"published output of the exercise's {}-main.py: (\w+( numbers)?)"
                        .format(task), stdout).group(1)
    if split == "train" and n_images == 50000:  # the exercise's own data
        assert verdict == "same" or (task == 2 and verdict == "same numbers"), report
        assert exercise == published_output(task) or task == 2, report
    else:
        assert verdict == "differs", report
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


@pytest.mark.slow
@pytest.mark.parametrize("where", ["root", "tests"])
@pytest.mark.parametrize("name", MAINS)
def test_main_default_data(name, where, default_split, tmp_path):
    """The main runs from the root and from tests/ on the default data."""
    cwd = ROOT if where == "root" else ROOT / "tests"
    result = run_main(name, cwd, "--out", tmp_path)
    split, n_images = default_split
    check_output(result, name, split, n_images, tmp_path)


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("name", MAINS)
def test_main_help(name):
    """--help lists --data, --out (default under the root) and --show."""
    result = run_main(name, ROOT, "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--data", "--out", "--show"):
        assert option in result.stdout
    assert "mains" in result.stdout


def assert_usage_error(result, message):
    """Exit code 2, argparse's usage line and one error line naming
    ``message``, no traceback."""
    report = "stdout:\n{}\nstderr:\n{}".format(result.stdout, result.stderr)
    assert result.returncode == 2, report
    errors = [line for line in result.stderr.splitlines()
              if ": error: " in line]
    assert len(errors) == 1 and message in errors[0], report
    # the usage, then the error as the last line (TensorFlow's start-up log
    # may come first in 4 and 5)
    lines = result.stderr.splitlines()
    assert lines[-1] == errors[0], report
    assert any(line.startswith("usage: ") for line in lines), report
    assert "Traceback" not in result.stderr, report


ALL_MAINS = MAINS + ["4-main.py", "5-main.py"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_MAINS)
def test_main_bad_data(name, tmp_path):
    """Every demo: a --data path that does not exist is a usage error (exit
    2, one line naming the path; demos 0-3 used to print a traceback), no
    picture, and the --out folder made for the run is removed again."""
    missing = tmp_path / "missing.npz"
    out = tmp_path / "new" / "out"
    result = run_main(name, ROOT, "--data", missing, "--out", out)
    assert_usage_error(result, str(missing))
    assert os.listdir(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_MAINS)
def test_main_out_under_a_file(name, tmp_path):
    """Every demo: an --out that cannot be a folder is a usage error before
    any work (no data source line printed)."""
    (tmp_path / "file").write_text("not a folder")
    result = run_main(name, ROOT, "--out", tmp_path / "file" / "out")
    assert_usage_error(result, "is not a folder")
    assert "MNIST:" not in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", ["0-main.py", "4-main.py"])
def test_main_out_unwritable(name, unwritable_dir):
    """An existing folder that refuses files: a usage error before any work."""
    result = run_main(name, ROOT, "--out", unwritable_dir)
    assert_usage_error(result, "not writable")
    assert "MNIST:" not in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", ["4-main.py", "5-main.py"])
@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_training_main_bad_seed(name, seed, tmp_path):
    """--seed outside 0 .. 2**32 - 1 is a usage error before training."""
    result = run_main(name, ROOT, "--seed", seed, "--out", tmp_path)
    assert_usage_error(result, "--seed")
    assert "MNIST:" not in result.stdout


@pytest.mark.slow
def test_tf1_main_save_unwritable(tmp_path):
    """4-main --save under a regular file (the issue's /etc/passwd/model) is
    a usage error before training; it used to train first and fail after."""
    (tmp_path / "file").write_text("not a folder")
    result = run_main("4-main.py", ROOT, "--save", tmp_path / "file" / "model",
                      "--out", tmp_path)
    assert_usage_error(result, "--save")
    assert "After 0 epochs" not in result.stdout


# The same checks in-process (fast lane)

@pytest.mark.parametrize("out", ["file/out", "file"])
def test_parse_demo_args_out_under_a_file(out, tmp_path, capsys):
    """parse_demo_args refuses an --out that cannot be a folder: exit 2."""
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SystemExit) as exit_info:
        parse_demo_args("demo", ["--out", str(tmp_path / out)])
    assert exit_info.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_parse_demo_args_out_unwritable(unwritable_dir, capsys):
    """parse_demo_args refuses an existing folder that refuses files."""
    with pytest.raises(SystemExit) as exit_info:
        parse_demo_args("demo", ["--out", str(unwritable_dir)])
    assert exit_info.value.code == 2
    assert "not writable" in capsys.readouterr().err


def test_parse_demo_args_creates_out(tmp_path):
    """A missing --out is created (and probed, leaving nothing in it)."""
    _, args = parse_demo_args("demo", ["--out", str(tmp_path / "a" / "b")])
    assert args.out == str(tmp_path / "a" / "b")
    assert os.listdir(tmp_path / "a" / "b") == []


def test_check_output_save_under_a_file(tmp_path, capsys):
    """check_output_folders refuses a checkpoint whose folder cannot
    exist: exit 2."""
    (tmp_path / "file").write_text("not a folder")
    parser = demo_parser("demo", training=True)
    args = parser.parse_args(["--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_info:
        check_output_folders(parser, args,
                             checkpoint=str(tmp_path / "file" / "m"))
    assert exit_info.value.code == 2
    assert "--save" in capsys.readouterr().err


@pytest.mark.parametrize("source", ["missing.npz", "not-npz.npz"])
def test_demo_images_bad_data(source, tmp_path, capsys):
    """load_or_exit turns demo_images's loader error into a usage error: exit 2, one error
    line naming the file, no traceback."""
    path = tmp_path / source
    if source == "not-npz.npz":
        path.write_bytes(b"this is not an npz archive")
    with pytest.raises(SystemExit) as exit_info:
        load_or_exit(demo_parser("demo"), demo_images, str(path))
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if ": error: " in line]
    assert len(errors) == 1 and str(path) in errors[0]


@pytest.mark.parametrize("args, message", [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**32)], "--seed"),
    (["--batch-size", str(2**63)], "--batch-size"),
    (["--epochs", "-1"], "--epochs"),
])
def test_training_demo_argument_ranges(args, message, capsys):
    """The training demos' numbers are range-checked by argparse: exit 2."""
    with pytest.raises(SystemExit) as exit_info:
        demo_parser("demo", training=True).parse_args(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# The training mains of tasks 4 and 5

TRAINING_MAINS = ["4-main.py", "5-main.py"]
TEST_LINE = re.compile(r"^test: (\S+) cost, (\S+) accuracy \((\d+) images from (.+)\)$",
                       re.MULTILINE)


def check_training_output(result, name, epochs, out):
    """Assert exit code, one report per epoch, the test line, the prediction and the picture;
    return the test accuracy and the number of test images."""
    report = "stdout:\n{}\nstderr:\n{}".format(result.stdout, result.stderr)
    assert result.returncode == 0, report
    stdout = result.stdout
    if name == "4-main.py":
        number = r"(\d+(\.\d+)?(e-?\d+)?)"
        for epoch in range(epochs + 1):
            pattern = (r"^After {} epochs: {n} cost, {n} accuracy, {n} validation cost, "
                       r"{n} validation accuracy$").format(epoch, n=number)
            assert re.search(pattern, stdout, re.MULTILINE), report
        assert "After {} epochs".format(epochs + 1) not in stdout, report
    else:
        # Keras's progress, verbose=2: one line per epoch ("Epoch N/M" above it when M > 1)
        lines = re.findall(r"^\d+/\d+ - .* - loss: .* - val_accuracy: .* - val_loss: .*$",
                           stdout, re.MULTILINE)
        assert len(lines) == epochs, report
        if epochs > 1:
            for epoch in range(1, epochs + 1):
                assert "Epoch {}/{}".format(epoch, epochs) in stdout, report
    match = TEST_LINE.search(stdout)
    assert match, report
    assert re.search(r"^predicted \[[0-9 ]+\]$", stdout, re.MULTILINE), report
    assert re.search(r"^true      \[[0-9 ]+\]$", stdout, re.MULTILINE), report
    picture = out / name.replace(".py", ".png")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", report
    return float(match.group(2)), int(match.group(3))


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING_MAINS)
def test_training_main_default_data(name, tmp_path):
    """From the root, on the embedded data, one epoch: every report line, a test accuracy on
    the held-out split well above chance, the prediction and its picture."""
    result = run_main(name, ROOT, "--epochs", 1, "--data", "embedded", "--out", tmp_path)
    splits = load_mnist("embedded", verbose=False)
    accuracy, n_test = check_training_output(result, name, 1, tmp_path)
    assert n_test == len(splits.X_test)
    assert accuracy > 0.8, result.stdout
    assert noise(result.stderr) == [], result.stderr  # TensorFlow's start-up lines


@pytest.fixture(scope="module")
def bare_noise():
    """What a bare ``import tensorflow`` prints here: {None: unset, 0: TF_CPP_MIN_LOG_LEVEL=0}
    -> its start-up lines; skips when it prints none (nothing to hide on this machine)."""
    bare = {level: bare_tensorflow_noise(level) for level in (None, 0)}
    if not bare[None]:
        pytest.skip("TensorFlow prints no start-up line on this machine")
    return bare


def noise_words(lines):
    """Which of "cuInit" and "oneDNN" the lines mention."""
    return {word for word in ("cuInit", "oneDNN") if any(word in line for line in lines)}


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING_MAINS)
def test_training_main_quiet_unless_asked(name, tmp_path, bare_noise):
    """Mains 4 and 5 print none of TensorFlow's start-up lines ("E0000 ... cuInit", oneDNN)
    when the user has not set TF_CPP_MIN_LOG_LEVEL, although a bare ``import tensorflow``
    prints some here; with TF_CPP_MIN_LOG_LEVEL=0 TensorFlow's own lines come through, as the
    user asked."""
    args = ("--epochs", 0, "--data", "embedded", "--out", tmp_path)
    result = run_main(name, ROOT, *args)
    assert result.returncode == 0, result.stderr
    assert noise(result.stderr) == [], result.stderr
    asked = run_main(name, ROOT, *args, env=user_env(TF_CPP_MIN_LOG_LEVEL="0"))
    assert asked.returncode == 0, asked.stderr
    assert noise_words(noise(asked.stderr)) == noise_words(bare_noise[0]) != set()


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING_MAINS)
def test_training_main_eval_data(name, mnist_test_dir, tmp_path):
    """From tests/, two epochs, scored on the official 10,000-image test set via --eval-data."""
    result = run_main(name, ROOT / "tests", "--epochs", 2, "--data", "embedded",
                      "--eval-data", mnist_test_dir, "--out", tmp_path)
    accuracy, n_test = check_training_output(result, name, 2, tmp_path)
    assert n_test == 10000
    assert accuracy > 0.85, result.stdout


@pytest.mark.slow
def test_tf1_main_save_and_restore(tmp_path):
    """4-main --save writes a checkpoint; --restore with --epochs 0 reloads it: the same
    epoch-0 figures as the trained model's last epoch, and the same test result."""
    checkpoint = tmp_path / "ckpt" / "model"
    trained = run_main("4-main.py", ROOT, "--epochs", 1, "--data", "embedded", "--save",
                       checkpoint, "--out", tmp_path)
    check_training_output(trained, "4-main.py", 1, tmp_path)
    assert (tmp_path / "ckpt" / "model.index").is_file()
    restored = run_main("4-main.py", ROOT, "--epochs", 0, "--data", "embedded", "--restore",
                        checkpoint, "--out", tmp_path)
    check_training_output(restored, "4-main.py", 0, tmp_path)
    last = re.search(r"^After 1 epochs: (.*)$", trained.stdout, re.MULTILINE).group(1)
    first = re.search(r"^After 0 epochs: (.*)$", restored.stdout, re.MULTILINE).group(1)
    assert first == last
    assert TEST_LINE.search(restored.stdout).group(0) == TEST_LINE.search(trained.stdout).group(0)


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING_MAINS)
def test_training_main_help(name):
    """--help lists the training options."""
    result = run_main(name, ROOT, "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--data", "--eval-data", "--epochs", "--batch-size", "--seed", "--out",
                   "--show"):
        assert option in result.stdout
    assert ("--save" in result.stdout) == (name == "4-main.py")


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING_MAINS)
@pytest.mark.parametrize("args, message", [
    (["--epochs", "-1"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--epochs", "two"], "--epochs"),
])
def test_training_main_bad_arguments(name, args, message, tmp_path):
    """A bad number is a usage error (exit code 2) naming the option."""
    result = run_main(name, ROOT, *args, "--out", tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINING_MAINS)
def test_training_main_needs_training_images(name, tmp_path):
    """--data with only a test set (t10k IDX files, written here: the shared MNIST folder also
    holds the training files) has nothing to train on: exit code 2, said so."""
    rng = np.random.default_rng(0)
    source = tmp_path / "t10k-only"
    source.mkdir()
    (source / "t10k-images-idx3-ubyte").write_bytes(
        struct.pack(">IIII", 0x803, 20, 28, 28)
        + rng.integers(0, 256, (20, 28, 28), dtype=np.uint8).tobytes())
    (source / "t10k-labels-idx1-ubyte").write_bytes(
        struct.pack(">II", 0x801, 20) + rng.integers(0, 10, 20, dtype=np.uint8).tobytes())
    result = run_main(name, ROOT, "--data", source, "--out", tmp_path)
    assert_usage_error(result, "no training images")


@pytest.mark.slow
def test_tf1_main_restore_missing(tmp_path):
    """--restore of a checkpoint that does not exist: exit code 2, the path named."""
    missing = tmp_path / "nothing" / "model"
    result = run_main("4-main.py", ROOT, "--restore", missing, "--out", tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(missing) in result.stderr
