"""``python -m lenet``: train LeNet-5 in NumPy, TensorFlow 1 and Keras."""
import sys

from lenet.cli import main

if __name__ == "__main__":
    sys.exit(main())
