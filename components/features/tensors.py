"""Raw-tensor helpers shared by the feature types' Transform steps."""

from typing import Any

from components.features.lazy import tf


def as_float(values: Any) -> Any:
    """``values`` (dense or sparse, any numeric dtype) as float32."""
    if isinstance(values, tf.SparseTensor):
        return tf.SparseTensor(
            values.indices, tf.cast(values.values, tf.float32), values.dense_shape
        )
    return tf.cast(values, tf.float32)


def as_string(values: Any) -> Any:
    """``values`` as strings: integers and floats by their decimal text."""
    if isinstance(values, tf.SparseTensor):
        return tf.SparseTensor(values.indices, as_string(values.values), values.dense_shape)
    if values.dtype == tf.string:
        return values
    if values.dtype.is_floating:
        # 1.0 -> "1", as a spreadsheet writes a whole number; 1.5 -> "1.5".
        whole = tf.equal(values, tf.round(values))
        return tf.where(
            whole, tf.strings.as_string(tf.cast(values, tf.int64)), tf.strings.as_string(values)
        )
    return tf.strings.as_string(values)


def fill_missing(values: Any, default: Any) -> Any:
    """A rank-1 dense tensor: one value per example (the first), ``default`` where missing."""
    if isinstance(values, tf.SparseTensor):
        default = tf.cast(default, values.dtype)
        values = tf.sparse.to_dense(
            tf.SparseTensor(values.indices, values.values, [values.dense_shape[0], 1]),
            default_value=default,
        )
    return tf.reshape(values, [-1])
