"""Categorical features: a vocabulary from the train split, one OOV bucket, a missing token.

Whatever the column's storage type (an integer-coded zip code is categorical if declared
so), values become their decimal text before the vocabulary. Small vocabularies are
one-hot encoded, larger ones (or any with ``embedding_dim``) embedded.
Serving input: string, "" for a missing value.
"""

import math
from collections.abc import Mapping
from typing import Any

from components.features import tensors
from components.features.lazy import tf, tft
from components.features.spec import Feature, transformed_name, vocabulary_name

TYPE = "categorical"
# top_k: keep the k most frequent values (0: all); the rest share the OOV bucket.
# embedding_dim: > 0 embeds with this width; 0 one-hot encodes up to ONE_HOT_MAX ids and
# embeds above that with a width that grows with the vocabulary.
OPTIONS: Mapping[str, Any] = {"top_k": 0, "embedding_dim": 0}

OOV_BUCKETS = 1
# A missing value becomes this token and so gets a vocabulary id of its own
# (tf.Transform keeps "" out of vocabularies, which would merge missing with OOV).
MISSING_CATEGORY = "<missing>"
ONE_HOT_MAX = 64


def check_options(options: Mapping[str, Any]) -> None:
    """Raises ValueError naming the option when a value is out of range."""
    for name in ("top_k", "embedding_dim"):
        if options[name] < 0:
            raise ValueError(f"{name}: must be >= 0, got {options[name]}")


def transform(raw: Any, feature: Feature) -> Any:
    """Raw values of any dtype -> int64 vocabulary ids, shape [batch]."""
    values = tensors.fill_missing(tensors.as_string(raw), MISSING_CATEGORY)
    values = tf.where(tf.equal(values, ""), MISSING_CATEGORY, values)
    return tft.compute_and_apply_vocabulary(
        values,
        top_k=feature.option("top_k") or None,
        num_oov_buckets=OOV_BUCKETS,
        vocab_filename=vocabulary_name(feature.name),
    )


def vocabulary_size(feature: Feature, tft_output: Any) -> int:
    """Model ids: vocabulary entries plus OOV buckets."""
    return tft_output.vocabulary_size_by_name(vocabulary_name(feature.name)) + OOV_BUCKETS


def embedding_width(feature: Feature, vocabulary_size: int) -> int:
    """0 for one-hot; otherwise the embedding width used."""
    if feature.option("embedding_dim"):
        return feature.option("embedding_dim")
    if vocabulary_size <= ONE_HOT_MAX:
        return 0
    # The rule of thumb of Google's feature-column guide: about the fourth root of the size.
    return min(32, max(4, round(2 * math.sqrt(math.sqrt(vocabulary_size)))))


def model_input(feature: Feature) -> Any:
    return tf.keras.Input(shape=(), name=transformed_name(feature.name), dtype=tf.int64)


def encode(model_input: Any, feature: Feature, vocabulary_size: int) -> Any:
    """[batch] ids -> [batch, vocabulary_size] one-hot or [batch, width] embedding."""
    from components.features.layers import OneHot

    width = embedding_width(feature, vocabulary_size)
    if not width:
        return OneHot(vocabulary_size)(model_input)
    embedded = tf.keras.layers.Embedding(vocabulary_size, width)(model_input)
    return tf.keras.layers.Reshape((width,))(embedded)


def serving_spec(feature: Feature) -> Any:
    return tf.TensorSpec([None], tf.string, name=feature.name)


def missing_value() -> str:
    """The dense serving input's value for "missing"."""
    return ""
