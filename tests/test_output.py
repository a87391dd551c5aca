"""lenet.output: atomic writes, write probes, unique run folders, no empty folders left."""
import errno
import os
import stat

import matplotlib.figure
import pytest

from lenet import output
from lenet.output import (OutputFolder, make_folder, new_run_folder, probe_writable,
                          write_atomically, writable_folder)

PNG = b"\x89PNG\r\n\x1a\n"


def leftovers(folder):
    """Names in ``folder`` other than the expected files: temporary or probe files."""
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


def test_write_atomically_writes_and_leaves_nothing_else(tmp_path):
    """The content lands under the final name, with the permissions open() would give, and no
    temporary file stays behind."""
    path = tmp_path / "results.json"
    write_atomically(path, lambda stream: stream.write(b'{"a": 1}'))
    assert path.read_bytes() == b'{"a": 1}'
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"),
                                     KeyboardInterrupt()])
def test_failed_write_keeps_the_previous_file(tmp_path, failure):
    """A write that fails half-way (full disk, Ctrl-C) raises, leaves the previous file
    byte for byte, and removes its temporary file."""
    path = tmp_path / "filters.png"
    path.write_bytes(PNG + b"the good picture")

    def half_then_fail(stream):
        """Write a truncated picture, then fail."""
        stream.write(PNG + b"trunc")
        raise failure

    with pytest.raises(type(failure)):
        write_atomically(path, half_then_fail)
    assert path.read_bytes() == PNG + b"the good picture"
    assert leftovers(tmp_path) == []


def test_plots_write_atomically(tmp_path, monkeypatch):
    """plot_curves and plot_filters go through the atomic write: matplotlib failing half-way
    through a PNG leaves the earlier picture intact (the disk-full case of issue 11)."""
    import numpy as np
    from lenet.figures import plot_curves, plot_filters

    curves, filters = tmp_path / "curves.png", tmp_path / "filters.png"
    history = {"train_loss": [1.0, 0.5], "train_accuracy": [0.5, 0.8], "valid_loss": [],
               "valid_accuracy": []}
    kernel, images = np.ones((5, 5, 1, 6)), np.zeros((2, 28, 28, 1))
    plot_curves({"numpy": history}, curves)
    plot_filters(kernel, images, np.zeros((2, 28, 28, 6)), [3, 4], filters)
    good = {path: path.read_bytes() for path in (curves, filters)}
    assert all(content.startswith(PNG) for content in good.values())

    def savefig_disk_full(self, stream, **kwargs):
        """Write the start of a PNG, then fail as a full disk does."""
        stream.write(PNG)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig_disk_full)
    with pytest.raises(OSError):
        plot_curves({"numpy": history}, curves)
    with pytest.raises(OSError):
        plot_filters(kernel, images, np.zeros((2, 28, 28, 6)), [3, 4], filters)
    assert {path: path.read_bytes() for path in (curves, filters)} == good
    assert leftovers(tmp_path) == []


def test_probe_leaves_no_file(tmp_path):
    """The probe of a writable folder succeeds and removes its file."""
    probe_writable(tmp_path)
    assert os.listdir(tmp_path) == []


def test_probe_unwritable(unwritable_dir):
    """The probe of a folder that refuses new files raises OSError."""
    with pytest.raises(OSError):
        probe_writable(unwritable_dir)


def test_writable_folder_creates_missing_parents(tmp_path):
    """A missing nested folder is created; the folders made are listed, parents first."""
    folder = writable_folder(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    assert folder.created == [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    assert os.listdir(tmp_path / "a" / "b") == []


def test_writable_folder_under_a_file(tmp_path):
    """A path through a regular file (e.g. /etc/passwd/model) is refused, naming the file."""
    regular = tmp_path / "file"
    regular.write_text("x")
    with pytest.raises(ValueError, match="{} is not a folder".format(regular)):
        writable_folder(regular / "out")
    with pytest.raises(ValueError, match="not a folder"):
        writable_folder(regular)


def test_writable_folder_unwritable(unwritable_dir):
    """An existing folder that refuses files: ValueError naming it, 'not writable'."""
    with pytest.raises(ValueError, match="{}: not writable".format(unwritable_dir)):
        writable_folder(unwritable_dir)


def test_unwritable_new_folder_is_removed_again(tmp_path, monkeypatch):
    """When the probe fails in a folder made for it, the folders made are removed again."""
    def refuse(folder):
        """A probe that always fails, as on a read-only file system."""
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(output, "probe_writable", refuse)
    with pytest.raises(ValueError, match="Read-only file system"):
        writable_folder(tmp_path / "new" / "deep")
    assert os.listdir(tmp_path) == []


def test_remove_if_empty_keeps_what_was_written_and_what_existed(tmp_path):
    """remove_if_empty removes only folders this run made, and only while empty."""
    folder = make_folder(tmp_path / "x" / "y")
    (tmp_path / "x" / "y" / "results.json").write_text("{}")
    assert not folder.remove_if_empty()
    assert (tmp_path / "x" / "y" / "results.json").is_file()
    os.remove(tmp_path / "x" / "y" / "results.json")
    assert folder.remove_if_empty()
    assert tmp_path.is_dir() and os.listdir(tmp_path) == []
    existing = OutputFolder(str(tmp_path), created=[])
    assert not existing.remove_if_empty() and tmp_path.is_dir()


def test_run_folders_unique_within_a_second(tmp_path):
    """Runs started in the same second (the same stamp) get distinct new folders."""
    parent = tmp_path / "runs"
    first = new_run_folder(parent, stamp="20260101-120000")
    second = new_run_folder(parent, stamp="20260101-120000")
    third = new_run_folder(parent, stamp="20260101-120000")
    paths = [first.path, second.path, third.path]
    assert len(set(paths)) == 3
    assert [os.path.basename(path) for path in paths] == [
        "20260101-120000", "20260101-120000-2", "20260101-120000-3"]
    assert all(os.path.isdir(path) and not os.listdir(path) for path in paths)
    assert first.created == [str(parent), str(parent / "20260101-120000")]
    assert second.created == [str(parent / "20260101-120000-2")]
