"""Serialized examples -> hash-partitioned, shuffled splits of gzipped TFRecords. No TFX.

Partitioning is TFX ExampleGen's (``_PartitionFn`` in
``tfx/components/example_gen/base_example_gen_executor.py``): a record's bucket is the
SHA-256 digest of its bytes, read as a big-endian integer, modulo the total of the
splits' hash buckets, so a record lands in the split TFX's own writer would put it in.

Shuffling replaces the in-memory reshuffle of TFX's writer (which holds every record of
a split) with a two-pass bucket shuffle: ``scatter`` sends each record to one of
``runs`` scratch runs at random, ``gather`` shuffles one run in memory and writes it as
one output shard. Concatenating independently shuffled runs of a random partition is a
uniform random permutation, and memory holds one run (``RUN_BYTES`` of CSV become
about 3.5 times as many bytes of serialized examples in Python objects).
Seeds come from the input file's index and the run, so the output is the same on
every run.
"""

import bisect
import dataclasses
import functools
import hashlib
import itertools
import math
import os
import random
from collections.abc import Iterable, Sequence

import tensorflow as tf

RUN_BYTES = 16 * 2**20  # CSV bytes per run; a run is held while shuffled, about 3.5x this
SHARD_NAME = "data_tfrecord-{run:05d}-of-{runs:05d}.gz"  # TFX's WriteSplit's names


@dataclasses.dataclass(frozen=True)
class Splits:
    """Where and how records are split.

    Attributes:
        names: The split names, in the order of ``hash_buckets``.
        hash_buckets: Each split's share of the buckets (``SplitConfig.Split.hash_buckets``).
        output_dirs: Each split's directory (``Split-<name>`` of the Examples artifact).
        scratch_dir: A directory for the runs; removed by the caller.
        runs: Shards per split (see ``run_count``).
    """

    names: Sequence[str]
    hash_buckets: Sequence[int]
    output_dirs: Sequence[str]
    scratch_dir: str
    runs: int

    def split_of(self, record: bytes) -> int:
        """The index in ``names`` of the split ``record`` belongs to."""
        bucket = int.from_bytes(hashlib.sha256(record).digest(), "big") % self._edges[-1]
        return bisect.bisect(self._edges, bucket)

    @functools.cached_property
    def _edges(self) -> list[int]:
        return list(itertools.accumulate(self.hash_buckets))

    def shards(self) -> list[tuple[int, int]]:
        """Every (split index, run) pair: one output shard each, empty or not."""
        return [(split, run) for split in range(len(self.names)) for run in range(self.runs)]

    def run_dir(self, split: int, run: int) -> str:
        """The scratch directory of one split's run."""
        return os.path.join(self.scratch_dir, self.names[split], f"run-{run:05d}")


def run_count(input_bytes: int, run_bytes: int = RUN_BYTES) -> int:
    """Runs for ``input_bytes`` of input: at least one, each about ``run_bytes``."""
    return max(1, math.ceil(input_bytes / run_bytes))


def scatter(records: Iterable[bytes], splits: Splits, part: int) -> int:
    """Writes each record to its split's scratch run, chosen at random (seeded by ``part``,
    the index of the input the records come from). Returns the records written."""
    rng = random.Random(part)
    writers: dict[tuple[int, int], tf.io.TFRecordWriter] = {}
    count = 0
    try:
        for record in records:
            key = (splits.split_of(record), rng.randrange(splits.runs))
            if key not in writers:
                run_dir = splits.run_dir(*key)
                tf.io.gfile.makedirs(run_dir)
                writers[key] = tf.io.TFRecordWriter(os.path.join(run_dir, f"part-{part:05d}"))
            writers[key].write(record)
            count += 1
    finally:
        for writer in writers.values():
            writer.close()
    return count


def gather(splits: Splits, split: int, run: int) -> int:
    """Shuffles one scratch run (seeded by split and run) into its gzipped output shard;
    an empty run writes an empty shard. Returns the records written."""
    run_dir = splits.run_dir(split, run)
    parts = sorted(tf.io.gfile.glob(os.path.join(run_dir, "part-*")))
    records = [record for path in parts for record in tf.compat.v1.io.tf_record_iterator(path)]
    random.Random(f"{splits.names[split]}/{run}").shuffle(records)
    output_dir = splits.output_dirs[split]
    tf.io.gfile.makedirs(output_dir)
    shard = os.path.join(output_dir, SHARD_NAME.format(run=run, runs=splits.runs))
    with tf.io.TFRecordWriter(shard, options="GZIP") as writer:
        for record in records:
            writer.write(record)
    return len(records)
