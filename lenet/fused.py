"""LeNet-5's convolution blocks (conv, bias, ReLU, 2x2/2 max-pool) fused.

The task functions (``0-conv_forward.py`` ... ``3-pool_backward.py``) are
general layers: any stride, padding, kernel and pooling window, inputs
checked, every gradient returned. A training step of LeNet-5 needs much
less, and this module does only that, for blocks of the form

    conv kh x kw (stride 1, zero padding p) -> + bias -> ReLU
    -> max-pool 2x2/2

with the same results as the task functions followed by TensorFlow's
max-pool gradient routing (the first maximum of a window, in row-major
order, takes the window's gradient).

The pooling windows drive the layout. The four convolution outputs of the
pooling window at (y', x') read one (kh + 1) x (kw + 1) patch of the padded
input, the one starting at (2 y', 2 x'); output (dy, dx) of the window is
the patch times the kernel shifted by (dy, dx):

    Z[2y' + dy, 2x' + dx, k] = sum over a, b, c of
        patch[a, b, c] * W[a - dy, b - dx, c, k]    (zero outside W)

So one matrix product gives all four outputs of every window: a "phase
matrix" (K, 4 c_new) that holds each kernel four times, shifted, times the
patches, one per window (K values each). That is 1.44 times the
multiply-adds of LeNet-5's 5x5 kernels (36 taps for 25), but:

- the patches overlap by half where 5x5 windows overlap by 4/5: the
  window matrix is 36 / 4 = 9 values per input value, not 25, and one
  copy builds it (below);
- the product has 4 c_new rows of output (64 for LeNet-5's second layer,
  not 16): BLAS runs it near its peak;
- the output is channel-first, (4 c_new, windows): the four outputs of
  the pooling windows are four contiguous planes, so the pooling is three
  ``np.maximum`` calls on whole planes, and the gradient's routing a few
  whole-plane operations;
- the input gradient is the same product transposed: each window sends
  its patch's gradient back, and the patches add up on the input grid.

To build the patches without a copy per tap, the padded input is first
split by the parity of its rows and columns into a "phase grid"
Q[n, y2, x2, a1, b1, c] = A_pad[n, 2 y2 + a1, 2 x2 + b1, c]: the patch of
window (y', x') is then rows y' .. y' + kh // 2 and columns
x' .. x' + kw // 2 of the grid, each cell 4 c values in a row, and the
window matrix is one strided view of the grid, copied once. With fewer
than ``FEW_CHANNELS`` input channels (LeNet-5's first layer, one channel),
a cell holds too few values for good runs; the grid and the window matrix
are then channel-first (one column per window, runs of a row of windows).

Details that save time:

- A column of ones in the window matrix and a row of the biases in the
  phase matrix add the bias inside the product; the bias gradient comes
  out of the kernel gradient's product the same way.
- Bias and ReLU commute with the maximum (the same bias for the window,
  ReLU monotone), so the ReLU runs on the pooled output only, and the
  first maximum of the ReLU outputs is the first maximum of the
  convolution outputs wherever the pooled value is positive (elsewhere
  the ReLU's derivative, 0, cancels the gradient).
- The input gradient is computed only when asked for (the first layer's
  input is the image: nothing needs its gradient).
- In training, every array (phase grid, window matrix, outputs, gradients)
  and the strided views into them live in a plan that the caller keeps
  from step to step (``workspace``): fresh arrays of a megabyte or more
  cost page faults, and each view costs microseconds to make.
"""
import numpy as np

FEW_CHANNELS = 4  # below this c_prev, the grid and patches are channel-first
OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))  # (dy, dx) in a pooling window
# The kernel gradient sums over every window: a product whose inner dimension
# is long. It runs in chunks of windows whose slices of both operands fit in
# this many bytes (a common size of a core's L2 cache); one BLAS call over
# all windows streams them from memory for each block of the result.
CHUNK_BYTES = 2 ** 18


