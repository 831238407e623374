"""Free-text features: lower-cased word tokens, a vocabulary from the train split,
a fixed-length id sequence, embedded and average-pooled.

Tokens are runs of letters, digits and apostrophes (punctuation splits words).
Ids: 0 pads, 1..V are the vocabulary by frequency, V+1 is out-of-vocabulary.
Serving input: string, "" for a missing text. TFLite needs TF Select ops for the
string splitting.
"""

from collections.abc import Mapping
from typing import Any

from components.features import tensors
from components.features.lazy import tf, tft
from components.features.spec import Feature, transformed_name, vocabulary_name

TYPE = "text"
OPTIONS: Mapping[str, Any] = {"max_tokens": 20000, "sequence_length": 256, "embedding_dim": 16}
_SEPARATORS = r"[^\w']+"


def check_options(options: Mapping[str, Any]) -> None:
    """Raises ValueError naming the option when a value is out of range."""
    for name in OPTIONS:
        if options[name] < 1:
            raise ValueError(f"{name}: must be >= 1, got {options[name]}")


def tokens(texts: Any) -> Any:
    """[batch] strings -> ragged [batch, (tokens)] lower-cased words."""
    cleaned = tf.strings.regex_replace(tf.strings.lower(texts), _SEPARATORS, " ")
    return tf.strings.split(tf.strings.strip(cleaned))


def transform(raw: Any, feature: Feature) -> Any:
    """Raw strings -> int64 token ids, shape [batch, sequence_length], 0-padded."""
    length = feature.option("sequence_length")
    words = tokens(tensors.fill_missing(tensors.as_string(raw), "")).to_sparse()
    ids = tft.compute_and_apply_vocabulary(
        words,
        top_k=feature.option("max_tokens"),
        num_oov_buckets=1,
        vocab_filename=vocabulary_name(feature.name),
    )
    shifted = tf.SparseTensor(ids.indices, ids.values + 1, ids.dense_shape)
    dense = tf.sparse.to_dense(shifted)[:, :length]
    dense = tf.pad(dense, [[0, 0], [0, length - tf.shape(dense)[1]]])
    return tf.reshape(dense, [-1, length])


def vocabulary_size(feature: Feature, tft_output: Any) -> int:
    """Model ids: padding, vocabulary entries and the OOV id."""
    return tft_output.vocabulary_size_by_name(vocabulary_name(feature.name)) + 2


def model_input(feature: Feature) -> Any:
    return tf.keras.Input(
        shape=(feature.option("sequence_length"),),
        name=transformed_name(feature.name),
        dtype=tf.int64,
    )


def encode(model_input: Any, feature: Feature, vocabulary_size: int) -> Any:
    """[batch, length] ids -> [batch, embedding_dim]: mean of the non-padding embeddings."""
    embedded = tf.keras.layers.Embedding(
        vocabulary_size, feature.option("embedding_dim"), mask_zero=True
    )(model_input)
    return tf.keras.layers.GlobalAveragePooling1D()(embedded)


def serving_spec(feature: Feature) -> Any:
    return tf.TensorSpec([None], tf.string, name=feature.name)


def missing_value() -> str:
    """The dense serving input's value for "missing"."""
    return ""
