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


def count_serialized_examples(examples_uri: str, split: str) -> int:
    """The number of records in one split (one streaming pass).

    Raises:
        FileNotFoundError: The split has no files under ``examples_uri``.
    """
    return sum(
        len(batch) for batch in _split_records(examples_uri, split).batch(_SAMPLE_READ_BATCH)
    )


def write_uniform_sample(
    examples_uri: str, split: str, size: int, total: int, output_dir: str, seed: int = 0
) -> int:
    """Writes a uniform sample of ``size`` of the split's ``total`` records, in split order.

    The sample is drawn as ``size`` distinct positions out of ``total`` (numpy's
    ``Generator.choice`` without replacement, seeded), then one streaming pass copies those
    records, so memory holds the positions and one read batch, never the records, whatever
    their size (an image split as well). The same inputs and ``seed`` give the same file.

    Args:
        examples_uri: The Examples artifact's URI (local path or any ``tf.io.gfile`` URI).
        split: The split read, e.g. ``eval``.
        size: Records to keep; all of them when ``size >= total``.
        total: The split's record count, from ``count_serialized_examples``.
        output_dir: Directory of the sample, e.g. ``<scratch>/Split-eval``; the file is
            ``data_tfrecord-00000-of-00001.gz`` (gzipped TFRecords, as ExampleGen writes).

    Returns:
        The number of records written.
    """
    if size < 1:
        raise ValueError(f"size: must be >= 1, got {size}")
    keep = min(size, total)
    positions = np.sort(np.random.default_rng(seed).choice(total, keep, replace=False))
    tf.io.gfile.makedirs(output_dir)
    path = os.path.join(output_dir, "data_tfrecord-00000-of-00001.gz")
    written = 0
    start = 0
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for batch in _split_records(examples_uri, split).batch(_SAMPLE_READ_BATCH):
            records = batch.numpy()
            low, high = np.searchsorted(positions, [start, start + len(records)])
            for position in positions[low:high]:
                writer.write(records[position - start])
            written += int(high - low)
            start += len(records)
    return written


def _split_records(examples_uri: str, split: str) -> tf.data.Dataset:
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    if not files:
        raise FileNotFoundError(f"no examples for split '{split}' under {examples_uri}")
    return tf.data.TFRecordDataset(files, compression_type="GZIP")
