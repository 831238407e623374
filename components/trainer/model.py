"""Pure Keras model builder: one encoder per feature type, one head per task; no TFX."""

from collections.abc import Mapping

import tensorflow as tf

from components import features, keras_mode
from components.features.layers import OneHot
from components.trainer.hparams import HyperParameters

__all__ = [
    "BinaryProbabilities",
    "OneHot",
    "build_model",
    "compile_model",
    "image_backbone",
    "unfreeze_top",
]


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
    keras_mode.skip_autograph_for_libraries()  # for every fit of the model, Trainer or Tuner
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
    model = tf.keras.Model(inputs=inputs, outputs=_head(hidden, spec, label_mean_std))
    compile_model(model, spec, hparams.learning_rate)
    return model


def compile_model(model: tf.keras.Model, spec: features.FeatureSpec, learning_rate: float) -> None:
    """Compiles ``model`` with Adam at ``learning_rate`` and the task's loss and metrics
    (again for the fine-tuning phase, after its layers' ``trainable`` changed)."""
    if spec.is_regression:
        loss = tf.keras.losses.MeanSquaredError()
        metrics = [
            tf.keras.metrics.MeanAbsoluteError(name="mae"),
            tf.keras.metrics.RootMeanSquaredError(name="rmse"),
        ]
    else:
        loss = tf.keras.losses.SparseCategoricalCrossentropy()
        metrics = [tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)


def _head(hidden: tf.Tensor, spec: features.FeatureSpec, label_mean_std: tuple[float, float]):
    """The task's output layers, float32 whatever the policy (mixed_float16 included)."""
    if spec.is_regression:
        mean, std = label_mean_std
        standard = tf.keras.layers.Dense(1, dtype="float32")(hidden)
        value = tf.keras.layers.Rescaling(scale=std or 1.0, offset=mean, dtype="float32")(standard)
        return tf.keras.layers.Reshape((), dtype="float32")(value)
    if spec.is_binary:
        positive = tf.keras.layers.Dense(1, activation="sigmoid", dtype="float32")(hidden)
        return BinaryProbabilities(dtype="float32")(positive)
    return tf.keras.layers.Dense(spec.num_classes, activation="softmax", dtype="float32")(hidden)


def image_backbone(model: tf.keras.Model, spec: features.FeatureSpec) -> tf.keras.Model | None:
    """The pretrained backbone of the spec's image feature, or None (no image feature,
    or a CNN trained from scratch)."""
    from components.features import image

    for feature in spec.of_type(image.TYPE):
        if feature.option("model") != "cnn":
            return model.get_layer(image.backbone_name(feature))
    return None


def unfreeze_top(backbone: tf.keras.Model, layers: int) -> int:
    """Makes the top ``layers`` layers of ``backbone`` trainable (batch normalization
    excepted, as the Keras fine-tuning guide advises); returns how many became trainable."""
    backbone.trainable = True
    cut = max(0, len(backbone.layers) - layers)
    count = 0
    for index, layer in enumerate(backbone.layers):
        layer.trainable = index >= cut and not isinstance(layer, tf.keras.layers.BatchNormalization)
        count += int(layer.trainable)
    return count
