"""LeNet-5 in NumPy, on the task functions or a faster engine, trained with a NumPy Adam.

The two convolution blocks (conv, ReLU, 2x2/2 max-pool) run on an engine,
each with the same results; ``ENGINES`` names them:

- ``"fused"`` (``DEFAULT_ENGINE``, the fastest): ``lenet.fused``, the
  block's arithmetic fused for a training step (the four convolution
  outputs of each pooling window from one product, no gradient for the
  input images);
- ``"layers"``: ``lenet.layers``, the four layers of tasks 0-3, fast;
- ``"tasks"``: the task functions themselves, ``0-conv_forward.py`` ...
  ``3-pool_backward.py`` at the repository root, imported by file path.

Any four functions with the tasks' contract make an engine too
(``task_engine``), e.g. a student's answers (``lenet.answers``); such an
engine routes a tied max-pool window's gradient to its first maximum with
``first_max_mask``, as TensorFlow does, whatever the tie rule of task 3.

This module adds the dense layers, softmax cross-entropy, He-normal
initialization (``lenet.initializers``) and Adam (``lenet.optim``).
Weights are kept in Keras's order and shapes, so
``NumpyLeNet5.set_weights(keras_model.get_weights())`` and the reverse move
a model between the two implementations.
"""
import collections
import contextlib

import numpy as np

from lenet import fused
from lenet.initializers import he_normal
from lenet.optim import Adam
from lenet.tasks import module_tasks, repository_tasks
from lenet.training import StepTraining

# Shape of every weight array, in Keras's get_weights() order.
WEIGHT_SHAPES = (
    (5, 5, 1, 6), (6,),         # conv1, 'same'
    (5, 5, 6, 16), (16,),       # conv2, 'valid'
    (400, 120), (120,),         # dense1 on the NHWC-flattened (5, 5, 16)
    (120, 84), (84,),           # dense2
    (84, 10), (10,),            # dense3, softmax
)
CONV_PADDING = (2, 0)  # zeros on each side: conv1 'same', conv2 'valid'
POOL = (2, 2)  # kernel and stride of both max-pooling layers
_BLAS = []  # the threadpoolctl controller, made on first use
_BLAS_HELD = []  # the BLAS thread limits in force, innermost last

Engine = collections.namedtuple("Engine", "name forward backward conv_forward")
Engine.__doc__ = """How the NumPy LeNet-5 runs its two convolution blocks.

``forward(X, W, b, pad, workspace)`` returns the block's pooled output and
a cache; ``backward(dP, cache, input_gradient)`` returns (dX or None, dW,
db), dW shaped like W, db like b (c_new,); ``conv_forward`` is a task-0
function, for the pictures of the first layer (``first_layer``)."""


class TaskBlocks:
    """LeNet-5's blocks on four functions with the tasks' contract.

    conv (task 0) with ReLU, 2x2/2 max-pool (task 1); back through the
    pool (task 3), TensorFlow's tie routing and the ReLU
    (``first_max_mask``), the conv (task 2). The calls are those of the
    exercise (positional arguments, padding 'same' or 'valid', stride and
    mode given), so any answer to it runs here; results are cast to the
    dtype of the block's input (an answer may compute in float64).

    Parameters
    ----------
    functions : lenet.tasks.TaskFunctions
        conv_forward, pool_forward, conv_backward, pool_backward.
    """

    def __init__(self, functions):
        """Keep the four functions."""
        self.functions = functions

    def forward(self, X, W, b, pad, workspace=None):
        """Returns the pooled output and what ``backward`` needs
        (``workspace`` is the fused engine's; unused here)."""
        f = self.functions
        b4 = b.reshape(1, 1, 1, -1)
        padding = _padding_name(W, pad)
        A = f.conv_forward(X, W, b4, _relu, padding, (1, 1))  # ReLU(Z)
        A = np.asarray(A).astype(X.dtype, copy=False)
        P = f.pool_forward(A, POOL, POOL, "max")        # (n, h/2, w/2, c)
        P = np.asarray(P).astype(X.dtype, copy=False)
        return P, (X, W, b4, padding, A, P)

    def backward(self, dP, cache, input_gradient=True):
        """The block's gradients, (dX or None, dW, db); ``input_gradient``
        False drops dX (task 2 computes it anyway)."""
        f = self.functions
        X, W, b4, padding, A, P = cache
        dA = f.pool_backward(dP, A, POOL, POOL, "max")  # (n, h, w, c)
        dZ = np.multiply(dA, first_max_mask(A, P), dtype=X.dtype)  # ReLU
        dX, dW, db = f.conv_backward(dZ, X, W, b4, padding, (1, 1))
        dX = np.asarray(dX).astype(X.dtype, copy=False) if input_gradient else None
        return (dX, np.asarray(dW).astype(X.dtype, copy=False),
                np.asarray(db).astype(X.dtype, copy=False).reshape(-1))


