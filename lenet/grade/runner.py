"""Run a task file's calls in a contained child process, and read back what it returns.

The student's code never runs in the grading process. ``run_file``:

- copies the task file (a regular file, at most ``MAX_SOURCE`` bytes, symlinks refused) alone
  into a fresh empty folder, the child's current folder: no sibling module, no repository on
  the path; the child is ``python -I -B child.py`` (isolated mode, no ``.pyc`` read or written);
- gives it a minimal environment (PATH, LANG, HOME and TMPDIR in that folder, one BLAS
  thread) and resource limits: address space (``--memory``), CPU time, file size, open files,
  processes, no core files; and a session and process group of its own;
- with ``sandbox="bwrap"`` runs it inside bubblewrap: read-only root, private ``/tmp`` and
  ``/dev/shm`` (small tmpfs), the user's home, the repository, the graded folders and the
  virtualenv's project hidden under empty tmpfs (Python itself bound back read-only), no
  network, its own PID, IPC and UTS namespaces, every capability dropped, a new terminal
  session, killed with the grader;
- reads the child's results from a pipe, never from files the child could swap (a FIFO,
  ``/dev/zero``): bounded sizes, one record per call in order, arrays as ``.npy`` bytes
  loaded without pickle, shapes and counts checked; anything else ends the run as malformed;
- enforces the wall-clock limit, then kills the child's process group, and everything the
  child left behind: in bwrap the whole PID namespace, without it every process that
  descends from the child or was orphaned to the grader (a subreaper) meanwhile.

The references are not in the grading process while the child runs: ``grading`` computes
them afterwards. ``run_in_process`` runs the same calls on a function object (the tests).
"""
import base64
import io
import json
import os
import re
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from lenet.grade import child
from lenet.grade.cases import Activation

CHILD = os.path.abspath(child.__file__)
OUTPUT_TAIL = 2000  # characters of the child's stdout/stderr kept for the report
MAX_SOURCE = 1 << 20  # bytes of a task file
MAX_RESULTS = 64 << 20  # bytes the child may send back in all
MAX_ELEMENTS = 1 << 22  # elements of one returned array
MAX_TEXT = 300  # characters of any text from the child shown in a report
EXTRA_PROCESSES = 16  # processes the child may start beyond those its user runs already
FILE_SIZE = 64 << 20  # largest file the child may write
TMPFS_SIZE = 16 << 20  # bytes of each private tmpfs in bwrap (its /tmp, /dev/shm)
SANDBOXES = ("auto", "bwrap", "none")
CONTAINMENT = {
    "bwrap": "bubblewrap (read-only root, private /tmp and /dev/shm, no network, own PID "
             "namespace, dies with the grader) and resource limits",
    "none": "no sandbox: resource limits, a fresh folder and a process group only",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text, limit=MAX_TEXT):
    """Text from the child made safe to print: control characters (terminal escape codes,
    carriage returns, bidi overrides) escaped, newlines as ' | ', at most `limit` chars."""
    text = str(text).replace("\r\n", "\n").replace("\n", " | ")
    text = _CONTROL.sub(lambda m: "\\x{:02x}".format(ord(m.group())) if ord(m.group()) < 256
                        else "\\u{:04x}".format(ord(m.group())), text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass
class Run:
    """What came back from running a task file's calls."""
    records: list  # one per call: the child's record, or None when the call never ran
    outputs: list  # one per call: the returned arrays (empty when none)
    imported: bool = False
    import_error: str = None
    import_where: str = None
    timed_out: bool = False
    died: str = None  # how the child ended early (signal, exit code, malformed report)
    stopped_at: int = None  # the call running when the child was stopped or died
    seconds: float = 0.0
    stderr: str = ""
    source: str = ""  # the task file's text, for the notes on its imports
    notes: list = field(default_factory=list)


def encode_calls(cases):
    """The calls as JSON-ready lists of positional arguments, and their arrays by key. Strings
    of a "strings" case are sent as {"fresh": s}: built at run time, not interned."""
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
            elif isinstance(value, str) and case.check == "strings":
                encoded.append({"fresh": value})
            else:
                encoded.append({"value": value})
        calls.append({"args": encoded})
    return calls, arrays


def child_environment(home):
    """The child's whole environment: nothing of ours (no secrets), one BLAS / OpenMP thread
    (predictable memory, and fair on a shared machine)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home,
           "TMPDIR": home}
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    return env


# Sandboxes

_BWRAP = {}


def bwrap_status():
    """(True, path) when bubblewrap is installed and can start a sandbox here, else (False,
    why not): it needs user namespaces, or root."""
    if not _BWRAP:
        path = shutil.which("bwrap")
        if path is None:
            _BWRAP["status"] = (False, "bwrap (bubblewrap) is not installed")
        else:
            try:
                probe = subprocess.run(
                    [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                     "--unshare-all", "--die-with-parent", "--", "/bin/true"],
                    capture_output=True, text=True, timeout=30)
                ok = probe.returncode == 0
                why = clean(probe.stderr.strip() or "exit status {}".format(probe.returncode))
            except (OSError, subprocess.SubprocessError) as error:
                ok, why = False, clean(error)
            _BWRAP["status"] = (True, path) if ok else (False, "bwrap cannot run here: " + why)
    return _BWRAP["status"]


def resolve_sandbox(choice):
    """"bwrap" or "none" for --sandbox auto / bwrap / none; ValueError when bwrap is asked
    for and cannot run."""
    if choice not in SANDBOXES:
        raise ValueError("--sandbox must be one of {}".format(", ".join(SANDBOXES)))
    if choice == "none":
        return "none"
    ok, detail = bwrap_status()
    if ok:
        return "bwrap"
    if choice == "bwrap":
        raise ValueError(detail)
    return "none"


def _hidden_dirs(graded):
    """Folders hidden under an empty tmpfs in bwrap: temporary folders, homes, the
    repository, the grader's current folder, the graded files' folders, and the project of
    the virtualenv running us."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(CHILD)))
    dirs = ["/tmp", "/var/tmp", "/home", "/root", "/run/user", "/mnt", "/media", "/srv",
            os.path.expanduser("~"), root, os.getcwd()]
    if sys.prefix != sys.base_prefix:
        dirs.append(os.path.dirname(sys.prefix))
    dirs += [os.path.dirname(os.path.abspath(p)) for p in graded]
    out = []
    for d in sorted({os.path.realpath(d) for d in dirs}, key=len):
        if os.path.isdir(d) and d != "/" and not any(d.startswith(o + "/") for o in out):
            out.append(d)
    return out


def _python_dirs():
    """What the child's Python needs, bound back read-only where a hidden folder covers it."""
    import numpy
    paths = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__)))}
    return sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)}, key=len)


