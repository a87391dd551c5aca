"""Grade task files: run their calls (child process), compare, explain.

``grade_paths`` turns the command line's PATHs into task files, runs each in a child process
and returns a JSON-ready report; ``grade_function`` grades a function object in-process (the
tests use it). A task passes when every numerical group passes; the strict extras (float32
in, float32 out; bad input raises ValueError/TypeError; inputs left unmodified; an ndarray
returned) are notes, which fail the task only with ``strict``.
"""
import os

import numpy as np

from lenet.grade import checks
from lenet.grade.cases import (PUBLISHED, TASK_BY_FILE, TASKS, describe, published_cases,
                               strict_cases, task_cases)
from lenet.grade.runner import run_file, run_in_process

_CASES, _REFERENCES = {}, {}
_CLASSIC = {}  # source -> the full classic X_train, or None when the source is not the full set


def classic_train(source=None):
    """The classic 50,000 training images from ``source`` (None: lenet.data's default order),
    or None when that source is not the full set (e.g. only the embedded 5,000 images)."""
    if source not in _CLASSIC:
        from lenet.data import load_mnist
        splits = load_mnist(source, verbose=False)
        _CLASSIC[source] = splits.X_train if splits.is_full else None
    return _CLASSIC[source]


def cases_of(task_number, source=None):
    """(numerical cases, strict cases) of a task, built once per process and data source: the
    numerical ones end with the exercise's own example when the full classic set is found."""
    key = (task_number, source)
    if key not in _CASES:
        X_train = classic_train(source)
        published = [] if X_train is None else published_cases(task_number, X_train)
        _CASES[key] = (task_cases(task_number) + published, strict_cases(task_number))
    return _CASES[key]


def reference(task_number, index, case):
    """The float64 reference of a case, computed once per process."""
    key = (task_number, index)
    if key not in _REFERENCES:
        _REFERENCES[key] = checks.expected(case)
    return _REFERENCES[key]


def _problem(case, record, problems):
    """What went wrong in one failing case, in words."""
    if record is None:
        return "not run"
    if case.check == "published" and record["status"] != "error":
        return problems[0][1]
    if record["status"] == "error":
        where = " ({})".format(record["where"]) if record.get("where") else ""
        return "raised " + record["error"] + where if record.get("exception_types") \
            else record["error"]
    names = TASKS[case.task].outputs
    return "; ".join("{}: {}".format(names[k], text) if len(names) > 1 else text
                     for k, text in problems)


def _grade_group(name, members, run, all_failing, all_passing):
    """The report of one group: members are (index, case, reference or None, problems)."""
    group = {"name": name, "cases": len(members), "failed": 0, "status": "pass"}
    failing = [(i, case, ref, problems) for i, case, ref, problems in members if problems]
    not_run = [m for m in failing if run.records[m[0]] is None]
    if not failing:
        return group
    group["failed"] = len(failing)
    group["status"] = "not run" if len(not_run) == len(failing) else "fail"
    i, case, ref, problems = next((m for m in failing if run.records[m[0]] is not None),
                                  failing[0])
    group["smallest_failing_case"] = describe(case)
    group["problem"] = _problem(case, run.records[i], problems)
    worst = None
    for i, case, ref, problems in failing:
        if run.outputs[i] and ref is not None:
            errors = checks.compare(run.outputs[i], ref, "values")[1]
            for k, (absolute, relative) in errors.items():
                if worst is None or relative > worst["relative"]:
                    worst = {"output": TASKS[case.task].outputs[k], "absolute": absolute,
                             "relative": relative}
    group["largest_error"] = worst
    hint = None
    for i, case, ref, problems in failing:
        record = run.records[i]
        if record and record["status"] == "error" and "MemoryError" in record.get(
                "exception_types", []):
            hint = ("memory", None)
        elif run.outputs[i] and ref is not None:
            hint = checks.variant_hint(case, run.outputs[i], ref)
        if hint:
            break
    if hint is None and group["status"] == "fail":
        key = checks.feature_hint(all_failing, all_passing, case.task)
        hint = (key, None) if key else None
    if hint:
        group["hint"] = hint[0]
        group["hint_text"] = checks.HINTS[hint[0]] + (" ({})".format(hint[1]) if hint[1] else "")
    return group


def _notes(task, run, cases, extras):
    """The strict extras' notes: dtype, bad input, modified inputs, non-ndarray returns."""
    notes = []
    n = len(cases)
    modified, returned = {}, set()
    for i, case in enumerate(cases + extras):
        record = run.records[i]
        if record is None:
            continue
        for j in record.get("modified", []):
            name = [p for p in task.params if p in case.args][j]
            modified.setdefault(name, describe(case) if case.check != "bad" else case.label)
        returned.update(t for t in record.get("types", []) if t != "ndarray")
    for i, case in enumerate(extras, start=n):
        record = run.records[i]
        if record is None:
            if i != run.stopped_at:  # the call that hung has a note of its own
                notes.append("the remaining strict extras were not run")
                break
            continue
        elif case.check == "float32":
            if record["status"] == "error":
                notes.append("float32 input: raised {}".format(record["error"]))
                continue
            if any(d != "float32" for d in record["dtypes"]):
                notes.append("float32 input gave {} output (float32 expected)".format(
                    ", ".join(record["dtypes"])))
            ref = checks.expected(case)
            if checks.compare(run.outputs[i], ref, "float32")[0]:
                notes.append("float32 input: values differ from the float64 reference by "
                             "more than 1e-4 relative")
        else:
            if record["status"] == "ok":
                notes.append("bad input ({}) returned normally; {} expected".format(
                    case.label, case.expect))
            elif case.expect not in record.get("exception_types", []):
                notes.append("bad input ({}) raised {}; {} expected".format(
                    case.label, record["error"].split(":")[0], case.expect))
    for name, where in modified.items():
        notes.append("modifies its input {} (e.g. {})".format(name, where))
    for kind in sorted(returned):
        notes.append("returns a {}, not a numpy.ndarray".format(kind))
    return notes


