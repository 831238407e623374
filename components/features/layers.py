"""Keras layers the feature encoders share (imports TensorFlow)."""

import tensorflow as tf


@tf.keras.utils.register_keras_serializable(package="features")
class OneHot(tf.keras.layers.Layer):
    """One-hot of integer ids via ``tf.one_hot``: [batch] int -> [batch, num_tokens] float32.

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