def bwrap_command(bwrap, io_dir, box, python_args, graded=()):
    """The bubblewrap command line running python_args with io_dir at /tmp/io (read-only)
    and box at /tmp/box (the child's folder, writable)."""
    command = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for d in _hidden_dirs(graded):
        command += ["--size", str(TMPFS_SIZE), "--tmpfs", d]
    for d in _python_dirs():
        command += ["--ro-bind", d, d]
    command += ["--size", str(TMPFS_SIZE), "--tmpfs", "/dev/shm",
                "--ro-bind", io_dir, "/tmp/io", "--bind", box, "/tmp/box",
                "--unshare-all", "--die-with-parent", "--new-session",
                "--setenv", "HOME", "/tmp/box", "--setenv", "TMPDIR", "/tmp/box",
                "--chdir", "/tmp/box"]
    if os.geteuid() == 0:
        command += ["--cap-drop", "ALL"]
    return command + ["--"] + python_args


def _user_processes():
    """How many processes this user runs now (RLIMIT_NPROC counts them all)."""
    uid, count = os.getuid(), 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                count += os.stat("/proc/" + name).st_uid == uid
            except OSError:
                pass
    return count


def _limits(memory_mb, timeout):
    """A preexec function setting the child's resource limits (they hold for bwrap too)."""
    cpu = int(timeout) + 5
    processes = _user_processes() + EXTRA_PROCESSES

    def limit():
        """Set the limits, in the child just before it runs Python (or bwrap)."""
        memory = memory_mb << 20
        for name, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu),
                            (resource.RLIMIT_FSIZE, FILE_SIZE), (resource.RLIMIT_NOFILE, 64),
                            (resource.RLIMIT_NPROC, processes), (resource.RLIMIT_CORE, 0)):
            soft, hard = resource.getrlimit(name)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(name, (value, value))
    return limit


# Processes left behind

