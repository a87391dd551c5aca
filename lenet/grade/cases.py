"""The calls ``python -m lenet.grade`` makes to each task function, in groups.

The groups follow the exercise's contract: padding 'same' or 'valid' (strings), modes 'max'
and 'avg'. Tuple padding (ph, pw), our extension, is a group of its own whose failures are
notes. Where the exercise is ambiguous (the rounding of an odd total 'same' padding) a case
comes in two twins, one per reading, each with its own output shape; a file is graded by
the reading it follows. Every fixed case is small (a loop-style answer runs a whole task in
about a second) and drawn from a fixed seed, so two runs grade the same calls; one medium
case per task is drawn afresh on every run. A case is checked one of four ways: ``shape``
(output shapes only), ``values`` (against TensorFlow in float64), ``ties`` (max-pool
gradient with tied maxima, against the contract's mask formula) or ``fd`` (against central
finite differences); and, when the full classic MNIST is found, the exercise's own examples
of tasks 2 and 3 are checked against their published printed output (``published``). The
extras give notes: ``float32`` (float32 in should give float32 out), ``literal`` and
``strings`` (the same call with an interned and a run-time padding or mode string) and
``bad`` (should raise ValueError or TypeError).
"""
import math
from dataclasses import dataclass, field

import numpy as np

from lenet.references import course_padding


@dataclass(frozen=True)
class Task:
    """One graded task: its file, function, positional parameters and returned arrays."""
    number: int
    file: str
    function: str
    params: tuple
    outputs: tuple


TASKS = {
    0: Task(0, "0-conv_forward.py", "conv_forward",
            ("A_prev", "W", "b", "activation", "padding", "stride"), ("output",)),
    1: Task(1, "1-pool_forward.py", "pool_forward",
            ("A_prev", "kernel_shape", "stride", "mode"), ("output",)),
    2: Task(2, "2-conv_backward.py", "conv_backward",
            ("dZ", "A_prev", "W", "b", "padding", "stride"), ("dA_prev", "dW", "db")),
    3: Task(3, "3-pool_backward.py", "pool_backward",
            ("dA", "A_prev", "kernel_shape", "stride", "mode"), ("dA_prev",)),
}
TASK_BY_FILE = {task.file: task for task in TASKS.values()}


class Activation(str):
    """An activation passed by name ('identity', 'relu', 'tanh'); the child builds it."""


@dataclass
class Case:
    """One call of a task function: its group, arguments (by parameter name) and check.

    ``reading`` is None, or "ceil" / "floor" for a 'same' case whose total padding is odd,
    where the exercise does not say which way to round: such a case comes in two twins, one
    per reading (each with its own output shape), and a file is graded by the reading it
    follows. ``extension`` marks a case of our extensions (tuple padding): a note, not a FAIL.
    """
    task: int
    group: str
    args: dict
    check: str = "values"
    expect: str = None  # exception class a "bad" call must raise
    label: str = ""  # what is wrong with a "bad" call
    features: frozenset = field(default_factory=frozenset)
    reading: str = None
    extension: bool = False

    def size(self):
        """Total number of array elements passed: the smallest failing case is shown."""
        return sum(np.size(v) for v in self.args.values() if isinstance(v, np.ndarray))

    def positional(self):
        """The arguments in the function's parameter order."""
        return [self.args[name] for name in TASKS[self.task].params if name in self.args]


def padding_of(padding, h_prev, w_prev, kh, kw, sh, sw, reading=None):
    """(ph, pw): the course's rule (lenet.references.course_padding, 'same' rounded up), or
    for reading "floor" the total 'same' padding (h_prev - 1) * sh + kh - h_prev rounded
    down, the other reading of the exercise when that total is odd."""
    return course_padding(padding, h_prev, w_prev, kh, kw, sh, sw,
                          "floor" if reading == "floor" else "ceil")


