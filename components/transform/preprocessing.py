"""``preprocessing_fn``: the Transform graph shared by training and serving."""

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from components import custom_config as config_keys
from components import features, keras_mode
from components.features import tensors


def preprocessing_fn(
    inputs: Mapping[str, Any], custom_config: Mapping[str, Any]
) -> dict[str, tf.Tensor]:
    """Maps raw features to model-ready tensors, each by its feature type's Transform step.

    Label: classification -> its position in ``label.classes`` (int64, -1 if unknown or
    missing; numbers match their decimal text); regression -> float32 (NaN if missing).

    Args:
        inputs: Raw features, dense or sparse, as parsed with the schema.
        custom_config: Transform's custom_config; needs ``feature_spec``
            (``FeatureSpec.to_dict()``).

    Returns:
        Transformed features keyed by ``features.transformed_name``.

    Raises:
        ValueError: A feature or the label is not among ``inputs`` (not in the schema).
    """
    keras_mode.skip_autograph_for_libraries()  # TFT's own code traces as written
    spec = features.FeatureSpec.from_dict(custom_config[config_keys.FEATURE_SPEC])
    absent = [name for name in (*spec.feature_names, spec.label.name) if name not in inputs]
    if absent:
        raise ValueError(
            f"features.{absent[0]}: not in the schema Transform reads (SchemaGen deprecates a "
            "column with a single value, and one with no value is left out); remove it from "
            "the config's features or fix the schema"
        )
    outputs = {
        features.transformed_name(feature.name): features.type_module(feature.type).transform(
            inputs[feature.name], feature
        )
        for feature in spec.features
    }
    label = inputs[spec.label.name]
    outputs[features.transformed_name(spec.label.name)] = (
        tensors.fill_missing(tensors.as_float(label), float("nan"))
        if spec.is_regression
        else label_ids(tensors.fill_missing(tensors.as_string(label), ""), spec.label.classes)
    )
    return outputs


def label_ids(labels: tf.Tensor, classes: tuple[str, ...]) -> tf.Tensor:
    """[batch] strings -> int64 class ids (position in ``classes``), -1 when unknown."""
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(classes)), tf.range(len(classes), dtype=tf.int64)
        ),
        default_value=-1,
    )
    return table.lookup(labels)
