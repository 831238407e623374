"""Numeric features: z-scored (or bucketized) on the train split; a missing value is the mean.

Serving input: float32, NaN for a missing value.
"""

from collections.abc import Mapping
from typing import Any

from components.features import tensors
from components.features.lazy import tf, tft
from components.features.spec import Feature, transformed_name

TYPE = "numeric"
# log: log1p before scaling (for skewed, non-negative values; negatives count as 0).
# bucketize: N > 0 replaces the z-score by N quantile buckets, one-hot encoded.
OPTIONS: Mapping[str, Any] = {"log": False, "bucketize": 0}


def check_options(options: Mapping[str, Any]) -> None:
    """Raises ValueError naming the option when a value is out of range."""
    if options["bucketize"] < 0 or options["bucketize"] == 1:
        raise ValueError(
            f"bucketize: needs 0 (off) or 2 or more buckets, got {options['bucketize']}"
        )


def transform(raw: Any, feature: Feature) -> Any:
    """Raw [batch] or sparse values -> float32 z-scores, or int64 bucket ids, shape [batch].

    The statistics (mean, variance or quantiles) are over the train split's present
    values, all in one analysis pass; a missing value becomes the mean: z-score 0, or
    the mean's bucket. (Filling first and then scaling would need a second pass over
    the train split, for statistics that depend on the filled-in mean.)
    """
    values = tensors.fill_missing(tensors.as_float(raw), float("nan"))
    present = tf.logical_not(tf.math.is_nan(values))
    if feature.option("log"):
        values = tf.math.log1p(tf.maximum(values, 0.0))
    present_values = tf.boolean_mask(values, present)
    mean = tft.mean(present_values)
    if feature.option("bucketize"):
        buckets = feature.option("bucketize")
        boundaries = tft.quantiles(present_values, buckets, epsilon=min(1.0 / buckets, 0.01))
        return tft.apply_buckets(tf.where(present, values, mean), boundaries)
    variance = tft.var(present_values)
    centered = tf.where(present, values - mean, 0.0)
    # As tft.scale_to_z_score: a constant column is centred, not divided by zero.
    return tf.where(variance > 0, centered * tf.math.rsqrt(variance), centered)


def vocabulary_size(feature: Feature, tft_output: Any) -> int:
    """Distinct model ids: the bucket count, or 0 for a z-scored value."""
    return feature.option("bucketize")


def model_input(feature: Feature) -> Any:
    dtype = tf.int64 if feature.option("bucketize") else tf.float32
    return tf.keras.Input(shape=(), name=transformed_name(feature.name), dtype=dtype)


def encode(model_input: Any, feature: Feature, vocabulary_size: int) -> Any:
    """[batch] -> [batch, 1] float, or [batch, buckets] one-hot."""
    if feature.option("bucketize"):
        from components.features.layers import OneHot

        return OneHot(vocabulary_size)(model_input)
    return tf.keras.layers.Reshape((1,))(model_input)


def serving_spec(feature: Feature) -> Any:
    return tf.TensorSpec([None], tf.float32, name=feature.name)


def missing_value() -> float:
    """The dense serving input's value for "missing"."""
    return float("nan")
