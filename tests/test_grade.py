"""python -m lenet.grade: our files and plain-loop answers pass, each deliberately wrong answer
in tests/wrong_answers fails on its own task with the right hint, time limit, memory limit,
import errors, --json, --strict and the exit status.

Fast tests grade function objects in-process (``grade_function``) and exercise the check
functions; the command line runs as a subprocess in the tests marked slow.
"""
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from conftest import missing
from lenet.grade import cases, checks, grading, runner
from lenet.grade.cases import TASKS, Case, course_padding, task_cases
from lenet.grade.grading import find_task_files, grade_function
from lenet.tasks import ROOT

LOOP_ANSWERS = ROOT / "tests" / "loop_answers"
WRONG = ROOT / "tests" / "wrong_answers"

# mistake folder -> {task number: the hint the report must give}
MISTAKES = {
    "kh_for_kw": {0: "kh_for_kw"},
    "off_by_one": {0: "off_by_one"},
    "missing_bias": {0: "missing_bias"},
    "kernel_flipped": {0: "kernel_flipped"},
    "same_padding": {0: "same_padding"},
    "avg_divisor": {1: "avg_divisor"},
    "stride_ignored": {1: "stride_ignored"},
    # raises on every 'same' case, as does an answer padding right but summing dA into an
    # unpadded array: only the neutral 'same' hint (which names both causes) is honest
    "same_padding_backward": {2: "same"},
    "overwrite": {2: "overwrite", 3: "overwrite"},
    "stride_ignored_backward": {3: "stride_ignored_backward"},
    "first_max": {3: "first_max"},
    "same_plus_one": {2: "same_plus_one"},
    "empty_slice": {2: "empty_slice_raised"},
    "avg_zeros": {1: "zeros"},
    "small_only": {1: "medium"},
    # mistakes met in public students' answers (the grader's hint was wrong or misleading):
    # np.ceil's float given to np.pad (the rule was right, the type wrong)
    "float_padding": {0: "float_padding"},
    # the padding cut off as [ph:h_prev - ph] (the padding itself was right)
    "cut_too_much": {2: "cut_too_much"},
    # sw where sh belongs in dW's window raises on an empty window: not the [ph:-ph] cut
    "stride_mixup_backward": {2: "sh_for_sw"},
}
IN_PROCESS = [(mistake, task, hint) for mistake, tasks in MISTAKES.items()
              for task, hint in tasks.items()]


def load_function(path, task_number):
    """The task function of the file at path, imported in this process (our own test files)."""
    spec = importlib.util.spec_from_file_location(
        "grade_test_" + str(abs(hash(str(path)))), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, TASKS[task_number].function)


def hints(report):
    """The hint keys of a task report's failing groups."""
    return {g.get("hint") for g in report["groups"] if g["status"] == "fail"}


def failing_groups(report):
    """Names of the failing groups of a task report."""
    return [g["name"] for g in report["groups"] if g["status"] not in ("pass", "skipped")]


# In-process: the check functions on function objects

@pytest.mark.parametrize("task_number", sorted(TASKS))
def test_our_task_files_pass_strict(task_number):
    """Our task files pass every group, with no note (the strict extras hold)."""
    function = load_function(ROOT / TASKS[task_number].file, task_number)
    report = grade_function(task_number, function, strict=True)
    assert failing_groups(report) == []
    assert report["notes"] == []
    assert report["status"] == "PASS"


@pytest.mark.parametrize("task_number", sorted(TASKS))
def test_loop_answers_pass(task_number):
    """A plain nested-loop answer passes; its float64 output for float32 input is a note,
    which fails the task only with strict."""
    function = load_function(LOOP_ANSWERS / TASKS[task_number].file, task_number)
    report = grade_function(task_number, function)
    assert report["status"] == "PASS", failing_groups(report)
    assert any("float32" in note for note in report["notes"])
    assert grade_function(task_number, function, strict=True)["status"] == "FAIL"


@pytest.mark.parametrize("mistake, task_number, hint", IN_PROCESS)
def test_wrong_answer_fails_with_hint(mistake, task_number, hint):
    """Each deliberately wrong answer fails, and its failing groups carry the mistake's hint
    (and no other known-mistake hint)."""
    function = load_function(WRONG / mistake / TASKS[task_number].file, task_number)
    report = grade_function(task_number, function)
    assert report["status"] == "FAIL"
    assert hint in hints(report)
    assert hints(report) <= {hint, None}, hints(report)


@pytest.mark.parametrize("task_number", [0, 2])
def test_floor_same_and_strings_only_pass_with_notes(task_number):
    """An answer reading 'same' as floor of the total padding over 2 throughout, and refusing
    tuple padding (the exercise allows strings only), passes; both are notes (FAIL only with
    strict). The course's ceil answer on the same cases gets neither note."""
    function = load_function(LOOP_ANSWERS / "floor_same" / TASKS[task_number].file,
                             task_number)
    report = grade_function(task_number, function)
    assert report["status"] == "PASS", failing_groups(report)
    assert grading.FLOOR_NOTE in report["notes"]
    assert any(note.startswith("tuple padding (ph, pw), our extension") for note in
               report["notes"])
    assert grade_function(task_number, function, strict=True)["status"] == "FAIL"
    ceil = grade_function(task_number, load_function(LOOP_ANSWERS / TASKS[task_number].file,
                                                     task_number))
    assert grading.FLOOR_NOTE not in ceil["notes"]
    assert not any("tuple" in note for note in ceil["notes"])


