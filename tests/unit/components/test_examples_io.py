"""examples_io: an Examples artifact's split read through tf.io.gfile, here from ``ram://``."""

import uuid

import pytest
import tensorflow as tf

from components.examples_io import (
    count_serialized_examples,
    read_serialized_examples,
    sample_serialized_examples,
    write_uniform_sample,
)


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


def _write_split(root: str, split: str, count: int) -> list[bytes]:
    records = [f"r{i}".encode() for i in range(count)]
    tf.io.gfile.makedirs(f"{root}/Split-{split}")
    for shard in range(3):
        path = f"{root}/Split-{split}/data_tfrecord-{shard:05d}-of-00003.gz"
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for record in records[shard::3]:
                writer.write(record)
    return sorted(records, key=lambda r: (int(r[1:]) % 3, int(r[1:])))  # file order


def test_a_sample_holds_at_most_size_records_of_the_split_in_its_order(ram):
    in_file_order = _write_split(ram, "eval", 10_000)
    sample = sample_serialized_examples(ram, "eval", 500)
    assert len(sample) == len(set(sample)) == 500
    position = {record: i for i, record in enumerate(in_file_order)}
    assert [position[r] for r in sample] == sorted(position[r] for r in sample)
    assert sample == sample_serialized_examples(ram, "eval", 500)  # same seed, same sample
    assert sample != sample_serialized_examples(ram, "eval", 500, seed=1)


def test_a_sample_is_spread_over_the_whole_split_not_its_head(ram):
    in_file_order = _write_split(ram, "eval", 9_000)
    position = {record: i for i, record in enumerate(in_file_order)}
    sample = sample_serialized_examples(ram, "eval", 900)
    thirds = [sum(1 for r in sample if position[r] // 3_000 == third) for third in range(3)]
    assert all(250 <= count <= 350 for count in thirds), thirds


def test_a_split_no_larger_than_the_sample_comes_back_whole(examples_uri):
    assert sample_serialized_examples(examples_uri, "eval", 3) == [b"a", b"b", b"c"]
    assert sample_serialized_examples(examples_uri, "eval", 100) == [b"a", b"b", b"c"]
    with pytest.raises(ValueError, match="size"):
        sample_serialized_examples(examples_uri, "eval", 0)


def test_count_reads_every_shard(examples_uri):
    assert count_serialized_examples(examples_uri, "eval") == 3


def test_a_written_sample_is_uniform_distinct_and_in_split_order(ram):
    in_file_order = _write_split(ram, "eval", 9_000)
    position = {record: i for i, record in enumerate(in_file_order)}

    written = write_uniform_sample(ram, "eval", 900, 9_000, f"{ram}/out/Split-eval")

    sample = read_serialized_examples(f"{ram}/out", "eval")
    assert written == len(sample) == len(set(sample)) == 900
    assert [position[r] for r in sample] == sorted(position[r] for r in sample)
    thirds = [sum(1 for r in sample if position[r] // 3_000 == third) for third in range(3)]
    assert all(250 <= count <= 350 for count in thirds), thirds
    write_uniform_sample(ram, "eval", 900, 9_000, f"{ram}/again/Split-eval")
    assert read_serialized_examples(f"{ram}/again", "eval") == sample  # same seed, same sample


def test_a_written_sample_of_a_small_split_is_the_whole_split(examples_uri):
    assert write_uniform_sample(examples_uri, "eval", 10, 3, f"{examples_uri}/out/Split-eval") == 3
    assert read_serialized_examples(f"{examples_uri}/out", "eval") == [b"a", b"b", b"c"]
    with pytest.raises(ValueError, match="size"):
        write_uniform_sample(examples_uri, "eval", 0, 3, f"{examples_uri}/other/Split-eval")
