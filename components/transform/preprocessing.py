"""``preprocessing_fn``: the Transform graph shared by training and serving."""

from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components import custom_config as config_keys
from components import features


def preprocessing_fn(
    inputs: Mapping[str, Any], custom_config: Mapping[str, Any]
) -> dict[str, tf.Tensor]:
    """Maps raw penguin features to model-ready tensors.

    Numeric features: missing values filled with the training mean, then z-scored.
    Categorical features: missing values become ``features.MISSING_CATEGORY``, then
    vocabulary ids (with OOV buckets).
    Label: its position in ``custom_config["label_classes"]`` (-1 if unknown).

    Args:
        inputs: Raw features, dense or sparse, as parsed with the schema.
        custom_config: Transform's custom_config; needs ``label_classes``.

    Returns:
        Transformed features keyed by ``features.transformed_name``.
    """
    outputs = {}
    for key in features.NUMERIC_FEATURE_KEYS:
        values = _as_float(inputs[key])
        outputs[features.transformed_name(key)] = tft.scale_to_z_score(
            _fill_missing(values, tft.mean(values))
        )
    for key in features.CATEGORICAL_FEATURE_KEYS:
        outputs[features.transformed_name(key)] = tft.compute_and_apply_vocabulary(
            _fill_missing(inputs[key], features.MISSING_CATEGORY),
            num_oov_buckets=features.OOV_BUCKETS,
            vocab_filename=features.vocabulary_name(key),
        )
    outputs[features.transformed_name(features.LABEL_KEY)] = _label_ids(
        _fill_missing(inputs[features.LABEL_KEY], ""), custom_config[config_keys.LABEL_CLASSES]
    )
    return outputs


def _as_float(values: Any) -> Any:
    if isinstance(values, tf.SparseTensor):
        return tf.SparseTensor(
            values.indices, tf.cast(values.values, tf.float32), values.dense_shape
        )
    return tf.cast(values, tf.float32)


def _fill_missing(values: Any, default: Any) -> tf.Tensor:
    """A rank-1 dense tensor: one value per example, ``default`` where missing."""
    if isinstance(values, tf.SparseTensor):
        default = tf.cast(default, values.dtype)
        values = tf.sparse.to_dense(
            tf.SparseTensor(values.indices, values.values, [values.dense_shape[0], 1]),
            default_value=default,
        )
    return tf.reshape(values, [-1])


def _label_ids(labels: tf.Tensor, classes: list[str]) -> tf.Tensor:
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(classes)), tf.range(len(classes), dtype=tf.int64)
        ),
        default_value=-1,
    )
    return table.lookup(labels)
