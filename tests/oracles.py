"""Oracles the task tests compare against, none of them our own layer code: the contract's
formulas (output sizes, the course's 'same' padding) and TensorFlow's ops and gradients in
float64. They live once, in lenet.references, which the grader uses too.

Finite differences are lenet.gradcheck.numerical_gradient, the project's one central-difference
routine."""
from lenet.references import (conv_output_shape, course_padding, identity,  # noqa: F401
                              pool_output_shape, tf_conv, tf_conv_gradients, tf_pool,
                              tf_pool_gradient)
