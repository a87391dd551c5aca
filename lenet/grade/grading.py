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
from lenet.grade.cases import (MEDIUM, PUBLISHED, TASK_BY_FILE, TASKS, describe, medium_cases,
                               published_cases, strict_cases, task_cases)
from lenet.grade.runner import clean, resolve_sandbox, run_file, run_in_process

_CASES = {}
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
    """(numerical cases, extras) of a task, built once per process and data source: the
    numerical ones end with the exercise's own example when the full classic set is found.
    The references are not kept: they are computed for each file after its child is gone."""
    key = (task_number, source)
    if key not in _CASES:
        X_train = classic_train(source)
        published = [] if X_train is None else published_cases(task_number, X_train)
        _CASES[key] = (task_cases(task_number) + published, strict_cases(task_number))
    return _CASES[key]


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


def _hint(failing, run, all_failing, all_passing, status):
    """(hint key, detail) for a failing group, or None: a known mistake's error or result in
    one of its cases, else a feature all its failures share."""
    hint = None
    for i, case, ref, problems in failing:
        record = run.records[i]
        if record and record["status"] == "error":
            if "MemoryError" in record.get("exception_types", []):
                hint = ("memory", None)
            else:
                hint = checks.error_hint(case, record)
        elif run.outputs[i] and ref is not None:
            hint = checks.variant_hint(case, run.outputs[i], ref)
        if hint:
            return hint
    if status == "fail" and all_failing and all(c.group == MEDIUM for c in all_failing):
        return ("medium", None)
    if status == "fail":
        key = checks.feature_hint(all_failing, all_passing, failing[0][1].task)
        return (key, None) if key else None
    return None


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
    hint = _hint(failing, run, all_failing, all_passing, group["status"])
    if hint:
        group["hint"] = hint[0]
        group["hint_text"] = checks.HINTS[hint[0]] + (" ({})".format(hint[1]) if hint[1] else "")
    return group


def _right(run, i, case):
    """Whether call i of the run returned the reference of its case."""
    record = run.records[i]
    if record is None or record["status"] != "ok":
        return False
    return not checks.compare(run.outputs[i], checks.expected(case), "values")[0]


def _notes(task, run, cases, extras):
    """The extras' notes: dtype, strings compared with ``is``, bad input, modified inputs,
    non-ndarray returns."""
    notes = []
    n = len(cases)
    modified, returned = {}, set()
    for i, case in enumerate(cases + extras):
        record = run.records[i]
        if record is None:
            continue
        names = [p for p in task.params if p in case.args]
        for j in record.get("modified", []):
            modified.setdefault(names[j], describe(case) if case.check != "bad"
                                else case.label)
        returned.update(t for t in record.get("types", []) if t != "ndarray")
    for i, case in enumerate(extras, start=n):
        record = run.records[i]
        if record is None:
            if i != run.stopped_at:  # the call that hung has a note of its own
                notes.append("the remaining extras were not run")
                break
            continue
        elif case.check == "float32":
            if record["status"] == "error":
                notes.append("float32 input: raised {}".format(record["error"]))
                continue
            if any(d != "float32" for d in record["dtypes"]):
                notes.append("float32 input gave {} output (float32 expected)".format(
                    ", ".join(record["dtypes"])))
            if checks.compare(run.outputs[i], checks.expected(case), "float32")[0]:
                notes.append("float32 input: values differ from the float64 reference by "
                             "more than 1e-4 relative")
        elif case.check == "literal":
            continue
        elif case.check == "strings":
            literal = extras[i - n - 1]
            if _right(run, i - 1, literal) and not _right(run, i, case):
                what = "padding" if task.number in (0, 2) else "mode"
                notes.append("compares strings with `is`: right when {} is the literal {!r} "
                             "(as the exercise's mains pass it), wrong when the same string "
                             "is built at run time; compare with ==".format(
                                 what, case.args[what]))
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


def _reading(members):
    """The reading of 'same' the file follows ("ceil" or "floor"): the one whose twins fail
    less (the course's, ceil, on a tie)."""
    fails = {"ceil": 0, "floor": 0}
    for i, case, ref, problems in members:
        if case.reading and problems:
            fails[case.reading] += 1
    return "floor" if fails["floor"] < fails["ceil"] else "ceil"


