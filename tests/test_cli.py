"""The main job, ``python -m lenet``: a short real run, its files, its table, bad arguments.

The checks made before training (argument ranges, output folder), the atomic output, Ctrl-C and
--overwrite run in-process with a stand-in for the training (fast lane); the real job and a
real Ctrl-C run as subprocesses (slow).
"""
import contextlib
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lenet import cli
from lenet.answers import AnswersRefused
from lenet.cli import IMPLS, build, display_names, main, table
from lenet.data import TrainingData, one_hot
from lenet.model import DEFAULT_ENGINE, ENGINES
from lenet.tasks import ROOT, load_tasks

from tf_log import noise, user_env

LOOP_ANSWERS = ROOT / "tests" / "loop_answers"

PNG = b"\x89PNG\r\n\x1a\n"


def run_job(*args, cwd=ROOT):
    """Run ``python -m lenet`` with ``args`` from the repo root, as a user who never set
    TF_CPP_MIN_LOG_LEVEL; return the finished process."""
    env = user_env(PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lenet", *map(str, args)], cwd=str(cwd),
                          env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def job(tmp_path_factory, mnist_test_dir):
    """One epoch of all three implementations on the embedded data, scored on the official
    test set: the finished process and its output folder."""
    out = tmp_path_factory.mktemp("job") / "run"
    result = run_job("--epochs", 1, "--data", "embedded", "--eval-data", mnist_test_dir,
                     "--out", out)
    return result, out


@pytest.mark.slow
def test_job_succeeds(job):
    """Exit code 0, the folder is named in the last line, and holds the three files only (no
    temporary or probe file)."""
    result, out = job
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(out) in result.stdout.splitlines()[-1]
    assert sorted(os.listdir(out)) == ["curves.png", "filters.png", "results.json"]


@pytest.mark.slow
def test_no_tensorflow_start_up_lines(job):
    """The job (TF1 and Keras imported) prints none of TensorFlow's start-up lines ("E0000 ...
    cuInit", oneDNN) on stderr: only its progress bars."""
    result, _ = job
    assert noise(result.stderr) == [], result.stderr


@pytest.mark.slow
def test_results_json(job):
    """results.json holds exactly the contract's fields for each implementation, with sane
    values: its name in the table, 61,706 parameters, positive seconds, accuracies well above
    chance; the NumPy model's row also names its engine (the default) and its task files (none:
    the default engine runs on none)."""
    _, out = job
    results = json.loads((out / "results.json").read_text())
    assert list(results) == list(IMPLS)
    for impl, row in results.items():
        fields = {"implementation", "params", "seconds_per_epoch", "train_accuracy",
                  "test_accuracy"}
        assert set(row) == fields | ({"engine", "task_files"} if impl == "numpy" else set())
        assert row["implementation"] == display_names()[impl]
        assert row["params"] == 61706, impl
        assert row["seconds_per_epoch"] > 0, impl
        assert 0.8 < row["train_accuracy"] <= 1, impl
        assert 0.8 < row["test_accuracy"] <= 1, impl
    assert results["numpy"]["engine"] == DEFAULT_ENGINE
    assert results["numpy"]["task_files"] is None


@pytest.mark.slow
def test_pictures(job):
    """curves.png and filters.png are PNG files."""
    _, out = job
    for name in ("curves.png", "filters.png"):
        assert (out / name).read_bytes()[:8] == PNG, name


@pytest.mark.slow
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


@pytest.mark.slow
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
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**32)], "--seed"),  # Keras's set_random_seed refuses it, after training
    (["--batch-size", "99999999999999999999"], "--batch-size"),  # beyond int64: Keras fails
    (["--epochs", str(2**63)], "--epochs"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_bad_arguments(args, message, tmp_path, capsys, no_training):
    """A bad argument exits with code 2 and one error line naming it, before any training; the
    output folder is not created."""
    with pytest.raises(SystemExit) as exit_info:
        main(args + ["--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert_usage_error(capsys.readouterr().err, message)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, attribute, value", [
    (["--seed", "0"], "seed", 0),
    (["--seed", str(2**32 - 1)], "seed", 2**32 - 1),
    (["--batch-size", str(2**63 - 1)], "batch_size", 2**63 - 1),
    (["--epochs", "0"], "epochs", 0),
])
def test_argument_range_ends_accepted(args, attribute, value):
    """The ends of each range are accepted (Keras takes seeds up to 2**32 - 1)."""
    assert getattr(cli.build_parser().parse_args(args), attribute) == value


def test_bad_data_path(tmp_path, capsys):
    """A --data path that does not exist: exit code 2, the path named, and the --out folder
    made for the run removed again (no empty folder left behind)."""
    missing = tmp_path / "missing.npz"
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(missing), "--out", str(tmp_path / "out" / "deep")])
    assert exit_info.value.code == 2
    assert_usage_error(capsys.readouterr().err, str(missing))
    assert os.listdir(tmp_path) == []


