"""Serving signatures: raw serialized tf.Examples in, Transform graph inside."""

import tensorflow as tf
import tensorflow_transform as tft

from components import features

SERVING_SIGNATURE = "serving_default"
TRANSFORM_SIGNATURE = "transform_features"
PROBABILITIES = "probabilities"


def export_serving_model(
    model: tf.keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    label_classes: list[str],
    export_dir: str,
) -> None:
    """Saves ``model`` with the Transform graph attached.

    ``serving_default`` takes serialized raw tf.Examples (``examples``) and returns
    ``probabilities``, ``class_ids`` and ``classes``; ``transform_features`` returns
    the transformed features, label included, which TFMA uses to read labels.
    """
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    input_spec = {key: raw_spec[key] for key in features.FEATURE_KEYS}
    labelled_spec = {**input_spec, features.LABEL_KEY: raw_spec[features.LABEL_KEY]}
    class_names = tf.constant(label_classes)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        transformed = model.tft_layer(tf.io.parse_example(examples, input_spec))
        probabilities = model(
            {name: transformed[name] for name in model.input_names}, training=False
        )
        class_ids = tf.argmax(probabilities, axis=1)
        return {
            PROBABILITIES: probabilities,
            "class_ids": class_ids,
            "classes": tf.gather(class_names, class_ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(examples):
        return model.tft_layer(tf.io.parse_example(examples, labelled_spec))

    model.save(
        export_dir,
        save_format="tf",
        signatures={SERVING_SIGNATURE: serve, TRANSFORM_SIGNATURE: transform_features},
    )
