"""References, comparisons and hints of ``python -m lenet.grade``.

References come from TensorFlow in float64 (``tf.nn.conv2d`` on an explicitly zero-padded
input, ``tf.nn.max_pool2d`` / ``avg_pool2d``, ``tf.GradientTape`` for the backward passes),
from central finite differences of those forward passes, and, for max-pool gradients with
tied maxima (where TensorFlow gives a window's gradient to its first maximum only), from the
contract's definition: every element equal to its window's maximum receives the window's
full gradient. TensorFlow is imported on first use, in the grading process only.

A hint names a known mistake when the student's output equals what that mistake computes
(a "variant": flipped kernel, bias left out, another 'same' padding, stride ignored, ...),
or when the failures all share one feature of the cases (non-square kernels only, ties only).
"""
import re

import numpy as np

from lenet import references

from lenet.grade.cases import TASKS, conv_geometry, pool_geometry
from lenet.gradcheck import numerical_gradient

TOLERANCE = {"values": 1e-6, "shape": None, "ties": 1e-6, "fd": 1e-5, "float32": 1e-4}

HINTS = {
    "kh_for_kw": "fails only when kh != kw: is kh used where kw belongs (window width, "
                 "output width, padding)?",
    "h_for_w": "fails only on non-square inputs: is h_prev used where w_prev belongs?",
    "sh_for_sw": "fails only when sh != sw: is sh used where sw belongs (window columns "
                 "x * sw, output width)?",
    "stride_ignored": "the result is what stride (1, 1) gives: window (y, x) starts at row "
                      "y * sh and column x * sw, and h_new = (h_prev + 2 * ph - kh) // sh + 1",
    "stride_ignored_backward": "stride ignored in the backward pass: the gradient of output "
                               "(y, x) goes back to the window at rows y * sh ... y * sh + kh "
                               "and columns x * sw ... x * sw + kw, not at (y, x)",
    "stride": "fails only with stride > 1: window (y, x) starts at (y * sh, x * sw), in the "
              "output size and in the window positions (backward too)",
    "stride_swapped": "the result is what stride (sw, sh) gives: stride is (sh, sw), height "
                      "first",
    "same_padding": "'same' padding differs from the course's rule "
                    "ph = ceil(((h_prev - 1) * sh + kh - h_prev) / 2), likewise pw, "
                    "the same number of zeros on both sides",
    "same_padding_backward": "'same' padding computed differently forward and backward: the "
                             "backward pass must pad exactly as the forward pass, "
                             "ph = ceil(((h_prev - 1) * sh + kh - h_prev) / 2), likewise pw",
    "same_plus_one": "'same' padding is floor(N / 2) + 1 with N = (h_prev - 1) * sh + kh - "
                     "h_prev: one row (column) too many whenever N is even; pad as the "
                     "forward pass does, ph = ceil(N / 2) (or floor(N / 2)), likewise pw",
    "tuple_padding": "fails only with padding (ph, pw): pad ph rows above and below and pw "
                     "columns left and right",
    "off_by_one": "output size off by one: h_new = (h_prev + 2 * ph - kh) // sh + 1, "
                  "likewise w_new",
    "missing_bias": "the bias is missing: Z = (window * W).sum() + b before the activation",
    "activation_missing": "the activation is not applied: return activation(Z)",
    "activation": "fails only with an activation other than the identity: apply it once, "
                  "to Z including the bias",
    "kernel_flipped": "the kernel is flipped (a mathematical convolution): the layer is a "
                      "cross-correlation, Z[y, x] = sum A_pad[y * sh + i, x * sw + j] * W[i, j]",
    "overwrite": "wrong only where windows overlap: use += (not =) so that a pixel read by "
                 "several windows collects the gradient of every one of them",
    "first_max": "only one of the tied maxima receives the gradient: every element equal to "
                 "the window's maximum gets the full gradient (mask = window == window.max())",
    "ties": "fails only where a window holds several equal maxima: every element equal to the "
            "window's maximum gets the full gradient",
    "mode_swapped": "the result is the other mode's: 'max' takes the maximum, 'avg' the mean",
    "avg_divisor": "the average divides by the wrong count: a window holds kh * kw elements",
    "avg": "fails only in 'avg' mode: a window's mean is its sum / (kh * kw), and its "
           "gradient dA / (kh * kw) goes to every element",
    "max": "fails only in 'max' mode",
    "gaps": "fails only when windows leave gaps (stride > kernel): elements outside every "
            "window get no gradient",
    "batch": "fails only with several images: every image (axis 0) is handled on its own",
    "channels": "fails only with several channels: c_prev is summed over by each kernel "
                "(conv), each channel is pooled on its own (pooling)",
    "db_shape": "db must have shape (1, 1, 1, c_new): sum dZ over axes (0, 1, 2) with "
                "keepdims=True",
    "padding_not_removed": "dA_prev has the padded shape: cut the padding off, "
                           "dA_pad[:, ph:ph + h_prev, pw:pw + w_prev]",
    "empty_slice": "an output dimension is empty where the padding is 0: dA_pad[:, ph:-ph] is "
                   "empty when ph = 0; cut with ph:ph + h_prev",
    "empty_slice_raised": "an array with an empty dimension where the padding is 0 ('valid'): "
                          "dA_pad[:, ph:-ph] is empty when ph = 0; cut with ph:ph + h_prev",
    "cut_too_much": "dA_prev has h_prev - 2 * ph rows (w_prev - 2 * pw columns): the padded "
                    "array has h_prev + 2 * ph, so cut dA_pad[:, ph:ph + h_prev, pw:pw + w_prev]",
    "float_padding": "the padding is a float (np.ceil and / return floats): np.pad and slices "
                     "need integers, ph = int(np.ceil(((h_prev - 1) * sh + kh - h_prev) / 2))",
    "same": "fails only with 'same' padding: is ph = ceil(((h_prev - 1) * sh + kh - h_prev) / 2) "
            "(likewise pw) an int, with ph zeros on both sides, the same backward as forward; "
            "in the backward pass, is the gradient summed into an array of the padded shape, "
            "then cut with ph:ph + h_prev?",
    "medium": "right on every small case, wrong on the medium one drawn for this run: is a "
              "size fixed somewhere (a buffer, a range), or a result looked up?",
    "zeros": "the result is all zeros: is this part (or this mode) still unfinished?",
    "scaled": "the result is a constant multiple of the right one",
    "batch_mean": "averaged over the batch: dW and db are sums over every image, not means",
    "memory": "the memory limit was exceeded",
    "not_array": "return a numpy.ndarray",
}

