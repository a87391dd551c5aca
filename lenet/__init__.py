"""LeNet-5 around the classic CNN exercise: MNIST loading, a NumPy LeNet-5, training and plots.

The task files (``0-conv_forward.py`` ... ``5-lenet5.py``) live at the repository root; this package
holds everything else. It imports nothing heavy on its own: ``import lenet`` stays cheap, and the
submodules (``lenet.data`` and the rest) pull in NumPy or TensorFlow only when they are imported.
"""
