#!/usr/bin/env python3
"""Task 1 demo: the exercise's 1-main, 2x2 max pooling with stride 2.

Prints first exactly what the exercise's 1-main.py prints (the shapes of
the two-channel batch (image, 1 - image) before and after pooling), then
where the images came from, whether that matches the exercise's published
output, and saves the first image's two channels next to their pooled
versions as 1-main.png.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
pool_forward = __import__('1-pool_forward').pool_forward
from lenet.data import demo_images  # noqa: E402
from lenet.demo import published_verdict  # noqa: E402
from lenet.figures import pyplot, save_figure  # noqa: E402
from lenet.options import load_or_exit, parse_demo_args  # noqa: E402
from lenet.exercise import run_example  # noqa: E402


def main():
    """Run the exercise's example, then print and draw our extras."""
    parser, args = parse_demo_args(__doc__.splitlines()[0])
    images, labels, source = load_or_exit(parser, demo_images, args.data)
    output, example = run_example(1, images, pool_forward)
    sys.stdout.write(output)  # the exercise's own output, byte for byte

    print("\n" + source)
    print("A_prev {}".format(example["A_prev"].shape))  # (m, 28, 28, 2)
    print("A      {}".format(example["A"].shape))  # (m, 14, 14, 2)
    print(published_verdict(1, output))
    plt = pyplot(args.show)
    fig, axes = plt.subplots(2, 2, figsize=(6, 6))
    A_prev, A = example["A_prev"], example["A"]
    for k, name in enumerate(("image", "1 - image")):
        axes[k, 0].imshow(A_prev[0, :, :, k], cmap="gray", vmin=0, vmax=1)
        axes[k, 0].set_title("{}, 28x28".format(name))
        axes[k, 1].imshow(A[0, :, :, k], cmap="gray", vmin=0, vmax=1)
        axes[k, 1].set_title("max-pooled 2x2/2, 14x14")
    fig.suptitle("image 0 (digit {})".format(labels[0]))
    save_figure(plt, fig, args.out, "1-main.png", args.show)


if __name__ == "__main__":
    main()
