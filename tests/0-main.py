#!/usr/bin/env python3
"""Task 0 demo: the exercise's 0-main, a 3x3x1x2 'valid' convolution with ReLU.

Prints first exactly what the exercise's 0-main.py prints (the output
shape, (50000, 26, 26, 2) on the full training split), then where the
images came from, the shapes, whether that matches the exercise's
published output, and saves the first image next to its two feature maps
as 0-main.png.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
conv_forward = __import__('0-conv_forward').conv_forward
from lenet.data import demo_images  # noqa: E402
from lenet.demo import published_verdict  # noqa: E402
from lenet.figures import pyplot, save_figure  # noqa: E402
from lenet.options import load_or_exit, parse_demo_args  # noqa: E402
from lenet.exercise import run_example  # noqa: E402


def main():
    """Run the exercise's example, then print and draw our extras."""
    parser, args = parse_demo_args(__doc__.splitlines()[0])
    images, labels, source = load_or_exit(parser, demo_images, args.data)
    output, example = run_example(0, images, conv_forward)
    sys.stdout.write(output)  # the exercise's own output, byte for byte

    print("\n" + source)
    print("A_prev {}".format(example["A_prev"].shape))  # (m, 28, 28, 1)
    print("A      {}".format(example["A"].shape))  # (m, 26, 26, 2)
    print(published_verdict(0, output))
    plt = pyplot(args.show)
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
    axes[0].imshow(example["A_prev"][0, :, :, 0], cmap="gray")
    axes[0].set_title("image 0 (digit {})".format(labels[0]))
    for k in range(2):
        axes[k + 1].imshow(example["A"][0, :, :, k], cmap="viridis")
        axes[k + 1].set_title("feature map {} (ReLU)".format(k))
    save_figure(plt, fig, args.out, "0-main.png", args.show)


if __name__ == "__main__":
    main()
