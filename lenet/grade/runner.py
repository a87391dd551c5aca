"""Run a task file's calls in a child process with a time limit and a memory limit.

The student's code never runs in the grading process: ``run_file`` starts
``python -I lenet/grade/child.py WORKDIR`` in the student's folder (its own session, so the
whole process group can be killed), with one BLAS thread, ``RLIMIT_AS`` set by the child
before it imports NumPy, and a wall-clock limit enforced here. The child reports as it goes,
so a call that never returns still leaves the results of the calls before it.
``run_in_process`` runs the same calls on a function object (for the tests).
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from lenet.grade import child
from lenet.grade.cases import Activation

CHILD = os.path.abspath(child.__file__)
OUTPUT_TAIL = 2000  # characters of the child's stdout/stderr kept for the report


@dataclass
class Run:
    """What came back from running a task file's calls."""
    records: list  # one per call: the child's record, or None when the call never ran
    outputs: list  # one per call: the returned arrays (empty when none)
    imported: bool = False
    import_error: str = None
    import_where: str = None
    timed_out: bool = False
    died: str = None  # how the child ended early (signal, exit code), if it did
    stopped_at: int = None  # the call running when the child was stopped or died
    seconds: float = 0.0
    stderr: str = ""


def encode_calls(cases):
    """The calls as JSON-ready lists of positional arguments, and their arrays by key."""
    calls, arrays = [], {}
    for i, case in enumerate(cases):
        encoded = []
        for j, value in enumerate(case.positional()):
            if isinstance(value, np.ndarray):
                key = "{}_{}".format(i, j)
                arrays[key] = value
                encoded.append({"array": key})
            elif isinstance(value, Activation):
                encoded.append({"activation": str(value)})
            elif isinstance(value, tuple):
                encoded.append({"tuple": list(value)})
            elif isinstance(value, list):
                encoded.append({"list": value})
            else:
                encoded.append({"value": value})
        calls.append({"args": encoded})
    return calls, arrays


def child_environment():
    """The child's environment: ours, with one BLAS / OpenMP thread (predictable memory,
    and fair on a shared machine)."""
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    return env


def run_file(path, task, cases, timeout=60.0, memory_mb=1024):
    """Import the task file at `path` in a child process and run the cases' calls."""
    path = os.path.abspath(path)
    with tempfile.TemporaryDirectory(prefix="lenet-grade-") as workdir:
        calls, arrays = encode_calls(cases)
        with open(os.path.join(workdir, "calls.json"), "w") as f:
            json.dump({"file": os.path.basename(path), "function": task.function,
                       "n_outputs": len(task.outputs), "memory_mb": memory_mb,
                       "calls": calls}, f)
        np.savez(os.path.join(workdir, "arrays.npz"), **arrays)
        out_path, err_path = (os.path.join(workdir, n) for n in ("stdout.txt", "stderr.txt"))
        start = time.perf_counter()
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            process = subprocess.Popen([sys.executable, "-I", CHILD, workdir],
                                       cwd=os.path.dirname(path), stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=err, env=child_environment(),
                                       start_new_session=True)
            timed_out = False
            try:
                returncode = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill(process)
                returncode = process.wait()
        seconds = time.perf_counter() - start
        return _collect(workdir, len(cases), returncode, timed_out, seconds, err_path)


def _kill(process):
    """Kill the child's whole process group (it runs in a session of its own)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _collect(workdir, n_calls, returncode, timed_out, seconds, err_path):
    """Read the child's results.jsonl and output arrays into a Run."""
    run = Run([None] * n_calls, [[] for _ in range(n_calls)], timed_out=timed_out,
              seconds=seconds)
    with open(err_path, "rb") as f:
        run.stderr = f.read().decode("utf-8", "replace")[-OUTPUT_TAIL:]
    finished, running = False, None
    try:
        with open(os.path.join(workdir, "results.jsonl")) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the kill
        kind = event.pop("event")
        if kind == "import_error":
            run.import_error, run.import_where = event["error"], event.get("where")
            finished = True
        elif kind == "imported":
            run.imported = True
        elif kind == "start":
            running = event["call"]
        elif kind == "done":
            i = event.pop("call")
            run.records[i] = event
            if event["status"] == "ok":
                run.outputs[i] = [np.load(os.path.join(workdir, "out_{}_{}.npy".format(i, k)),
                                          allow_pickle=False)
                                  for k in range(len(event["shapes"]))]
            running = None
        elif kind == "finished":
            finished = True
    if not finished:
        run.stopped_at = running
        if not timed_out:
            run.died = ("killed by signal {}".format(-returncode) if returncode < 0
                        else "exited with status {}".format(returncode))
    return run


def run_in_process(function, task, cases):
    """Run the cases' calls on `function` here (tests and our own files); same Run."""
    from lenet.grade.child import decode_args, run_call
    calls, arrays = encode_calls(cases)
    run = Run([], [], imported=True)
    start = time.perf_counter()
    for call in calls:
        record, outputs = run_call(function, decode_args(call["args"], arrays),
                                   len(task.outputs))
        run.records.append(record)
        run.outputs.append(outputs)
    run.seconds = time.perf_counter() - start
    return run
