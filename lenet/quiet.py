"""Import TensorFlow without its start-up log lines, unless the user asked for them.

TensorFlow's C++ side prints lines such as ``E0000 ... cuInit: failed call to cuInit`` on a machine
without a GPU: harmless, but an error line alarms a newcomer running a demo. They are governed by
TensorFlow's own variable ``TF_CPP_MIN_LOG_LEVEL``; some are written to file descriptor 2 before
that variable is read. So, when the user has not set it: set it to 3 (errors too) and send file
descriptor 2 to /dev/null while TensorFlow imports and runs its first op. A user who set the
variable sees exactly what that setting shows.
"""
import os

LOG_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"


def import_tensorflow(configure=None):
    """Import and return ``tensorflow``, quiet unless $TF_CPP_MIN_LOG_LEVEL is set.

    ``configure(tf)``, when given, runs right after the import, before TensorFlow's first op
    initializes its runtime: the place for settings that must come first, such as its thread
    counts."""
    if LOG_VARIABLE in os.environ:
        import tensorflow as tf
        if configure is not None:
            configure(tf)
        return tf
    os.environ[LOG_VARIABLE] = "3"
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 at all: nothing to keep quiet
        import tensorflow as tf
        if configure is not None:
            configure(tf)
        return tf
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf
            if configure is not None:
                configure(tf)
            tf.constant(0.0) + 0.0  # the first op: device set-up writes its lines here
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return tf
