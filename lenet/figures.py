"""Pictures: the job's learning curves and filters, the demos' figures.

Matplotlib draws on the file-only Agg backend unless a demo is asked to
``--show`` its picture: the job runs on machines without a screen. Each
file is written to a temporary name and renamed into place: a failed write
(a full disk, Ctrl-C) leaves the previous picture, never a truncated one.
"""
import os

import numpy as np

from lenet.output import write_atomically

COLORS = {"numpy": "tab:blue", "tf1": "tab:orange", "keras": "tab:green"}


def pyplot(show=False):
    """Import matplotlib.pyplot, on the file-only Agg backend unless show."""
    import matplotlib
    if not show:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(histories, path):
    """Loss and accuracy per epoch of every implementation, on one figure.

    Parameters
    ----------
    histories : dict
        ``{impl: {"train_loss": [...], "train_accuracy": [...],
        "valid_loss": [...], "valid_accuracy": [...]}}``, one value per
        epoch. Training figures are the running means over each epoch,
        validation figures are measured after it.
    path : str
        Where to write the PNG.
    """
    plt = pyplot()
    fig, (loss_axis, acc_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for impl, history in histories.items():
        color = COLORS.get(impl)
        epochs = np.arange(1, len(history["train_loss"]) + 1)
        for axis, key in ((loss_axis, "loss"), (acc_axis, "accuracy")):
            axis.plot(epochs, history["train_" + key], "-o", color=color,
                      label="{} train".format(impl))
            if len(history["valid_" + key]):
                axis.plot(epochs, history["valid_" + key], "--s",
                          color=color, label="{} validation".format(impl))
    loss_axis.set_title("cross-entropy loss")
    acc_axis.set_title("accuracy")
    for axis in (loss_axis, acc_axis):
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        axis.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    save_png(fig, path)


def plot_filters(kernel, images, feature_maps, labels, path):
    """The first layer's filters and their feature maps on a few digits.

    Parameters
    ----------
    kernel : numpy.ndarray, shape (5, 5, 1, 6)
        The first convolution's kernels.
    images : numpy.ndarray, shape (n, 28, 28, 1)
        A few test digits.
    feature_maps : numpy.ndarray, shape (n, 28, 28, 6)
        The first layer's ReLU outputs for those digits.
    labels : sequence of int
        The digits' labels.
    path : str
        Where to write the PNG.
    """
    plt = pyplot()
    n, filters = len(images), kernel.shape[-1]
    fig, axes = plt.subplots(n + 1, filters + 1,
                             figsize=(1.5 * (filters + 1), 1.55 * (n + 1)))
    limit = np.abs(kernel).max()
    axes[0, 0].text(0.5, 0.5, "filters", ha="center", va="center")
    for k in range(filters):
        axes[0, k + 1].imshow(kernel[:, :, 0, k], cmap="RdBu", vmin=-limit,
                              vmax=limit)
        axes[0, k + 1].set_title("filter {}".format(k), fontsize=9)
    for row in range(n):
        axes[row + 1, 0].imshow(images[row, :, :, 0], cmap="gray")
        axes[row + 1, 0].set_title("digit {}".format(labels[row]),
                                   fontsize=9)
        for k in range(filters):
            axes[row + 1, k + 1].imshow(feature_maps[row, :, :, k],
                                        cmap="viridis")
    for axis in axes.ravel():
        axis.axis("off")
    fig.suptitle("first layer: filters (red < 0 < blue) and feature maps")
    fig.tight_layout()
    save_png(fig, path)


def save_png(fig, path):
    """Write ``fig`` as a PNG to ``path`` atomically, then close it."""
    try:
        write_atomically(path, lambda stream: fig.savefig(
            stream, format="png", dpi=100))
    finally:
        pyplot().close(fig)


def save_figure(plt, fig, out, name, show):
    """Hide the axes of ``fig``, save it as out/name, say where, show it if
    asked, close it."""
    for axis in fig.axes:
        axis.axis("off")
    fig.tight_layout()
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    write_atomically(path, lambda stream: fig.savefig(
        stream, format=os.path.splitext(name)[1][1:] or "png"))
    print("saved  {}".format(path))
    if show:
        plt.show()
    plt.close(fig)


def show_gradient(axis, gradient, title):
    """Draw a 2-D gradient in red (negative) and blue (positive), 0 white."""
    limit = np.abs(gradient).max()
    axis.imshow(gradient, cmap="RdBu", vmin=-limit, vmax=limit)
    axis.set_title(title)


def save_predictions(plt, images, probabilities, labels, out, name, show):
    """Print and draw the predictions for a few test images.

    ``images`` (n, 28, 28, 1), ``probabilities`` (n, 10), ``labels`` the
    true digits (n,). Saves out/name.
    """
    predicted = probabilities.argmax(axis=1)
    print("predicted {}".format(predicted))
    print("true      {}".format(labels))
    fig, axes = plt.subplots(1, len(images), figsize=(1.3 * len(images), 1.8))
    for axis, image, guess, truth in zip(np.atleast_1d(axes), images,
                                         predicted, labels):
        axis.imshow(image[:, :, 0], cmap="gray")
        axis.set_title("{} ({})".format(guess, truth),
                       color="black" if guess == truth else "red")
    fig.suptitle("prediction (true digit)")
    save_figure(plt, fig, out, name, show)