def test_mixed_readings_fail():
    """Floor forward where the total padding is odd along the height, ceil along the width,
    is no consistent reading: it fails."""
    floor = load_function(LOOP_ANSWERS / "floor_same" / TASKS[0].file, 0)
    ceil = load_function(LOOP_ANSWERS / TASKS[0].file, 0)

    def mixed(A_prev, W, b, activation, padding="same", stride=(1, 1)):
        """Floor when the image is taller than wide, ceil otherwise."""
        use = floor if A_prev.shape[1] > A_prev.shape[2] else ceil
        return use(A_prev, W, b, activation, padding, stride)

    assert grade_function(0, mixed)["status"] == "FAIL"


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
def test_strings_compared_with_is_pass_with_a_note():
    """The mains pass interned literals, so `mode is 'avg'` works there: it passes, with a
    note that names `is`; our loop answer (==) gets no such note."""
    report = grade_function(1, load_function(LOOP_ANSWERS / "is_strings" / TASKS[1].file, 1))
    assert report["status"] == "PASS", failing_groups(report)
    assert any(note.startswith("compares strings with `is`") for note in report["notes"])
    loop = grade_function(1, load_function(LOOP_ANSWERS / TASKS[1].file, 1))
    assert not any("`is`" in note for note in loop["notes"])


def test_medium_case_is_drawn_per_run():
    """Two draws of the medium case differ, and it is larger than every fixed case."""
    first, second = (cases.medium_cases(1)[0] for _ in range(2))
    assert any(not np.array_equal(first.args[k], second.args[k]) for k in ("A_prev",)
               if first.args[k].shape == second.args[k].shape) or \
        first.args["A_prev"].shape != second.args["A_prev"].shape
    for task_number in TASKS:
        largest = max(c.args["A_prev"].size for c in task_cases(task_number))
        assert cases.medium_cases(task_number)[0].args["A_prev"].size > largest


def test_stride_three_same_catches_h_new_formula():
    """A backward 'same' padding of floor((h_new * sh - h_prev + kh - 1) / 2) agrees with the
    course's rule at stride 1 and 2 and differs at stride 3 with odd kernels: it fails."""
    loop = load_function(LOOP_ANSWERS / TASKS[2].file, 2)

    def h_new_rule(dZ, A_prev, W, b, padding="same", stride=(1, 1)):
        """The loop answer with 'same' padding from the output size."""
        if padding != "same":
            return loop(dZ, A_prev, W, b, padding, stride)
        (_, h, w, _), (kh, kw), (sh, sw) = A_prev.shape, W.shape[:2], stride
        ph = (dZ.shape[1] * sh - h + kh - 1) // 2
        pw = (dZ.shape[2] * sw - w + kw - 1) // 2
        return loop(dZ, A_prev, W, b, (ph, pw), stride)

    report = grade_function(2, h_new_rule, medium=False)
    assert failing_groups(report) == ["'same' padding, stride > 1"]


def test_hints_are_total():
    """Only the exercise's own example failing (no case to find a feature in), and a result
    of zeros (a ratio of 0): no exception, no hint from nothing."""
    assert checks.feature_hint([], [Case(0, "g", {}, features=frozenset({"kh != kw"}))]) is None
    case = task_cases(1)[-1]
    ref = checks.expected(case)
    assert checks.variant_hint(case, [np.zeros_like(ref[0])], ref) == ("zeros", None)
    assert checks._ratio(np.zeros((1, 2)), np.ones((1, 2))) is None


def test_published_float32_is_a_note(mnist_test_dir):
    """The exercise's own example of task 3 on the float32 classic images: an answer that
    keeps A_prev's dtype prints other digits; that is a note with the reason, not a FAIL."""
    loop = load_function(LOOP_ANSWERS / TASKS[3].file, 3)

    def keeps_dtype(dA, A_prev, kernel_shape, stride=(1, 1), mode="max"):
        """The loop answer, its result in A_prev's dtype (as np.zeros_like(A_prev) gives)."""
        return loop(dA, A_prev, kernel_shape, stride, mode).astype(A_prev.dtype)

    report = grade_function(3, keeps_dtype, source=str(mnist_test_dir), medium=False)
    assert report["status"] == "PASS", failing_groups(report)
    assert any("is float32 because the example's A_prev" in n for n in report["notes"])


