"""Pure Keras model builder: one encoder per feature type, one head per task; no TFX."""

from collections.abc import Mapping

import tensorflow as tf

from components import features
from components.features.layers import OneHot
from components.trainer.hparams import HyperParameters

__all__ = ["BinaryProbabilities", "OneHot", "build_model"]


@tf.keras.utils.register_keras_serializable(package="features")
class BinaryProbabilities(tf.keras.layers.Layer):
    """[batch, 1] sigmoid output p -> [batch, 2] probabilities [1 - p, p]."""

    def call(self, positive: tf.Tensor) -> tf.Tensor:
        return tf.concat([1.0 - positive, positive], axis=1)


def build_model(
    hparams: HyperParameters,
    spec: features.FeatureSpec,
    vocabulary_sizes: Mapping[str, int],
    label_mean_std: tuple[float, float] = (0.0, 1.0),
) -> tf.keras.Model:
    """A compiled feed-forward model over the transformed features.

    Args:
        hparams: Layer widths, dropout and learning rate.
        spec: The feature spec: encoders by feature type, head by task.
        vocabulary_sizes: Feature name -> model ids (OOV and padding included) for
            every feature whose type encodes ids.
        label_mean_std: Regression only: the train label's mean and standard deviation;
            the linear head predicts in standard units and is rescaled by them.

    Returns:
        A model whose inputs are keyed by ``features.transformed_name``. Classification:
        probabilities [batch, num_classes] (binary: a sigmoid unit as [1 - p, p]).
        Regression: predicted values [batch] in the label's units.
    """
    inputs, encoded = {}, []
    for feature in spec.features:
        module = features.type_module(feature.type)
        name = features.transformed_name(feature.name)
        inputs[name] = module.model_input(feature)
        encoded.append(module.encode(inputs[name], feature, vocabulary_sizes.get(feature.name, 0)))
    hidden = encoded[0] if len(encoded) == 1 else tf.keras.layers.Concatenate()(encoded)
    for units in hparams.hidden_units:
        hidden = tf.keras.layers.Dense(units, activation="relu")(hidden)
        if hparams.dropout:
            hidden = tf.keras.layers.Dropout(hparams.dropout)(hidden)
    outputs, loss, metrics = _head(hidden, spec, label_mean_std)
    model = tf.keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(hparams.learning_rate), loss=loss, metrics=metrics
    )
    return model


def _head(hidden: tf.Tensor, spec: features.FeatureSpec, label_mean_std: tuple[float, float]):
    if spec.is_regression:
        mean, std = label_mean_std
        standard = tf.keras.layers.Dense(1)(hidden)
        value = tf.keras.layers.Rescaling(scale=std or 1.0, offset=mean)(standard)
        return (
            tf.keras.layers.Reshape(())(value),
            tf.keras.losses.MeanSquaredError(),
            [
                tf.keras.metrics.MeanAbsoluteError(name="mae"),
                tf.keras.metrics.RootMeanSquaredError(name="rmse"),
            ],
        )
    if spec.is_binary:
        positive = tf.keras.layers.Dense(1, activation="sigmoid")(hidden)
        probabilities = BinaryProbabilities()(positive)
    else:
        probabilities = tf.keras.layers.Dense(spec.num_classes, activation="softmax")(hidden)
    return (
        probabilities,
        tf.keras.losses.SparseCategoricalCrossentropy(),
        [tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
