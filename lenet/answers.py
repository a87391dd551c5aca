"""Anyone's answers to tasks 0-3, copied, checked quickly and loaded to train LeNet-5.

``python -m lenet --tasks DIR`` trains the NumPy LeNet-5 on the four task files in DIR. Before
any training, ``checked_answers(DIR)``:

1. copies ``0-conv_forward.py`` ... ``3-pool_backward.py`` from DIR into a fresh temporary
   folder (a missing file is refused), so that later edits in DIR, or other files beside
   them, cannot change what trains;
2. checks the copies in a child process (``python -m lenet.answers COPY``): each file imported
   alone by its path, then a few tiny float64 cases per function, compared with TensorFlow's
   ops (``lenet.references``) and, where a pooling window's maximum ties, with the contract's
   rule (every element equal to its window's maximum receives the window's full gradient:
   TensorFlow gives it to the first one only). A task that runs longer than ``TASK_SECONDS``
   on them is stopped. In a child, what the answers print or break, and TensorFlow's
   settings, stay out of the job;
3. imports the copies for training, and removes them when the job ends.

A failure raises ``AnswersRefused``, naming each failing task and its first failing case. The
cases ask only what the exercise asks (its calls, 'same' and 'valid', strides, overlapping
pools, ties), to the precision of float32: any correct answer passes, whatever dtype it
returns, with or without input checks, with loops or without. It is a gate, not a grade:
``python -m lenet.grade DIR`` explains what is wrong.
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import namedtuple
from pathlib import Path

import numpy as np

from lenet.tasks import LAYER_TASKS, ROOT, load_tasks, task_function

TASK_SECONDS = 20  # longest a task may run on its few tiny cases
TOLERANCE = 1e-4  # relative to the reference's scale: float32 answers pass, wrong ones do not
CONTRACT_TIES = ("the contract: every element equal to its window's maximum receives the "
                 "window's full gradient")
GRADE_HINT = "for a full report: python -m lenet.grade {}"

Case = namedtuple("Case", "call args names reference source")
Case.__doc__ = """One call of a task function: ``call`` says it in words, ``args`` are its
positional arguments, ``names`` name its outputs, ``reference()`` returns the expected
outputs, ``source`` says whose they are."""


class AnswersRefused(Exception):
    """The answers in a folder failed the quick check.

    Attributes
    ----------
    folder : str
        The folder as given.
    failures : list of (int or None, str)
        (task number, what failed), one per failing task, in task order; None for a failure
        of no task (the folder, or the check itself).
    """

    def __init__(self, folder, failures):
        """Keep the folder and the failures; the message lists them."""
        self.folder, self.failures = str(folder), list(failures)
        super().__init__("\n".join(self.lines()))

    def lines(self):
        """One line per failure: 'task N (file): what failed', or what failed alone."""
        return [failure if task is None else
                "task {} ({}): {}".format(task, LAYER_TASKS[task][0], failure)
                for task, failure in self.failures]


# The parent's side: copy, check in a child, load.

@contextlib.contextmanager
def checked_answers(folder, seconds=TASK_SECONDS):
    """Copy the four task files of ``folder``, check the copies, and yield their functions.

    Parameters
    ----------
    folder : str or path
        A folder holding 0-conv_forward.py ... 3-pool_backward.py.
    seconds : float
        Longest each task may run on its check's cases.

    Yields
    ------
    lenet.tasks.TaskFunctions
        The copies' functions; the copies are removed when the context ends.

    Raises
    ------
    AnswersRefused
        A file is missing or fails to import, a case fails, or a task runs too long.
    """
    with tempfile.TemporaryDirectory(prefix="lenet-answers-") as scratch:
        copy = copy_answers(folder, Path(scratch) / "tasks")
        failures = check_in_child(copy, Path(scratch) / "report.jsonl", seconds)
        if failures:
            raise AnswersRefused(folder, failures)
        yield load_tasks(copy)


def copy_answers(folder, copy):
    """Copy the four task files of ``folder`` into the new folder ``copy``; return ``copy``.

    Raises AnswersRefused naming each missing file (or a ``folder`` that is not one)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AnswersRefused(folder, [(None, "{} is not a folder".format(folder))])
    missing = [(task, "missing: no {} in {}".format(filename, folder))
               for task, (filename, _) in enumerate(LAYER_TASKS)
               if not (folder / filename).is_file()]
    if missing:
        raise AnswersRefused(folder, missing)
    os.mkdir(copy)
    for filename, _ in LAYER_TASKS:
        shutil.copyfile(folder / filename, Path(copy) / filename)
    return copy