def test_a_grader_error_is_that_files_fail(tmp_path, monkeypatch):
    """An error while grading one file is a FAIL of that file with a one-line reason; the
    next file is still graded."""
    for task_number in (1, 3):
        shutil.copy(LOOP_ANSWERS / TASKS[task_number].file, tmp_path)
    real = grading.grade_file

    def flaky(path, *args, **kwargs):
        """grade_file, broken for task 1."""
        if path.endswith("1-pool_forward.py"):
            raise ZeroDivisionError("division by zero\nsecond line")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(grading, "grade_file", flaky)
    report = grading.grade_paths([str(tmp_path)], sandbox="none")
    first, second = report["tasks"]
    assert first["status"] == "FAIL"
    assert first["error"] == "the grader could not grade this file: ZeroDivisionError: " \
        "division by zero"
    assert second["status"] == "PASS"


def test_modified_input_and_list_return_are_notes():
    """A right answer that zeroes its input after use and returns a list passes, with notes
    naming both; with strict it fails."""
    loop = load_function(LOOP_ANSWERS / "1-pool_forward.py", 1)

    def careless(A_prev, kernel_shape, stride=(1, 1), mode="max"):
        """The loop answer, then the input zeroed and the output as a list."""
        out = loop(A_prev, kernel_shape, stride, mode)
        A_prev[...] = 0
        return out.tolist()

    report = grade_function(1, careless)
    assert report["status"] == "PASS"
    assert any(note.startswith("modifies its input A_prev") for note in report["notes"])
    assert "returns a list, not a numpy.ndarray" in report["notes"]
    assert grade_function(1, careless, strict=True)["status"] == "FAIL"


def test_ties_group_uses_the_contract_rule_not_tensorflow():
    """In the ties group, TensorFlow's own gradient (first maximum only) fails and is named;
    the contract's reference differs from it there."""
    ties = [c for c in task_cases(3) if c.check == "ties"]
    assert ties
    for case in ties:
        a = case.args
        tf_grad = checks.pool_grad(a["dA"], a["A_prev"], a["kernel_shape"], a["stride"], "max")
        ours = checks.expected(case)[0]
        assert not np.allclose(tf_grad, ours)
        assert checks.variant_hint(case, [tf_grad], [ours]) == ("first_max", None)


def test_max_pool_ties_by_hand():
    """The tie reference on a hand-worked window: three tied maxima each get the gradient,
    and two overlapping windows add up."""
    A = np.array([[5.0, 5.0, 1.0], [5.0, 2.0, 5.0]]).reshape(1, 2, 3, 1)
    dA = np.array([2.0, 10.0]).reshape(1, 1, 2, 1)
    got = checks.max_pool_grad_all_ties(dA, A, (2, 2), (1, 1))[0, :, :, 0]
    np.testing.assert_array_equal(got, [[2.0, 12.0, 0.0], [2.0, 0.0, 10.0]])


def test_course_padding_example():
    """The README's example: h_prev 28, kh 3, sh 2 gives ph 15 on both sides."""
    assert course_padding("same", 28, 28, 3, 3, 2, 2) == (15, 15)
    assert course_padding("valid", 28, 28, 3, 3, 2, 2) == (0, 0)
    assert course_padding((1, 2), 28, 28, 3, 3, 2, 2) == (1, 2)


def test_compare_reports_shape_and_values():
    """compare finds a wrong shape, a wrong value and NaN, and accepts rounding noise."""
    ref = np.arange(6.0).reshape(1, 2, 3, 1)
    assert checks.compare([ref + 1e-12], [ref], "values")[0] == []
    assert checks.compare([ref[:, :1]], [ref], "values")[0][0][1].startswith("shape (1, 1, 3, 1)")
    wrong = ref.copy()
    wrong[0, 1, 2, 0] += 0.5
    problems, errors = checks.compare([wrong], [ref], "values")
    assert problems == [(0, "values differ")]
    assert errors[0][0] == pytest.approx(0.5)
    assert checks.compare([ref * np.nan], [ref], "values")[0]
    assert checks.compare([wrong], [ref], "shape")[0] == []


def test_feature_hint_needs_passing_cases_without_the_feature():
    """'fails only when kh != kw' needs the failures to be exactly non-square kernels and
    square kernels to pass; a failure everywhere names no feature."""
    def case(features):
        """A case with only these features."""
        return Case(0, "g", {}, features=frozenset(features))
    square, wide = case({"several images"}), case({"kh != kw"})
    assert checks.feature_hint([wide], [square]) == "kh_for_kw"
    assert checks.feature_hint([wide, square], []) is None
    assert checks.feature_hint([square], [wide]) == "batch"


def test_find_task_files(tmp_path):
    """A folder gives the task files it holds and names the missing ones; a file that is not
    a task file, or a path that does not exist, is an error."""
    shutil.copy(LOOP_ANSWERS / "1-pool_forward.py", tmp_path)
    files, missing = find_task_files([str(tmp_path)])
    assert [Path(f).name for f in files] == ["1-pool_forward.py"]
    assert missing == [(str(tmp_path), ["0-conv_forward.py", "2-conv_backward.py",
                                        "3-pool_backward.py"])]
    (tmp_path / "notes.py").write_text("")
    with pytest.raises(ValueError, match="not a task file"):
        find_task_files([str(tmp_path / "notes.py")])
    with pytest.raises(ValueError, match="no such file"):
        find_task_files([str(tmp_path / "absent")])