def task_engine(functions, name="tasks"):
    """An engine (``Engine``) on four functions with the tasks' contract
    (``lenet.tasks.TaskFunctions``), e.g. a student's answers."""
    blocks = TaskBlocks(functions)
    return Engine(name, blocks.forward, blocks.backward, functions.conv_forward)


def module_engine(module_name, name):
    """An engine named ``name`` on a module holding the four functions
    under the tasks' names, e.g. ``module_engine("lenet.layers", "layers")``
    (imported when the engine is built)."""
    return task_engine(module_tasks(module_name), name)


def fused_engine():
    """The engine of ``lenet.fused`` (the first layer's pictures on the
    repository's task 0)."""
    return Engine("fused", fused.conv_pool_forward, fused.conv_pool_backward,
                  repository_tasks().conv_forward)


# The engines, by name: (what it is, for --help; a function that builds it).
ENGINES = {
    "fused": ("lenet/fused.py, both blocks fused", fused_engine),
    "layers": ("lenet/layers.py, the four layers fast",
               lambda: module_engine("lenet.layers", "layers")),
    "tasks": ("the task files 0-3", lambda: task_engine(repository_tasks())),
}
DEFAULT_ENGINE = "fused"  # the fastest exact engine


def _padding_name(W, pad):
    """The exercise's name of a stride-1 padding of ``pad`` zeros: 'valid'
    for none, 'same' when it keeps the size (an odd square kernel), else
    the pair (pad, pad), our extension."""
    kh, kw = W.shape[:2]
    if pad == 0:
        return "valid"
    if kh == kw == 2 * pad + 1:
        return "same"
    return (pad, pad)


def first_max_mask(A, P):
    """Where a 2x2/2 max-pool's gradient may pass, TensorFlow's way: A > 0
    (the ReLU before the pool) and not a later maximum of a tied window.

    Task 3 gives every element equal to its window's maximum the gradient;
    TensorFlow gives it to the window's first maximum (row-major) only. On
    MNIST's black background a whole window of a conv's output is its bias,
    so once that is positive the window ties four times: without this mask
    its gradient would count four times.

    Parameters
    ----------
    A : numpy.ndarray, shape (n, h, w, c), h and w even
        The ReLU output, the pool's input.
    P : numpy.ndarray, shape (n, h / 2, w / 2, c)
        The pool's output, the window maxima.

    Returns
    -------
    numpy.ndarray of bool, shape (n, h, w, c)
    """
    mask = A > 0
    earlier = A[:, 0::2, 0::2] == P  # a maximum at an earlier offset
    for i, j in ((0, 1), (1, 0), (1, 1)):  # row-major offsets in a window
        is_max = A[:, i::2, j::2] == P
        mask[:, i::2, j::2] &= ~(is_max & earlier)
        earlier |= is_max
    return mask


