#!/usr/bin/env python3
"""Task 1 demo: 2x2 max pooling, stride 2, of a two-channel MNIST batch.

The channels are the image and its negative (1 - image). Prints the shapes
before and after, (m, 28, 28, 2) -> (m, 14, 14, 2), and saves the first
image's channels before and after pooling as 1-main.png.
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
pool_forward = __import__('1-pool_forward').pool_forward
from lenet.demo import (demo_images, parse_demo_args, pyplot,
                        save_figure)  # noqa: E402


def main():
    """Pool the two-channel batch, print the shapes, save the channels."""
    args = parse_demo_args(__doc__.splitlines()[0])
    images, labels = demo_images(args.data)

    np.random.seed(0)
    X = images[..., np.newaxis]  # (m, 28, 28, 1)
    A_prev = np.concatenate((X, 1 - X), axis=3)  # (m, 28, 28, 2)
    A = pool_forward(A_prev, (2, 2), stride=(2, 2))  # (m, 14, 14, 2)
    print("A_prev {}".format(A_prev.shape))
    print("A      {}".format(A.shape))

    plt = pyplot(args.show)
    fig, axes = plt.subplots(2, 2, figsize=(6, 6))
    for k, name in enumerate(("image", "1 - image")):
        axes[k, 0].imshow(A_prev[0, :, :, k], cmap="gray", vmin=0, vmax=1)
        axes[k, 0].set_title("{}, 28x28".format(name))
        axes[k, 1].imshow(A[0, :, :, k], cmap="gray", vmin=0, vmax=1)
        axes[k, 1].set_title("max-pooled 2x2/2, 14x14")
    fig.suptitle("image 0 (digit {})".format(labels[0]))
    save_figure(plt, fig, args.out, "1-main.png", args.show)


if __name__ == "__main__":
    main()
