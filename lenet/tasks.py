"""Import the graded task files (``0-conv_forward.py`` ...) by file name.

Their names start with a digit and hold a dash, so ``import`` cannot name
them; graders use ``__import__('0-conv_forward')`` from the repository
root. This loader works from anywhere, on the repository's files or on
anyone's (a folder holding the four files of tasks 0-3), and imports
nothing itself.
"""
import collections
import functools
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # where the task files live
# Tasks 0-3: the file of each and the function it defines, in task order.
LAYER_TASKS = (("0-conv_forward.py", "conv_forward"),
               ("1-pool_forward.py", "pool_forward"),
               ("2-conv_backward.py", "conv_backward"),
               ("3-pool_backward.py", "pool_backward"))

TaskFunctions = collections.namedtuple(
    "TaskFunctions", [name for _, name in LAYER_TASKS])
TaskFunctions.__doc__ = """The four functions of tasks 0-3 (the contract's
signatures), from one source: the task files of a folder, or a module."""


def task_module(filename, folder=ROOT):
    """Import the task file ``filename`` (e.g. '0-conv_forward.py') from
    ``folder`` (default: the repository root) and return the module.

    The module is not entered in ``sys.modules``: files of two folders
    never shadow each other."""
    path = Path(folder) / filename
    module_name = "lenet_task_" + path.stem.replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def task_function(filename, name, folder=ROOT):
    """The function ``name`` of the task file ``filename`` in ``folder``."""
    return getattr(task_module(filename, folder), name)


def load_tasks(folder):
    """The four functions of the task files 0-3 in ``folder``, each file
    imported alone by its path.

    Raises whatever importing a file raises (e.g. FileNotFoundError for a
    missing file), and AttributeError for a file without its function.
    """
    return TaskFunctions(*(task_function(filename, name, folder)
                           for filename, name in LAYER_TASKS))


@functools.lru_cache(maxsize=None)
def repository_tasks():
    """The four functions of the repository's own task files (imported
    once per process)."""
    return load_tasks(ROOT)


def module_tasks(module_name):
    """The four functions of an importable module holding all of them under
    the tasks' names, e.g. ``module_tasks("lenet.layers")``."""
    module = importlib.import_module(module_name)
    return TaskFunctions(*(getattr(module, name)
                           for name in TaskFunctions._fields))
