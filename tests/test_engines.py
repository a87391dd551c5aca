"""``python -m lenet --tasks DIR``: the quick check of anyone's answers (lenet.answers) and the
NumPy LeNet-5 trained on them (lenet.model.task_engine).

Answer folders: the repository's task files; tests/loop_answers (plain loops, no input checks,
float64 out whatever the input); tests/float32_answers (vectorized, float32 out whatever the
input). Wrong folders are the loop answers with files of tests/wrong_answers in place of
theirs. The check runs in-process here (fast lane); through its child process and the real
job, as subprocesses (slow).
"""
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from lenet import answers, model
from lenet.answers import (AnswersRefused, check_task, checked_answers, copy_answers,
                           task_cases)
from lenet.data import load_mnist, one_hot
from lenet.model import NumpyLeNet5, task_engine
from lenet.references import max_pool_gradient_all_ties
from lenet.tasks import LAYER_TASKS, ROOT, load_tasks, task_function

from oracles import tf_pool_gradient
from tf_log import noise, user_env

TESTS = ROOT / "tests"
LOOP_ANSWERS = TESTS / "loop_answers"
FLOAT32_ANSWERS = TESTS / "float32_answers"
WRONG = TESTS / "wrong_answers"
FILES = [filename for filename, _ in LAYER_TASKS]


def answer_folder(tmp_path, *wrong, name="answers"):
    """A folder of the loop answers with the files of tests/wrong_answers/<w> (for each w in
    ``wrong``) in place of theirs; returns its path."""
    folder = tmp_path / name
    folder.mkdir()
    for filename in FILES:
        shutil.copy(LOOP_ANSWERS / filename, folder)
    for name in wrong:
        for path in (WRONG / name).glob("*.py"):
            shutil.copy(path, folder)
    return folder


def wrong_tasks(name):
    """The tasks whose files tests/wrong_answers/<name> replaces."""
    return sorted(int(path.name[0]) for path in (WRONG / name).glob("*.py"))


@pytest.fixture(scope="module")
def wrong_folder(tmp_path_factory):
    """A function: the name of a tests/wrong_answers folder -> a folder of the loop answers
    with its files in place (made once per name)."""
    made = {}

    def make(name):
        """The folder for ``name``."""
        if name not in made:
            made[name] = answer_folder(tmp_path_factory.mktemp(name), name)
        return made[name]
    return make


# The check, in-process

@pytest.mark.parametrize("folder", [ROOT, LOOP_ANSWERS, FLOAT32_ANSWERS],
                         ids=["repository", "loop_answers", "float32_answers"])
def test_correct_answers_pass(folder):
    """Correct answers pass every case of every task, whatever dtype they return, with loops or
    without, with input checks (the repository's) or none."""
    functions = load_tasks(folder)
    for task, function in enumerate(functions):
        assert check_task(task, function) is None, (folder, task)


def test_floor_same_answers_pass():
    """Answers that round an odd total 'same' padding down (tests/loop_answers/floor_same), the
    reading the exercise leaves open and the grader accepts, pass too; the check's cases do
    hold such a padding, where the course's rounding up gives another result."""
    for filename, name in (LAYER_TASKS[0], LAYER_TASKS[2]):
        function = task_function(filename, name, LOOP_ANSWERS / "floor_same")
        task = LAYER_TASKS.index((filename, name))
        assert check_task(task, function) is None, filename
        assert answers._first_failure(function, task_cases(task)) is not None, filename


@pytest.mark.parametrize("name", sorted(
    path.name for path in WRONG.iterdir()
    if path.name not in ("never_returns", "import_error")))  # those two: test_check_main
def test_wrong_answers_refused(name, wrong_folder):
    """Every wrong answer of tests/wrong_answers fails a case of its task; the failure names
    the function and the case's arguments."""
    for task in wrong_tasks(name):
        filename, function_name = LAYER_TASKS[task]
        function = load_tasks(wrong_folder(name))[task]
        failure = check_task(task, function)
        assert failure is not None, (name, task)
        assert failure.startswith(function_name + "("), failure
        assert "A_prev (" in failure, failure


def test_first_maximum_only_refused_on_ties(wrong_folder):
    """An answer whose max-pool backward gives a tied window's gradient to its first maximum
    only (TensorFlow's rule) passes the cases without ties and fails the tied ones, compared
    with the contract's rule."""
    pool_backward = load_tasks(wrong_folder("first_max")).pool_backward
    cases = task_cases(3)
    tied = [case for case in cases if "tied" in case.call]
    assert len(tied) == 2
    for case in cases:
        outputs = pool_backward(*case.args)
        problem = answers.compare(outputs, case.reference(), case.names)
        assert (problem is None) == (case not in tied), case.call
    failure = check_task(3, pool_backward)
    assert "with tied maxima" in failure and "every element equal to its window's maximum" \
        in failure, failure


