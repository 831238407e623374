"""split_writer: TFX's partition, and a shuffle that holds one run, on real TFRecord files."""

import glob
import os
import random

import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2

from components.csv_example_gen import split_writer

BUCKETS = {"train": 14, "eval": 4, "test": 2}


def make_splits(root, runs: int) -> split_writer.Splits:
    return split_writer.Splits(
        names=list(BUCKETS),
        hash_buckets=list(BUCKETS.values()),
        output_dirs=[f"{root}/Split-{name}" for name in BUCKETS],
        scratch_dir=f"{root}/scratch",
        runs=runs,
    )


def read_split(directory: str) -> list[bytes]:
    """A split's records in the order they are read back: shard by shard."""
    shards = sorted(glob.glob(f"{directory}/*"))
    return [r.numpy() for r in tf.data.TFRecordDataset(shards, compression_type="GZIP")]


def write(records: list[bytes], root, runs: int, files: int = 1) -> split_writer.Splits:
    splits = make_splits(root, runs)
    for part in range(files):
        split_writer.scatter(records[part::files], splits, part)
    for split, run in splits.shards():
        split_writer.gather(splits, split, run)
    return splits


def test_a_record_lands_in_the_split_tfx_puts_it_in(tmp_path):
    config = example_gen_pb2.SplitConfig(
        splits=[
            example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=b) for n, b in BUCKETS.items()
        ]
    )
    edges = [14, 18, 20]
    splits = make_splits(tmp_path, 1)
    rng = random.Random(0)
    for _ in range(2_000):
        record = rng.randbytes(rng.randrange(1, 80))
        tfx_split = base_example_gen_executor._PartitionFn(record, 3, edges, config)
        assert splits.split_of(record) == tfx_split


def test_every_record_is_written_once_into_runs_shards_per_split(tmp_path):
    records = [f"record {i}".encode() for i in range(3_000)]
    splits = write(records, tmp_path, runs=3, files=2)
    written = {}
    for name, directory in zip(splits.names, splits.output_dirs, strict=True):
        assert sorted(os.listdir(directory)) == [
            f"data_tfrecord-0000{run}-of-00003.gz" for run in range(3)
        ]
        written[name] = read_split(directory)
        assert all(splits.split_of(r) == splits.names.index(name) for r in written[name])
    assert sorted(r for split in written.values() for r in split) == sorted(records)
    share = len(written["train"]) / len(records)
    assert 0.65 < share < 0.75  # 14 of 20 buckets


def test_sorted_input_comes_out_shuffled_and_the_same_every_time(tmp_path):
    """A file sorted by class (as the shipped penguins CSV is) is shuffled across the
    whole split, not only within a run; a second write gives the same bytes."""
    records = [f"{cls} {i}".encode() for cls in ("a", "b", "c") for i in range(1_000)]
    first = read_split(write(records, tmp_path / "1", runs=4).output_dirs[0])
    second = read_split(write(records, tmp_path / "2", runs=4).output_dirs[0])
    assert first == second
    classes = [r[:1] for r in first]
    assert classes != sorted(classes)
    for quarter in range(4):  # every quarter of the split mixes all three classes
        chunk = classes[quarter * len(classes) // 4 : (quarter + 1) * len(classes) // 4]
        assert {c: chunk.count(c) / len(chunk) for c in set(chunk)}.keys() == {b"a", b"b", b"c"}
        assert all(0.25 < chunk.count(c) / len(chunk) < 0.42 for c in (b"a", b"b", b"c"))


def test_a_split_with_no_record_gets_empty_shards(tmp_path):
    splits = write([b"only one record"], tmp_path, runs=2)
    sizes = [len(read_split(d)) for d in splits.output_dirs]
    assert sorted(sizes) == [0, 0, 1]
    assert all(len(os.listdir(d)) == 2 for d in splits.output_dirs)


def test_run_count_keeps_a_run_near_run_bytes():
    assert split_writer.run_count(0) == 1
    assert split_writer.run_count(split_writer.RUN_BYTES) == 1
    assert split_writer.run_count(split_writer.RUN_BYTES + 1) == 2
    assert split_writer.run_count(10 * split_writer.RUN_BYTES) == 10
