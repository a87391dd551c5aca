"""The child process of ``python -m lenet.grade``: import one task file and run its calls.

Run as ``python -I -B child.py IO_DIR FD`` in a fresh folder holding a copy of the task file
alone (see ``runner``; the grader has already set the resource limits). IO_DIR holds
``calls.json`` (task file, function name, the calls) and ``arrays.npz`` (every array
argument). The child imports the task file the way a grader does
(``__import__('0-conv_forward').conv_forward`` from its folder), runs the calls in order and
writes, as it goes, one JSON line per event to the pipe FD, each returned array as base64
``.npy`` bytes inside its record. Its own stdout goes to stderr, so a print is never a
record. Nothing here is trusted by the grader: it checks every line it reads.

String arguments are interned, as the literals of the exercise's mains are; a "fresh" string
is built at run time instead (to find answers that compare strings with ``is``).

This module imports only the standard library at the top (NumPy when it runs), so the
grading process can also import it to run the same calls in-process (``run_call``).
"""
import json
import os
import sys
import time
import traceback


def activation_named(name):
    """The activation function called ``name``: identity, relu or tanh (NumPy)."""
    import numpy as np
    return {"identity": lambda Z: Z,
            "relu": lambda Z: np.maximum(Z, 0),
            "tanh": np.tanh}[name]


def decode_args(encoded, arrays):
    """Positional arguments from their JSON form: {"array": key}, {"activation": name},
    {"tuple": [...]}, {"list": [...]}, {"fresh": s} or {"value": v}. Arrays are fresh copies,
    so a call may modify them; strings are interned, except a fresh one."""
    import numpy as np
    args = []
    for item in encoded:
        if "array" in item:
            args.append(np.array(arrays[item["array"]]))
        elif "activation" in item:
            args.append(activation_named(item["activation"]))
        elif "tuple" in item:
            args.append(tuple(item["tuple"]))
        elif "list" in item:
            args.append(list(item["list"]))
        elif "fresh" in item:
            args.append("".join(list(item["fresh"])))  # equal, but not the interned object
        else:
            value = item["value"]
            args.append(sys.intern(value) if isinstance(value, str) else value)
    return args


def describe_error(error, folder=None):
    """'TypeName: message' and where in the student's file it was raised ('file, line N')."""
    where = None
    for frame in traceback.extract_tb(error.__traceback__):
        if folder is None or os.path.dirname(os.path.abspath(frame.filename)) == folder:
            where = "{}, line {}".format(os.path.basename(frame.filename), frame.lineno)
    message = str(error).strip().splitlines()
    text = type(error).__name__ + (": " + message[0][:300] if message else "")
    return text, where


def run_call(function, args, n_outputs, folder=None):
    """Call function(*args) and check what comes back.

    Returns (record, outputs): record is JSON-ready ({"status": "ok", "dtypes", "shapes",
    "modified", "seconds"} or {"status": "error", "error", "where", "exception_types",
    "modified"}); outputs the returned arrays as numpy arrays (empty on error).
    """
    import numpy as np
    saved = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]
    start = time.perf_counter()
    try:
        result = function(*args)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: B902 - anything the student's code raises, exit() too
        text, where = describe_error(error, folder)
        record = {"status": "error", "error": text, "where": where,
                  "exception_types": [c.__name__ for c in type(error).__mro__]}
        outputs = []
    else:
        record, outputs = _check_result(result, n_outputs)
    record["seconds"] = time.perf_counter() - start
    record["modified"] = [i for i, (a, s) in enumerate(zip(args, saved))
                          if s is not None and not _unchanged(a, s)]
    return record, outputs


def _unchanged(array, saved):
    """Whether an argument still equals its saved copy (same shape, dtype and values)."""
    import numpy as np
    return (isinstance(array, np.ndarray) and array.shape == saved.shape
            and array.dtype == saved.dtype
            and np.array_equal(array, saved, equal_nan=saved.dtype.kind in "fc"))


def _check_result(result, n_outputs):
    """(record, arrays) for a returned value: one array, or a tuple of n_outputs arrays."""
    import numpy as np
    if n_outputs > 1:
        if not isinstance(result, (tuple, list)) or len(result) != n_outputs:
            return {"status": "error", "where": None, "exception_types": [],
                    "error": "returned {}, expected a tuple of {} arrays".format(
                        _kind(result), n_outputs)}, []
        parts = list(result)
    else:
        parts = [result]
    arrays = []
    for part in parts:
        try:
            array = np.asarray(part)
        except Exception:  # noqa: BLE001 - anything that is not array-like
            array = None
        if array is None or array.dtype.kind not in "biuf":
            return {"status": "error", "where": None, "exception_types": [],
                    "error": "returned {}, expected a numpy array of numbers".format(
                        _kind(part))}, []
        arrays.append(array)
    return {"status": "ok", "types": [type(p).__name__ for p in parts],
            "dtypes": [str(a.dtype) for a in arrays],
            "shapes": [list(a.shape) for a in arrays]}, arrays


def _kind(value):
    """A short description of a returned value: its type, and its length for a tuple/list."""
    if isinstance(value, (tuple, list)):
        return "a {} of {} items".format(type(value).__name__, len(value))
    return "a {}".format(type(value).__name__)


def main(io_dir, fd):
    """Import the task file from the current folder and run every call of IO_DIR/calls.json,
    reporting to the pipe `fd`."""
    with open(os.path.join(io_dir, "calls.json")) as f:
        job = json.load(f)
    channel = os.fdopen(int(fd), "w", buffering=1)
    os.dup2(2, 1)  # the student's prints go to stderr, never into the report

    def emit(**event):
        """Send one event at once (a killed child leaves what it sent)."""
        channel.write(json.dumps(event) + "\n")
        channel.flush()

    import base64
    import io
    import numpy as np
    folder = os.path.abspath(os.getcwd())
    sys.path.insert(0, folder)  # what `python3 main.py` in the student's folder would do
    module_name = job["file"][:-len(".py")]
    try:
        function = getattr(__import__(module_name), job["function"])
    except BaseException as error:  # noqa: B902 - a file that does not import is a result
        text, where = describe_error(error, folder)
        if isinstance(error, SyntaxError) and error.lineno:
            where = "{}, line {}".format(os.path.basename(error.filename or job["file"]),
                                         error.lineno)
        emit(event="import_error", error=text, where=where)
        return 0
    emit(event="imported")
    arrays = np.load(os.path.join(io_dir, "arrays.npz"), allow_pickle=False)
    for i, call in enumerate(job["calls"]):
        emit(event="start", call=i)
        args = decode_args(call["args"], arrays)
        record, outputs = run_call(function, args, job["n_outputs"], folder)
        encoded = []
        for output in outputs:
            buffer = io.BytesIO()
            np.save(buffer, output, allow_pickle=False)
            encoded.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
        if record["status"] == "ok":
            record["arrays"] = encoded
            del record["dtypes"], record["shapes"]  # the grader reads them off the arrays
        emit(event="done", call=i, **record)
    emit(event="finished")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