def conv_geometry(args, reading=None):
    """(m, h_prev, w_prev, c_prev, kh, kw, c_new, ph, pw, sh, sw, h_new, w_new) of a conv case
    under a reading of 'same' (None: the course's, rounded up)."""
    m, h_prev, w_prev, c_prev = args["A_prev"].shape
    kh, kw, _, c_new = args["W"].shape
    sh, sw = args["stride"]
    ph, pw = padding_of(args["padding"], h_prev, w_prev, kh, kw, sh, sw, reading)
    h_new = (h_prev + 2 * ph - kh) // sh + 1
    w_new = (w_prev + 2 * pw - kw) // sw + 1
    return m, h_prev, w_prev, c_prev, kh, kw, c_new, ph, pw, sh, sw, h_new, w_new


def pool_geometry(args):
    """(m, h_prev, w_prev, c, kh, kw, sh, sw, h_new, w_new) of a pooling case."""
    m, h_prev, w_prev, c = args["A_prev"].shape
    kh, kw = args["kernel_shape"]
    sh, sw = args["stride"]
    return (m, h_prev, w_prev, c, kh, kw, sh, sw,
            (h_prev - kh) // sh + 1, (w_prev - kw) // sw + 1)


# Geometries. conv: (m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride[, activation])
# Only the exercise's paddings, 'same' and 'valid', outside the extension group.
CONV_SHAPES = [
    (1, 5, 5, 1, 3, 3, 1, "valid", (1, 1)),
    (2, 6, 8, 1, 3, 3, 2, "same", (1, 1)),
    (1, 7, 7, 2, 2, 4, 1, "valid", (1, 1)),
    (1, 8, 6, 1, 2, 2, 1, "same", (1, 1)),
    (1, 9, 9, 1, 3, 3, 1, "valid", (2, 3)),
    (1, 9, 9, 1, 3, 3, 1, "same", (2, 2)),
    (1, 7, 10, 1, 3, 2, 2, "same", (3, 2)),
    (2, 5, 6, 1, 3, 3, 1, "same", (1, 1)),
    (1, 10, 10, 1, 4, 4, 1, "valid", (3, 3)),
]
CONV_GROUPS = [
    ("'valid' padding, stride 1", [
        (1, 5, 5, 1, 3, 3, 1, "valid", (1, 1)),
        (2, 6, 6, 3, 3, 3, 2, "valid", (1, 1)),
        (3, 5, 5, 2, 2, 2, 4, "valid", (1, 1))]),
    ("'same' padding, stride 1", [
        (1, 6, 6, 1, 3, 3, 1, "same", (1, 1)),
        (2, 7, 7, 2, 5, 5, 3, "same", (1, 1)),
        (2, 6, 6, 2, 2, 2, 2, "same", (1, 1))]),
    ("stride > 1, windows apart (stride >= kernel)", [
        (1, 8, 8, 1, 2, 2, 1, "valid", (2, 2)),
        (2, 9, 9, 2, 3, 3, 2, "valid", (3, 3)),
        (1, 8, 7, 1, 2, 2, 1, "valid", (3, 3))]),
    ("stride > 1, windows overlap (stride < kernel)", [
        (1, 7, 7, 1, 3, 3, 1, "valid", (2, 2)),
        (2, 9, 9, 2, 4, 4, 2, "valid", (2, 2)),
        (1, 7, 7, 1, 3, 3, 2, "same", (2, 2))]),
    ("stride different along height and width", [
        (1, 9, 9, 1, 3, 3, 1, "valid", (3, 2)),
        (2, 8, 8, 2, 2, 2, 1, "valid", (1, 2))]),
    ("'same' padding, stride > 1", [
        (1, 7, 7, 1, 3, 3, 1, "same", (2, 2)),
        (2, 6, 6, 2, 2, 2, 2, "same", (3, 3)),
        (1, 7, 7, 1, 3, 3, 1, "same", (3, 3)),
        (2, 8, 6, 2, 5, 3, 2, "same", (3, 3))]),
    ("non-square kernels", [
        (1, 6, 6, 1, 2, 3, 1, "valid", (1, 1)),
        (2, 7, 7, 2, 3, 1, 2, "same", (1, 1)),
        (1, 8, 8, 1, 4, 2, 2, "valid", (2, 2))]),
    ("non-square inputs", [
        (1, 5, 8, 1, 3, 3, 1, "valid", (1, 1)),
        (2, 9, 6, 2, 3, 3, 2, "same", (1, 1)),
        (1, 10, 7, 1, 2, 2, 1, "valid", (2, 2))]),
    ("several images and channels", [
        (4, 5, 5, 3, 3, 3, 5, "valid", (1, 1)),
        (3, 6, 6, 4, 2, 2, 3, "same", (2, 2))]),
]
# Our extension, not the exercise's: padding as a tuple (ph, pw). Graded as a note.
CONV_TUPLE = ("tuple padding (ph, pw), our extension", [
    (1, 5, 5, 1, 3, 3, 1, (1, 1), (1, 1)),
    (2, 6, 6, 2, 3, 3, 2, (2, 1), (1, 1)),
    (1, 4, 4, 1, 2, 2, 1, (0, 2), (1, 1)),
    (1, 7, 7, 1, 3, 3, 2, (1, 1), (2, 2))])
CONV_ACTIVATIONS = ("bias and activation", [
    (2, 5, 5, 2, 3, 3, 3, "same", (1, 1), "relu"),
    (1, 6, 6, 1, 3, 3, 2, "valid", (1, 1), "tanh")])
CONV_FD = ("finite differences", [
    (1, 4, 5, 2, 2, 3, 2, "same", (1, 2)),
    (2, 5, 4, 1, 3, 2, 1, "valid", (2, 1))])

# pooling: (A_prev shape, kernel_shape, stride); every geometry runs in both modes
POOL_SHAPES = [
    ((1, 4, 4, 1), (2, 2), (2, 2)),
    ((2, 6, 7, 2), (3, 2), (1, 1)),
    ((1, 9, 8, 1), (3, 3), (2, 1)),
    ((1, 10, 11, 2), (2, 1), (3, 4)),
    ((1, 5, 6, 1), (5, 6), (1, 1)),
    ((2, 7, 7, 1), (3, 3), (2, 2)),
    ((1, 8, 5, 3), (2, 2), (3, 1)),
]
POOL_GROUPS = [
    ("windows tile the input (stride = kernel)", [
        ((1, 4, 4, 1), (2, 2), (2, 2)),
        ((2, 6, 6, 3), (2, 2), (2, 2)),
        ((1, 6, 6, 2), (3, 3), (3, 3))]),
    ("overlapping windows (stride < kernel)", [
        ((1, 5, 5, 1), (3, 3), (1, 1)),
        ((2, 7, 7, 2), (3, 3), (2, 2)),
        ((1, 6, 6, 1), (2, 2), (1, 1))]),
    ("gapped windows (stride > kernel)", [
        ((1, 7, 7, 1), (2, 2), (3, 3)),
        ((2, 9, 9, 2), (2, 2), (4, 4)),
        ((1, 8, 8, 1), (1, 1), (3, 3))]),
    ("stride different along height and width", [
        ((1, 8, 8, 1), (2, 2), (2, 3)),
        ((2, 9, 9, 2), (3, 3), (3, 1))]),
    ("non-square kernels", [
        ((1, 6, 6, 1), (2, 3), (2, 2)),
        ((2, 8, 8, 2), (3, 1), (1, 1)),
        ((1, 7, 7, 1), (1, 2), (2, 2))]),
    ("non-square inputs", [
        ((1, 6, 9, 1), (2, 2), (2, 2)),
        ((2, 9, 5, 2), (3, 3), (1, 1)),
        ((1, 8, 5, 1), (2, 2), (1, 1))]),
    ("several images and channels", [
        ((4, 6, 6, 5), (2, 2), (2, 2)),
        ((3, 5, 5, 4), (3, 3), (1, 1))]),
]
POOL_TIES = ("ties: several equal maxima in a window", [
    ((1, 4, 4, 1), (2, 2), (2, 2)),
    ((2, 6, 6, 2), (3, 3), (1, 1)),
    ((1, 6, 6, 1), (2, 2), (2, 2)),
    ((1, 5, 7, 1), (2, 3), (2, 2))])
POOL_FD = ("finite differences", [
    ((1, 5, 5, 2), (2, 2), (1, 1)),
    ((2, 5, 6, 1), (3, 2), (2, 2))])

PUBLISHED = "published outputs of the exercise (classic MNIST.npz)"


def published_cases(task, X_train):
    """The exercise's own example of task 2 or 3 (its N-main.py), on the classic X_train:
    seed 0, the same draws, the same call. Checked against the published printed output
    (lenet/published/N-main.txt). Tasks 0 and 1 publish only a shape, which the "output
    shapes" group covers, so they get none (a loop answer on 50,000 images would also take
    minutes)."""
    if task not in (2, 3):
        return []
    np.random.seed(0)
    _, h, w = X_train.shape
    X = X_train[:10].reshape((-1, h, w, 1))
    if task == 2:
        W = np.random.randn(3, 3, 1, 2)
        b = np.random.randn(1, 1, 1, 2)
        dZ = np.random.randn(10, h - 2, w - 2, 2)
        args = {"dZ": dZ, "A_prev": X, "W": W, "b": b, "padding": "valid", "stride": (1, 1)}
    else:
        A_prev = np.concatenate((X, 1 - X), axis=3)
        dA = np.random.randn(10, h // 3, w // 3, 2)
        args = {"dA": dA, "A_prev": A_prev, "kernel_shape": (3, 3), "stride": (3, 3),
                "mode": "max"}
    return [Case(task, PUBLISHED, args, "published")]


def _rng(task, group_index, case_index):
    """A generator seeded by the case's place, so every run draws the same inputs."""
    return np.random.default_rng([task, group_index, case_index])


def conv_case(task, group, geometry, rng, check="values", reading=None):
    """A conv case (task 0 or 2) with standard-normal arrays of the geometry's shapes (dZ
    shaped like the forward output under the reading of 'same')."""
    m, h, w, c, kh, kw, c_new, padding, stride = geometry[:9]
    activation = geometry[9] if len(geometry) > 9 else "identity"
    args = {"A_prev": rng.standard_normal((m, h, w, c)),
            "W": rng.standard_normal((kh, kw, c, c_new)),
            "b": rng.standard_normal((1, 1, 1, c_new))}
    if task == 0:
        args["activation"] = Activation(activation)
    args["padding"] = padding
    args["stride"] = stride
    if task == 2:
        geo = conv_geometry(args, reading)
        args = dict(dZ=rng.standard_normal((m, geo[11], geo[12], c_new)), **args)
    return Case(task, group, args, check, features=conv_features(args, reading),
                reading=reading)


def readings(geometry):
    """(None,) for a conv geometry whose padding has one reading, ("ceil", "floor") for a
    'same' padding whose total (h_prev - 1) * sh + kh - h_prev (or the width's) is odd."""
    m, h, w, c, kh, kw, c_new, padding, (sh, sw) = geometry[:9]
    if not (isinstance(padding, str) and padding == "same"):
        return (None,)
    ceil = course_padding(padding, h, w, kh, kw, sh, sw)
    floor = padding_of(padding, h, w, kh, kw, sh, sw, "floor")
    return (None,) if ceil == floor else ("ceil", "floor")


def pool_case(task, group, geometry, mode, rng, check="values"):
    """A pooling case (task 1 or 3): standard-normal A_prev (no ties), or small integers
    and a flat zero background for the ties group."""
    shape, kernel_shape, stride = geometry
    if check == "ties":
        A_prev = rng.integers(0, 3, shape).astype(np.float64)
        A_prev[:, : shape[1] // 2] = 0.0  # a flat background, as in MNIST
    else:
        A_prev = rng.standard_normal(shape)
    args = {"A_prev": A_prev, "kernel_shape": kernel_shape, "stride": stride, "mode": mode}
    if task == 3:
        geo = pool_geometry(args)
        args = dict(dA=rng.standard_normal((shape[0], geo[8], geo[9], shape[3])), **args)
    return Case(task, group, args, check, features=pool_features(args, check == "ties"))


def conv_features(args, reading=None):
    """What is special about a conv case, for the 'fails only when ...' hints."""
    m, h, w, c, kh, kw, c_new, ph, pw, sh, sw, _, _ = conv_geometry(args, reading)
    features = {"several images": m > 1, "several channels": c > 1 or c_new > 1,
                "kh != kw": kh != kw, "h_prev != w_prev": h != w, "sh != sw": sh != sw,
                "stride > 1": sh > 1 or sw > 1,
                "overlapping windows": sh < kh or sw < kw,
                "'same' padding": isinstance(args["padding"], str) and args["padding"] == "same",
                "tuple padding": not isinstance(args["padding"], str),
                "activation": str(args.get("activation", "identity")) != "identity"}
    return frozenset(name for name, on in features.items() if on)


def pool_features(args, ties=False):
    """What is special about a pooling case, for the 'fails only when ...' hints."""
    m, h, w, c, kh, kw, sh, sw, _, _ = pool_geometry(args)
    features = {"several images": m > 1, "several channels": c > 1,
                "kh != kw": kh != kw, "h_prev != w_prev": h != w, "sh != sw": sh != sw,
                "stride > 1": sh > 1 or sw > 1,
                "overlapping windows": sh < kh or sw < kw,
                "gapped windows": sh > kh or sw > kw,
                "'avg' mode": args["mode"] == "avg", "'max' mode": args["mode"] == "max",
                "ties": ties}
    return frozenset(name for name, on in features.items() if on)


def task_cases(task):
    """Every numerical case of a task, group by group (smallest first within a group)."""
    conv = task in (0, 2)
    groups = [("output shapes", CONV_SHAPES if conv else POOL_SHAPES, "shape")]
    groups += [(name, geometries, "values")
               for name, geometries in (CONV_GROUPS if conv else POOL_GROUPS)]
    if conv:
        groups.append(CONV_TUPLE + ("values",))
    if task == 0:
        groups.append(CONV_ACTIVATIONS + ("values",))
    if task == 2:
        groups.append(CONV_FD + ("fd",))
    if task == 3:
        groups.append(POOL_TIES + ("ties",))
        groups.append(POOL_FD + ("fd",))
    cases = []
    for g, (name, geometries, check) in enumerate(groups):
        group = []
        for i, geometry in enumerate(geometries):
            if conv:
                for reading in readings(geometry):  # twins drawn from the same seed
                    case = conv_case(task, name, geometry, _rng(task, g, i), check, reading)
                    case.extension = name == CONV_TUPLE[0]
                    group.append(case)
            else:
                rng = _rng(task, g, i)
                modes = ("max",) if check == "ties" else ("max", "avg")
                group += [pool_case(task, name, geometry, mode, rng, check) for mode in modes]
        cases += sorted(group, key=Case.size)
    return cases


STRINGS = "strings built at run time"


MEDIUM = "a medium case drawn for this run"


def medium_cases(task, rng=None):
    """One medium-sized geometry drawn afresh on every run (both modes for pooling, both
    readings of an odd 'same' padding), so that an answer right only on the fixed small
    cases, or one that looks their results up, fails."""
    rng = np.random.default_rng() if rng is None else rng
    seed = int(rng.integers(2 ** 32))
    m, c = int(rng.integers(3, 5)), int(rng.integers(2, 4))  # more elements than any fixed case
    h, w = (int(n) for n in rng.integers(12, 17, size=2))
    kh, kw = (int(n) for n in rng.integers(2, 5, size=2))
    stride = tuple(int(n) for n in rng.integers(1, 4, size=2))
    if task in (0, 2):
        geometry = (m, h, w, c, kh, kw, int(rng.integers(1, 4)),
                    str(rng.choice(["same", "valid"])), stride)
        return [conv_case(task, MEDIUM, geometry, np.random.default_rng(seed), "values",
                          reading) for reading in readings(geometry)]
    return [pool_case(task, MEDIUM, ((m, h, w, c), (kh, kw), stride), mode,
                      np.random.default_rng(seed)) for mode in ("max", "avg")]


def strict_cases(task):
    """The extras that give notes: one float32 call; one call whose padding or mode string
    is built at run time, not an interned literal (an answer comparing strings with ``is``
    fails it); and bad calls that must raise."""
    cases = []
    small = task_cases(task)[0]
    as32 = {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v
            for k, v in small.args.items()}
    cases.append(Case(task, "float32 in, float32 out", as32, "float32",
                      features=small.features))
    rng = _rng(task, 98, 0)
    if task in (0, 2):
        fresh = conv_case(task, STRINGS, (1, 5, 6, 1, 3, 3, 1, "same", (1, 1)), rng)
    else:
        fresh = pool_case(task, STRINGS, ((1, 5, 6, 1), (2, 2), (1, 1)), "avg", rng)
    literal = Case(task, STRINGS, dict(fresh.args), "literal", features=fresh.features)
    fresh.check = "strings"
    cases += [literal, fresh]
    rng = _rng(task, 99, 0)
    if task in (0, 2):
        base = conv_case(task, "", (1, 5, 5, 2, 3, 3, 1, "valid", (1, 1)), rng).args
        bad = [("W", rng.standard_normal((3, 3, 3, 1)), "ValueError",
                "W with 3 input channels for an A_prev with 2"),
               ("padding", "full", "ValueError", "padding 'full'"),
               ("stride", (0, 1), "ValueError", "stride (0, 1)"),
               ("A_prev", base["A_prev"].tolist(), "TypeError", "A_prev a list, not an array")]
        if task == 2:
            bad.insert(0, ("dZ", rng.standard_normal((1, 4, 4, 1)), "ValueError",
                           "dZ (1, 4, 4, 1) where the forward output is (1, 3, 3, 1)"))
    else:
        base = pool_case(task, "", ((1, 6, 6, 1), (2, 2), (2, 2)), "max", rng).args
        bad = [("mode", "min", "ValueError", "mode 'min'"),
               ("kernel_shape", (7, 7), "ValueError", "kernel_shape (7, 7) on a 6x6 input"),
               ("stride", (0, 2), "ValueError", "stride (0, 2)"),
               ("A_prev", base["A_prev"][0], "ValueError", "A_prev with 3 dimensions")]
        if task == 3:
            bad[1:2] = [("dA", rng.standard_normal((1, 2, 2, 1)), "ValueError",
                         "dA (1, 2, 2, 1) where the forward output is (1, 3, 3, 1)")]
            bad.pop()  # a 3-D A_prev with a 4-D dA is the dA mismatch again
    for name, value, expect, label in bad:
        cases.append(Case(task, "bad input", dict(base, **{name: value}), "bad", expect, label))
    return cases


def describe(case):
    """The case in words: argument shapes, then padding / stride / mode / activation."""
    parts = []
    for name, value in case.args.items():
        if isinstance(value, np.ndarray):
            parts.append("{} {}".format(name, tuple(value.shape)))
        elif isinstance(value, Activation):
            if value != "identity":
                parts.append("activation {}".format(value))
        elif isinstance(value, list):
            parts.append("{} a list".format(name))
        else:
            parts.append("{} {!r}".format(name, value))
    text = ", ".join(parts)
    if case.task in (0, 2) and case.check != "bad":
        geo = conv_geometry(case.args, case.reading)
        text += " (ph, pw = {}, {}; output {})".format(
            geo[7], geo[8], (geo[0], geo[11], geo[12], geo[6]))
    elif case.task in (1, 3) and case.check != "bad":
        geo = pool_geometry(case.args)
        text += " (output {})".format((geo[0], geo[8], geo[9], geo[3]))
    return text