# Hostile files: each fails its own file or is contained, leaving nothing behind. Each runs
# with and without bubblewrap; some attacks only bubblewrap can stop (said where skipped).

SANDBOXES = ["none", "bwrap"]


@pytest.fixture(params=SANDBOXES)
def sandbox(request):
    """Each containment: "none" always, "bwrap" where it runs (skip, or fail in CI)."""
    if request.param == "bwrap":
        from lenet.grade.runner import bwrap_status
        ok, why = bwrap_status()
        if not ok:
            missing("bubblewrap cannot run here: " + why)
    return request.param


def hostile(folder, prelude, task_number=1, body=None):
    """A task file in `folder`: the hostile prelude (run at import), then the loop answer
    (or `body`). Returns its path."""
    folder.mkdir(exist_ok=True)
    path = folder / TASKS[task_number].file
    source = body if body is not None else (LOOP_ANSWERS / TASKS[task_number].file).read_text()
    path.write_text("import os\nimport sys\n" + prelude + "\n" + source)
    return path


def grade_one(path, sandbox, **options):
    """The report of one file, graded the way the command line grades it."""
    options.setdefault("timeout", 20)
    return grading.grade_file(str(path), sandbox=sandbox, graded=[str(path)], **options)


def processes_with(token):
    """Pids of the processes whose command line holds `token`."""
    found = []
    for name in os.listdir("/proc"):
        try:
            with open("/proc/{}/cmdline".format(name), "rb") as f:
                if token.encode() in f.read():
                    found.append(int(name))
        except (OSError, ValueError):
            pass
    return found


def text_of(report):
    """Everything a report says, as one string."""
    return json.dumps(report)


def test_forged_results_fail(tmp_path, sandbox):
    """A file that writes the results channel itself (records for every call, a finished
    line) before the grader's child does fails its file as a malformed report, also with
    strict, although its function is right."""
    path = hostile(tmp_path / "forge", (
        "channel = os.fdopen(int(sys.argv[2]), 'w')\n"
        "channel.write('{\"event\": \"imported\"}\\n')\n"
        "for i in range(200):\n"
        "    channel.write('{\"event\": \"start\", \"call\": %d}\\n' % i)\n"
        "    channel.write('{\"event\": \"done\", \"call\": %d, \"status\": \"ok\", '\n"
        "                  '\"arrays\": []}\\n' % i)\n"
        "channel.write('{\"event\": \"finished\"}\\n')\n"
        "channel.flush()\n"))
    report = grade_one(path, sandbox, strict=True)
    assert report["status"] == "FAIL"
    assert "malformed report" in report["error"]


def test_patched_serialization_fails(tmp_path, sandbox):
    """A file that patches the child's json.dumps to claim every call passed with pickled
    arrays fails: no pickle is loaded, and the report says it was malformed."""
    path = hostile(tmp_path / "patch", (
        "import json, base64, io\n"
        "import numpy\n"
        "_dumps = json.dumps\n\n\n"
        "def dumps(event, **kw):\n"
        "    if event.get('event') == 'done':\n"
        "        b = io.BytesIO()\n"
        "        numpy.save(b, numpy.array([object()]), allow_pickle=True)\n"
        "        event = dict(event, status='ok', arrays=[base64.b64encode(\n"
        "            b.getvalue()).decode()])\n"
        "    return _dumps(event, **kw)\n\n\n"
        "json.dumps = dumps\n"))
    report = grade_one(path, sandbox)
    assert report["status"] == "FAIL"
    assert "malformed report: an array that does not load" in report["error"]


def test_fifo_and_dev_zero_in_the_work_dir_are_ignored(tmp_path, sandbox):
    """FIFOs and /dev/zero links named like result files in the child's folder do not hang
    or crash the grader (it reads a pipe, never such files): the right answer passes."""
    path = hostile(tmp_path / "fifo", (
        "for name in ('results.jsonl', 'stdout.txt', 'out_0_0.npy', 'calls.json'):\n"
        "    os.mkfifo(name)\n"
        "os.symlink('/dev/zero', 'out_1_0.npy')\n"
        "os.symlink('/dev/zero', 'arrays.npz')\n"))
    start = time.monotonic()
    report = grade_one(path, sandbox)
    assert report["status"] == "PASS", report
    assert time.monotonic() - start < 15


def test_a_task_file_that_is_a_fifo_or_a_link_is_not_read(tmp_path):
    """The graded path itself: a FIFO is not a task file; a symlink (to a secret) is
    refused without being read."""
    folder = tmp_path / "links"
    folder.mkdir()
    os.mkfifo(folder / "1-pool_forward.py")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-LINKED")
    (folder / "3-pool_backward.py").symlink_to(secret)
    files, _ = find_task_files([str(folder)])
    assert [Path(f).name for f in files] == ["3-pool_backward.py"]
    report = grade_one(folder / "3-pool_backward.py", "none")
    assert report["status"] == "FAIL" and "cannot be graded" in report["error"]
    assert "SECRET-LINKED" not in text_of(report)