# feature of the failing cases -> hint, for the 'fails only when ...' fallback
FEATURE_HINTS = {
    "kh != kw": "kh_for_kw", "h_prev != w_prev": "h_for_w", "sh != sw": "sh_for_sw",
    "stride > 1": "stride", "'same' padding": "same", "tuple padding": "tuple_padding",
    "overlapping windows": "overwrite", "ties": "ties", "'avg' mode": "avg",
    "'max' mode": "max", "gapped windows": "gaps", "several images": "batch",
    "several channels": "channels", "activation": "activation",
}

# TensorFlow references, float64 (lenet.references, shared with the tests)


def _activate(Z, name):
    """The named activation in NumPy."""
    return {"identity": Z, "relu": np.maximum(Z, 0), "tanh": np.tanh(Z)}[str(name)]


def conv_z(A, W, b, ph, pw, sh, sw, tf_padding="VALID"):
    """Convolution output Z in float64 (no activation)."""
    return references.tf_conv(A, W, b, ph, pw, sh, sw, tf_padding)


def conv_grads(dZ, A, W, b, ph, pw, sh, sw):
    """(dA_prev, dW, db) of sum(Z * dZ) in float64; Z is cropped to dZ's size (variants whose
    forward output is larger), or None when it is smaller than dZ."""
    return references.tf_conv_gradients(dZ, A, W, b, ph, pw, sh, sw)


def pool(A, kernel_shape, stride, mode):
    """Pooling output in float64."""
    return references.tf_pool(A, kernel_shape, stride, mode)


def pool_grad(dA, A, kernel_shape, stride, mode):
    """dA_prev of sum(pool(A) * dA) in float64 (TensorFlow: a tie goes to the first maximum);
    the pooled output is cropped to dA's size, or None when it is smaller."""
    return references.tf_pool_gradient(dA, A, kernel_shape, stride, mode)


def max_pool_grad_all_ties(dA, A, kernel_shape, stride):
    """The contract's max-pool gradient (every tied maximum receives the window's gradient)."""
    return references.max_pool_gradient_all_ties(dA, A, kernel_shape, stride)