def _become_subreaper():
    """Make orphans of our children our children (Linux), so that a child that detaches a
    helper (setsid, double fork) cannot hide it from the sweep. False where unsupported."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


def _parents():
    """{pid: parent pid} of every process we can see."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/{}/stat".format(name), "rb") as f:
                    text = f.read().decode("ascii", "replace")
                out[int(name)] = int(text[text.rindex(")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    return out


def sweep(root_pid, ours_before):
    """Kill every process descending from root_pid, and every child of ours that was not
    there before the run (orphans handed to us as subreaper), until none is left."""
    me = os.getpid()
    for _ in range(200):
        parents = _parents()
        doomed = {root_pid} if root_pid in parents else set()
        doomed |= {pid for pid, ppid in parents.items()
                   if ppid == me and pid not in ours_before}
        grew = True
        while grew:
            more = {pid for pid, ppid in parents.items() if ppid in doomed} - doomed
            grew = bool(more)
            doomed |= more
        doomed.discard(me)
        if not doomed:
            return
        for pid in doomed:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in doomed:  # reap those that are our children
            if parents.get(pid) == me:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
        time.sleep(0.01)


# Reading the task file and the child's report

def read_source(path):
    """The task file's bytes: a regular file (no symlink, FIFO or device) of at most
    MAX_SOURCE bytes; ValueError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise ValueError("cannot open the file: {}".format(error.strerror or error))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_SOURCE:
            raise ValueError("larger than {} bytes".format(MAX_SOURCE))
        data = f.read(MAX_SOURCE + 1)
    if len(data) > MAX_SOURCE:
        raise ValueError("larger than {} bytes".format(MAX_SOURCE))
    return data


class Malformed(Exception):
    """The child's report broke the protocol: what was wrong with it."""


def _array(text):
    """A returned array from its base64 .npy bytes: numbers only, no pickle, bounded."""
    try:
        array = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    except (ValueError, TypeError, OSError, EOFError) as error:
        raise Malformed("an array that does not load ({})".format(type(error).__name__))
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf" \
            or array.ndim > 8 or array.size > MAX_ELEMENTS:
        raise Malformed("an array that is not a small array of numbers")
    return array


def _texts(value, n=50):
    """A list of at most n cleaned short strings, or Malformed."""
    if not isinstance(value, list) or len(value) > n or not all(isinstance(v, str) for v in value):
        raise Malformed("a list of names that is not one")
    return [clean(v, 80) for v in value]


def parse_record(event, n_args, n_outputs):
    """The record of one finished call from its "done" event, checked field by field; and
    its arrays. Nothing is kept because it is well-formed: shapes and dtypes come from the
    arrays themselves."""
    status = event.get("status")
    modified = event.get("modified", [])
    if not isinstance(modified, list) or not all(
            type(j) is int and 0 <= j < n_args for j in modified):
        raise Malformed("modified arguments out of range")
    seconds = event.get("seconds", 0.0)
    record = {"status": status, "modified": sorted(set(modified)),
              "seconds": float(seconds) if type(seconds) in (int, float) else 0.0}
    if status == "error":
        error, where = event.get("error"), event.get("where")
        if not isinstance(error, str) or not (where is None or isinstance(where, str)):
            raise Malformed("an error record without its text")
        record.update(error=clean(error), where=where and clean(where, 80),
                      exception_types=_texts(event.get("exception_types", [])))
        return record, []
    if status != "ok":
        raise Malformed("a call with status {!r}".format(clean(status, 20)))
    encoded = event.get("arrays")
    if not isinstance(encoded, list) or len(encoded) != n_outputs or not all(
            isinstance(e, str) for e in encoded):
        raise Malformed("{} returned arrays where {} were asked for".format(
            len(encoded) if isinstance(encoded, list) else "no", n_outputs))
    arrays = [_array(e) for e in encoded]
    types = _texts(event.get("types", ["ndarray"] * n_outputs), n_outputs)
    record.update(types=types, dtypes=[str(a.dtype) for a in arrays],
                  shapes=[list(a.shape) for a in arrays])
    return record, arrays


def parse_report(data, cases, n_outputs, run):
    """Fill `run` from the child's report (JSON lines): events in protocol order only (import,
    then start/done for call 0, 1, ... in turn, then finished). Returns whether it finished;
    raises Malformed at the first line that breaks the protocol."""
    lines = data.split(b"\n")
    complete = lines[:-1]  # the last piece is cut short (or empty)
    expected, running, finished = 0, None, False
    for number, line in enumerate(complete, start=1):
        if finished:
            raise Malformed("line {} after the end".format(number))
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            raise Malformed("line {} is not JSON".format(number))
        if not isinstance(event, dict):
            raise Malformed("line {} is not a record".format(number))
        kind = event.get("event")
        if kind == "import_error" and not run.imported and number == 1:
            run.import_error = clean(event.get("error", ""))
            run.import_where = event.get("where") and clean(event["where"], 80)
            finished = True
        elif kind == "imported" and number == 1:
            run.imported = True
        elif kind == "start" and run.imported and running is None \
                and event.get("call") == expected and expected < len(cases):
            running = expected
        elif kind == "done" and running is not None and event.get("call") == running:
            record, arrays = parse_record(event, len(cases[running].positional()), n_outputs)
            run.records[running], run.outputs[running] = record, arrays
            expected, running = expected + 1, None
        elif kind == "finished" and run.imported and running is None \
                and expected == len(cases):
            finished = True
        else:
            raise Malformed("line {}: unexpected {!r}".format(number, clean(kind, 20)))
    run.stopped_at = running
    return finished


# Running

def run_file(path, task, cases, timeout=60.0, memory_mb=1024, sandbox="none", graded=()):
    """Import the task file at `path` in a contained child process and run the cases' calls
    (`sandbox`: "bwrap" or "none"; `graded`: every path being graded, hidden in bwrap)."""
    path = os.path.abspath(path)
    run = Run([None] * len(cases), [[] for _ in cases])
    source = read_source(path)  # ValueError: the caller reports it
    run.source = source.decode("utf-8", "replace")
    _become_subreaper()
    with tempfile.TemporaryDirectory(prefix="lenet-grade-") as work:
        io_dir, box = os.path.join(work, "io"), os.path.join(work, "box")
        os.mkdir(io_dir)
        os.mkdir(box)
        with open(os.path.join(box, os.path.basename(path)), "wb") as f:
            f.write(source)
        calls, arrays = encode_calls(cases)
        with open(os.path.join(io_dir, "calls.json"), "w") as f:
            json.dump({"file": os.path.basename(path), "function": task.function,
                       "n_outputs": len(task.outputs), "calls": calls}, f)
        np.savez(os.path.join(io_dir, "arrays.npz"), **arrays)
        shutil.copy(CHILD, os.path.join(io_dir, "child.py"))
        results_r, results_w = os.pipe()
        output_r, output_w = os.pipe()
        if sandbox == "bwrap":
            python = [sys.executable, "-I", "-B", "/tmp/io/child.py", "/tmp/io",
                      str(results_w)]
            command = bwrap_command(bwrap_status()[1], io_dir, box, python, graded)
            home = "/tmp/box"
        else:  # behind a shell, so that killing its parent does not kill the grader
            command = ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-I", "-B",
                       os.path.join(io_dir, "child.py"), io_dir, str(results_w)]
            home = box
        ours_before = set(pid for pid, ppid in _parents().items() if ppid == os.getpid())
        start = time.perf_counter()
        try:
            process = subprocess.Popen(command, cwd=box, stdin=subprocess.DEVNULL,
                                       stdout=output_w, stderr=output_w,
                                       env=child_environment(home), pass_fds=(results_w,),
                                       start_new_session=True,
                                       preexec_fn=_limits(memory_mb, timeout))
        finally:
            os.close(results_w)
            os.close(output_w)
        try:
            data, output, run.timed_out, overflow = _read(process, results_r, output_r,
                                                          timeout)
        finally:
            _end(process, ours_before)
            os.close(results_r)
            os.close(output_r)
        run.seconds = time.perf_counter() - start
    run.stderr = output.decode("utf-8", "replace")[-OUTPUT_TAIL:]
    try:
        finished = parse_report(data, cases, len(task.outputs), run)
        if overflow:
            raise Malformed("more than {} MB of results".format(MAX_RESULTS >> 20))
    except Malformed as error:
        run.died = "sent a malformed report: {}".format(error)
        return run
    if not finished and not run.timed_out:
        code = process.returncode
        run.died = ("killed by signal {}".format(-code) if code is not None and code < 0
                    else "exited with status {}".format(code))
    return run


def _read(process, results_r, output_r, timeout):
    """(results bytes, output tail bytes, timed out, overflow): read both pipes until the
    child closes them, says it finished, or the time is up."""
    selector = selectors.DefaultSelector()
    for fd in (results_r, output_r):
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    data, output = bytearray(), bytearray()
    deadline = time.monotonic() + timeout
    timed_out = overflow = False
    open_fds = 2
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        for key, _ in selector.select(min(left, 0.5)):
            try:
                chunk = os.read(key.fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                selector.unregister(key.fd)
                open_fds -= 1
            elif key.fd == results_r:
                data += chunk
                if len(data) > MAX_RESULTS:
                    overflow = True
                    open_fds = 0
                    break
            else:
                output = (output + chunk)[-4 * OUTPUT_TAIL:]
        if process.poll() is not None and not selector.select(0):
            break  # the child is gone and nothing is left to read
    selector.close()
    return bytes(data), bytes(output), timed_out, overflow


def _end(process, ours_before):
    """Kill the child's process group, then every process it left (bwrap: the namespace
    dies with bwrap), and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.kill()
    except OSError:
        pass
    process.wait()
    sweep(process.pid, ours_before)


def run_in_process(function, task, cases):
    """Run the cases' calls on `function` here (tests and our own files); same Run."""
    from lenet.grade.child import decode_args, run_call
    calls, arrays = encode_calls(cases)
    run = Run([], [], imported=True)
    start = time.perf_counter()
    for call in calls:
        record, outputs = run_call(function, decode_args(call["args"], arrays),
                                   len(task.outputs))
        if record["status"] == "error":
            record.update(error=clean(record["error"]), where=record.get("where"))
        run.records.append(record)
        run.outputs.append(outputs)
    run.seconds = time.perf_counter() - start
    return run
