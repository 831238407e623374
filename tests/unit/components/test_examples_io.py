"""examples_io: an Examples artifact's split read through tf.io.gfile, here from ``ram://``."""

import uuid

import pytest
import tensorflow as tf

from components.examples_io import read_serialized_examples


@pytest.fixture
def examples_uri():
    """A fresh ``ram://`` Examples artifact with two gzipped shards in ``Split-eval``."""
    root = f"ram://{uuid.uuid4().hex}"
    tf.io.gfile.makedirs(f"{root}/Split-eval")
    for shard, records in enumerate([[b"a", b"b"], [b"c"]]):
        path = f"{root}/Split-eval/data_tfrecord-{shard:05d}-of-00002.gz"
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for record in records:
                writer.write(record)
    yield root
    tf.io.gfile.rmtree(root)


def test_reads_every_shard_of_a_split_in_order(examples_uri):
    assert read_serialized_examples(examples_uri, "eval") == [b"a", b"b", b"c"]
    assert read_serialized_examples(examples_uri, "eval", limit=2) == [b"a", b"b"]


def test_a_missing_split_is_named(examples_uri):
    with pytest.raises(FileNotFoundError, match="split 'train'"):
        read_serialized_examples(examples_uri, "train")
