#!/usr/bin/env python3
"""Task 3 demo: the exercise's 3-main, gradients of 3x3/3 max pooling.

Prints first exactly what the exercise's 3-main.py prints (dA_prev for a
random dA through max pooling of the two-channel batch (image, 1 - image)
of 10 MNIST images), then where the images came from, whether that
matches the exercise's published output, and a check of max and average
pooling against central finite differences in float64 on a tie-free
random input. Saves the first image next to its max and average gradients
as 3-main.png. Exits with 1 if a check fails.
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
pool_forward = __import__('1-pool_forward').pool_forward
pool_backward = __import__('3-pool_backward').pool_backward
from lenet.data import demo_images  # noqa: E402
from lenet.demo import published_verdict  # noqa: E402
from lenet.gradcheck import max_relative_error, report_check  # noqa: E402
from lenet.figures import pyplot, save_figure, show_gradient  # noqa: E402
from lenet.options import load_or_exit, parse_demo_args  # noqa: E402
from lenet.exercise import run_example  # noqa: E402

KERNEL = (3, 3)
STRIDE = (3, 3)
TOLERANCE = 1e-6  # on the relative error |a - n| / (|a| + |n|)
EPS = 1e-5  # below half the gap between two values of the input
N_ENTRIES = 20  # random entries checked, plus as many with a gradient


def main():
    """Run the exercise's example, then check both modes, save a picture."""
    parser, args = parse_demo_args(__doc__.splitlines()[0])
    images, labels, source = load_or_exit(parser, demo_images, args.data, 10)
    output, example = run_example(3, images, pool_backward)
    sys.stdout.write(output)  # the exercise's own output, byte for byte

    print("\n" + source)
    print(published_verdict(3, output))
    dA = example["dA"]  # (10, 9, 9, 2)
    A_prev = example["A_prev"]  # (10, 28, 28, 2)
    dA_prev = example["dA_prev"]

    # Max pooling is not differentiable where a window's maximum is tied
    # (MNIST's flat background ties everywhere), so the check runs on a
    # random permutation of distinct values: two values differ by at least
    # 1 / size, far more than 2 * EPS, and no perturbation moves a maximum.
    A_check = (np.random.permutation(A_prev.size).reshape(A_prev.shape)
               / A_prev.size)
    print("finite differences on a tie-free input (float64, eps {:g}), max "
          "relative error:".format(EPS))
    failed = False
    for mode in ("max", "avg"):
        grad = pool_backward(dA, A_check, KERNEL, stride=STRIDE, mode=mode)

        def forward():
            """Pooled A_check; dL/dA = dA for L = sum(A * dA)."""
            return pool_forward(A_check, KERNEL, stride=STRIDE, mode=mode)

        # Most max-pool gradients are 0: check random entries and as many
        # that receive a gradient (row 27 and column 27 never do).
        anywhere = [tuple(np.random.randint(n) for n in A_check.shape)
                    for _ in range(N_ENTRIES)]
        receiving = np.argwhere(grad != 0)
        picked = receiving[np.random.choice(len(receiving), N_ENTRIES,
                                            replace=False)]
        entries = anywhere + [tuple(index) for index in picked]
        error = max_relative_error(forward, dA, A_check, grad, entries,
                                   EPS)
        passed = report_check(mode, len(entries), error, TOLERANCE)
        failed = failed or not passed

    dA_prev_avg = pool_backward(dA, A_prev, KERNEL, stride=STRIDE,
                                mode='avg')
    plt = pyplot(args.show)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
    axes[0].imshow(A_prev[0, :, :, 0], cmap="gray")
    axes[0].set_title("image 0 (digit {})".format(labels[0]))
    for axis, grad, mode in ((axes[1], dA_prev, "max"),
                             (axes[2], dA_prev_avg, "avg")):
        show_gradient(axis, grad[0, :, :, 0],
                      "dA_prev, {} pooling 3x3/3".format(mode))
    save_figure(plt, fig, args.out, "3-main.png", args.show)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