def finite_differences(loss, x, step=1e-5):
    """Central differences of the scalar loss(x) with respect to every element of x."""
    return numerical_gradient(loss, x, step)


def expected(case):
    """The reference outputs of a case (a list, in the task's output order), float64."""
    a = case.args
    if case.task in (0, 2):
        geo = conv_geometry(a, case.reading)
        ph, pw, sh, sw = geo[7], geo[8], geo[9], geo[10]
        if case.task == 0:
            return [_activate(conv_z(a["A_prev"], a["W"], a["b"], ph, pw, sh, sw),
                              a["activation"])]
        if case.check == "fd":
            dZ, A, W, b = (np.asarray(a[k], np.float64) for k in ("dZ", "A_prev", "W", "b"))
            return [finite_differences(lambda A_: np.sum(conv_z(A_, W, b, ph, pw, sh, sw) * dZ), A),
                    finite_differences(lambda W_: np.sum(conv_z(A, W_, b, ph, pw, sh, sw) * dZ), W),
                    finite_differences(lambda b_: np.sum(conv_z(A, W, b_, ph, pw, sh, sw) * dZ), b)]
        return conv_grads(a["dZ"], a["A_prev"], a["W"], a["b"], ph, pw, sh, sw)
    k, s, mode = a["kernel_shape"], a["stride"], a["mode"]
    if case.task == 1:
        return [pool(a["A_prev"], k, s, mode)]
    if case.check == "ties" or (case.check == "published" and mode == "max"):
        return [max_pool_grad_all_ties(a["dA"], a["A_prev"], k, s)]
    if case.check == "fd":
        dA = np.asarray(a["dA"], np.float64)
        return [finite_differences(lambda A_: np.sum(pool(A_, k, s, mode) * dA), a["A_prev"])]
    return [pool_grad(a["dA"], a["A_prev"], k, s, mode)]


# Comparing

def compare(outputs, reference, check):
    """How the outputs differ from the reference: a list of problems (empty when right) and
    the largest error {output index: (absolute, relative)}."""
    problems, errors = [], {}
    for k, (got, ref) in enumerate(zip(outputs, reference)):
        if got.shape != ref.shape:
            problems.append((k, "shape {} where {} is expected".format(
                tuple(got.shape), tuple(ref.shape))))
            continue
        if check == "shape" or ref.size == 0:
            continue
        scale = max(float(np.abs(ref).max()), 1e-3)
        diff = np.abs(got.astype(np.float64) - ref)
        error = float(np.nanmax(np.where(np.isnan(diff), np.inf, diff)))
        errors[k] = (error, error / scale)
        if not error <= TOLERANCE[check] * scale:
            problems.append((k, "values differ"))
    return problems, errors


def published_problems(task_number, outputs):
    """Problems of the exercise's own example: the outputs printed as its main prints them
    (print of the returned tuple or array, NumPy's default options) against the published
    text, byte for byte (under NumPy >= 2 task 2 to float32 precision: lenet.exercise)."""
    from lenet.exercise import compare, printed
    shown = tuple(outputs) if task_number == 2 else outputs[0]
    verdict, detail = compare(task_number, printed(shown))
    if verdict != "differs":
        return []
    return [(0, "printed output differs from the published one, " + detail)]


def _close(got, ref, check="values"):
    """Whether one output matches one reference in shape and values."""
    return ref is not None and got.shape == ref.shape and not compare([got], [ref], check)[0]


def _all_close(outputs, reference):
    """Whether every output matches its reference."""
    return reference is not None and len(outputs) == len(reference) and all(
        _close(g, r) for g, r in zip(outputs, reference))


# Hints from what a known mistake computes

