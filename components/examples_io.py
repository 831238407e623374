"""Reads serialized tf.Examples from an Examples artifact's split directory."""

import os

import tensorflow as tf


def read_serialized_examples(
    examples_uri: str, split: str, limit: int | None = None
) -> list[bytes]:
    """Serialized tf.Examples of one split of an Examples artifact (gzipped TFRecords).

    Args:
        examples_uri: The artifact's URI: a local path or any ``tf.io.gfile`` URI.
        split: Split name, e.g. ``eval``.
        limit: At most this many records; all when None.
    """
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"no examples for split '{split}' under {examples_uri}")
    records = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if limit is not None:
        records = records.take(limit)
    return [record.numpy() for record in records]
