#!/usr/bin/env python3
"""Task 5: a modified LeNet-5 built and compiled with Keras."""
from tensorflow import keras as K


def lenet5(X):
    """Build a modified LeNet-5 on the input X and compile it.

    Layers, in order (every hidden layer uses ReLU):
    conv 6@5x5 'same'     -> (m, 28, 28, 6)
    max-pool 2x2 stride 2 -> (m, 14, 14, 6)
    conv 16@5x5 'valid'   -> (m, 10, 10, 16)
    max-pool 2x2 stride 2 -> (m, 5, 5, 16)
    flatten               -> (m, 400)
    dense 120 -> dense 84 -> dense 10 softmax
    61,706 trainable parameters.

    Every kernel is He-normal initialized (Keras's he_normal: a normal
    distribution truncated at two standard deviations, with variance
    2 / fan_in) with seed 0 for each layer, as the exercise asks, so that
    two builds start from identical weights. (Keras's seeded draws are
    stateless: with one seed, every kernel starts with the same leading
    standard-normal values, each scaled by its own He std.) Biases start
    at zero.

    Parameters
    ----------
    X : keras.KerasTensor, shape (m, 28, 28, 1)
        The model's input, ``K.Input(shape=(28, 28, 1))``.

    Returns
    -------
    keras.Model
        Compiled with Adam (default hyper-parameters), categorical
        cross-entropy loss (one-hot labels) and the ``accuracy`` metric.
    """
    def he_normal():
        """He-normal initializer, seed 0 (a new one for each layer)."""
        return K.initializers.he_normal(seed=0)

    x = K.layers.Conv2D(6, (5, 5), padding='same', activation='relu',
                        kernel_initializer=he_normal())(X)
    x = K.layers.MaxPooling2D((2, 2), strides=(2, 2))(x)
    x = K.layers.Conv2D(16, (5, 5), padding='valid', activation='relu',
                        kernel_initializer=he_normal())(x)
    x = K.layers.MaxPooling2D((2, 2), strides=(2, 2))(x)
    x = K.layers.Flatten()(x)
    x = K.layers.Dense(120, activation='relu',
                       kernel_initializer=he_normal())(x)
    x = K.layers.Dense(84, activation='relu',
                       kernel_initializer=he_normal())(x)
    Y = K.layers.Dense(10, activation='softmax',
                       kernel_initializer=he_normal())(x)
    model = K.Model(inputs=X, outputs=Y)
    model.compile(optimizer=K.optimizers.Adam(),
                  loss='categorical_crossentropy', metrics=['accuracy'])
    return model