def _blas_threads(threads):
    """Context that limits BLAS to ``threads`` threads, if it can.

    The matrix products of LeNet-5 on a batch of 32 are small; with
    OpenBLAS's threads on a busy 2-core machine, a (32, 400) @ (400, 120)
    product took 2 to 16 ms instead of 0.07 ms with one thread, and an
    epoch 4 times longer or more. The limit needs ``threadpoolctl``
    (installed with scikit-learn, which mlxtend requires); without it,
    or with ``threads`` None, BLAS is left alone.

    Setting and restoring the limit costs about as much as a training
    step's small products (threadpoolctl asks every BLAS library), so
    inside a context with the same limit (a training epoch's, around its
    steps) this is a context that does nothing.

    Parameters
    ----------
    threads : int or None
        Number of BLAS threads inside the context.

    Returns
    -------
    context manager
    """
    if threads is None or threads in _BLAS_HELD[-1:]:
        return contextlib.nullcontext()
    if not _BLAS:
        try:
            import threadpoolctl
            _BLAS.append(threadpoolctl.ThreadpoolController())
        except ImportError:
            _BLAS.append(None)
    if _BLAS[0] is None:
        return contextlib.nullcontext()
    return _held(threads, _BLAS[0].limit(limits=threads, user_api="blas"))


@contextlib.contextmanager
def _held(threads, limit):
    """Enter the threadpoolctl ``limit``, noting ``threads`` as the limit
    in force until it exits."""
    with limit:
        _BLAS_HELD.append(threads)
        try:
            yield
        finally:
            _BLAS_HELD.pop()


def _relu_in_place(Z):
    """ReLU, overwriting Z (a fresh array of the model's own)."""
    return np.maximum(Z, 0, out=Z)


def _relu(Z):
    """ReLU activation for a conv_forward: in place when Z is a writable
    float array (the task function's fresh Z), else a new array."""
    if isinstance(Z, np.ndarray) and Z.flags.writeable and Z.dtype.kind == "f":
        return np.maximum(Z, 0, out=Z)
    return np.maximum(Z, 0)