def check_in_child(copy, report, seconds=TASK_SECONDS):
    """Run the check on the task files in ``copy`` in a child process.

    The child writes its progress and verdicts to ``report`` (JSON lines, see ``main``); what
    it prints is dropped. Returns the failures, [(task, what failed)], empty if all passed.
    A child that dies, or hangs where its own clock cannot stop it (it is stopped after a
    minute, for TensorFlow's import, plus twice ``seconds`` per task), fails the task it was
    checking."""
    env = dict(os.environ)
    paths = [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)  # the child imports this lenet
    command = [sys.executable, "-m", "lenet.answers", str(copy), "--report", str(report),
               "--seconds", str(seconds)]
    limit = 60 + 2 * seconds * len(LAYER_TASKS)
    try:
        child = subprocess.run(command, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=limit)
        ended = "the check's process ended with status {}{}".format(
            child.returncode, _last_line(child.stderr))
    except subprocess.TimeoutExpired:
        ended = "the check was stopped after {:g} s".format(limit)
    records = _read_report(report)
    failures = [(r["task"], r["failure"]) for r in records if "failure" in r]
    if not any(r.get("done") for r in records):
        started = [r["task"] for r in records if set(r) == {"task"}]
        finished = {r["task"] for r in records if set(r) != {"task"}}
        task = next((t for t in started if t not in finished), None)
        if task is None:  # before any task: TensorFlow or the module itself
            failures.append((None, ended + " before checking any task"))
        else:
            failures.append((task, ended + " while checking this task"))
    return sorted(failures, key=lambda failure: -1 if failure[0] is None else failure[0])


def _read_report(report):
    """The JSON records of the child's report, [] if it wrote none."""
    try:
        with open(report) as stream:
            return [json.loads(line) for line in stream if line.endswith("\n")]
    except FileNotFoundError:
        return []


