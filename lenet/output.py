"""Output folders and files that a reader never sees half-written.

The job and the demos check their output folder before any work: it is
created if needed and shown writable by writing and removing a probe file.
Every file goes to a temporary name in its own folder and is renamed into
place (``os.replace``, atomic on one file system), so a reader sees either
the previous file or the new one, never a truncated mix. Folders that a
run created and left empty are removed again.
"""
import os
import tempfile
import time


class OutputFolder:
    """A folder to write to, and the folders made for it.

    ``created`` lists the folders this run made (parents first), so that
    ``remove_if_empty`` can take them away again when nothing was written.
    """

    def __init__(self, path, created=()):
        """Wrap ``path``; ``created`` are the folders made for it."""
        self.path = path
        self.created = list(created)

    def join(self, name):
        """Path of the file ``name`` in the folder."""
        return os.path.join(self.path, name)

    def remove_if_empty(self):
        """Remove the folders this run created, deepest first, where empty.

        Returns True if the output folder itself is gone.
        """
        for folder in reversed(self.created):
            try:
                os.rmdir(folder)
            except OSError:  # not empty (written to), or already gone
                break
        return not os.path.isdir(self.path)


def make_folder(path):
    """Create ``path`` and its missing parents; an ``OutputFolder``.

    Raises OSError (e.g. NotADirectoryError when a parent is a file,
    FileExistsError when ``path`` itself is a file).
    """
    missing = []
    folder = os.path.abspath(path)
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    created = []
    try:
        for folder in reversed(missing):
            os.mkdir(folder)
            created.append(folder)
    except OSError:
        OutputFolder(path, created).remove_if_empty()
        raise
    return OutputFolder(path, created)


def new_run_folder(parent, stamp=None):
    """Create a new, unique folder ``parent/<stamp>``; an ``OutputFolder``.

    ``stamp`` defaults to the local time, ``YYYYmmdd-HHMMSS``. The folder is
    made with ``os.mkdir``, which fails if it exists, so two runs started
    in the same second (even at the same instant) get different folders:
    the second takes ``<stamp>-2``, the next ``<stamp>-3``, and so on.
    """
    base = make_folder(parent)
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    for number in range(1, 10000):
        name = stamp if number == 1 else "{}-{}".format(stamp, number)
        path = os.path.join(parent, name)
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        except OSError:
            base.remove_if_empty()
            raise
        return OutputFolder(path, base.created + [os.path.abspath(path)])
    base.remove_if_empty()
    raise FileExistsError("{}: no free folder name for {}".format(parent,
                                                                  stamp))


def probe_writable(folder):
    """Show that files can be created in ``folder``: write and remove one.

    Raises OSError (PermissionError, a read-only file system, ...) if not.
    """
    handle, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(b"probe")
    finally:
        os.remove(probe)


def writable_folder(path, make=make_folder):
    """The folder ``path``, created if needed and shown writable.

    ``make(path)`` creates it (``make_folder``, or ``new_run_folder`` for a
    fresh one). Returns an ``OutputFolder``; raises ValueError with a
    one-line message naming the path when the folder cannot be created or
    written to (a probe file is written and removed). Folders made for a
    folder that turns out unwritable are removed again.
    """
    folder = os.path.abspath(path)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise ValueError("{}: {} is not a folder".format(path, folder))
    try:
        output = make(path)
    except OSError as error:
        raise ValueError("{}: cannot create the folder ({})".format(
            path, error.strerror or one_line(error)))
    try:
        probe_writable(output.path)
    except OSError as error:
        output.remove_if_empty()
        raise ValueError("{}: not writable ({})".format(
            output.path, error.strerror or one_line(error)))
    return output


def _file_mode():
    """Permission bits of a file created with ``open(path, "w")``."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomically(path, write):
    """Write the file ``path`` through a temporary name in its folder.

    ``write(stream)`` writes the content to a binary stream; the data is
    flushed to disk and the file renamed to ``path`` (``os.replace``). If
    ``write`` or the rename fails (a full disk, Ctrl-C), the temporary file
    is removed and a previous ``path`` is left untouched.
    """
    folder, name = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix="." + name + ".",
                                         suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, _file_mode())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.remove(temporary)
        except OSError:
            pass
        raise


def one_line(error):
    """An exception's message on one line (for a usage error)."""
    return " ".join(str(error).splitlines())
