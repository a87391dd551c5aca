#!/usr/bin/env python3
"""Task 2 demo: the exercise's 2-main, gradients of a 3x3 convolution.

Prints first exactly what the exercise's 2-main.py prints (the tuple
(dA_prev, dW, db) for a random dZ through the convolution of 10 MNIST
images), then where the images came from, whether that matches the
exercise's published output, and a check of every gradient against
central finite differences in float64. Saves the first image next to its
input gradient as 2-main.png. Exits with 1 if a check fails.
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
conv_forward = __import__('0-conv_forward').conv_forward
conv_backward = __import__('2-conv_backward').conv_backward
from lenet.data import demo_images  # noqa: E402
from lenet.demo import published_verdict  # noqa: E402
from lenet.gradcheck import max_relative_error, report_check  # noqa: E402
from lenet.figures import pyplot, save_figure, show_gradient  # noqa: E402
from lenet.options import load_or_exit, parse_demo_args  # noqa: E402
from lenet.exercise import run_example  # noqa: E402

TOLERANCE = 1e-6  # on the relative error |a - n| / (|a| + |n|)
EPS = 1e-4  # Z is linear in each entry: no truncation error
N_ENTRIES = 20  # random entries of dA_prev checked (all of dW and db)


def linear(Z):
    """Identity activation, so that dZ is the gradient of the output."""
    return Z


def main():
    """Run the exercise's example, then check the gradients, save a picture."""
    parser, args = parse_demo_args(__doc__.splitlines()[0])
    images, labels, source = load_or_exit(parser, demo_images, args.data, 10)
    output, example = run_example(2, images, conv_backward)
    sys.stdout.write(output)  # the exercise's own output, byte for byte

    print("\n" + source)
    print(published_verdict(2, output))
    # The check needs float64 throughout: the example's float32 images are
    # promoted, and the gradients recomputed for those float64 inputs.
    dZ, W, b = example["dZ"], example["W"], example["b"]
    A_prev = example["A_prev"].astype(np.float64)  # (10, 28, 28, 1)
    dA_prev, dW, db = conv_backward(dZ, A_prev, W, b, padding='valid')

    def forward():
        """Z for the current A_prev, W and b; dL/dZ = dZ for L = sum(Z dZ)."""
        return conv_forward(A_prev, W, b, linear, padding='valid')

    dA_entries = [tuple(np.random.randint(n) for n in A_prev.shape)
                  for _ in range(N_ENTRIES)]
    checks = (("dA_prev", A_prev, dA_prev, dA_entries),
              ("dW", W, dW, list(np.ndindex(W.shape))),
              ("db", b, db, list(np.ndindex(b.shape))))
    print("finite differences (float64, eps {:g}), max relative error:"
          .format(EPS))
    failed = False
    for name, array, grad, entries in checks:
        error = max_relative_error(forward, dZ, array, grad, entries, EPS)
        passed = report_check(name, len(entries), error, TOLERANCE)
        failed = failed or not passed

    plt = pyplot(args.show)
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.6))
    axes[0].imshow(A_prev[0, :, :, 0], cmap="gray")
    axes[0].set_title("image 0 (digit {})".format(labels[0]))
    show_gradient(axes[1], example["dA_prev"][0, :, :, 0],
                  "dA_prev for a random dZ")
    save_figure(plt, fig, args.out, "2-main.png", args.show)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