FLOOR_NOTE = ("'same' padding: where the total padding N = (h_prev - 1) * sh + kh - h_prev is "
              "odd (even kernels, stride > 1), yours is floor(N / 2) on each side, the course's "
              "ceil(N / 2); the exercise does not say which, so both are accepted when used "
              "throughout")


def _published_float32(task, case, outputs):
    """A note when the exercise's own example differs only in printing: float32 results (the
    classic images are float32) that agree with the float64 reference to float32 precision;
    else None."""
    dtypes = [str(o.dtype) for o in outputs]
    if "float32" not in dtypes or checks.compare(outputs, checks.expected(case), "float32")[0]:
        return None
    names = [name for name, d in zip(TASKS[task.number].outputs, dtypes) if d == "float32"]
    return ("{}: your {} {} float32 because the example's A_prev (the classic MNIST images) "
            "is float32 and your code keeps its dtype (np.zeros_like(A_prev), for one); the "
            "published output is float64, so the printed digits differ, but the numbers agree "
            "to float32 precision".format(PUBLISHED, " and ".join(names),
                                          "is" if len(names) == 1 else "are"))


def grade_run(task, path, run, cases, extras, strict=False, timeout=None):
    """The report of one task file from the Run of its calls (cases, then extras). The
    references are computed here, after the file's child process is gone."""
    report = {"task": task.number, "file": task.file, "path": path, "function": task.function,
              "status": "PASS", "error": None, "seconds": round(run.seconds, 2), "groups": [],
              "notes": []}
    notes = list(run.notes)
    if run.import_error:
        where = " ({})".format(run.import_where) if run.import_where else ""
        report.update(status="FAIL", error="does not import: " + run.import_error + where,
                      notes=notes)
        return report
    if not run.imported:  # stopped, or died, while importing
        how = ("stopped at the time limit ({:g} s)".format(timeout) if run.timed_out
               else "the process " + (run.died or "ended"))
        how += " while importing the file"
        if run.died and run.stderr.strip():
            how += "; stderr: " + clean(run.stderr.strip().splitlines()[-1])
        report.update(status="FAIL", error=how, notes=notes)
        return report
    members = []
    for i, case in enumerate(cases):
        record, ref, problems = run.records[i], None, []
        if record is None:
            problems = [(0, "not run")]
        elif record["status"] == "error":
            problems = [(0, record["error"])]
        elif case.check == "published":
            problems = checks.published_problems(task.number, run.outputs[i])
            note = problems and _published_float32(task, case, run.outputs[i])
            if note:
                problems = []
                notes.append(note)
        else:
            ref = checks.expected(case)
            problems = checks.compare(run.outputs[i], ref, case.check)[0]
        members.append((i, case, ref, problems))
    reading = _reading(members)
    members = [m for m in members if m[1].reading in (None, reading)]
    if reading == "floor":
        notes.append(FLOOR_NOTE)
    extension = [m for m in members if m[1].extension]
    members = [m for m in members if not m[1].extension]
    failing = [m[1] for m in members if m[3] and run.records[m[0]] is not None
               and m[1].check != "published"]
    passing = [m[1] for m in members if not m[3] and m[1].check != "published"]
    for name in dict.fromkeys(m[1].group for m in members):
        group = _grade_group(name, [m for m in members if m[1].group == name], run,
                             failing, passing)
        report["groups"].append(group)
    if task.number in (2, 3) and not any(case.check == "published" for case in cases):
        report["groups"].append({"name": PUBLISHED, "status": "skipped", "cases": 0,
                                 "failed": 0, "note": "the full classic MNIST was not found"})
    wrong = [m for m in extension if m[3]]
    if wrong:
        i, case, ref, problems = wrong[0]
        notes.append("{} (not the exercise's, which allows 'same' and 'valid' only): {} of {} "
                     "cases failed, e.g. {}: {}".format(
                         extension[0][1].group, len(wrong), len(extension), describe(case),
                         _problem(case, run.records[i], problems)))
    if run.timed_out or run.died:
        how = ("stopped at the time limit ({:g} s)".format(timeout) if run.timed_out
               else "the process " + run.died)
        if run.stopped_at is not None:
            case = (cases + extras)[run.stopped_at]
            how += " while running {}: {}".format(
                case.group if case.check != "bad" else "bad input " + case.label, describe(case))
        if run.died and run.stderr.strip():
            how += "; stderr: " + clean(run.stderr.strip().splitlines()[-1])
        if run.stopped_at is not None and (run.stopped_at >= len(cases)
                                           or cases[run.stopped_at].extension):
            notes.append(how)  # every case of the exercise ran: an extra hung
        else:
            report["error"] = how
    if any(g["status"] in ("fail", "not run") for g in report["groups"]) or report["error"]:
        report["status"] = "FAIL"
    report["notes"] = notes + _notes(task, run, cases, extras)
    if strict and report["notes"]:
        report["status"] = "FAIL"
    return report


