"""benchmarks/: the plain-loop reference agrees with TensorFlow and the tasks; layers.py and
blocks.py run.

The loop reference is the slow baseline of the speed table, so it is checked here like a task:
against TensorFlow's ops (tests/oracles.py) on small random shapes with strides, non-square
kernels and every kind of padding, and against the task functions where TensorFlow's tie rule
differs from the contract's. No timing is asserted anywhere.
"""
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from lenet import layers
from lenet.tasks import ROOT

from cases import CONV_CASES, POOL_CASES, random_conv_inputs
from checks import assert_matches
from oracles import course_padding, identity, tf_conv, tf_conv_gradients, tf_pool, tf_pool_gradient

sys.path.insert(0, str(ROOT / "benchmarks"))
import loops  # noqa: E402

# benchmarks/layers.py as a module (its name would clash with lenet.layers)
_spec = importlib.util.spec_from_file_location("layers_script", ROOT / "benchmarks" / "layers.py")
layers_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(layers_script)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride", CONV_CASES)
def test_loop_conv_matches_tensorflow(m, h_prev, w_prev, c_prev, kh, kw, c_new, padding, stride,
                                      dtype):
    """Loop conv_forward and conv_backward equal tf.nn.conv2d and its GradientTape gradients."""
    A_prev, W, b = random_conv_inputs(0, m, h_prev, w_prev, c_prev, kh, kw, c_new, dtype)
    ph, pw = course_padding(padding, h_prev, w_prev, kh, kw, *stride)
    Z = loops.conv_forward(A_prev, W, b, identity, padding, stride)
    assert_matches(Z, tf_conv(A_prev, W, b, ph, pw, *stride), dtype)
    dZ = np.random.default_rng(1).standard_normal(Z.shape).astype(dtype)
    got = loops.conv_backward(dZ, A_prev, W, b, padding, stride)
    for gradient, ref in zip(got, tf_conv_gradients(dZ, A_prev, W, b, ph, pw, *stride)):
        assert_matches(gradient, ref, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape, kernel_shape, stride", POOL_CASES)
def test_loop_pool_matches_tensorflow(shape, kernel_shape, stride, mode, dtype):
    """Loop pool_forward and pool_backward equal TensorFlow's pooling and its gradient (no ties)."""
    rng = np.random.default_rng(2)
    A_prev = rng.standard_normal(shape).astype(dtype)
    out = loops.pool_forward(A_prev, kernel_shape, stride, mode)
    assert_matches(out, tf_pool(A_prev, kernel_shape, stride, mode), dtype)
    dA = rng.standard_normal(out.shape).astype(dtype)
    assert_matches(loops.pool_backward(dA, A_prev, kernel_shape, stride, mode),
                   tf_pool_gradient(dA, A_prev, kernel_shape, stride, mode), dtype)


@pytest.mark.parametrize("shape, kernel_shape, stride", POOL_CASES)
def test_loop_max_pool_ties_match_the_task(pool_backward, shape, kernel_shape, stride):
    """On inputs full of ties (values 0, 1, 2) the loop max-pool gradient equals task 3's."""
    rng = np.random.default_rng(3)
    A_prev = rng.integers(0, 3, shape).astype(np.float64)
    dA = rng.standard_normal(loops.pool_forward(A_prev, kernel_shape, stride).shape)
    np.testing.assert_allclose(loops.pool_backward(dA, A_prev, kernel_shape, stride),
                               pool_backward(dA, A_prev, kernel_shape, stride), rtol=1e-12,
                               atol=1e-12)


def test_loop_layers_match_the_tasks(conv_forward, conv_backward, pool_forward):
    """On one LeNet-like shape the loops and the tasks agree, forward and backward."""
    A_prev, W, b = random_conv_inputs(4, 3, 12, 12, 2, 5, 5, 4)
    Z = conv_forward(A_prev, W, b, identity, "same")
    np.testing.assert_allclose(loops.conv_forward(A_prev, W, b, identity, "same"), Z, rtol=1e-10)
    dZ = np.random.default_rng(5).standard_normal(Z.shape)
    for got, want in zip(loops.conv_backward(dZ, A_prev, W, b, "same"),
                         conv_backward(dZ, A_prev, W, b, "same")):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(loops.pool_forward(Z, (2, 2), (2, 2), "avg"),
                               pool_forward(Z, (2, 2), (2, 2), "avg"), rtol=1e-12)


def run_layers(*args):
    """Run benchmarks/layers.py with args as the user would (TensorFlow's defaults, oneDNN on)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "layers.py"), *args],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_layers_quick_prints_the_tables():
    """`layers.py --quick --repeat 1` exits 0, says TensorFlow is held to one thread (per core,
    the default), and prints both tables: the standard workloads (a row per workload and dtype
    with lenet.layers', the task files' and TensorFlow's times, then the geometric means of
    layers/TF and tasks/TF beside issue 21's targets), then the shapes that punish shortcuts (a
    row per shape and dtype with its memory and a verdict on the bounds, and the summary
    line)."""
    result = run_layers("--quick", "--repeat", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "TensorFlow held to one thread (intra- and inter-op)."
    split = next(i for i, line in enumerate(lines) if line.startswith("Shapes that punish"))
    first, second = lines[:split], lines[split:]
    header = next(line for line in first if line.split()[:1] == ["workload"])
    for column in ("layers ms", "tasks ms", "TF ms", "layers/TF", "tasks/TF"):
        assert column in header
    # PyTorch and JAX are optional peers: a column each when installed (and layers/best), else a
    # note
    peers = [peer for peer, module in (("torch", "torch"), ("jax", "jax"))
             if importlib.util.find_spec(module) is not None]
    for peer, library in (("torch", "PyTorch"), ("jax", "JAX")):
        assert (peer + " ms" in header) == (peer in peers)
        assert (library + ": skipped, not installed (optional)" in first) == (peer not in peers)
    extra = len(peers) + 2 * bool(peers)  # a column per peer, then layers/best and best
    rows = [line for line in first if line.startswith(("conv", "max", "avg"))]
    assert len(rows) == 16
    assert {row.split()[-8 - extra] for row in rows} == {"float32", "float64"}
    means = {line.split()[3]: line for line in first if line.startswith("geometric mean of ")}
    assert "target <= 1, no row above 1.5" in means["layers/TF"]
    assert "target <= 2.5" in means["tasks/TF"]
    assert ("layers/best" in means) == bool(peers)
    if peers:  # which peer is fastest, per row; every row a peer wins is explained
        names = {"TensorFlow", "PyTorch", "JAX"}
        assert all(row.split()[-1] in names for row in rows)
        faster = [row for row in rows if float(row.split()[-2]) > 1]
        count = next(line for line in first if line.startswith("Where a peer is faster: "))
        assert count.endswith("no row" if not faster else "{} rows".format(len(faster)))
        notes = [line for line in first if line.startswith("  ") and " times as fast: " in line]
        assert len(notes) == len(faster)
        names = {value: key for key, value in layers_script.PEER_NAMES.items()}
        for note in notes:  # each with why_faster's reason for its row and peer
            row, reason = note.strip().split(" times as fast: ")
            peer = names[row.split(": ")[1].rsplit(" ", 1)[0]]
            assert reason == layers_script.why_faster(row, peer), note
    assert any(line.split()[:1] == ["workload"] and "beyond MiB" in line for line in second)
    rows = [line for line in second if line.startswith("conv")]
    assert len(rows) == 6
    assert {row.split()[-6] for row in rows} == {"float32", "float64"}
    assert all(row.split()[-1] in ("ok", "OUT") for row in rows)
    assert any(line.startswith("all 6 rows within bounds: ") for line in second)


def test_every_kind_of_workload_has_its_reason():
    """why_faster gives each kind of workload of the speed table its own reason (never the
    fallback), PyTorch's kept argmax for the max-pool backward, and the fallback for a kind it
    does not know."""
    kinds = {" ".join(layers_script.label(kind, shape, kernel, padding, stride).split()[:2])
             for kind, shape, kernel, padding, stride in layers_script.FULL}
    assert kinds == {"conv fwd", "conv bwd", "max fwd", "avg fwd", "max bwd", "avg bwd"}
    for kind in kinds:
        for peer in ("tf", "torch", "jax"):
            assert layers_script.why_faster(kind + " 8x8", peer) != layers_script.FALLBACK
    assert "argmax" in layers_script.why_faster("max bwd 512x28x28x6 2x2/2", "torch")
    assert "argmax" not in layers_script.why_faster("max bwd 512x28x28x6 2x2/2", "tf")
    assert "one-channel" in layers_script.why_faster("conv fwd 512x28x28x1 * 5x5x1x6", "torch")
    assert layers_script.why_faster("sum fwd 8x8", "tf") == layers_script.FALLBACK


@pytest.mark.slow
def test_layers_busy_and_tf_all_threads():
    """`--busy --tf-all-threads` say so above the tables, still print both, and the spinning
    process that kept a core busy is gone when the script has exited; --tf-one-thread (the
    default) and --tf-all-threads together are refused."""
    result = run_layers("--quick", "--repeat", "1", "--busy", "--tf-all-threads")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "TensorFlow on its default threads (all cores)." in result.stdout
    assert "TensorFlow held to one thread" not in result.stdout
    busy = [line for line in result.stdout.splitlines() if line.startswith("One core kept busy")]
    assert len(busy) == 1
    assert any(line.startswith("all 6 rows within bounds: ") for line in result.stdout.splitlines())
    pid = int(busy[0].rsplit("pid ", 1)[1].rstrip(")."))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    result = run_layers("--quick", "--tf-one-thread", "--tf-all-threads")
    assert result.returncode == 2 and "not allowed with" in result.stderr


def test_layers_help():
    """`layers.py --help` documents the options."""
    result = run_layers("--help")
    assert result.returncode == 0
    for option in ("--repeat", "--quick", "--memory", "--loop-images", "--busy",
                   "--tf-one-thread", "--tf-all-threads"):
        assert option in result.stdout


def run_blocks(*args):
    """Run benchmarks/blocks.py with args as the user would."""
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "blocks.py"), *args],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=300)


def test_blocks_quick_prints_the_table():
    """`blocks.py --quick --rounds 1` names the BLAS, then prints a row per layer, direction and
    dtype: a ratio per call size and for one call, 1.00 under lenet.layers' default gemm_macs
    (the ratios are over that column), and the setting of the smallest ratio; then the geometric
    means and what "one" means."""
    result = run_blocks("--quick", "--rounds", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 13
    assert lines[0].startswith("BLAS: ")
    own = "2^{}".format(layers.Tuning().gemm_macs.bit_length() - 1)
    assert lines[1].startswith("time over the time at gemm_macs = " + own)
    header = lines[2].split()
    assert header[:3] == ["workload", "dtype", "ms"] and header[-1] == "fastest"
    columns = header[3:-1]
    assert columns[0] == "2^15" and columns[-2:] == ["2^23", "one"] and own in columns
    rows = [line for line in lines if line.startswith("conv")]
    assert len(rows) == 8
    for row in rows:
        values = row.split()[-len(columns) - 1:-1]
        assert values[columns.index(own)] == "1.00"
        assert all(float(value) > 0 for value in values)
        fastest = row.split()[-1]
        assert fastest in columns and float(values[columns.index(fastest)]) == min(
            float(value) for value in values)
    assert {row.split()[-len(columns) - 3] for row in rows} == {"float32", "float64"}
    means = lines[-2].split()
    assert means[:2] == ["geometric", "mean"] and len(means) == 2 + len(columns)
    assert means[2 + columns.index(own)] == "1.00"
    assert lines[-1] == "one: every product as one call (thread_macs = 0)"


def test_blocks_settings_reach_lenet_layers_and_are_restored():
    """Within a setting, lenet.layers' settings give calls of that size (or one call), and they
    are restored after it, and after a whole run of blocks.main."""
    import blocks
    before = layers.settings
    with blocks.setting(2 ** 15):
        assert layers.settings.gemm_macs == 2 ** 15
        assert layers.settings.thread_macs == before.thread_macs
    with blocks.setting(blocks.ONE_CALL):
        assert layers.settings.thread_macs == 0
    assert layers.settings is before
    assert blocks.main(["--quick", "--rounds", "1"]) == 0
    assert layers.settings is before


@pytest.mark.skipif(importlib.util.find_spec("threadpoolctl") is None,
                    reason="threadpoolctl is in requirements.txt; without it --one-thread "
                    "refuses (tested below)")
def test_blocks_one_thread_and_busy():
    """`--one-thread --busy` hold BLAS to one thread (the BLAS line says so, with 1 thread), keep
    a core busy while timing, and still print the table."""
    result = run_blocks("--quick", "--rounds", "1", "--one-thread", "--busy")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("One core kept busy") for line in lines)
    blas = next(line for line in lines if line.startswith("BLAS: "))
    assert blas.endswith(", held to one thread") and "threads: 1," in blas
    assert len([line for line in lines if line.startswith("conv")]) == 8


def test_blocks_help():
    """`blocks.py --help` documents the options; `--rounds 0` is refused before any timing."""
    result = run_blocks("--help")
    assert result.returncode == 0
    for option in ("--rounds", "--quick", "--busy", "--one-thread"):
        assert option in result.stdout
    result = run_blocks("--rounds", "0")
    assert result.returncode == 2 and "--rounds must be at least 1" in result.stderr
    assert result.stdout == ""


@pytest.mark.slow
def test_quiet_import_configures_before_the_first_op():
    """lenet.quiet.import_tensorflow(configure) runs configure before TensorFlow's first op, so
    thread counts (which TensorFlow refuses once it has run an op) take effect, and prints none
    of TensorFlow's start-up lines; the benchmarks hold TensorFlow to one thread this way."""
    from tf_log import noise, user_env
    code = ("from lenet.quiet import import_tensorflow\n"
            "def one(tf):\n"
            "    tf.config.threading.set_intra_op_parallelism_threads(1)\n"
            "    tf.config.threading.set_inter_op_parallelism_threads(1)\n"
            "tf = import_tensorflow(one)\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),\n"
            "      tf.config.threading.get_inter_op_parallelism_threads())\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=user_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1", "1"]
    assert noise(result.stderr) == []