class NumpyLeNet5(StepTraining):
    """The modified LeNet-5 of tasks 4 and 5, in NumPy.

    Layers (every hidden layer uses ReLU), for a batch of n images::

        conv 6@5x5 'same'     -> (n, 28, 28, 6)
        max-pool 2x2 stride 2 -> (n, 14, 14, 6)
        conv 16@5x5 'valid'   -> (n, 10, 10, 16)
        max-pool 2x2 stride 2 -> (n, 5, 5, 16)
        flatten (NHWC order)  -> (n, 400)
        dense 120 -> dense 84 -> dense 10 softmax

    61,706 parameters. Kernels are He-normal (Keras's he_normal: a normal
    truncated at two standard deviations, variance 2 / fan_in), biases
    zero. Loss: mean softmax cross-entropy; optimizer: Adam (Keras's
    defaults).

    Parameters
    ----------
    seed : int or None
        Seed of ``numpy.random.default_rng`` for the initial kernels; the
        layers draw one after the other from it, so no two share values.
    dtype : numpy dtype
        float32 (the default, as Keras) or float64 (for gradient checks).
    optimizer : Adam, optional
        The optimizer of ``train_step``; a default ``Adam()`` if None.
    blas_threads : int or None
        BLAS threads during ``train_step``, ``predict`` and ``evaluate``
        (default 1, the fastest for these small products); None leaves
        BLAS alone.
    engine : str or Engine
        The convolution blocks' engine: a name in ``ENGINES`` (default
        ``DEFAULT_ENGINE``, "fused") or an ``Engine``, e.g.
        ``task_engine(functions)``; all give the same results.

    Attributes
    ----------
    engine : str
        The engine's name.
    """

    def __init__(self, seed=0, dtype=np.float32, optimizer=None,
                 blas_threads=1, engine=DEFAULT_ENGINE):
        """Draw the He-normal kernels from ``seed``; zero the biases."""
        if not isinstance(engine, Engine):
            if engine not in ENGINES:
                raise ValueError("engine must be one of {}, got {!r}".format(
                    ", ".join(ENGINES), engine))
            engine = ENGINES[engine][1]()
        self.engine = engine.name
        self._blocks = engine
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            raise ValueError("dtype must be a float type, got {}".format(
                self.dtype))
        rng = np.random.default_rng(seed)
        # All weights live in one array, each a view of its part, so that
        # an Adam step is a few operations on 61,706 numbers, not 10 x 8
        # small ones.
        sizes = [int(np.prod(shape)) for shape in WEIGHT_SHAPES]
        self._flat = np.zeros(sum(sizes), self.dtype)
        offsets = np.cumsum([0] + sizes)
        self.weights = [self._flat[start:stop].reshape(shape)
                        for start, stop, shape in zip(
                            offsets[:-1], offsets[1:], WEIGHT_SHAPES)]
        for w in self.weights:
            if w.ndim > 1:  # kernels; biases stay zero
                w[...] = he_normal(rng, w.shape)
        self.optimizer = Adam() if optimizer is None else optimizer
        self.blas_threads = blas_threads
        self._cache = None
        self._workspaces = ({}, {})  # of the two conv blocks, see _logits
        self._gradients = None  # train_step's gradients, one array

    # Weights

    def count_params(self):
        """Return the number of parameters, 61,706."""
        return sum(w.size for w in self.weights)

    def get_weights(self):
        """Return copies of the weights in Keras's get_weights() order.

        Returns
        -------
        list of numpy.ndarray
            conv1 kernel (5, 5, 1, 6), conv1 bias (6,), conv2 kernel
            (5, 5, 6, 16), bias (16,), dense kernels (400, 120), (120, 84),
            (84, 10), each followed by its bias (120,), (84,), (10,).
        """
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Load weights given in Keras's get_weights() order and shapes.

        The values are copied (cast to the model's dtype); the optimizer's
        state is kept, as Keras's ``set_weights`` keeps it.

        Parameters
        ----------
        weights : list of array_like
            Ten arrays shaped as ``get_weights()`` returns them.

        Raises
        ------
        ValueError
            On a wrong number of arrays or an array of the wrong shape.
        """
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError("expected {} weight arrays, got {}".format(
                len(self.weights), len(weights)))
        arrays = [np.asarray(w) for w in weights]
        for index, (new, old) in enumerate(zip(arrays, self.weights)):
            if new.shape != old.shape:
                raise ValueError("weight {} must have shape {}, got {}"
                                 .format(index, old.shape, new.shape))
        for new, old in zip(arrays, self.weights):
            np.copyto(old, new, casting="unsafe")

    # Forward and backward

    def _images(self, X):
        """Return X as an (n, 28, 28, 1) array of the model's dtype."""
        X = np.asarray(X)
        if X.ndim == 3:
            X = X[..., np.newaxis]
        if X.ndim != 4 or X.shape[1:] != (28, 28, 1):
            raise ValueError("X must have shape (n, 28, 28, 1) or "
                             "(n, 28, 28), got {}".format(X.shape))
        return X.astype(self.dtype, copy=False)

    def _logits(self, X, keep=False):
        """Forward pass to the logits; returns (logits, cache).

        Parameters
        ----------
        X : numpy.ndarray, shape (n, 28, 28, 1)
            Images of the model's dtype.
        keep : bool
            For backward: compute in the model's workspaces (the cache
            refers to them) rather than in fresh arrays.

        Returns
        -------
        tuple (logits, cache)
            logits (n, 10) and the activations backward needs.
        """
        W1, b1, W2, b2, W3, b3, W4, b4, W5, b5 = self.weights
        # conv, ReLU, max-pool 2x2/2, twice, on the engine's blocks (the
        # fused one keeps its large arrays from step to step in workspaces)
        first, second = self._workspaces if keep else (None, None)
        P1, block1 = self._blocks.forward(X, W1, b1, CONV_PADDING[0],
                                          first)   # (n, 14, 14, 6)
        P2, block2 = self._blocks.forward(P1, W2, b2, CONV_PADDING[1],
                                          second)  # (n, 5, 5, 16)
        F = P2.reshape(len(X), -1)                # (n, 400), NHWC
        logits, A3, A4 = _dense_forward(F, self.weights[4:])
        return logits, (block1, block2, F, A3, A4)

    def forward(self, X):
        """Class probabilities of a batch; keeps what backward needs.

        Parameters
        ----------
        X : array_like, shape (n, 28, 28, 1) or (n, 28, 28)
            Images, e.g. in [0, 1].

        Returns
        -------
        numpy.ndarray, shape (n, 10)
            Softmax probabilities, rows summing to 1.
        """
        logits, cache = self._logits(self._images(X), keep=True)
        log_probs = _log_softmax(logits)
        self._cache = cache + (log_probs,)
        return np.exp(log_probs)

    def loss(self, Y):
        """Mean softmax cross-entropy of the last forward batch.

        Parameters
        ----------
        Y : array_like, shape (n, 10)
            One-hot labels of the batch given to ``forward``.

        Returns
        -------
        float
            mean over the batch of -sum(Y * log(softmax(logits))).
        """
        log_probs = self._last_forward("loss")[-1]
        Y = self._labels(Y, log_probs.shape)
        return float(-np.sum(Y * log_probs) / len(log_probs))

    def _last_forward(self, caller):
        """What the last ``forward`` kept; RuntimeError if there is none."""
        if self._cache is None:
            raise RuntimeError("{} needs a forward pass first".format(caller))
        return self._cache

    def _labels(self, Y, shape):
        """One-hot labels Y in the model's dtype, checked against shape."""
        Y = np.asarray(Y, self.dtype)
        if Y.shape != shape:
            raise ValueError("Y must have shape {} (one-hot, as the forward "
                             "batch), got {}".format(shape, Y.shape))
        return Y

    def backward(self, Y):
        """Gradients of the mean softmax cross-entropy of the last forward.

        Parameters
        ----------
        Y : array_like, shape (n, 10)
            One-hot labels of the batch given to ``forward``.

        Returns
        -------
        list of numpy.ndarray
            Gradients with respect to the weights, same order and shapes
            as ``get_weights()``.
        """
        block1, block2, F, A3, A4, log_probs = self._last_forward("backward")
        n = len(F)
        Y = self._labels(Y, log_probs.shape)
        # Softmax and cross-entropy together: dL/dlogits = (p - y) / n.
        dZ5 = (np.exp(log_probs) - Y) / self.dtype.type(n)  # (n, 10)
        dF, dense = _dense_backward(dZ5, F, A3, A4, self.weights[4:])
        # Back through the blocks: max-pool to the window's first maximum
        # (as TensorFlow), ReLU, conv; nothing needs the images' gradient.
        dP1, dW2, db2 = self._blocks.backward(dF.reshape(n, 5, 5, 16),
                                              block2)  # (n, 14, 14, 6)
        _, dW1, db1 = self._blocks.backward(dP1, block1, input_gradient=False)
        return [dW1, db1, dW2, db2] + dense

    # Training and inference

    def train_epoch(self, X, Y, batch_size, rng, progress=None):
        """One epoch of ``train_step`` on shuffled mini-batches (see
        ``StepTraining.train_epoch``), BLAS limited once around all steps."""
        with _blas_threads(self.blas_threads):
            return super().train_epoch(X, Y, batch_size, rng, progress)

    def train_step(self, X, Y):
        """One Adam step on a batch.

        Parameters
        ----------
        X : array_like, shape (n, 28, 28, 1) or (n, 28, 28)
            Images.
        Y : array_like, shape (n, 10)
            One-hot labels.

        Returns
        -------
        tuple (loss, accuracy)
            Mean cross-entropy and fraction of correct predictions of the
            batch, before the update.
        """
        with _blas_threads(self.blas_threads):
            probs = self.forward(X)
            Y = np.asarray(Y, self.dtype)
            loss = self.loss(Y)
            accuracy = float(np.mean(probs.argmax(1) == Y.argmax(1)))
            if self._gradients is None:
                self._gradients = np.empty_like(self._flat)
            gradients = np.concatenate([g.ravel() for g in self.backward(Y)],
                                       out=self._gradients)
            # One step on all weights at once (views of self._flat).
            self.optimizer.step([self._flat], [gradients])
        self._cache = None
        return loss, accuracy

    def predict(self, X, batch_size=256):
        """Class probabilities, computed in batches (memory bounded).

        Parameters
        ----------
        X : array_like, shape (n, 28, 28, 1) or (n, 28, 28)
            Images.
        batch_size : int
            Images per forward pass.

        Returns
        -------
        numpy.ndarray, shape (n, 10)
            Softmax probabilities.
        """
        X = np.asarray(X)
        out = np.empty((len(X), 10), self.dtype)
        with _blas_threads(self.blas_threads):
            for start in range(0, len(X), batch_size):
                logits, _ = self._logits(
                    self._images(X[start:start + batch_size]))
                out[start:start + batch_size] = np.exp(_log_softmax(logits))
        return out

    def evaluate(self, X, Y, batch_size=256):
        """Mean cross-entropy and accuracy, computed in batches.

        Parameters
        ----------
        X : array_like, shape (n, 28, 28, 1) or (n, 28, 28)
            Images.
        Y : array_like, shape (n, 10)
            One-hot labels.
        batch_size : int
            Images per forward pass.

        Returns
        -------
        tuple (loss, accuracy)
            Mean cross-entropy and fraction of correct predictions.
        """
        X, Y = np.asarray(X), np.asarray(Y)
        if len(X) == 0 or len(X) != len(Y):
            raise ValueError("X and Y must hold the same number (> 0) of "
                             "examples, got {} and {}".format(len(X), len(Y)))
        total_loss, correct = 0.0, 0
        with _blas_threads(self.blas_threads):
            for start in range(0, len(X), batch_size):
                logits, _ = self._logits(
                    self._images(X[start:start + batch_size]))
                log_probs = _log_softmax(logits)
                Y_batch = Y[start:start + batch_size]
                total_loss -= float(np.sum(Y_batch * log_probs,
                                           dtype=np.float64))
                correct += int(np.sum(log_probs.argmax(1)
                                      == Y_batch.argmax(1)))
        return total_loss / len(X), correct / len(X)

    def first_layer(self, X):
        """Feature maps of the first convolution, after its ReLU.

        Parameters
        ----------
        X : array_like, shape (n, 28, 28, 1) or (n, 28, 28)
            Images.

        Returns
        -------
        numpy.ndarray, shape (n, 28, 28, 6)
            ReLU(conv1(X)).
        """
        W1, b1 = self.weights[:2]
        with _blas_threads(self.blas_threads):
            X = self._images(X)
            A = self._blocks.conv_forward(X, W1, b1.reshape(1, 1, 1, -1),
                                          _relu, "same", (1, 1))
            return np.asarray(A).astype(X.dtype, copy=False)


def _dense_forward(F, weights):
    """The dense layers: (logits, A3, A4) from the flattened features F
    (n, 400) and the weights W3, b3, W4, b4, W5, b5."""
    W3, b3, W4, b4, W5, b5 = weights
    A3 = np.matmul(F, W3)
    A3 += b3
    A3 = _relu_in_place(A3)                 # (n, 120)
    A4 = np.matmul(A3, W4)
    A4 += b4
    A4 = _relu_in_place(A4)                 # (n, 84)
    logits = np.matmul(A4, W5)
    logits += b5                            # (n, 10)
    return logits, A3, A4


def _dense_backward(dZ5, F, A3, A4, weights):
    """Back through the dense layers from dZ5, the logits' gradient:
    (dF, [dW3, db3, dW4, db4, dW5, db5])."""
    W3, _, W4, _, W5, _ = weights
    # (W @ dZ.T).T is dZ @ W.T with both operands in the layout BLAS reads
    # fastest: W's rows are its inputs.
    dZ4 = (W5 @ dZ5.T).T                     # (n, 84)
    dZ4 *= A4 > 0
    dZ3 = (W4 @ dZ4.T).T                     # (n, 120)
    dZ3 *= A3 > 0
    dF = (W3 @ dZ3.T).T                      # (n, 400)
    return dF, [F.T @ dZ3, dZ3.sum(axis=0), A3.T @ dZ4, dZ4.sum(axis=0),
                A4.T @ dZ5, dZ5.sum(axis=0)]


def _log_softmax(logits):
    """Log of the softmax of each row, stably (log-sum-exp).

    Parameters
    ----------
    logits : numpy.ndarray, shape (n, k)

    Returns
    -------
    numpy.ndarray, shape (n, k)
        logits - max - log(sum(exp(logits - max))) per row.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted
