"""Serving signatures: raw serialized tf.Examples in, Transform graph inside."""

import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.trainer.signature_names import (  # noqa: F401  (re-exported)
    CLASS_IDS,
    CLASSES,
    PREDICTIONS,
    PROBABILITIES,
    RAW_SIGNATURE,
    SERVING_SIGNATURE,
    TRANSFORM_SIGNATURE,
)


def export_serving_model(
    model: tf.keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    spec: features.FeatureSpec,
    export_dir: str,
) -> None:
    """Saves ``model`` with the Transform graph attached.

    ``serving_default`` takes serialized raw tf.Examples (``examples``) and returns, for
    classification, ``probabilities``, ``class_ids`` and ``classes``; for regression,
    ``predictions``. ``serving_raw`` returns the same from one dense tensor per raw
    feature (``dense_input_signature``): the form TFLite converts and the REST server
    feeds. ``transform_features`` returns the transformed features, label included,
    which TFMA uses to read labels.
    """
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    input_spec = {name: raw_spec[name] for name in spec.feature_names}
    labelled_spec = {**input_spec, spec.label.name: raw_spec[spec.label.name]}
    class_names = tf.constant(list(spec.label.classes) or [""])

    def predict(raw_features):
        transformed = model.tft_layer(raw_features)
        outputs = model({name: transformed[name] for name in model.input_names}, training=False)
        if spec.is_regression:
            return {PREDICTIONS: outputs}
        class_ids = tf.argmax(outputs, axis=1)
        return {
            PROBABILITIES: outputs,
            CLASS_IDS: class_ids,
            CLASSES: tf.gather(class_names, class_ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        return predict(tf.io.parse_example(examples, input_spec))

    @tf.function(input_signature=[dense_input_signature(spec)])
    def serve_raw(dense):
        return predict(raw_from_dense(dense, input_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(examples):
        return model.tft_layer(tf.io.parse_example(examples, labelled_spec))

    model.save(
        export_dir,
        save_format="tf",
        signatures={
            SERVING_SIGNATURE: serve,
            RAW_SIGNATURE: serve_raw,
            TRANSFORM_SIGNATURE: transform_features,
        },
    )


def dense_input_signature(spec: features.FeatureSpec) -> dict[str, tf.TensorSpec]:
    """One rank-1 tensor per raw feature, as its type declares: numeric float32 (NaN =
    missing), categorical and text string ("" = missing)."""
    return {
        feature.name: features.type_module(feature.type).serving_spec(feature)
        for feature in spec.features
    }


def raw_from_dense(dense: dict[str, tf.Tensor], raw_spec: dict) -> dict[str, tf.Tensor]:
    """Dense per-feature tensors -> the tensors tf.io.parse_example would give for ``raw_spec``."""
    raw = {}
    for key, value in dense.items():
        spec = raw_spec[key]
        if value.dtype == tf.string:
            present = tf.not_equal(value, "")
            if spec.dtype != tf.string:  # an integer-coded category, say
                number = tf.strings.to_number(tf.where(present, value, "0"), tf.float64)
                value = tf.cast(tf.round(number) if spec.dtype.is_integer else number, spec.dtype)
        else:
            present = tf.logical_not(tf.math.is_nan(value))
            value = tf.round(value) if spec.dtype.is_integer else value
            value = tf.cast(tf.where(present, value, tf.zeros_like(value)), spec.dtype)
        if isinstance(spec, tf.io.VarLenFeature):
            rows = tf.where(present)
            raw[key] = tf.SparseTensor(
                indices=tf.concat([rows, tf.zeros_like(rows)], axis=1),
                values=tf.gather_nd(value, rows),
                dense_shape=tf.stack([tf.shape(value, out_type=tf.int64)[0], 1]),
            )
        else:
            raw[key] = tf.reshape(value, [-1, *spec.shape])
    return raw