def test_failed_run_leaves_no_default_folder(tmp_path, monkeypatch, capsys):
    """Without --out, a run that fails before writing leaves no runs/<timestamp> (nor runs/)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path / "missing.npz")])
    assert os.listdir(tmp_path) == []


# Stand-ins for the training, so that the job's own logic runs in-process in a second.

def assert_usage_error(stderr, message):
    """argparse's usage error: usage lines, then exactly one error line naming ``message``."""
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and message in errors[0], stderr
    assert "Traceback" not in stderr, stderr


class FakeModel:
    """Looks like a trained implementation: parameters, scores, real LeNet-5 weights."""

    def __init__(self, impl, seed, engine=None):
        """A NumPy LeNet-5's weights stand for ``impl``'s."""
        from lenet.model import NumpyLeNet5
        self.weights = NumpyLeNet5(seed=seed).get_weights()
        self.score = {"numpy": 0.91, "tf1": 0.92, "keras": 0.93}[impl]

    def count_params(self):
        """LeNet-5's parameter count."""
        return 61706

    def evaluate(self, X, Y):
        """A fixed loss and accuracy."""
        return 0.3, self.score

    def get_weights(self):
        """The stand-in weights."""
        return self.weights


def fake_data(data, eval_data):
    """Eight blank images per split, labels 0-7."""
    images = np.zeros((8, 28, 28, 1), np.float32)
    labels = one_hot(np.arange(8))
    return TrainingData(images, labels, images, labels, images, labels, "stand-in data")


@pytest.fixture
def fake_job(monkeypatch):
    """Replace data, models and training by stand-ins; return the list of trained impls. Set
    ``interrupt_at`` on the returned list to raise KeyboardInterrupt in that impl's training."""
    class Trained(list):
        """The implementations whose training started, and where Ctrl-C strikes."""
        interrupt_at = None

    trained = Trained()

    def fake_train(impl, model, data, epochs, batch_size, seed):
        """One epoch's history, or Ctrl-C at ``trained.interrupt_at``."""
        trained.append(impl)
        if impl == trained.interrupt_at:
            raise KeyboardInterrupt
        return ({"train_loss": [0.5], "train_accuracy": [0.8], "valid_loss": [0.4],
                 "valid_accuracy": [0.85]}, [0.25])

    monkeypatch.setattr(cli, "training_data", fake_data)
    monkeypatch.setattr(cli, "build", FakeModel)
    monkeypatch.setattr(cli, "train", fake_train)
    return trained


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if the job builds or trains a model (checks come before training)."""
    def refuse(*args, **kwargs):
        """Training started although a check should have stopped the job."""
        raise AssertionError("the job started training")

    monkeypatch.setattr(cli, "build", refuse)
    monkeypatch.setattr(cli, "train", refuse)


def test_fake_job_writes_everything(tmp_path, fake_job, capsys):
    """A (stand-in) run writes the three files, results.json without "interrupted", and no
    temporary files."""
    out = tmp_path / "out"
    assert main(["--out", str(out)]) == 0
    assert fake_job == list(IMPLS)
    results = json.loads((out / "results.json").read_text())
    assert list(results) == list(IMPLS)
    assert results["tf1"]["test_accuracy"] == 0.92
    assert sorted(os.listdir(out)) == ["curves.png", "filters.png", "results.json"]


@pytest.mark.parametrize("out", ["file/out", "file"])
def test_out_under_a_file(tmp_path, capsys, no_training, out):
    """--out through a regular file (the issue's /etc/passwd/model): exit 2 before training."""
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / out)])
    assert exit_info.value.code == 2
    assert_usage_error(capsys.readouterr().err, "is not a folder")