def import_notes(task, source):
    """A note naming the modules other than numpy the file imports (the exercise allows numpy
    only in tasks 0-3); imports hidden from a plain reading count as unknown."""
    import ast
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(
                node.func, "attr", None)) in ("__import__", "import_module"):
            names.add("(a module named at run time)")
    names.discard("numpy")
    if not names:
        return []
    return ["imports {}: tasks 0-3 allow numpy only".format(
        ", ".join(clean(n, 40) for n in sorted(names)))]


def failed_report(path, error):
    """The report of a file the grader could not grade: FAIL with a one-line reason."""
    task = TASK_BY_FILE.get(os.path.basename(path))
    text = "{}: {}".format(type(error).__name__, str(error).strip().splitlines()[0]
                           if str(error).strip() else "")
    return {"task": task.number if task else None, "file": os.path.basename(path),
            "path": path, "function": task.function if task else None, "status": "FAIL",
            "error": "the grader could not grade this file: " + clean(text), "seconds": 0.0,
            "groups": [], "notes": []}


def grade_file(path, strict=False, timeout=60.0, memory_mb=1024, source=None, sandbox="none",
               graded=()):
    """Grade one task file in a contained child process (``sandbox``: "bwrap" or "none";
    ``source``: where the full classic MNIST for the exercise's own examples is, None for
    lenet.data's default order; ``graded``: every file of the run, hidden in bwrap)."""
    task = TASK_BY_FILE[os.path.basename(path)]
    fixed, extras = cases_of(task.number, source)
    cases = fixed + medium_cases(task.number)
    try:
        run = run_file(path, task, cases + extras, timeout=timeout, memory_mb=memory_mb,
                       sandbox=sandbox, graded=graded)
    except ValueError as error:  # the file itself cannot be read: FAIL, said why
        report = failed_report(path, error)
        report["error"] = "cannot be graded: " + clean(error)
        return report
    run.notes += import_notes(task, run.source)
    return grade_run(task, os.path.abspath(path), run, cases, extras, strict, timeout)


def grade_function(task_number, function, strict=False, source="embedded", medium=True):
    """Grade a function object in this process (for the tests; a student's code runs in a
    child process). The default source, the embedded images, skips the exercise's own
    examples; pass a full source to run them."""
    task = TASKS[task_number]
    fixed, extras = cases_of(task_number, source)
    cases = fixed + (medium_cases(task_number) if medium else [])
    run = run_in_process(function, task, cases + extras)
    return grade_run(task, None, run, cases, extras, strict)


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
                source=None, sandbox="auto"):
    """Grade every task file found in `paths`; a JSON-ready report with the exit status. Each
    file is graded alone: whatever goes wrong with one is a FAIL of that file only."""
    files, missing = find_task_files(paths)
    sandbox = resolve_sandbox(sandbox)
    reports = []
    for path in files:
        if progress:
            progress(path)
        try:
            reports.append(grade_file(path, strict, timeout, memory_mb, source, sandbox,
                                      graded=files))
        except Exception as error:  # noqa: BLE001 - one file's failure is that file's FAIL
            reports.append(failed_report(path, error))
    passed = bool(reports) and all(r["status"] == "PASS" for r in reports)
    return {"sandbox": sandbox, "strict": strict, "timeout": timeout, "memory_mb": memory_mb,
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