def test_fork_bomb_leaves_nothing(tmp_path, sandbox):
    """A file that starts up to 40 sleeping processes, some detached with setsid, leaves none
    running after its grade (its own cap keeps the test safe if the defence breaks)."""
    token = "lenet-grade-bomb-{}".format(uuid.uuid4().hex)
    path = hostile(tmp_path / "bomb", (
        "import subprocess\n"
        "started = 0\n"
        "for i in range(40):\n"
        "    try:\n"
        "        subprocess.Popen(['/bin/sh', '-c', 'sleep 120', {!r}],\n"
        "                         start_new_session=i % 2 == 0)\n"
        "        started += 1\n"
        "    except OSError:\n"
        "        break\n".format(token)))
    grade_one(path, sandbox)
    time.sleep(0.2)
    left = processes_with(token)
    for pid in left:  # the test's own clean-up, if the defence failed
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_killing_and_stopping_the_parent_is_contained(tmp_path, sandbox):
    """A file that kills its parent and stops its process group at import fails (or is
    contained); the grader lives on and grades the next file."""
    path = hostile(tmp_path / "kill", (
        "import signal\n"
        "os.kill(os.getppid(), signal.SIGKILL)\n"
        "os.killpg(os.getpgid(0), signal.SIGSTOP)\n"))
    report = grade_one(path, sandbox, timeout=5)
    assert report["status"] == "FAIL"
    neighbour = grade_one(LOOP_ANSWERS / TASKS[1].file, sandbox)
    assert neighbour["status"] == "PASS"


def test_writes_outside(tmp_path, sandbox):
    """A file that writes into its own folder, /tmp, /dev/shm and a 200 MB file in its
    working folder: in bwrap none of it reaches the host; without a sandbox the working
    folder is gone after the grade and a file is capped at the size limit."""
    token = uuid.uuid4().hex
    targets = [tmp_path / "write" / "planted.txt", Path("/tmp") / ("lenet-grade-" + token),
               Path("/dev/shm") / ("lenet-grade-" + token)]
    path = hostile(tmp_path / "write", (
        "import signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "for target in {!r}:\n"
        "    try:\n"
        "        open(target, 'w').write('x')\n"
        "    except OSError:\n"
        "        pass\n"
        "sizes = []\n"
        "try:\n"
        "    with open('big', 'wb') as f:\n"
        "        for _ in range(200):\n"
        "            f.write(bytes(1 << 20))\n"
        "except OSError:\n"
        "    pass\n"
        "sys.stderr.write('big file: %d bytes\\n' % os.path.getsize('big'))\n"
        "sys.stderr.write('box: %s\\n' % os.getcwd())\n".format([str(t) for t in targets])))
    runs = []
    real = grading.run_file

    def keep(*args, **kwargs):
        """run_file, its Run kept for the test."""
        runs.append(real(*args, **kwargs))
        return runs[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grading, "run_file", keep)
        report = grade_one(path, sandbox)
    assert report["status"] == "PASS"
    big = int(re.search(r"big file: (\d+) bytes", runs[0].stderr).group(1))
    assert big <= 64 << 20
    box = re.search(r"box: (\S+)", runs[0].stderr).group(1)
    written = [t for t in targets if t.exists()]
    for target in written:
        target.unlink()
    if sandbox == "bwrap":
        assert written == []
        assert box == "/tmp/box"
    else:
        assert not Path(box).exists()


