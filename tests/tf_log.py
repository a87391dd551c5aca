"""TensorFlow's start-up log lines, for the tests that a job or main prints none by default.

``tests/conftest.py`` sets TF_CPP_MIN_LOG_LEVEL for pytest itself, and subprocesses inherit
it; a user who never set it runs with ``user_env()``."""
import os
import subprocess
import sys

# Words of the lines TensorFlow 2.21 writes on start-up here: "E0000 ... failed call to cuInit"
# (no GPU) and "I0000 ... oneDNN custom operations are on ... TF_ENABLE_ONEDNN_OPTS=0".
NOISE = ("cuInit", "E0000", "oneDNN", "TF_ENABLE_ONEDNN_OPTS")


def user_env(**changes):
    """os.environ without TF_CPP_MIN_LOG_LEVEL (as for a user who never set it), updated with
    ``changes``."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(changes)
    return env


def noise(stderr):
    """The lines of ``stderr`` holding any of NOISE."""
    return [line for line in stderr.splitlines() if any(word in line for word in NOISE)]


def bare_tensorflow_noise(level):
    """The NOISE lines that a bare ``import tensorflow`` and its first op print with
    TF_CPP_MIN_LOG_LEVEL=level (None: unset) on this machine, in a fresh interpreter."""
    env = user_env() if level is None else user_env(TF_CPP_MIN_LOG_LEVEL=str(level))
    result = subprocess.run([sys.executable, "-c",
                             "import tensorflow as tf; tf.constant(0.0) + 0.0"],
                            env=env, capture_output=True, text=True, timeout=300)
    return noise(result.stderr)