def _last_line(stderr):
    """': <the error>' when the child's stderr (bytes) ends in a Python traceback, else ''
    (what else it wrote, e.g. TensorFlow's log lines, says nothing about the answers)."""
    text = stderr.decode(errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return ": " + lines[-1].strip() if "Traceback" in text and lines else ""


# The child's side: the cases and the check.

class _TooSlow(BaseException):
    """A task ran past its time (a BaseException: an answer's ``except Exception`` cannot
    swallow it)."""


class _ImportFailed(Exception):
    """A task file did not import, or holds no function of the task's name."""


def _import(filename, name, folder):
    """The function ``name`` of ``folder/filename``; any error (even a SystemExit the file
    raises) is an ``_ImportFailed`` naming it, but for ``_TooSlow``."""
    try:
        return task_function(filename, name, folder)
    except _TooSlow:
        raise
    except BaseException as error:
        raise _ImportFailed("{}: {}".format(type(error).__name__, error)) from error


def check_task(task, function):
    """The first failure of ``function`` (task ``task``) on the check's cases, or None.

    Where the exercise is silent (an odd total 'same' padding), a convolution passes under
    either rounding used throughout, as the grader judges it; a failure names the course's
    (rounded up)."""
    failure = _first_failure(function, task_cases(task))
    if failure is not None and task in (0, 2):
        if _first_failure(function, task_cases(task, "floor")) is None:
            return None
    return failure


def _first_failure(function, cases):
    """The first of ``cases`` that ``function`` fails, in words, or None."""
    for case in cases:
        saved = [np.copy(arg) for arg in case.args if isinstance(arg, np.ndarray)]
        try:
            outputs = function(*case.args)
        except Exception as error:  # an answer may raise anything
            return "{} raised {}: {}".format(case.call, type(error).__name__, error)
        after = [arg for arg in case.args if isinstance(arg, np.ndarray)]
        if any(not np.array_equal(a, b) for a, b in zip(saved, after)):
            return "{} modified its input arrays".format(case.call)
        problem = compare(outputs, case.reference(), case.names)
        if problem:
            return "{}: {} (reference: {})".format(case.call, problem, case.source)
    return None


def compare(outputs, expected, names):
    """What is wrong with ``outputs`` (one array, or a tuple for several ``names``), or None.

    Values must agree to ``TOLERANCE`` times the largest expected magnitude (at least 1)."""
    if len(names) > 1:
        if not isinstance(outputs, (tuple, list)) or len(outputs) != len(names):
            return "returned {} instead of a tuple {}".format(
                type(outputs).__name__, ", ".join(names))
    else:
        outputs = [outputs]
    for name, got, want in zip(names, outputs, expected):
        try:
            got = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            return "{} is not an array of numbers".format(name)
        if got.shape != want.shape:
            return "{} has shape {}, expected {}".format(name, got.shape, want.shape)
        error = np.abs(got - want)
        if not np.all(error <= TOLERANCE * max(1, np.abs(want).max())):  # NaN fails too
            where = np.unravel_index(np.argmax(np.where(np.isnan(error), np.inf, error)),
                                     error.shape)
            return "{} differs, largest error {:.3g} at {}".format(
                name, error[where], tuple(int(i) for i in where))
    return None


def task_cases(task, rounding="ceil"):
    """The check's cases of task 0, 1, 2 or 3: tiny float64 inputs, and one medium one (a few
    thousand values: an answer right only on small inputs fails), fixed seed; 'same' padding
    rounded as ``rounding`` says (see lenet.references.course_padding)."""
    from lenet import references as ref  # TensorFlow on first use
    rng = np.random.default_rng(task)
    cases = []
    if task in (0, 2):
        for shape, kernel, padding, stride in [((2, 5, 6, 3), (3, 2), "valid", (1, 1)),
                                               ((2, 6, 7, 2), (3, 3), "same", (2, 2)),
                                               ((1, 6, 6, 2), (5, 5), "same", (1, 1)),
                                               ((2, 7, 8, 2), (2, 3), "valid", (2, 3)),
                                               ((8, 16, 16, 3), (3, 3), "same", (1, 1))]:
            A = rng.normal(size=shape)
            W = rng.normal(size=kernel + (shape[3], 3))
            b = rng.normal(size=(1, 1, 1, 3))
            geometry = ref.course_padding(padding, *shape[1:3], *kernel, *stride,
                                          rounding) + stride
            words = "A_prev {}, W {}, b, {{}}{!r}, {}".format(shape, W.shape, padding, stride)
            if task == 0:
                relu = padding == "same" and stride == (1, 1)
                activation = _relu if relu else ref.identity
                cases.append(Case(
                    "conv_forward({})".format(words.format("ReLU, " if relu else "identity, ")),
                    (A, W, b, activation, padding, stride), ["A"],
                    _conv_reference(ref, A, W, b, geometry, relu), "TensorFlow"))
            else:
                dZ = rng.normal(size=ref.conv_output_shape(A, W, *geometry))
                cases.append(Case(
                    "conv_backward(dZ {}, {})".format(dZ.shape, words.format("")),
                    (dZ, A, W, b, padding, stride), ["dA_prev", "dW", "db"],
                    lambda a=(dZ, A, W, b) + geometry: ref.tf_conv_gradients(*a),
                    "TensorFlow"))
    else:
        for shape, kernel, stride, mode in [((2, 4, 6, 3), (2, 2), (2, 2), "max"),
                                            ((2, 5, 6, 2), (3, 2), (1, 2), "max"),
                                            ((2, 4, 7, 2), (2, 3), (1, 2), "avg"),
                                            ((8, 16, 16, 3), (2, 2), (2, 2), "max")]:
            cases.append(_pool_case(ref, task, rng.normal(size=shape), kernel, stride, mode,
                                    rng))
        if task == 3:  # tied maxima: a flat background (zeros), as MNIST's, and a few 1s
            for shape, kernel, stride in [((2, 4, 6, 2), (2, 2), (2, 2)),
                                          ((1, 5, 5, 2), (2, 2), (1, 1))]:
                A = (rng.random(size=shape) < 0.2).astype(np.float64)
                cases.append(_pool_case(ref, task, A, kernel, stride, "max", rng, ties=True))
    return cases


def _conv_reference(ref, A, W, b, geometry, relu):
    """The reference of a conv_forward case: TensorFlow's Z, ReLU'd if asked."""
    def reference():
        """[Z] or [ReLU(Z)] in float64."""
        Z = ref.tf_conv(A, W, b, *geometry)
        return [np.maximum(Z, 0) if relu else Z]
    return reference


def _pool_case(ref, task, A, kernel, stride, mode, rng, ties=False):
    """A pool_forward (task 1) or pool_backward (task 3) case on A."""
    words = "A_prev {}, {}, {}, {!r}".format(A.shape, kernel, stride, mode)
    if task == 1:
        return Case("pool_forward({})".format(words), (A, kernel, stride, mode), ["A"],
                    lambda: [ref.tf_pool(A, kernel, stride, mode)], "TensorFlow")
    dA = rng.normal(size=ref.pool_output_shape(A, kernel, stride))
    if ties:
        return Case("pool_backward(dA {}, {}) with tied maxima".format(dA.shape, words),
                    (dA, A, kernel, stride, mode), ["dA_prev"],
                    lambda: [ref.max_pool_gradient_all_ties(dA, A, kernel, stride)],
                    CONTRACT_TIES)
    return Case("pool_backward(dA {}, {})".format(dA.shape, words),
                (dA, A, kernel, stride, mode), ["dA_prev"],
                lambda: [ref.tf_pool_gradient(dA, A, kernel, stride, mode)], "TensorFlow")


def _relu(Z):
    """ReLU activation, for the conv_forward cases."""
    return np.maximum(Z, 0)


def main(argv=None):
    """``python -m lenet.answers FOLDER``: the quick check of the task files in FOLDER.

    Prints a line per task (or, with ``--report FILE``, appends JSON records to FILE: {"task":
    N} when task N starts, then {"task": N, "failure": text} or {"task": N, "ok": true}, and
    {"done": true} at the end). Exit status 0 if all four pass, 2 if not. The files are
    imported from FOLDER itself: ``python -m lenet --tasks`` runs this on a copy."""
    parser = argparse.ArgumentParser(
        prog="python -m lenet.answers",
        description="Quick check of the answers to tasks 0-3 in FOLDER (the one "
        "`python -m lenet --tasks FOLDER` makes on a copy before training).")
    parser.add_argument("folder", metavar="FOLDER")
    parser.add_argument("--report", metavar="FILE", help="write JSON records to FILE")
    parser.add_argument("--seconds", type=float, default=TASK_SECONDS,
                        help="time limit per task (default: %(default)s)")
    args = parser.parse_args(argv)

    report = open(args.report, "a", buffering=1) if args.report else None

    def record(**fields):
        """Write one record to the report (flushed at once), or a line to stdout."""
        if report:
            report.write(json.dumps(fields) + "\n")
        elif "task" in fields and len(fields) > 1:
            print("task {} ({}): {}".format(fields["task"], LAYER_TASKS[fields["task"]][0],
                                            fields.get("failure", "ok")))

    from lenet.references import tensorflow
    tensorflow()  # imported (quiet) before any task's clock starts

    def too_slow(signum, frame):
        """SIGALRM: the task ran out of time."""
        raise _TooSlow

    previous = signal.signal(signal.SIGALRM, too_slow)
    failed = False
    for task, (filename, name) in enumerate(LAYER_TASKS):
        record(task=task)
        signal.setitimer(signal.ITIMER_REAL, args.seconds)
        try:
            failure = check_task(task, _import(filename, name, args.folder))
        except _TooSlow:
            failure = "did not finish the check's few tiny cases within {:g} s".format(
                args.seconds)
        except _ImportFailed as error:
            failure = "importing {} failed: {}".format(filename, error)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        failed = failed or failure is not None
        record(task=task, **({"failure": failure} if failure else {"ok": True}))
    signal.signal(signal.SIGALRM, previous)
    record(done=True)
    if report:
        report.close()
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
