#!/usr/bin/env python3
"""Task 4 demo: train the TensorFlow-1 LeNet-5 on MNIST, then predict.

Prints the classic line after each epoch (cost and accuracy on the whole
training and validation splits, epoch 0 before any training), the test
accuracy, and the prediction for the first ten test images, drawn in
4-main.png. --save / --restore write and read a checkpoint
(tf.compat.v1.train.Saver); --restore with --epochs 0 only evaluates.
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from lenet.data import training_data  # noqa: E402
from lenet.demo import epoch_line  # noqa: E402
from lenet.figures import pyplot, save_predictions  # noqa: E402
from lenet.options import (check_output_folders, demo_parser,  # noqa: E402
                           load_or_exit)
from lenet.tf1 import TF1LeNet5  # noqa: E402


def main():
    """Train (or restore), print the epochs, test and predict."""
    parser = demo_parser(__doc__.splitlines()[0], training=True)
    parser.add_argument("--save", metavar="CKPT",
                        help="save the trained variables to this checkpoint "
                        "prefix, e.g. runs/mains/lenet5/model")
    parser.add_argument("--restore", metavar="CKPT",
                        help="start from this checkpoint prefix instead of "
                        "fresh He-normal weights")
    args = parser.parse_args()
    check_output_folders(parser, args, checkpoint=args.save)
    data = load_or_exit(parser, training_data, args.data, args.eval_data)

    model = TF1LeNet5(seed=args.seed)
    if args.restore:
        try:
            model.restore(args.restore)
        except ValueError as error:
            parser.error(str(error))
        print("restored {}".format(args.restore))
    rng = np.random.default_rng(args.seed)
    for epoch in range(args.epochs + 1):
        if epoch > 0:
            model.train_epoch(data.X_train, data.Y_train, args.batch_size,
                              rng)
        cost, accuracy = model.evaluate(data.X_train, data.Y_train)
        valid_cost, valid_accuracy = model.evaluate(data.X_valid,
                                                    data.Y_valid)
        print(epoch_line(epoch, cost, accuracy, valid_cost, valid_accuracy))
    if args.save:
        print("saved  {}".format(model.save(args.save)))

    test_cost, test_accuracy = model.evaluate(data.X_test, data.Y_test)
    print("test: {} cost, {} accuracy ({} images from {})".format(
        test_cost, test_accuracy, len(data.X_test), data.test_source))
    images = data.X_test[:10]
    save_predictions(pyplot(args.show), images, model.predict(images),
                     data.Y_test[:10].argmax(axis=1), args.out,
                     "4-main.png", args.show)


if __name__ == "__main__":
    main()