def test_reading_secrets(tmp_path, sandbox, monkeypatch):
    """A file that raises what it could read: a secret file beside its folder, the grader's
    environment and command line. The environment never reaches the child; in bwrap neither
    does the file (hidden) or the grader (another PID namespace)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("FILE-SECRET-42")
    monkeypatch.setenv("LENET_GRADE_SECRET", "ENV-SECRET-42")
    path = hostile(tmp_path / "spy", (
        "found = []\n"
        "try:\n"
        "    found.append(open({!r}).read())\n"
        "except OSError:\n"
        "    pass\n"
        "found.append(os.environ.get('LENET_GRADE_SECRET', ''))\n"
        "for pid in os.listdir('/proc'):\n"
        "    try:\n"
        "        found.append(open('/proc/%s/cmdline' % pid).read().replace('\\0', ' '))\n"
        "        found.append(open('/proc/%s/environ' % pid).read().replace('\\0', ' '))\n"
        "    except (OSError, ValueError):\n"
        "        pass\n"
        "raise RuntimeError(' '.join(found))\n".format(str(secret))))
    report = grade_one(path, sandbox)
    assert report["status"] == "FAIL"
    text = report["error"]
    assert text.startswith("does not import: RuntimeError")
    assert "ENV-SECRET-42" not in text
    if sandbox == "bwrap":
        assert "FILE-SECRET-42" not in text
        assert "pytest" not in text  # the grader's command line


def test_escape_codes_and_spoofed_lines_are_escaped(tmp_path, sandbox):
    """An error message with terminal escape codes, a carriage return and fake PASS lines
    is shown escaped, on one line, capped in length."""
    path = hostile(tmp_path / "spoof", (
        "raise ImportError('\\x1b[2J\\x1b[32mok\\r\\nPASS  all 4 task files\\n' + 'x' * 5000)\n"))
    report = grade_one(path, sandbox)
    assert report["status"] == "FAIL"
    error = report["error"]
    assert "\\x1b[2J" in error and "\x1b" not in error and "\n" not in error
    assert "\r" not in error and len(error) < 600
    lines = grade_main_text(report).splitlines()
    assert not any(line.startswith("PASS") for line in lines)


def grade_main_text(task_report):
    """The text report of one task report, as the command line prints it."""
    from lenet.grade.__main__ import format_text
    return format_text({"sandbox": "none", "strict": False, "timeout": 20, "memory_mb": 1024,
                        "tasks": [task_report], "not_graded": [], "exit_status": 1})


def test_hidden_pyc_is_not_run(tmp_path, sandbox):
    """A visible wrong source beside a hidden .pyc of a right answer (unchecked hash, which
    Python would load without looking at the source): the visible source is graded."""
    import py_compile
    folder = tmp_path / "pyc"
    folder.mkdir()
    right = folder / TASKS[1].file
    shutil.copy(LOOP_ANSWERS / TASKS[1].file, right)
    cache = folder / "__pycache__" / "1-pool_forward.{}.pyc".format(sys.implementation.cache_tag)
    py_compile.compile(str(right), cfile=str(cache),
                       invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    shutil.copy(WRONG / "avg_divisor" / TASKS[1].file, right)
    report = grade_one(right, sandbox)
    assert report["status"] == "FAIL"
    assert "avg_divisor" in hints(report)


def test_siblings_and_the_repository_are_out_of_reach(tmp_path, sandbox):
    """A file that imports a sibling module of its folder does not import (it is graded
    alone); one that imports the repository's own answers is flagged as a note, and in
    bwrap does not import (the repository is hidden)."""
    folder = tmp_path / "sibling"
    folder.mkdir()
    shutil.copy(LOOP_ANSWERS / TASKS[1].file, folder / "helper.py")
    (folder / TASKS[1].file).write_text("from helper import pool_forward  # noqa\n")
    report = grade_one(folder / TASKS[1].file, sandbox)
    assert report["status"] == "FAIL" and "No module named 'helper'" in report["error"]
    path = hostile(tmp_path / "repo", "", body=(
        "sys.path.insert(0, {!r})\n"
        "from lenet.layers import pool_forward  # noqa\n".format(str(ROOT))))
    report = grade_one(path, sandbox)
    assert "imports lenet, os, sys: tasks 0-3 allow numpy only" in report["notes"]
    if sandbox == "bwrap":
        assert report["status"] == "FAIL" and "No module named 'lenet'" in report["error"]


def test_one_folder_attacking_another(tmp_path, sandbox):
    """Graded in one run, a file that overwrites another folder's task file with a wrong one
    and leaves a process to do it later: in bwrap the other folder is out of reach; either
    way no process is left to do it after the grade."""
    victim = tmp_path / "victim"
    victim.mkdir()
    shutil.copy(LOOP_ANSWERS / TASKS[1].file, victim)
    token = "lenet-grade-attack-{}".format(uuid.uuid4().hex)
    wrong = (WRONG / "avg_divisor" / TASKS[1].file).read_text()
    attacker = hostile(tmp_path / "attacker", (
        "import subprocess\n"
        "target = {!r}\n"
        "try:\n"
        "    open(target, 'w').write({!r})\n"
        "except OSError:\n"
        "    pass\n"
        "subprocess.Popen(['/bin/sh', '-c', 'sleep 3; cat > \"$0\"', target, {!r}],\n"
        "                 stdin=subprocess.DEVNULL, start_new_session=True)\n".format(
            str(victim / TASKS[1].file), wrong, token)))
    graded = [str(attacker), str(victim / TASKS[1].file)]
    for path in graded:
        grading.grade_file(path, sandbox=sandbox, graded=graded, timeout=20)
    assert processes_with(token) == []
    if sandbox == "bwrap":
        assert (victim / TASKS[1].file).read_text() == \
            (LOOP_ANSWERS / TASKS[1].file).read_text()


def test_malformed_and_oversized_reports_fail(tmp_path, sandbox, monkeypatch):
    """Deeply nested JSON, a call index out of order and more than the results limit each
    end the run as malformed: a FAIL of that file, no crash."""
    monkeypatch.setattr(runner, "MAX_RESULTS", 1 << 20)
    for name, payload in [("nested", "'[' * 100000"),
                          ("order", "'{\"event\": \"imported\"}\\n{\"event\": \"start\", "
                                    "\"call\": 7}'"),
                          ("flood", "'x' * (3 << 20)")]:
        path = hostile(tmp_path / name, (
            "channel = os.fdopen(int(sys.argv[2]), 'w')\n"
            "channel.write({} + '\\n')\n"
            "channel.flush()\n".format(payload)))
        report = grade_one(path, sandbox)
        assert report["status"] == "FAIL", name
        assert "malformed report" in report["error"], (name, report["error"])


# The command line, as a subprocess

def grade(*args, timeout=300):
    """Run python -m lenet.grade with args from the repository root."""
    return subprocess.run([sys.executable, "-m", "lenet.grade", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def folder_with(tmp_path, name, wrong, neighbour):
    """A folder holding a wrong answer and the loop answer of task `neighbour`."""
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(LOOP_ANSWERS / TASKS[neighbour].file, folder)
    shutil.copy(wrong, folder / Path(wrong).name)
    return folder


@pytest.mark.slow
def test_cli_our_files_pass_strict(mnist_test_dir):
    """Our task files: four PASS lines, exit status 0 with --strict, the exercise's own
    examples included (the official full set as --data)."""
    result = grade(".", "--strict", "--data", mnist_test_dir, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert [t["status"] for t in report["tasks"]] == ["PASS"] * 4
    assert not any(t["notes"] for t in report["tasks"])
    published = [g for t in report["tasks"] for g in t["groups"]
                 if g["name"].startswith("published outputs")]
    assert [(g["status"], g["cases"]) for g in published] == [("pass", 1)] * 2


@pytest.mark.slow
def test_cli_without_the_full_set_skips_the_published_examples():
    """With only the embedded images, the exercise's own examples are skipped, and said so."""
    result = grade(".", "--data", "embedded")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped, the full classic MNIST was not found" in result.stdout


