"""Reads serialized tf.Examples from an Examples artifact's split directory."""

import os

import numpy as np
import tensorflow as tf

# Records read per step of ``sample_serialized_examples``: its memory is the sample plus this.
_SAMPLE_READ_BATCH = 4096


def read_serialized_examples(
    examples_uri: str, split: str, limit: int | None = None
) -> list[bytes]:
    """Serialized tf.Examples of one split of an Examples artifact (gzipped TFRecords).

    Args:
        examples_uri: The artifact's URI: a local path or any ``tf.io.gfile`` URI.
        split: Split name, e.g. ``eval``.
        limit: At most this many records, the first ones; all when None.
    """
    records = _split_records(examples_uri, split)
    if limit is not None:
        records = records.take(limit)
    return [record.numpy() for record in records]


def sample_serialized_examples(
    examples_uri: str, split: str, size: int, seed: int = 0
) -> list[bytes]:
    """A uniform sample of at most ``size`` records of one split, in the split's order.

    The whole split is read once, but only the sample and one read batch are held, so
    memory does not grow with the split. A split of at most ``size`` records comes back
    whole, as ``read_serialized_examples`` gives it. The same split and ``seed`` give the
    same sample.

    Args:
        examples_uri: The artifact's URI: a local path or any ``tf.io.gfile`` URI.
        split: Split name, e.g. ``eval``.
        size: The most records returned (>= 1).
        seed: Seeds the random priorities that pick the sample.
    """
    if size < 1:
        raise ValueError(f"size: must be >= 1, got {size}")
    rng = np.random.default_rng(seed)
    # Bottom-k by a random priority per record: a uniform sample without replacement.
    kept = np.empty(0, dtype=object)
    priorities = np.empty(0)
    positions = np.empty(0, dtype=np.int64)
    seen = 0
    for batch in _split_records(examples_uri, split).batch(_SAMPLE_READ_BATCH):
        records = batch.numpy()
        kept = np.concatenate([kept, records.astype(object)])
        priorities = np.concatenate([priorities, rng.random(len(records))])
        positions = np.concatenate([positions, np.arange(seen, seen + len(records))])
        seen += len(records)
        if len(kept) > size:
            smallest = np.argpartition(priorities, size - 1)[:size]
            kept, priorities, positions = kept[smallest], priorities[smallest], positions[smallest]
    return list(kept[np.argsort(positions, kind="stable")])


def _split_records(examples_uri: str, split: str) -> tf.data.Dataset:
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"no examples for split '{split}' under {examples_uri}")
    return tf.data.TFRecordDataset(files, compression_type="GZIP")