def _alternative_same(case):
    """Other 'same' paddings students compute, as (hint, description, ph, pw), without the
    case's own (the course's rule rounded up, or down for a floor-reading case)."""
    geo = conv_geometry(case.args, case.reading)
    m, h, w, c, kh, kw, c_new, ph, pw, sh, sw, h_new, w_new = geo
    same = "same_padding" if case.task == 0 else "same_padding_backward"
    n_h, n_w = (h - 1) * sh + kh - h, (w - 1) * sw + kw - w
    rules = [("same_plus_one", "floor(N / 2) + 1", n_h // 2 + 1, n_w // 2 + 1),
             (same, "(kh - 1) // 2", (kh - 1) // 2, (kw - 1) // 2),
             (same, "(h_new * sh - h_prev + kh - 1) // 2",
              (h_new * sh - h + kh - 1) // 2, (w_new * sw - w + kw - 1) // 2),
             (same, "kh // 2, the rule with the stride left out", kh // 2, kw // 2)]
    seen, out = {(ph, pw)}, []
    for hint, name, a, b in rules:
        if (a, b) not in seen and a >= 0 and b >= 0:
            seen.add((a, b))
            out.append((hint, name, a, b))
    return out


def _coverage(shape, kernel_shape, stride, n_out):
    """How many windows read each pixel (1, h, w, 1) of an input of `shape`."""
    count = np.zeros((1,) + tuple(shape[1:3]) + (1,))
    kh, kw = kernel_shape
    sh, sw = stride
    for y in range(n_out[0]):
        for x in range(n_out[1]):
            count[:, y * sh:y * sh + kh, x * sw:x * sw + kw] += 1
    return count


def _overwrite_pattern(got, ref, count):
    """Right on every pixel one window reads, wrong only on pixels several windows read."""
    if got.shape != ref.shape:
        return False
    scale = max(float(np.abs(ref).max()), 1e-3)
    wrong = np.abs(got - ref) > TOLERANCE["values"] * scale
    count = np.broadcast_to(count, ref.shape)
    single = (count == 1) & (ref != 0)
    return bool(wrong.any() and not wrong[count <= 1].any() and single.any())


def _ratio(got, ref):
    """c when got == c * ref (c != 1) everywhere, else None."""
    if got.shape != ref.shape or ref.size == 0 or not np.abs(ref).max() > 0:
        return None
    i = np.unravel_index(np.argmax(np.abs(ref)), ref.shape)
    c = float(got[i] / ref[i])
    if c != 0 and abs(c - 1) > 1e-6 and np.isfinite(c) and _close(got, c * ref):
        return c
    return None


def _shape_hint(case, outputs, reference):
    """A hint from a wrong output shape, or None."""
    for k, (got, ref) in enumerate(zip(outputs, reference)):
        if got.shape == ref.shape:
            continue
        name = TASKS[case.task].outputs[k]
        if name == "db" and got.size == ref.size:
            return "db_shape", None
        if name == "dA_prev" and case.task == 2:
            geo = conv_geometry(case.args, case.reading)
            ph, pw = geo[7], geo[8]
            if got.ndim == 4 and got.shape[1:3] == (geo[1] + 2 * ph, geo[2] + 2 * pw):
                return "padding_not_removed", None
            if got.ndim == 4 and ((ph == 0 and got.shape[1] == 0)
                                  or (pw == 0 and got.shape[2] == 0)):
                return "empty_slice", None
            short = (len(range(geo[1] + 2 * ph)[ph:geo[1] - ph]),  # dA_pad[:, ph:h_prev - ph]
                     len(range(geo[2] + 2 * pw)[pw:geo[2] - pw]))
            if got.ndim == 4 and (ph or pw) and got.shape[1:3] == short:
                return "cut_too_much", None
        if got.ndim == 4 and got.shape[0] == ref.shape[0] and got.shape[3] == ref.shape[3]:
            dh, dw = got.shape[1] - ref.shape[1], got.shape[2] - ref.shape[2]
            if {abs(dh), abs(dw)} <= {0, 1} and (dh or dw):
                return "off_by_one", None
    return None


def _matches(ph, pw, rule):
    """The detail of a 'same' padding hint."""
    return "yours matches ph, pw = {}, {}: {}".format(ph, pw, rule)


def _variants(case):
    """(hint, detail, outputs) computed the way a known mistake would, for a failing case."""
    a = dict(case.args)
    if case.task in (0, 2):
        m, h, w, c, kh, kw, c_new, ph, pw, sh, sw, h_new, w_new = conv_geometry(a, case.reading)
        same = isinstance(a["padding"], str) and a["padding"] == "same"
        if case.task == 0:
            act = a["activation"]

            def fwd(A=a["A_prev"], W=a["W"], b=a["b"], ph=ph, pw=pw, sh=sh, sw=sw, act=act,
                    tf_padding="VALID"):
                """The forward output with some arguments changed."""
                return [_activate(conv_z(A, W, b, ph, pw, sh, sw, tf_padding), act)]

            yield "kernel_flipped", None, fwd(W=a["W"][::-1, ::-1])
            yield "missing_bias", None, fwd(b=0 * a["b"])
            if str(act) != "identity":
                yield "activation_missing", None, fwd(act="identity")
            if same:
                for hint, name, aph, apw in _alternative_same(case):
                    yield hint, _matches(aph, apw, name), fwd(ph=aph, pw=apw)
                yield "same_padding", "TensorFlow's 'SAME'", fwd(ph=0, pw=0, tf_padding="SAME")
            if (sh, sw) != (1, 1):
                full = fwd(sh=1, sw=1)
                yield "stride_ignored", None, full
                yield "stride_ignored", None, [full[0][:, :h_new, :w_new]]
            if sh != sw:
                yield "stride_swapped", None, fwd(sh=sw, sw=sh)
        else:
            def bwd(ph=ph, pw=pw, sh=sh, sw=sw):
                """The gradients with the padding or the stride changed."""
                return conv_grads(a["dZ"], a["A_prev"], a["W"], a["b"], ph, pw, sh, sw)

            if same:
                for hint, name, aph, apw in _alternative_same(case):
                    yield hint, _matches(aph, apw, name), bwd(ph=aph, pw=apw)
            if (sh, sw) != (1, 1):
                yield "stride_ignored_backward", None, bwd(sh=1, sw=1)
            if sh != sw:
                yield "stride_swapped", None, bwd(sh=sw, sw=sh)
    else:
        m, h, w, c, kh, kw, sh, sw, h_new, w_new = pool_geometry(a)
        other = "avg" if a["mode"] == "max" else "max"
        if case.task == 1:
            yield "mode_swapped", None, [pool(a["A_prev"], (kh, kw), (sh, sw), other)]
            if (sh, sw) != (1, 1):
                full = pool(a["A_prev"], (kh, kw), (1, 1), a["mode"])
                yield "stride_ignored", None, [full]
                yield "stride_ignored", None, [full[:, :h_new, :w_new]]
            if sh != sw:
                yield "stride_swapped", None, [pool(a["A_prev"], (kh, kw), (sw, sh), a["mode"])]
        else:
            if case.check == "ties":
                yield "first_max", None, [
                    pool_grad(a["dA"], a["A_prev"], (kh, kw), (sh, sw), "max")]
            yield "mode_swapped", None, [pool_grad(a["dA"], a["A_prev"], (kh, kw), (sh, sw), other)]
            if (sh, sw) != (1, 1):
                if case.check == "ties":  # windows at (y, x), every tied maximum
                    ignored = max_pool_grad_all_ties(a["dA"], a["A_prev"], (kh, kw), (1, 1))
                else:
                    ignored = pool_grad(a["dA"], a["A_prev"], (kh, kw), (1, 1), a["mode"])
                yield "stride_ignored_backward", None, [ignored]


def overwritten(case):
    """What `=` instead of `+=` computes in the usual loop order (image, row, column, then
    kernel or channel): each window's gradient replaces what earlier windows wrote."""
    a = case.args
    if case.task == 2:
        m, h, w, c, kh, kw, c_new, ph, pw, sh, sw, h_new, w_new = conv_geometry(a, case.reading)
        dA_pad = np.zeros((m, h + 2 * ph, w + 2 * pw, c))
        for n, y, x, k in np.ndindex(m, h_new, w_new, c_new):
            dA_pad[n, y * sh:y * sh + kh, x * sw:x * sw + kw] = a["W"][..., k] * a["dZ"][n, y, x, k]
        return dA_pad[:, ph:ph + h, pw:pw + w]
    m, h, w, c, kh, kw, sh, sw, h_new, w_new = pool_geometry(a)
    dA_prev = np.zeros(a["A_prev"].shape)
    for n, y, x, ch in np.ndindex(m, h_new, w_new, c):
        window = a["A_prev"][n, y * sh:y * sh + kh, x * sw:x * sw + kw, ch]
        if a["mode"] == "max":
            share = window == window.max()
        else:
            share = np.full(window.shape, 1 / (kh * kw))
        dA_prev[n, y * sh:y * sh + kh, x * sw:x * sw + kw, ch] = share * a["dA"][n, y, x, ch]
    return dA_prev


def variant_hint(case, outputs, reference):
    """(hint, detail) naming the known mistake that explains a failing case, or None."""
    if len(outputs) != len(reference):
        return None
    a = case.args
    same_shapes = all(g.shape == r.shape for g, r in zip(outputs, reference))
    if case.task in (2, 3) and same_shapes:  # = instead of += : wrong only where windows overlap
        if case.task == 2:
            geo = conv_geometry(a, case.reading)
            count = _coverage((1, geo[1] + 2 * geo[7], geo[2] + 2 * geo[8]), (geo[4], geo[5]),
                              (geo[9], geo[10]), (geo[11], geo[12]))
            count = count[:, geo[7]:geo[7] + geo[1], geo[8]:geo[8] + geo[2]] * geo[6]
            rest_right = all(_close(g, r) for g, r in zip(outputs[1:], reference[1:]))
        else:
            geo = pool_geometry(a)
            count = _coverage(a["A_prev"].shape, a["kernel_shape"], a["stride"], geo[8:10])
            rest_right = True
        if rest_right and (_overwrite_pattern(outputs[0], reference[0], count)
                           or _close(outputs[0], overwritten(case))):
            return "overwrite", None
    for hint, detail, variant in _variants(case):
        if _all_close(outputs, variant):
            return hint, detail
    if not same_shapes:
        return _shape_hint(case, outputs, reference)
    if any(got.size and not np.any(got) and np.any(ref) for got, ref in zip(outputs, reference)):
        return "zeros", None
    for k, (got, ref) in enumerate(zip(outputs, reference)):
        c = _ratio(got, ref)
        if c is None:
            continue
        name = TASKS[case.task].outputs[k]
        if case.task in (1, 3) and a["mode"] == "avg":
            kh, kw = a["kernel_shape"]
            return "avg_divisor", "divides by {:g} instead of kh * kw = {}".format(
                kh * kw / c, kh * kw)
        m = a["A_prev"].shape[0]
        if name in ("dW", "db") and m > 1 and abs(c * m - 1) < 1e-6:
            return "batch_mean", None
        return "scaled", "{} is {:.4g} times the right value".format(name, c)
    return None


_EMPTY_SHAPE = re.compile(r"\((?:\d+, ?)*0(?:, ?\d+)*,?\)")


_FLOAT_INDEX = ("`pad_width` must be of integral type", "slice indices must be integers")


def _empty_cuts(case):
    """The shapes dA_pad[:, ph:-ph, pw:-pw] (whole batch, or one image) has when ph or pw is
    0, as NumPy writes them in an error message; empty when neither is 0."""
    m, h, w, c, kh, kw, c_new, ph, pw = conv_geometry(case.args, case.reading)[:9]
    if ph and pw:
        return []
    rows, cols = (h if ph else 0), (w if pw else 0)
    return [str(shape).replace(",)", ")") for shape in ((m, rows, cols, c), (rows, cols, c))]


def error_hint(case, record):
    """(hint, None) for an error a known mistake raises, or None: a float padding (np.ceil
    or /) given to np.pad or a slice raises a TypeError; in the backward pass, the cut
    dA_pad[:, ph:-ph] is empty when ph = 0, and adding it to (or storing it into) an array
    raises a broadcasting error naming the cut's own shape (an empty window elsewhere, from
    a stride mix-up, names a window's shape and gets no hint from here)."""
    if case.task not in (0, 2) or record.get("status") != "error":
        return None
    text = str(record.get("error", ""))
    if "TypeError" in record.get("exception_types", []) and any(
            message in text for message in _FLOAT_INDEX):
        return "float_padding", None
    if case.task != 2 or "broadcast" not in text:
        return None
    shapes = {shape.replace(" ", "") for shape in _EMPTY_SHAPE.findall(text)}
    if any(cut.replace(" ", "") in shapes for cut in _empty_cuts(case)):
        return "empty_slice_raised", None
    return None


def feature_hint(failing, passing, task_number=None):
    """The hint for a feature every failing case has and every case without it passes,
    choosing the feature that fits the failures most tightly; or None."""
    if not failing:
        return None  # only the exercise's own example failed: no feature to name
    best = None
    for feature, hint in FEATURE_HINTS.items():
        if not all(feature in case.features for case in failing):
            continue
        with_feature = sum(feature in case.features for case in passing)
        without = sum(feature not in case.features for case in passing)
        if without == 0:
            continue  # every passing case has it too: it explains nothing
        fit = len(failing) / (len(failing) + with_feature)
        if best is None or fit > best[0]:
            best = (fit, hint)
    return best and best[1]