def grade_run(task, path, run, strict=False, timeout=None, source=None):
    """The report of one task file from the Run of its calls."""
    cases, extras = cases_of(task.number, source)
    report = {"task": task.number, "file": task.file, "path": path, "function": task.function,
              "status": "PASS", "error": None, "seconds": round(run.seconds, 2), "groups": [],
              "notes": []}
    if run.import_error:
        where = " ({})".format(run.import_where) if run.import_where else ""
        report.update(status="FAIL", error="does not import: " + run.import_error + where)
        return report
    if not run.imported:  # stopped, or died, while importing
        how = ("stopped at the time limit ({:g} s)".format(timeout) if run.timed_out
               else "the process " + (run.died or "ended"))
        report.update(status="FAIL", error=how + " while importing the file")
        return report
    members, failing, passing = [], [], []
    for i, case in enumerate(cases):
        record, ref, problems = run.records[i], None, []
        if record is None:
            problems = [(0, "not run")]
        elif record["status"] == "error":
            problems = [(0, record["error"])]
        elif case.check == "published":
            problems = checks.published_problems(task.number, run.outputs[i])
        else:
            ref = reference(task.number, i, case)
            problems = checks.compare(run.outputs[i], ref, case.check)[0]
        members.append((i, case, ref, problems))
        if record is not None and case.check != "published":
            (failing if problems else passing).append(case)
    names = list(dict.fromkeys(case.group for case in cases))
    for name in names:
        group = _grade_group(name, [m for m in members if m[1].group == name], run,
                             failing, passing)
        report["groups"].append(group)
    if task.number in (2, 3) and not any(case.check == "published" for case in cases):
        report["groups"].append({"name": PUBLISHED, "status": "skipped", "cases": 0,
                                 "failed": 0, "note": "the full classic MNIST was not found"})
    notes = []
    if run.timed_out or run.died:
        how = ("stopped at the time limit ({:g} s)".format(timeout) if run.timed_out
               else "the process " + run.died)
        if run.stopped_at is not None:
            case = (cases + extras)[run.stopped_at]
            how += " while running {}: {}".format(
                case.group if case.check != "bad" else "bad input " + case.label, describe(case))
        if run.died and run.stderr.strip():
            how += "; stderr: " + run.stderr.strip().splitlines()[-1]
        if run.stopped_at is not None and run.stopped_at >= len(cases):
            notes.append(how)  # every numerical case ran: a strict extra hung
        else:
            report["error"] = how
    if any(g["status"] in ("fail", "not run") for g in report["groups"]):
        report["status"] = "FAIL"
    report["notes"] = notes + _notes(task, run, cases, extras)
    if strict and report["notes"]:
        report["status"] = "FAIL"
    return report


def grade_file(path, strict=False, timeout=60.0, memory_mb=1024, source=None):
    """Grade one task file in a child process (``source``: where the full classic MNIST for
    the exercise's own examples is, None for lenet.data's default order)."""
    task = TASK_BY_FILE[os.path.basename(path)]
    cases, extras = cases_of(task.number, source)
    run = run_file(path, task, cases + extras, timeout=timeout, memory_mb=memory_mb)
    return grade_run(task, os.path.abspath(path), run, strict, timeout, source)


def grade_function(task_number, function, strict=False, source="embedded"):
    """Grade a function object in this process (for the tests; a student's code runs in a
    child process). The default source, the embedded images, skips the exercise's own
    examples; pass a full source to run them."""
    task = TASKS[task_number]
    cases, extras = cases_of(task_number, source)
    run = run_in_process(function, task, cases + extras)
    return grade_run(task, None, run, strict, source=source)


def find_task_files(paths):
    """(task files to grade, [(folder, missing file names)]) from folders and files.

    Raises ValueError for a path that does not exist or a file that is not a task file."""
    files, missing = [], []
    for path in paths:
        if os.path.isdir(path):
            found = [os.path.join(path, t.file) for t in TASKS.values()
                     if os.path.isfile(os.path.join(path, t.file))]
            absent = [t.file for t in TASKS.values()
                      if not os.path.isfile(os.path.join(path, t.file))]
            files += found
            if absent:
                missing.append((path, absent))
        elif os.path.isfile(path):
            if os.path.basename(path) not in TASK_BY_FILE:
                raise ValueError("{}: not a task file (expected one of {})".format(
                    path, ", ".join(TASK_BY_FILE)))
            files.append(path)
        else:
            raise ValueError("{}: no such file or folder".format(path))
    unique = list(dict.fromkeys(os.path.abspath(f) for f in files))
    return unique, missing


def grade_paths(paths, strict=False, timeout=60.0, memory_mb=1024, progress=None,
                source=None):
    """Grade every task file found in `paths`; a JSON-ready report with the exit status."""
    files, missing = find_task_files(paths)
    reports = []
    for path in files:
        if progress:
            progress(path)
        reports.append(grade_file(path, strict, timeout, memory_mb, source))
    passed = bool(reports) and all(r["status"] == "PASS" for r in reports)
    return {"strict": strict, "timeout": timeout, "memory_mb": memory_mb,
            "tasks": reports,
            "not_graded": [{"folder": os.path.abspath(folder), "missing": names}
                           for folder, names in missing],
            "passed": passed, "exit_status": 0 if passed else 1}


def json_ready(value):
    """Plain floats and lists for json.dumps (NumPy scalars and tuples inside)."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