@pytest.mark.slow
def test_published_example_catches_first_max_on_mnist(mnist_test_dir):
    """The exercise's task 3 example on real MNIST (flat background: ties everywhere) fails an
    answer that routes a tied window's gradient to its first maximum only, with the line."""
    function = load_function(WRONG / "first_max" / TASKS[3].file, 3)
    report = grade_function(3, function, source=str(mnist_test_dir))
    group = next(g for g in report["groups"] if g["name"].startswith("published outputs"))
    assert group["status"] == "fail"
    assert group["problem"].startswith("printed output differs from the published one, line ")
    ours = load_function(ROOT / TASKS[3].file, 3)
    report = grade_function(3, ours, source=str(mnist_test_dir))
    group = next(g for g in report["groups"] if g["name"].startswith("published outputs"))
    assert group["status"] == "pass"


@pytest.mark.slow
def test_cli_loop_answers_exit_status():
    """Plain-loop answers exit 0; with --strict their notes make it 1."""
    result = grade(LOOP_ANSWERS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASS  ") == 4
    assert "notes (they fail a task only with --strict):" in result.stdout
    strict = grade(LOOP_ANSWERS / "1-pool_forward.py", "--strict")
    assert strict.returncode == 1
    assert "FAIL  tests/loop_answers/1-pool_forward.py" in strict.stdout


@pytest.mark.slow
def test_cli_each_mistake_fails_its_own_task_only(tmp_path):
    """One run over folders each holding a wrong answer and a correct loop answer to the next
    task: in each folder the wrong task fails with the mistake's hint and the other passes;
    exit status 1."""
    folders = {}
    for mistake, tasks in MISTAKES.items():
        for task_number in tasks:
            name = "{}-{}".format(mistake, task_number)
            wrong = WRONG / mistake / TASKS[task_number].file
            folders[name] = (folder_with(tmp_path, name, wrong, (task_number + 1) % 4),
                             task_number, tasks[task_number])
    result = grade(*[f for f, _, _ in folders.values()], "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["exit_status"] == 1 and report["passed"] is False
    by_folder = {}
    for task in report["tasks"]:
        by_folder.setdefault(Path(task["path"]).parent.name, {})[task["task"]] = task
    for name, (_, task_number, hint) in folders.items():
        statuses = {n: t["status"] for n, t in by_folder[name].items()}
        assert statuses == {task_number: "FAIL", (task_number + 1) % 4: "PASS"}, name
        assert hint in hints(by_folder[name][task_number]), name


@pytest.mark.slow
def test_cli_json_structure():
    """--json: the top-level keys, one entry per task file, groups with their counts, a
    failing group with its smallest case, largest error and hint."""
    result = grade(WRONG / "missing_bias", LOOP_ANSWERS / "1-pool_forward.py", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert set(report) == {"sandbox", "strict", "timeout", "memory_mb", "tasks", "not_graded",
                           "passed", "exit_status"}
    assert [(t["file"], t["status"]) for t in report["tasks"]] == [
        ("0-conv_forward.py", "FAIL"), ("1-pool_forward.py", "PASS")]
    assert report["not_graded"][0]["missing"] == ["1-pool_forward.py", "2-conv_backward.py",
                                                  "3-pool_backward.py"]
    task = report["tasks"][0]
    assert {"task", "file", "path", "function", "status", "error", "seconds", "groups",
            "notes"} <= set(task)
    failing = [g for g in task["groups"] if g["status"] == "fail"]
    assert failing
    for group in failing:
        assert group["failed"] >= 1 and group["cases"] >= group["failed"]
        assert "W (" in group["smallest_failing_case"]
        assert group["largest_error"]["output"] == "output"
        assert group["largest_error"]["absolute"] > 0
        assert group["hint"] == "missing_bias" and "bias" in group["hint_text"]
    assert task["groups"][-1]["status"] == "fail"  # tasks 0 and 1 have no published example


@pytest.mark.slow
def test_cli_time_limit(tmp_path):
    """A function that never returns is stopped at the time limit and reported with the call
    it was running; the other tasks of its folder are still graded."""
    folder = folder_with(tmp_path, "slow", WRONG / "never_returns" / "1-pool_forward.py", 3)
    result = grade(folder, "--timeout", "3", timeout=120)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if "1-pool_forward.py" in line)
    assert lines[head].startswith("FAIL")
    assert "stopped at the time limit (3 s) while running output shapes: A_prev (1, 4, 4, 1)" \
        in lines[head + 1]
    assert any(line.startswith("PASS") and "3-pool_backward.py" in line for line in lines)


@pytest.mark.slow
def test_cli_hangs_at_import_and_in_a_strict_extra(tmp_path):
    """A file that never finishes importing fails with that said; a right answer that hangs on
    a bad stride passes, the hang reported as a note (all its numerical cases ran)."""
    (tmp_path / "1-pool_forward.py").write_text("while True:\n    pass\n")
    (tmp_path / "3-pool_backward.py").write_text(
        (LOOP_ANSWERS / "3-pool_backward.py").read_text()
        + "\n\n_right = pool_backward\n\n\n"
        "def pool_backward(dA, A_prev, kernel_shape, stride=(1, 1), mode='max'):\n"
        "    while stride[0] == 0:\n"
        "        pass\n"
        "    return _right(dA, A_prev, kernel_shape, stride, mode)\n")
    result = grade(tmp_path, "--timeout", "3", "--json", timeout=120)
    assert result.returncode == 1
    pool_forward, pool_backward = json.loads(result.stdout)["tasks"]
    assert pool_forward["status"] == "FAIL"
    assert pool_forward["error"] == "stopped at the time limit (3 s) while importing the file"
    assert pool_backward["status"] == "PASS" and pool_backward["error"] is None
    assert pool_backward["notes"][0].startswith(
        "stopped at the time limit (3 s) while running bad input stride (0, 2)")


@pytest.mark.slow
def test_cli_import_error():
    """A file that does not import is reported with its error and line."""
    result = grade(WRONG / "import_error" / "2-conv_backward.py")
    assert result.returncode == 1
    assert "does not import: ImportError: cannot import name 'sliding_windows'" in result.stdout
    assert "(2-conv_backward.py, line 4)" in result.stdout


@pytest.mark.slow
def test_cli_runs_student_code_in_a_limited_child(tmp_path):
    """Without a sandbox the task file still runs in a child of the grading process (not in
    it), as a copy alone in a fresh folder, and a call that allocates more than --memory gets
    a MemoryError with a hint; the first line names the containment."""
    marker = tmp_path / "pids.txt"
    (tmp_path / "0-conv_forward.py").write_text(
        "import os\nimport numpy as np\n"
        "with open({!r}, 'w') as f:\n"
        "    f.write('%d %s %s' % (os.getpid(), os.getcwd(), sorted(os.listdir())))\n\n\n"
        "def conv_forward(A_prev, W, b, activation, padding='same', stride=(1, 1)):\n"
        "    return np.zeros((A_prev.shape[0], 10 ** 5, 10 ** 4, 1))\n".format(str(marker)))
    (tmp_path / "helper.py").write_text("")
    process = subprocess.Popen([sys.executable, "-m", "lenet.grade", str(tmp_path),
                                "--memory", "512", "--sandbox", "none"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, _ = process.communicate(timeout=300)
    child_pid, cwd, listing = marker.read_text().split(" ", 2)
    assert int(child_pid) != process.pid
    assert Path(cwd) != tmp_path and listing == "['0-conv_forward.py']"
    assert stdout.startswith("Containment: no sandbox")
    assert "MemoryError" in stdout and "the memory limit was exceeded" in stdout


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["no/such/folder"], "no such file or folder"),
    (["README.md"], "not a task file"),
    (["--timeout", "0", "."], "must be positive"),
])
def test_cli_bad_arguments(args, message):
    """A bad command line exits with status 2 and says why."""
    result = grade(*args)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.slow
def test_cli_nothing_to_grade(tmp_path):
    """A folder without any task file: nothing to grade, exit status 2."""
    result = grade(tmp_path)
    assert result.returncode == 2
    assert "nothing to grade" in result.stderr


@pytest.mark.slow
def test_cli_help():
    """--help names the options and the exit statuses."""
    result = grade("--help")
    assert result.returncode == 0
    for word in ("--json", "--strict", "--timeout", "--memory", "--sandbox", "Exit status"):
        assert word in result.stdout
