#!/usr/bin/env python3
"""Task 4: a modified LeNet-5 in a TensorFlow-1 style graph."""
import tensorflow as tf

tf1 = tf.compat.v1


def lenet5(x, y):
    """Build a modified LeNet-5 and its training graph.

    Layers, in order (every hidden layer uses ReLU):
    conv 6@5x5 'SAME'     -> (m, 28, 28, 6)
    max-pool 2x2 stride 2 -> (m, 14, 14, 6)
    conv 16@5x5 'VALID'   -> (m, 10, 10, 16)
    max-pool 2x2 stride 2 -> (m, 5, 5, 16)
    flatten               -> (m, 400)
    dense 120 -> dense 84 -> dense 10 softmax
    61,706 trainable parameters.

    The layers are written with ``tf.nn`` ops and variables from
    ``tf.compat.v1.get_variable`` (``tf.compat.v1.layers`` is gone with
    Keras 3). Every kernel is He-normal initialized: variance scaling with
    scale 2.0 over fan-in, from a truncated normal. The initializers take
    no seed of their own, so ``tf.compat.v1.set_random_seed`` makes a graph
    reproducible while each layer still gets its own draw. Biases start at
    zero. Variables are named conv1/kernel, conv1/bias, ..., dense3/bias;
    a second LeNet-5 built in the same graph gets scopes of its own
    (conv1_1/kernel, ...), so the function can be called twice.

    Parameters
    ----------
    x : tf.Tensor, shape (m, 28, 28, 1)
        Placeholder for the input images.
    y : tf.Tensor, shape (m, 10)
        Placeholder for the one-hot labels.

    Returns
    -------
    tuple (y_pred, train_op, loss, acc)
        y_pred : tensor (m, 10), the softmax output.
        train_op : operation, one Adam step (default hyper-parameters).
        loss : scalar tensor, the mean softmax cross-entropy.
        acc : scalar tensor, the fraction of correct predictions.
    """
    def layer_variables(name, kernel_shape):
        """He-normal kernel and zero bias of one layer, in a new scope
        ``name`` (``name_1``, ... when the graph has one already)."""
        he_normal = tf1.variance_scaling_initializer(scale=2.0)
        with tf1.variable_scope(None, default_name=name):
            kernel = tf1.get_variable("kernel", kernel_shape,
                                      initializer=he_normal)
            bias = tf1.get_variable("bias", kernel_shape[-1:],
                                    initializer=tf1.zeros_initializer())
        return kernel, bias

    def conv(inputs, name, kernel_shape, padding):
        """Convolution with stride 1, bias and ReLU."""
        kernel, bias = layer_variables(name, kernel_shape)
        z = tf.nn.conv2d(inputs, kernel, strides=1, padding=padding)
        return tf.nn.relu(tf.nn.bias_add(z, bias))

    def max_pool(inputs):
        """2x2 max pooling with stride 2."""
        return tf.nn.max_pool2d(inputs, ksize=2, strides=2, padding='VALID')

    def dense(inputs, name, units):
        """Fully connected layer, before its activation."""
        kernel, bias = layer_variables(name, (int(inputs.shape[-1]), units))
        return tf.matmul(inputs, kernel) + bias

    a = conv(x, "conv1", (5, 5, 1, 6), 'SAME')        # (m, 28, 28, 6)
    a = max_pool(a)                                    # (m, 14, 14, 6)
    a = conv(a, "conv2", (5, 5, 6, 16), 'VALID')      # (m, 10, 10, 16)
    a = max_pool(a)                                    # (m, 5, 5, 16)
    a = tf.reshape(a, (-1, 5 * 5 * 16))                # (m, 400)
    a = tf.nn.relu(dense(a, "dense1", 120))
    a = tf.nn.relu(dense(a, "dense2", 84))
    logits = dense(a, "dense3", 10)                    # (m, 10)

    y_pred = tf.nn.softmax(logits)
    loss = tf.reduce_mean(
        tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits))
    train_op = tf1.train.AdamOptimizer().minimize(loss)
    correct = tf.equal(tf.argmax(y_pred, axis=1), tf.argmax(y, axis=1))
    acc = tf.reduce_mean(tf.cast(correct, tf.float32))
    return y_pred, train_op, loss, acc