def conv_pool_forward(A_prev, W, b, padding, workspace=None):
    """Pooled ReLU output of a block, and what its backward needs.

    Parameters
    ----------
    A_prev : numpy.ndarray, shape (n, h, w, c_prev)
        Input, of the dtype to compute in.
    W : numpy.ndarray, shape (kh, kw, c_prev, c_new)
        Kernels (stride 1, cross-correlation as in task 0).
    b : numpy.ndarray, shape (c_new,)
        Biases.
    padding : int
        Zero rows and columns added on each side before the convolution
        (2 for LeNet-5's 'same' 5x5 layer, 0 for its 'valid' one).
    workspace : dict, optional
        Keeps the block's arrays from call to call (see the module
        docstring). The output and the cache are its arrays: valid until
        the next call with the same workspace. None allocates fresh
        arrays.

    Returns
    -------
    tuple (P, cache)
        P, shape (n, h_out // 2, w_out // 2, c_new): max-pool 2x2/2 of
        ReLU(conv(A_prev, W) + b), h_out = h + 2 * padding - kh + 1, likewise
        w_out (an odd last row or column is dropped, as 'valid' pooling
        does); cache, what ``conv_pool_backward`` needs.
    """
    plan = _plan(workspace, A_prev.shape, W.shape, padding, A_prev.dtype)
    _phase_matrix(plan, W, b)
    _window_matrix(plan, A_prev)
    _product(plan)
    _pool(plan)
    return plan.P, plan


def conv_pool_backward(dP, cache, input_gradient=True):
    """Gradients of a block, from what its forward pass kept.

    Parameters
    ----------
    dP : numpy.ndarray, shape (n, h_out // 2, w_out // 2, c_new)
        Gradient of the loss with respect to the block's output.
    cache : object
        What ``conv_pool_forward`` returned with the output.
    input_gradient : bool
        Also compute the gradient with respect to the block's input.

    Returns
    -------
    tuple (dA_prev, dW, db)
        dA_prev shaped like the forward's A_prev (None unless
        input_gradient; an array of the forward's workspace), dW like W,
        db of shape (c_new,). The max-pool gradient of each window goes to
        its first maximum (row-major), as TensorFlow's does.
    """
    plan = cache
    plan.backward_arrays()
    _route(plan, dP)
    dW, db = _kernel_gradient(plan)
    dA_prev = None
    if input_gradient:
        plan.input_gradient_arrays()
        _patch_gradient(plan)
        dA_prev = _overlap_add(plan)
    return dA_prev, dW, db


# The steps of a block, forward then backward (benchmarks/step_profile.py
# times each by its name).

def _phase_matrix(plan, W, b):
    """Write the kernels, four times shifted, and the biases into the phase
    matrix."""
    kh, kw = plan.W_shape[:2]
    for o, (dy, dx) in enumerate(OFFSETS):
        plan.PW_ab[dy:dy + kh, dx:dx + kw, :, o] = W
    np.copyto(plan.PW_slots, plan.PW_source)
    plan.bias_row[...] = b


def _window_matrix(plan, A):
    """Copy the input into the phase grid, then every window's patch into
    the window matrix (one copy of a strided view of the grid)."""
    plan.to_grid(A, plan.Q)
    np.copyto(plan.patch_slots, plan.patches)


def _product(plan):
    """The four convolution outputs of every pooling window, bias added:
    one product, (4 c_new, K + 1) @ (K + 1, windows)."""
    np.matmul(plan.PW.T, plan.windows, out=plan.Z)


def _pool(plan):
    """Window maxima of the convolution output, then the ReLU (P)."""
    planes, M = plan.planes, plan.M
    np.maximum(planes[0], planes[1], out=M)
    np.maximum(M, planes[2], out=M)
    np.maximum(M, planes[3], out=M)
    np.maximum(plan.M_nhwc, 0, out=plan.P)  # P's storage may be M's order


def _route(plan, dP):
    """dZ: the ReLU's derivative at each window's maximum, then each
    window's gradient to its first maximum (zero elsewhere)."""
    # in M's channel-first order: only dP is read across its layout
    np.multiply(dP.reshape(plan.P.shape).transpose(3, 0, 1, 2),
                plan.M_planes > 0, out=plan.dPm_planes)
    np.multiply(plan.dPm, _first_maximum(plan.planes, plan.M), out=plan.dZ4)


def _kernel_gradient(plan):
    """dW and db: the phase matrix's gradient, the bias row included,
    (K + 1, 4 c_new); each kernel entry is the sum of its four places,
    each bias of its four columns."""
    _sum_of_products(plan.windows, plan.dZ.T, plan.dPW, plan.dPW_part)
    np.copyto(plan.dPW_slots, plan.dPW_source)
    first, second, third, fourth = plan.dW_taps
    dW = first + second
    dW += third
    dW += fourth
    return dW, plan.dPW[-1].reshape(4, -1).sum(axis=0)


def _patch_gradient(plan):
    """The gradient of every window's patch: the forward's product
    transposed."""
    if plan.tap_major:  # (K, 4 c_new) @ (4 c_new, windows)
        np.matmul(plan.PW[:-1], plan.dZ, out=plan.d_patches)
    else:  # (windows, 4 c_new) @ (4 c_new, K)
        np.matmul(plan.dZ.T, plan.PW[:-1].T, out=plan.d_patches)


