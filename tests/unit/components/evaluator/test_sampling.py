"""The Evaluator's bounded input, on gzipped TFRecord splits in ``ram://``."""

import pytest
import tensorflow as tf

from components.evaluator.sampling import SplitSize, bounded_splits
from components.examples_io import read_serialized_examples


def _write_split(root: str, split: str, count: int) -> None:
    tf.io.gfile.makedirs(f"{root}/Split-{split}")
    with tf.io.TFRecordWriter(f"{root}/Split-{split}/data.gz", options="GZIP") as writer:
        for i in range(count):
            writer.write(f"{split}{i}".encode())


def test_splits_under_the_cap_are_read_where_they_are(ram):
    _write_split(ram, "eval", 80)

    uri, sizes = bounded_splits(ram, ["eval"], 100, f"{ram}/scratch")

    assert uri == ram
    assert sizes == [SplitSize("eval", 80, 80)] and not sizes[0].sampled
    assert not tf.io.gfile.exists(f"{ram}/scratch")


def test_no_cap_reads_every_example(ram):
    _write_split(ram, "eval", 500)
    assert bounded_splits(ram, ["eval"], None, f"{ram}/scratch") == (
        ram,
        [SplitSize("eval", 500, 500)],
    )


def test_a_split_over_the_cap_is_sampled_and_the_others_copied_whole(ram):
    _write_split(ram, "eval", 1_000)
    _write_split(ram, "test", 30)

    uri, sizes = bounded_splits(ram, ["eval", "test"], 100, f"{ram}/scratch")

    assert uri == f"{ram}/scratch"
    assert sizes == [SplitSize("eval", 1_000, 100), SplitSize("test", 30, 30)]
    assert sizes[0].sampled and not sizes[1].sampled
    sample = read_serialized_examples(uri, "eval")
    assert len(set(sample)) == 100
    assert max(int(r[4:]) for r in sample) > 900  # spread over the split, not its head
    assert read_serialized_examples(uri, "test") == read_serialized_examples(ram, "test")
    again, _ = bounded_splits(ram, ["eval"], 100, f"{ram}/again")
    assert read_serialized_examples(again, "eval") == sample


def test_a_cap_below_one_is_an_error(ram):
    _write_split(ram, "eval", 5)
    with pytest.raises(ValueError, match="max_examples"):
        bounded_splits(ram, ["eval"], 0, f"{ram}/scratch")