def test_tie_reference():
    """The contract's max-pool gradient equals TensorFlow's where no window ties (overlapping
    windows too); on the check's tie cases windows do tie, and there the two differ (so only
    the contract's rule passes them)."""
    rng = np.random.default_rng(5)
    for kernel, stride in [((2, 2), (2, 2)), ((3, 2), (1, 2)), ((2, 2), (1, 1))]:
        A = rng.normal(size=(2, 5, 6, 3))
        dA = rng.normal(size=(2, (5 - kernel[0]) // stride[0] + 1,
                              (6 - kernel[1]) // stride[1] + 1, 3))
        np.testing.assert_allclose(max_pool_gradient_all_ties(dA, A, kernel, stride),
                                   tf_pool_gradient(dA, A, kernel, stride, "max"),
                                   rtol=1e-12, atol=1e-12)
    for case in task_cases(3):
        if "tied" in case.call:
            dA, A, kernel, stride, _ = case.args
            windows = np.lib.stride_tricks.sliding_window_view(A, kernel, axis=(1, 2))[
                :, ::stride[0], ::stride[1]]                       # (m, h_new, w_new, c, kh, kw)
            maxima = windows.max(axis=(4, 5), keepdims=True)
            assert ((windows == maxima).sum(axis=(4, 5)) > 1).sum() >= 3, case.call
            assert not np.allclose(case.reference()[0],
                                   tf_pool_gradient(dA, A, kernel, stride, "max"))


def test_check_cases_cover_the_exercise():
    """The cases hold what the exercise asks: 'same' and 'valid' with stride 1 and above for
    tasks 0 and 2, overlapping windows for 'max' and 'avg' in tasks 1 and 3; all float64, tiny
    (a loop answer runs them in a blink) but for one medium case per task, whose input is larger
    than what an answer right only on small inputs handles (tests/wrong_answers/small_only)."""
    for task in (0, 2):
        calls = [case.call for case in task_cases(task)]
        for padding in ("'same'", "'valid'"):
            assert any(padding + ", (1, 1)" in call for call in calls), calls
            assert any(padding in call and ", (1, 1)" not in call for call in calls), calls
    for task in (1, 3):
        geometries = [(case.args[-3], case.args[-2], case.args[-1]) for case in task_cases(task)]
        for mode in ("max", "avg"):
            assert any(m == mode and (k[0] > s[0] or k[1] > s[1]) for k, s, m in geometries)
    for task in range(4):
        sizes = []
        for case in task_cases(task):
            arrays = [a for a in case.args if isinstance(a, np.ndarray)]
            assert all(a.dtype == np.float64 for a in arrays), case.call
            sizes.append(max(a.size for a in arrays))
        assert sorted(sizes)[-1] > 800 >= sorted(sizes)[-2], (task, sizes)
        assert max(sizes) <= 10000, (task, sizes)


def test_check_compares_only_what_the_contract_fixes():
    """A float32 result passes; a wrong shape, a missing output, NaN or an error beyond float32
    precision fails, each said in words."""
    want = [np.linspace(-3, 3, 12).reshape(1, 2, 2, 3)]
    assert answers.compare(want[0].astype(np.float32), want, ["A"]) is None
    assert "shape" in answers.compare(want[0][:, :1], want, ["A"])
    assert "tuple" in answers.compare(want[0], want * 3, ["dA_prev", "dW", "db"])
    nan = want[0].copy()
    nan[0, 1, 1, 2] = np.nan
    assert "at (0, 1, 1, 2)" in answers.compare(nan, want, ["A"])
    assert "differs" in answers.compare(want[0] * (1 + 1e-3), want, ["A"])


def test_check_refuses_an_answer_modifying_its_input():
    """An answer that writes into its input array fails, said in words."""
    def pool_forward(A_prev, kernel_shape, stride=(1, 1), mode="max"):
        """The repository's answer, after zeroing a pixel of its input."""
        result = load_tasks(ROOT).pool_forward(A_prev.copy(), kernel_shape, stride, mode)
        A_prev[0, 0, 0, 0] = 0
        return result
    assert "modified its input" in check_task(1, pool_forward)


def test_check_main(tmp_path, capsys):
    """``python -m lenet.answers`` in-process: a file that fails to import and a function that
    never returns (stopped by the per-task clock, 1 s here) fail their tasks, the others pass;
    the JSON report says when each task started and how it ended; exit status 2, and 0 for the
    loop answers (a line per task). The SIGALRM handler is restored."""
    before = signal.getsignal(signal.SIGALRM)
    folder = answer_folder(tmp_path, "never_returns", "import_error")
    report = tmp_path / "report.jsonl"
    assert answers.main([str(folder), "--report", str(report), "--seconds", "1"]) == 2
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert records[-1] == {"done": True}
    verdicts = {r["task"]: r.get("failure", "ok") for r in records if len(r) == 2}
    assert records[:-1] == [record for task in range(4) for record in (
        {"task": task}, {"task": task, **({"ok": True} if verdicts[task] == "ok"
                                          else {"failure": verdicts[task]})})]
    assert verdicts[0] == verdicts[3] == "ok"
    assert verdicts[1] == "did not finish the check's few tiny cases within 1 s"
    assert verdicts[2].startswith("importing 2-conv_backward.py failed: ImportError")
    assert signal.getsignal(signal.SIGALRM) == before
    assert answers.main([str(LOOP_ANSWERS)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["task {} ({}): ok".format(task, f) for task, f in enumerate(FILES)]


# Copying and loading

def test_missing_files_refused(tmp_path):
    """A folder missing task files is refused, naming each one; so is a path that is no
    folder."""
    folder = answer_folder(tmp_path)
    (folder / "2-conv_backward.py").unlink()
    (folder / "0-conv_forward.py").unlink()
    with pytest.raises(AnswersRefused) as refused:
        copy_answers(folder, tmp_path / "copy")
    assert [task for task, _ in refused.value.failures] == [0, 2]
    assert "no 2-conv_backward.py in" in str(refused.value)
    assert not (tmp_path / "copy").exists()
    with pytest.raises(AnswersRefused) as refused:
        copy_answers(folder / "1-pool_forward.py", tmp_path / "copy")
    assert refused.value.lines() == ["{} is not a folder".format(folder / "1-pool_forward.py")]


def test_answers_are_copies(tmp_path, monkeypatch):
    """checked_answers imports the four files from a fresh copy (nothing else of the folder
    comes along), so that edits to the folder afterwards change nothing; the copy is gone when
    the context ends. (The check itself is stood in for here.)"""
    checked = []
    monkeypatch.setattr(answers, "check_in_child",
                        lambda copy, report, seconds: checked.append(copy) or [])
    folder = answer_folder(tmp_path)
    (folder / "helpers.py").write_text("raise RuntimeError('not a task file')\n")
    A = np.arange(16.0).reshape(1, 4, 4, 1)
    with checked_answers(folder) as functions:
        (copy,) = checked
        assert sorted(os.listdir(copy)) == FILES
        (folder / "1-pool_forward.py").write_text("raise RuntimeError('edited')\n")
        assert functions.pool_forward(A, (2, 2), (2, 2), "max").ravel().tolist() == [
            5, 7, 13, 15]
        for function in functions:
            assert function.__code__.co_filename.startswith(str(copy))
    assert not os.path.exists(copy)


def test_refused_answers_leave_no_copy(tmp_path, monkeypatch):
    """Failures of the check raise AnswersRefused with them, and the copy is removed."""
    copies = []
    monkeypatch.setattr(answers, "check_in_child", lambda copy, report, seconds: (
        copies.append(copy), [(3, "wrong")])[1])
    with pytest.raises(AnswersRefused) as refused:
        with checked_answers(answer_folder(tmp_path)):
            pytest.fail("refused answers were yielded")
    assert refused.value.lines() == ["task 3 (3-pool_backward.py): wrong"]
    assert not os.path.exists(copies[0])


# The model on anyone's answers

@pytest.mark.parametrize("folder", [LOOP_ANSWERS, FLOAT32_ANSWERS],
                         ids=["loop_answers", "float32_answers"])
def test_model_on_answers_matches_the_repository(folder):
    """The NumPy LeNet-5 on a student's answers (float64 or float32 results, whatever the
    model's dtype) gives the probabilities and gradients of the model on the repository's task
    files, from the same weights, in the model's dtype; the first layer's maps too."""
    splits = load_mnist("embedded", verbose=False)
    X = splits.X_train[:1, ..., None]  # one image: the loop answers take a second
    Y = one_hot(splits.Y_train[:1]).astype(np.float32)
    ours = NumpyLeNet5(seed=2, engine="tasks")
    theirs = NumpyLeNet5(seed=2, engine=task_engine(load_tasks(folder)))
    assert theirs.engine == "tasks"
    np.testing.assert_allclose(theirs.forward(X), ours.forward(X), rtol=1e-4, atol=1e-6)
    for got, want in zip(theirs.backward(Y), ours.backward(Y)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())
    maps = theirs.first_layer(X)
    assert maps.dtype == np.float32
    np.testing.assert_allclose(maps, ours.first_layer(X), rtol=1e-4, atol=1e-5)


def test_module_engine(tmp_path, monkeypatch):
    """An engine on a module holding the four functions (as lenet/layers.py will) is one
    registry line: the model on it is named after it and computes what the model on the task
    files computes; an unknown name is still refused."""
    (tmp_path / "some_layers.py").write_text(
        '"""The four task functions under their names."""\n'
        "from lenet.tasks import repository_tasks\n\n"
        "conv_forward, pool_forward, conv_backward, pool_backward = repository_tasks()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(model.ENGINES, "some", (
        "a module", lambda: model.module_engine("some_layers", "some")))
    X = np.random.default_rng(0).random((2, 28, 28, 1), np.float32)
    some = NumpyLeNet5(seed=4, engine="some")
    assert some.engine == "some"
    np.testing.assert_array_equal(some.forward(X), NumpyLeNet5(seed=4, engine="tasks").forward(X))
    with pytest.raises(ValueError, match="some"):
        NumpyLeNet5(engine="other")


# Through the child process and the real job (slow)

@pytest.mark.slow
def test_child_check(tmp_path):
    """The check in its child process: the loop answers pass; a first-maximum-only pooling
    backward, a function that never returns (stopped at 2 s) and a file that ends the process
    when imported are refused, each naming its task."""
    with checked_answers(LOOP_ANSWERS) as functions:
        assert functions.conv_forward.__name__ == "conv_forward"
    with pytest.raises(AnswersRefused) as refused:
        with checked_answers(answer_folder(tmp_path, "first_max", "never_returns"), seconds=2):
            pass
    ((slow, too_slow), (tied, first_max)) = refused.value.failures
    assert slow == 1 and "within 2 s" in too_slow, too_slow
    assert tied == 3 and "with tied maxima" in first_max, first_max
    folder = answer_folder(tmp_path, name="exits")
    (folder / "2-conv_backward.py").write_text("import os\nos._exit(3)\n")
    with pytest.raises(AnswersRefused) as refused:
        with checked_answers(folder):
            pass
    assert refused.value.failures == [
        (2, "the check's process ended with status 3 while checking this task")]


def run_job(*args):
    """``python -m lenet`` with ``args`` from the repository root, TensorFlow's log variable
    unset (the user's default); the finished process."""
    env = user_env(PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "lenet", *map(str, args)], cwd=str(ROOT),
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_job_refuses_first_maximum_only(tmp_path):
    """The job on a folder whose pooling backward gives the first maximum only: exit 2 before
    any data or training, task 3 and the tie case named, the grader's command shown, the
    --out folder not left behind, no TensorFlow log line."""
    folder = answer_folder(tmp_path, "first_max")
    out = tmp_path / "run"
    result = run_job("--tasks", folder, "--impl", "numpy", "--data", "embedded", "--out", out)
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == ("python -m lenet: error: the task files in {} fail the quick check; "
                        "nothing was trained".format(folder))
    assert lines[1].startswith("  task 3 (3-pool_backward.py): pool_backward(")
    assert "with tied maxima" in lines[1]
    assert lines[2:] == ["  for a full report: python -m lenet.grade {}".format(folder)]
    assert "epoch" not in result.stdout + result.stderr and not out.exists()
    assert noise(result.stderr) == []


@pytest.mark.slow
def test_job_trains_on_answers(tmp_path):
    """The job on tests/float32_answers and 1,000 embedded images: exit 0, the table and
    results.json name the folder, and one epoch learns (test accuracy well above chance)."""
    splits = load_mnist("embedded", verbose=False)
    data = tmp_path / "small.npz"
    np.savez(data, X_train=splits.X_train[:1000], Y_train=splits.Y_train[:1000],
             X_valid=splits.X_valid[:200], Y_valid=splits.Y_valid[:200],
             X_test=splits.X_test[:500], Y_test=splits.Y_test[:500])
    out = tmp_path / "run"
    result = run_job("--tasks", "tests/float32_answers", "--impl", "numpy", "--epochs", 1,
                     "--data", data, "--out", out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "NumPy (tasks 0-3 of tests/float32_answers)" in result.stdout
    row = json.loads((out / "results.json").read_text())["numpy"]
    assert row["engine"] == "tasks" and row["task_files"] == str(FLOAT32_ANSWERS)
    assert row["test_accuracy"] > 0.5, row
    assert noise(result.stderr) == [], result.stderr
