"""Pure Keras model builder: knows feature names and sizes, nothing of TFX."""

from collections.abc import Mapping

import tensorflow as tf

from components import features
from components.trainer.hparams import HyperParameters


@tf.keras.utils.register_keras_serializable(package="penguins")
class OneHot(tf.keras.layers.Layer):
    """One-hot of integer ids via ``tf.one_hot``.

    Keras' CategoryEncoding lowers to DenseBincount, a TF Select op that also crashes
    TF 2.16's int8 TFLite converter; ``tf.one_hot`` is a TFLite builtin.
    """

    def __init__(self, num_tokens: int, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = num_tokens

    def call(self, ids: tf.Tensor) -> tf.Tensor:
        # The reshape pins the rank: converted to TFLite, a vocabulary lookup's output
        # has unknown rank and a batch of one collapsed to a scalar before Concatenate.
        return tf.one_hot(tf.reshape(ids, [-1]), self.num_tokens, dtype=tf.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_tokens": self.num_tokens}


def build_model(
    hparams: HyperParameters, vocabulary_sizes: Mapping[str, int], num_classes: int
) -> tf.keras.Model:
    """A compiled feed-forward classifier over the transformed features.

    Args:
        hparams: Layer widths, dropout and learning rate.
        vocabulary_sizes: Categorical feature key -> vocabulary size, OOV buckets included.
        num_classes: Width of the softmax output.

    Returns:
        A model whose inputs are keyed by ``features.transformed_name`` and whose output
        is per-class probabilities of shape [batch, num_classes].
    """
    inputs, encoded = {}, []
    for key in features.NUMERIC_FEATURE_KEYS:
        name = features.transformed_name(key)
        inputs[name] = tf.keras.Input(shape=(), name=name, dtype=tf.float32)
        encoded.append(tf.keras.layers.Reshape((1,))(inputs[name]))
    for key in features.CATEGORICAL_FEATURE_KEYS:
        name = features.transformed_name(key)
        inputs[name] = tf.keras.Input(shape=(), name=name, dtype=tf.int64)
        encoded.append(OneHot(vocabulary_sizes[key])(inputs[name]))
    hidden = tf.keras.layers.Concatenate()(encoded)
    for units in hparams.hidden_units:
        hidden = tf.keras.layers.Dense(units, activation="relu")(hidden)
        if hparams.dropout:
            hidden = tf.keras.layers.Dropout(hparams.dropout)(hidden)
    probabilities = tf.keras.layers.Dense(num_classes, activation="softmax")(hidden)
    model = tf.keras.Model(inputs=inputs, outputs=probabilities)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(hparams.learning_rate),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
        metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model
