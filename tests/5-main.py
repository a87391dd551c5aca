#!/usr/bin/env python3
"""Task 5 demo: train the Keras LeNet-5 on MNIST, then predict.

Keras prints its progress per epoch, with the loss and accuracy on the
validation split; then the test accuracy and the prediction for the first
ten test images, drawn in 5-main.png. The initial weights are fixed by the
task file (he_normal with fixed seeds); --seed sets the shuffling.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from lenet.data import training_data  # noqa: E402
from lenet.figures import pyplot, save_predictions  # noqa: E402
from lenet.options import (check_output_folders, demo_parser,  # noqa: E402
                           load_or_exit)
from lenet.quiet import import_tensorflow  # noqa: E402

K = import_tensorflow().keras  # before task 5 imports it: no start-up log
lenet5 = __import__('5-lenet5').lenet5


def main():
    """Build, train with validation, test and predict."""
    parser = demo_parser(__doc__.splitlines()[0], training=True)
    args = parser.parse_args()
    check_output_folders(parser, args)
    data = load_or_exit(parser, training_data, args.data, args.eval_data)

    K.utils.set_random_seed(args.seed)
    model = lenet5(K.Input(shape=(28, 28, 1)))
    model.fit(data.X_train, data.Y_train, batch_size=args.batch_size,
              epochs=args.epochs, shuffle=True, verbose=2,
              validation_data=(data.X_valid, data.Y_valid))
    test_cost, test_accuracy = model.evaluate(data.X_test, data.Y_test,
                                              batch_size=1000, verbose=0)
    print("test: {} cost, {} accuracy ({} images from {})".format(
        test_cost, test_accuracy, len(data.X_test), data.test_source))
    images = data.X_test[:10]
    save_predictions(pyplot(args.show), images,
                     model.predict(images, verbose=0),
                     data.Y_test[:10].argmax(axis=1), args.out,
                     "5-main.png", args.show)


if __name__ == "__main__":
    main()