def test_out_unwritable(unwritable_dir, capsys, no_training):
    """An existing but unwritable --out: exit 2 before training (it used to train everything
    and then die with a PermissionError)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(unwritable_dir)])
    assert exit_info.value.code == 2
    assert_usage_error(capsys.readouterr().err, "not writable")


@pytest.mark.parametrize("earlier", ["results.json", "curves.png", "filters.png"])
def test_out_with_earlier_results_refused(tmp_path, capsys, no_training, earlier):
    """An --out holding an earlier run's file is refused (exit 2) without --overwrite; the file
    is untouched."""
    (tmp_path / earlier).write_text("earlier run")
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path)])
    assert exit_info.value.code == 2
    assert_usage_error(capsys.readouterr().err, "--overwrite")
    assert (tmp_path / earlier).read_text() == "earlier run"


def test_overwrite_replaces_earlier_results(tmp_path, fake_job, capsys):
    """--overwrite replaces the earlier run's files; other files in the folder stay."""
    for name in ("results.json", "curves.png", "filters.png", "notes.txt"):
        (tmp_path / name).write_text("earlier run")
    assert main(["--out", str(tmp_path), "--overwrite", "--impl", "keras"]) == 0
    assert list(json.loads((tmp_path / "results.json").read_text())) == ["keras"]
    for name in ("curves.png", "filters.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert (tmp_path / "notes.txt").read_text() == "earlier run"


def test_failed_write_leaves_no_results_json(tmp_path, fake_job, capsys, monkeypatch):
    """A write that fails (disk full at filters.png) exits with 1 and one error line; the folder
    holds no results.json (the earlier run's is gone, the new one not written), the earlier
    filters.png is intact and no temporary file remains: results.json never sits beside
    pictures of another run."""
    from lenet import figures
    for name in ("results.json", "curves.png", "filters.png"):
        (tmp_path / name).write_text("earlier run")
    write = figures.write_atomically

    def disk_full_at_filters(path, content):
        """The real atomic write, but filters.png hits a full disk half-way."""
        if os.path.basename(path) != "filters.png":
            return write(path, content)

        def half(stream):
            """Half a picture, then ENOSPC."""
            stream.write(PNG)
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return write(path, half)

    monkeypatch.setattr(figures, "write_atomically", disk_full_at_filters)
    assert main(["--out", str(tmp_path), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "No space left on device" in err, err
    assert sorted(os.listdir(tmp_path)) == ["curves.png", "filters.png"]
    assert (tmp_path / "filters.png").read_text() == "earlier run"


def test_default_folders_unique_in_one_second(tmp_path, fake_job, capsys, monkeypatch):
    """Two runs without --out started in the same second write to two different folders."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "strftime", lambda fmt, *args: "20260101-120000")
    assert main(["--impl", "numpy"]) == 0
    assert main(["--impl", "keras"]) == 0
    runs = sorted(os.listdir(tmp_path / "runs"))
    assert runs == ["20260101-120000", "20260101-120000-2"]
    assert list(json.loads((tmp_path / "runs" / runs[0] / "results.json").read_text())) == [
        "numpy"]
    assert list(json.loads((tmp_path / "runs" / runs[1] / "results.json").read_text())) == [
        "keras"]


def run_interrupted(argv):
    """main(argv), failing the test (rather than stopping pytest) if Ctrl-C escapes it."""
    try:
        return main(argv)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped the job")


def test_ctrl_c_saves_finished_implementations(tmp_path, fake_job, capsys):
    """Ctrl-C while tf1 trains: numpy (finished) is printed and saved, results.json says
    "interrupted": true, both pictures are written, exit code 130 and one line saying so."""
    fake_job.interrupt_at = "tf1"
    out = tmp_path / "out"
    assert run_interrupted(["--out", str(out)]) == 130
    assert fake_job == ["numpy", "tf1"]  # keras never started
    results = json.loads((out / "results.json").read_text())
    assert results["interrupted"] is True
    assert set(results) == {"numpy", "interrupted"}
    assert results["numpy"]["test_accuracy"] == 0.91
    for name in ("curves.png", "filters.png"):
        assert (out / name).read_bytes()[:8] == PNG
    captured = capsys.readouterr()
    assert display_names()["numpy"] in captured.out and "TensorFlow 1" not in captured.out
    lines = [line for line in captured.err.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and "numpy" in lines[0] and str(out) in lines[0], captured.err


def test_ctrl_c_before_anything_finished(tmp_path, fake_job, capsys):
    """Ctrl-C during the first implementation: nothing to save, the new folder is removed,
    exit code 130 and one line saying so."""
    fake_job.interrupt_at = "numpy"
    out = tmp_path / "out"
    assert run_interrupted(["--out", str(out)]) == 130
    assert os.listdir(tmp_path) == []
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.strip()] == [
        "python -m lenet: interrupted before any implementation finished; nothing saved"]


@pytest.mark.slow
def test_real_ctrl_c(tmp_path):
    """SIGINT to a real job while Keras trains, after NumPy finished (its progress bar for
    Keras has appeared): exit code 130, NumPy's results saved, marked interrupted."""
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    job = subprocess.Popen([sys.executable, "-m", "lenet", "--impl", "numpy", "keras",
                            "--epochs", "2", "--data", "embedded", "--out", str(out)],
                           cwd=str(ROOT), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = b""
    try:
        deadline = time.monotonic() + 600
        while b"keras epoch 1/2" not in stderr and time.monotonic() < deadline:
            chunk = os.read(job.stderr.fileno(), 4096)
            if not chunk:
                break
            stderr += chunk
        assert b"keras epoch 1/2" in stderr, stderr.decode(errors="replace")
        job.send_signal(signal.SIGINT)
        stdout, rest = job.communicate(timeout=300)
    finally:
        if job.poll() is None:
            job.kill()
    stderr = (stderr + rest).decode(errors="replace")
    assert job.returncode == 130, stdout.decode() + stderr
    results = json.loads((out / "results.json").read_text())
    assert results["interrupted"] is True and list(results) == ["numpy", "interrupted"]
    assert results["numpy"]["params"] == 61706
    assert sorted(os.listdir(out)) == ["curves.png", "filters.png", "results.json"]
    assert stderr.splitlines()[-1] == (
        "python -m lenet: interrupted; saved the 1 of 2 implementations that finished (numpy) "
        "in {}".format(out))
    assert "Traceback" not in stderr


@pytest.mark.slow
def test_help():
    """--help names every option and the three implementations."""
    result = run_job("--help")
    assert result.returncode == 0, result.stderr
    for option in ("--impl", "--data", "--eval-data", "--epochs", "--batch-size", "--seed",
                   "--out", "--overwrite"):
        assert option in result.stdout
    for impl in IMPLS:
        assert impl in result.stdout


@pytest.mark.parametrize("engine, name", [(None, "NumPy (fused)"),
                                          ("fused", "NumPy (fused)"),
                                          ("layers", "NumPy (layers)"),
                                          ("tasks", "NumPy (tasks 0-3)")])
def test_numpy_engine_option(tmp_path, fake_job, monkeypatch, capsys, engine, name):
    """--numpy-engine picks the NumPy model's engine (fused, the fastest, by default) and names
    it in the table and results.json, with the folder of the task files it runs on."""
    built = []
    monkeypatch.setattr(cli, "build", lambda impl, seed, engine=None: (
        built.append(engine), FakeModel(impl, seed))[1])
    out = tmp_path / "out"
    argv = ["--impl", "numpy", "--out", str(out)]
    assert main(argv + (["--numpy-engine", engine] if engine else [])) == 0
    assert [e.name for e in built] == [engine or DEFAULT_ENGINE]
    assert name in capsys.readouterr().out
    row = json.loads((out / "results.json").read_text())["numpy"]
    assert row["implementation"] == name and row["engine"] == (engine or DEFAULT_ENGINE)
    assert row["task_files"] == (str(ROOT) if engine == "tasks" else None)


def test_engine_registry_builds_models():
    """Every engine of the registry builds a NumPy LeNet-5 named after it; build() without an
    engine gives the default one; --numpy-engine offers exactly the registry's names."""
    from lenet.model import NumpyLeNet5
    for engine in ENGINES:
        assert build("numpy", 0, engine).engine == engine
    assert DEFAULT_ENGINE in ENGINES
    model = build("numpy", 0)
    assert model.engine == DEFAULT_ENGINE and isinstance(model, NumpyLeNet5)
    action = next(a for a in cli.build_parser()._actions if a.dest == "numpy_engine")
    assert list(action.choices) == list(ENGINES)


# --tasks DIR: the job's side, with the check (lenet.answers, tested in test_engines.py) stood
# in for, so that it runs in-process in a second.

@pytest.fixture
def stand_in_check(monkeypatch):
    """Replace the copy-and-check of --tasks: it records the folders it was given and yields
    the loop answers' functions (kept as ``.functions`` on the returned list), or raises
    AnswersRefused when a folder's name says "wrong"."""
    class Checked(list):
        """The folders given to the check, and the functions it yielded."""
        functions = load_tasks(LOOP_ANSWERS)

    checked = Checked()

    @contextlib.contextmanager
    def check(folder):
        """Record ``folder``; refuse it or yield the loop answers."""
        checked.append(folder)
        if "wrong" in str(folder):
            raise AnswersRefused(folder, [(3, "pool_backward(...) with tied maxima: dA_prev "
                                              "differs")])
        yield checked.functions

    monkeypatch.setattr(cli, "checked_answers", check)
    return checked


def test_tasks_dir_trains_on_its_functions(tmp_path, fake_job, monkeypatch, capsys,
                                           stand_in_check):
    """--tasks DIR: the folder is checked, the NumPy model is built on the checked functions
    (a 'tasks' engine on them, not the repository's), and the table and results.json name the
    folder (as given; absolute in results.json)."""
    built = []
    monkeypatch.setattr(cli, "build", lambda impl, seed, engine=None: (
        built.append(engine), FakeModel(impl, seed))[1])
    out = tmp_path / "out"
    assert main(["--impl", "numpy", "--tasks", "tests/loop_answers", "--out", str(out)]) == 0
    assert stand_in_check == ["tests/loop_answers"]
    (engine,) = built
    assert engine.name == "tasks"
    assert engine.forward.__self__.functions is stand_in_check.functions
    assert engine.conv_forward is stand_in_check.functions.conv_forward
    name = "NumPy (tasks 0-3 of tests/loop_answers)"
    assert name in capsys.readouterr().out
    row = json.loads((out / "results.json").read_text())["numpy"]
    assert row["implementation"] == name and row["engine"] == "tasks"
    assert row["task_files"] == os.path.abspath("tests/loop_answers")


def test_tasks_dir_refused_before_training(tmp_path, capsys, no_training, stand_in_check):
    """Answers the check refuses: exit 2 before any data or training, the task and its case
    named on stderr with the grader's command for a full report, and the --out folder made
    for the run removed again."""
    out = tmp_path / "out"
    assert main(["--tasks", "wrong/", "--data", str(tmp_path / "missing.npz"),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "task 3 (3-pool_backward.py): pool_backward(...) with tied maxima" in err
    assert "python -m lenet.grade wrong/" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("args, message", [
    (["--tasks", "answers", "--numpy-engine", "fused"], "--numpy-engine fused"),
    (["--tasks", "answers", "--impl", "tf1", "keras"], "--impl"),
])
def test_tasks_dir_usage_errors(args, message, tmp_path, capsys, no_training, stand_in_check):
    """--tasks DIR beside another engine, or without the NumPy model: a usage error (exit 2)
    before the check, naming the clash."""
    with pytest.raises(SystemExit) as exit_info:
        main(args + ["--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert_usage_error(capsys.readouterr().err, message)
    assert stand_in_check == []
