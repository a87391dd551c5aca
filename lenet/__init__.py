"""LeNet-5 around the classic CNN exercise: data, NumPy model, training.

The task files (``0-conv_forward.py`` ... ``5-lenet5.py``) live at the
repository root; this package holds everything else: MNIST loading
(``lenet.data``), the NumPy LeNet-5, training, plots and the command line.
Importing the package alone stays cheap: submodules pull in NumPy or
TensorFlow only when they are imported themselves.
"""