def _overlap_add(plan):
    """Add the patches' gradients up on the phase grid (a patch is ah x aw
    cells: one addition of a strided view per cell offset), then copy the
    grid back onto the input's positions; returns dA_prev."""
    plan.dQ.fill(0)
    for target, source in plan.overlap:
        target += source
    plan.from_grid(plan.dQ, plan.dA_prev)
    return plan.dA_prev


def _sum_of_products(a, b, out, part):
    """out = a @ b, (R, N) @ (N, C), over chunks of N (see CHUNK_BYTES),
    each chunk's product in ``part`` (R, C) then added to out."""
    step = max(1, CHUNK_BYTES // ((a.shape[0] + b.shape[1]) * a.itemsize))
    np.matmul(a[:, :step], b[:step], out=out)
    for start in range(step, a.shape[1], step):
        out += np.matmul(a[:, start:start + step], b[start:start + step],
                         out=part)


def _first_maximum(planes, M):
    """Where each window's gradient goes: its first maximum, row-major.

    Parameters
    ----------
    planes : list of 4 numpy.ndarray
        The window elements at offsets (0, 0), (0, 1), (1, 0), (1, 1).
    M : numpy.ndarray
        The window maxima, shaped like each plane.

    Returns
    -------
    bool numpy.ndarray, shape (4,) + M.shape
        True in plane o where it holds the maximum and no earlier plane
        does: exactly one True per window, as TensorFlow's MaxPoolGrad.
    """
    hit = np.empty((4,) + M.shape, bool)
    for o in range(3):
        np.equal(planes[o], M, out=hit[o])
    taken = hit[0] | hit[1]
    np.greater(hit[1], hit[0], out=hit[1])  # a hit, and none before it
    np.logical_or(taken, hit[2], out=hit[3])
    np.greater(hit[2], taken, out=hit[2])
    np.logical_not(hit[3], out=hit[3])  # the maximum is in the last plane
    return hit


def _plan(workspace, A_shape, W_shape, padding, dtype):
    """The workspace's plan for these shapes (made on first use), or a
    fresh one without a workspace."""
    key = (A_shape, W_shape, padding, dtype)  # a numpy.dtype: hashable
    if workspace is None:
        return _Plan(*key)
    plan = workspace.get(key)
    if plan is None:
        plan = workspace[key] = _Plan(*key)
    return plan


def _parities(size, padding, grid):
    """How one axis of the input maps onto the phase grid: for parity
    a1 = 0, 1, (cells, input positions) as two slices, input position
    2 * cell + a1 - padding, within the input and the grid."""
    out = []
    for a1 in (0, 1):
        low = (padding - a1 + 1) // 2  # first cell inside the input
        first = 2 * low + a1 - padding
        count = max(0, min((size - first + 1) // 2, grid - low))
        out.append((slice(low, low + count),
                    slice(first, first + 2 * count, 2)))
    return out


def _view(array, shape):
    """array reshaped to shape as a view: writes through it must reach
    array (a reshape that has to copy raises instead of writing into the
    copy)."""
    view = array.reshape(shape)
    if not np.shares_memory(view, array):
        raise AssertionError("reshape {} -> {} copies".format(array.shape,
                                                              shape))
    return view


def _strided(array, shape, strides):
    """A read-only strided view of an array (no copy)."""
    return np.lib.stride_tricks.as_strided(array, shape, strides,
                                           writeable=False)


class _Plan:
    """Arrays and views of one block for one set of shapes.

    Shapes: input (n, h, w, c) padded by p; kernels (kh, kw, c, c_new);
    pooled output (n, h2, w2, c_new); a patch is ah x aw grid cells of
    4 c values (ah = kh // 2 + 1), the grid (n, H2, W2) cells with
    H2 = h2 + ah - 1. K = ah * aw * 4 c, the patch's values, ordered
    (a2, b2, a1, b1, c): patch row a = 2 a2 + a1, column b = 2 b2 + b1.
    The phase matrix PW is (K + 1, 4 c_new), columns (dy, dx, k), its last
    row the biases; ``windows`` is the window matrix as (K + 1, windows),
    its last row ones: an array of its own channel-first, else the
    transpose of a (windows, K + 1) array. Z, M and their gradients are
    channel-first, (4 c_new, windows) and (c_new, windows).
    """

    def __init__(self, A_shape, W_shape, padding, dtype):
        """Allocate the forward's arrays and make their views."""
        n, h, w, c = A_shape
        kh, kw, _, c_new = W_shape
        self.A_shape, self.W_shape, self.dtype = A_shape, W_shape, dtype
        h2 = (h + 2 * padding - kh + 1) // 2
        w2 = (w + 2 * padding - kw + 1) // 2
        if h2 < 1 or w2 < 1:
            raise ValueError("the block's output is empty: input {} with "
                             "kernels {} and padding {}".format(
                                 A_shape, W_shape, padding))
        ah, aw = kh // 2 + 1, kw // 2 + 1
        H2, W2 = h2 + ah - 1, w2 + aw - 1
        self.h2, self.w2, self.ah, self.aw = h2, w2, ah, aw
        windows, K = n * h2 * w2, ah * aw * 4 * c
        self.K = K
        self.rows = _parities(h, padding, H2)
        self.columns = _parities(w, padding, W2)
        self.tap_major = c < FEW_CHANNELS
        # With an even padding and an even input inside the grid, the input
        # is a block of whole cells: one copy moves it to or from the grid.
        self.whole = None
        low = padding // 2
        if (padding % 2 == 0 and h % 2 == 0 and w % 2 == 0
                and low + h // 2 <= H2 and low + w // 2 <= W2):
            cells = (slice(low, low + h // 2), slice(low, low + w // 2))
            self.whole = ((slice(None),) * 4 + cells if self.tap_major
                          else (slice(None),) + cells)
        # The kernels placed four times on the (2 ah, 2 aw) patch, then
        # copied into the phase matrix's order, PW_slots.
        self.PW_ab = np.zeros((2 * ah, 2 * aw, c, 4, c_new), dtype)
        self.PW = np.zeros((K + 1, 4 * c_new), dtype)
        self.PW_slots = self.PW[:K].reshape(ah, aw, 2, 2, c, 4 * c_new)
        self.PW_source = self.PW_ab.reshape(
            ah, 2, aw, 2, c, 4 * c_new).transpose(0, 2, 1, 3, 4, 5)
        self.bias_row = self.PW[K].reshape(4, c_new)
        if self.tap_major:
            self.Q = np.zeros((2, 2, c, n, H2, W2), dtype)
            s = self.Q.strides
            self.patches = _strided(
                self.Q, (ah, aw, 2, 2, c, n, h2, w2),
                (s[4], s[5], s[0], s[1], s[2], s[3], s[4], s[5]))
            self.windows = np.empty((K + 1, windows), dtype)
            self.windows[K] = 1
            self.patch_slots = self.windows[:K].reshape(self.patches.shape)
        else:
            self.Q = np.zeros((n, H2, W2, 2, 2, c), dtype)
            s = self.Q.strides
            self.patches = _strided(self.Q, (n, h2, w2, ah, aw, 4 * c),
                                    (s[0], s[1], s[2], s[1], s[2], s[5]))
            by_window = np.empty((windows, K + 1), dtype)  # a row each
            by_window[:, K] = 1
            self.patch_slots = _view(by_window[:, :K], self.patches.shape)
            self.windows = by_window.T
        # The convolution's output and its window maxima, channel-first:
        # the four planes of a pooling window, and each plane's channels,
        # are contiguous runs.
        self.Z = np.empty((4 * c_new, windows), dtype)
        self.planes = list(self.Z.reshape(4, c_new, windows))
        self.M = np.empty((c_new, windows), dtype)
        self.M_planes = self.M.reshape(c_new, n, h2, w2)
        self.M_nhwc = self.M_planes.transpose(1, 2, 3, 0)
        if self.tap_major:
            # P stored channel-first too, handed out as an (n, h2, w2,
            # c_new) view: the ReLU is a contiguous pass, and the next
            # block copies P into its grid anyway (a transpose there costs
            # less than a transposing write here).
            self.P = np.empty((c_new, n, h2, w2), dtype).transpose(1, 2, 3, 0)
        else:
            self.P = np.empty((n, h2, w2, c_new), dtype)
        self.dPW = None  # the backward's arrays, made on first use

    def to_grid(self, A, Q):
        """Copy the input A (n, h, w, c) into the phase grid Q (whose cells
        outside the input stay zero: the padding)."""
        if self.whole is not None and A.flags.c_contiguous:  # one copy
            np.copyto(Q[self.whole], self._parity_view(A))
            return
        for a1, (cells_y, ys) in enumerate(self.rows):
            for b1, (cells_x, xs) in enumerate(self.columns):
                if self.tap_major:
                    Q[a1, b1, :, :, cells_y, cells_x] = A[:, ys, xs].transpose(
                        3, 0, 1, 2)
                else:
                    Q[:, cells_y, cells_x, a1, b1] = A[:, ys, xs]

    def from_grid(self, dQ, dA):
        """Copy a gradient on the phase grid dQ back onto the input's grid
        dA (n, h, w, c) (whose positions outside the grid stay zero)."""
        if self.whole is not None:
            np.copyto(self._parity_view(dA), dQ[self.whole])
            return
        for a1, (cells_y, ys) in enumerate(self.rows):
            for b1, (cells_x, xs) in enumerate(self.columns):
                if self.tap_major:
                    dA[:, ys, xs] = dQ[a1, b1, :, :, cells_y,
                                       cells_x].transpose(1, 2, 3, 0)
                else:
                    dA[:, ys, xs] = dQ[:, cells_y, cells_x, a1, b1]

    def _parity_view(self, A):
        """A (n, h, w, c), h and w even, as a view in the grid's axis order:
        (n, h / 2, w / 2, a1, b1, c), or (a1, b1, c, n, h / 2, w / 2)
        channel-first."""
        n, h, w, c = A.shape
        split = A.reshape(n, h // 2, 2, w // 2, 2, c)
        if self.tap_major:
            return split.transpose(2, 4, 5, 0, 1, 3)
        return split.transpose(0, 1, 3, 2, 4, 5)

    def backward_arrays(self):
        """Make the backward's arrays and views, once."""
        if self.dPW is not None:
            return
        n, _, _, c = self.A_shape
        kh, kw, _, c_new = self.W_shape
        h2, w2, ah, aw, K, dtype = (self.h2, self.w2, self.ah, self.aw,
                                    self.K, self.dtype)
        windows = n * h2 * w2
        self.dPm = np.empty_like(self.M)
        self.dZ = np.empty_like(self.Z)
        self.dPm_planes = self.dPm.reshape(c_new, n, h2, w2)
        self.dZ4 = self.dZ.reshape(4, c_new, windows)
        self.dPW = np.empty((K + 1, 4 * c_new), dtype)
        self.dPW_part = np.empty_like(self.dPW)
        self.dPW_ab = np.empty((2 * ah, 2 * aw, c, 4, c_new), dtype)
        self.dPW_slots = self.dPW_ab.reshape(
            ah, 2, aw, 2, c, 4 * c_new).transpose(0, 2, 1, 3, 4, 5)
        self.dPW_source = self.dPW[:K].reshape(ah, aw, 2, 2, c, 4 * c_new)
        self.dW_taps = [self.dPW_ab[dy:dy + kh, dx:dx + kw, :, o]
                        for o, (dy, dx) in enumerate(OFFSETS)]
        self.dQ = None  # the input gradient's arrays, made on first use

    def input_gradient_arrays(self):
        """Make the arrays and views of the input gradient, once: the
        patches' gradients, the grid they add up on, and which view of
        the one adds to which of the other."""
        if self.dQ is not None:
            return
        n, _, _, c = self.A_shape
        h2, w2, ah, aw, K, dtype = (self.h2, self.w2, self.ah, self.aw,
                                    self.K, self.dtype)
        windows = n * h2 * w2
        self.dQ = np.empty_like(self.Q)
        self.dA_prev = np.zeros(self.A_shape, dtype)
        if self.tap_major:
            self.d_patches = np.empty((K, windows), dtype)
            d_patches = self.d_patches.reshape(ah, aw, 2, 2, c, n, h2, w2)
            self.overlap = [
                (self.dQ[..., a2:a2 + h2, b2:b2 + w2], d_patches[a2, b2])
                for a2 in range(ah) for b2 in range(aw)]
        else:
            self.d_patches = np.empty((windows, K), dtype)
            d_patches = self.d_patches.reshape(n, h2, w2, ah, aw * 4 * c)
            dQ_cells = self.dQ.reshape(self.dQ.shape[:3] + (4 * c,))
            # A patch row's aw cells lie side by side on the grid, and so
            # do their values in d_patches: windows r, r + aw, r + 2 aw, ...
            # of a row cover disjoint runs of cells, added in one go.
            self.overlap = []
            for a2 in range(ah):
                for r in range(min(aw, w2)):
                    m = len(range(r, w2, aw))
                    self.overlap.append((
                        _view(dQ_cells[:, a2:a2 + h2, r:r + m * aw],
                              (n, h2, m, aw * 4 * c)),
                        d_patches[:, :, r::aw, a2]))
