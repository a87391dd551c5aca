#!/usr/bin/env python3
"""Task 0 demo: a 3x3x1x2 'valid' convolution with ReLU over MNIST images.

Prints the input and output shapes, (m, 28, 28, 1) -> (m, 26, 26, 2), and
saves the first image next to its two feature maps as 0-main.png.
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
conv_forward = __import__('0-conv_forward').conv_forward
from lenet.demo import (demo_images, parse_demo_args, pyplot,
                        save_figure)  # noqa: E402


def relu(Z):
    """Rectified linear unit, elementwise max(Z, 0)."""
    return np.maximum(Z, 0)


def main():
    """Convolve the images, print the shapes, save the feature maps."""
    args = parse_demo_args(__doc__.splitlines()[0])
    images, labels = demo_images(args.data)

    np.random.seed(0)
    m, h, w = images.shape
    A_prev = images.reshape((m, h, w, 1))  # (m, 28, 28, 1)
    W = np.random.randn(3, 3, 1, 2)
    b = np.random.randn(1, 1, 1, 2)
    A = conv_forward(A_prev, W, b, relu, padding='valid')  # (m, 26, 26, 2)
    print("A_prev {}".format(A_prev.shape))
    print("A      {}".format(A.shape))

    plt = pyplot(args.show)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
    axes[0].imshow(A_prev[0, :, :, 0], cmap="gray")
    axes[0].set_title("image 0 (digit {})".format(labels[0]))
    for k in range(2):
        axes[k + 1].imshow(A[0, :, :, k], cmap="viridis")
        axes[k + 1].set_title("feature map {} (ReLU)".format(k))
    save_figure(plt, fig, args.out, "0-main.png", args.show)


if __name__ == "__main__":
    main()
