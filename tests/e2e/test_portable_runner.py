"""CsvExampleGen and StatisticsGen on Beam's PortableRunner, with workers in other processes.

Beam's embedded job server (``--job_endpoint=embed``) runs each job; its SDK workers come from
an external worker pool (``apache_beam.runners.worker.worker_pool_main``) started here as a
process of its own, as a worker pool runs beside a Flink or Spark task manager (README,
"Running the Beam steps on Dataflow, Flink or Spark"). The same executors, configured as the
pipeline configures them, on the shipped CSV under the DirectRunner are the reference: the
same examples in every split and the same statistics.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import message
from penguins_runs import CSV, REPO
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.components.statistics_gen import executor as statistics_executor
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.csv_example_gen import component, executor
from pipeline.config import DEFAULT_MISSING_VALUES
from pipeline.pipeline import PICKLE_LIBRARY

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SPLITS = ("train", "eval", "test")
# The pickler the pipeline picks (pipeline.beam_pipeline_args): workers read it from the options.
PICKLER = f"--pickle_library={PICKLE_LIBRARY}"
DIRECT = [
    "--runner=DirectRunner",
    "--direct_running_mode=in_memory",
    "--direct_num_workers=1",
    PICKLER,
]


def portable_args(port: int) -> list[str]:
    return [
        "--runner=PortableRunner",
        "--job_endpoint=embed",
        "--environment_type=EXTERNAL",
        f"--environment_config=localhost:{port}",
        PICKLER,
    ]


@pytest.fixture(scope="module")
def worker_pool(tmp_path_factory):
    """(port, log path) of a Beam worker pool in its own process, in this environment.

    The pool starts each SDK worker as ``python`` from PATH, so this interpreter's directory
    goes first on PATH; PYTHONPATH carries the repository (the CSV source's code).
    """
    log = tmp_path_factory.mktemp("worker_pool") / "pool.log"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    }
    with log.open("w") as out:
        pool = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apache_beam.runners.worker.worker_pool_main",
                f"--service_port={port}",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert pool.poll() is None, log.read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the worker pool did not listen in 300 s"
                time.sleep(0.5)
        yield port, log
    finally:
        pool.terminate()
        pool.wait(timeout=60)


def run_example_gen(beam_args: list[str], root: Path) -> standard_artifacts.Examples:
    """The pipeline's CsvExampleGen executor, configured as its component is, on the shipped CSV."""
    node = component.CsvExampleGen(
        input_base=str(CSV.parent),
        output_config=example_gen_pb2.Output(
            split_config=example_gen_pb2.SplitConfig(
                splits=[
                    example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                    for name, buckets in zip(SPLITS, (7, 2, 1), strict=True)
                ]
            )
        ),
        missing_values=list(DEFAULT_MISSING_VALUES),
        code_digest="test",
    )
    exec_properties = {
        key: proto_utils.proto_to_json(value) if isinstance(value, message.Message) else value
        for key, value in node.exec_properties.items()
        if value is not None
    }
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    executor.Executor(_context(beam_args, root)).Do({}, {"examples": [examples]}, exec_properties)
    return examples


def run_statistics_gen(beam_args, examples, root: Path) -> standard_artifacts.ExampleStatistics:
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(root / "statistics")
    statistics_executor.Executor(_context(beam_args, root)).Do(
        {"examples": [examples]}, {"statistics": [statistics]}, {"exclude_splits": "[]"}
    )
    return statistics


def _context(beam_args: list[str], root: Path) -> base_beam_executor.BaseBeamExecutor.Context:
    return base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=beam_args, tmp_dir=str(root / "tmp"), unique_id="portable-test"
    )


@pytest.fixture(scope="module")
def outputs(worker_pool, tmp_path_factory):
    """Runner name -> (examples, statistics, seconds), DirectRunner and PortableRunner."""
    port, log = worker_pool
    results = {}
    for name, args in (("direct", DIRECT), ("portable", portable_args(port))):
        root = tmp_path_factory.mktemp(name)
        started = time.monotonic()
        examples = run_example_gen(args, root)
        statistics = run_statistics_gen(args, examples, root)
        results[name] = (examples, statistics, time.monotonic() - started)
        print(f"{name}: CsvExampleGen + StatisticsGen in {results[name][2]:.1f} s")
    return results


def _records(examples, split: str) -> list[bytes]:
    files = tf.io.gfile.glob(f"{examples.uri}/Split-{split}/*")
    # Parsed and serialized deterministically: map fields serialize in any order otherwise.
    return sorted(
        tf.train.Example.FromString(r.numpy()).SerializeToString(deterministic=True)
        for r in tf.data.TFRecordDataset(files, compression_type="GZIP")
    )


def _statistics(statistics, split: str) -> statistics_pb2.DatasetFeatureStatistics:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    path = Path(statistics.uri) / f"Split-{split}" / "FeatureStats.pb"
    stats.ParseFromString(path.read_bytes())
    (dataset,) = stats.datasets
    return dataset


def test_the_workers_ran_in_the_external_pool(outputs, worker_pool):
    _, log = worker_pool
    assert "Starting worker" in log.read_text()


def test_same_examples_in_every_split(outputs):
    direct, portable = outputs["direct"][0], outputs["portable"][0]
    sizes = {}
    for split in SPLITS:
        records = _records(portable, split)
        assert records == _records(direct, split), split
        sizes[split] = len(records)
    assert sum(sizes.values()) == len(CSV.read_text().splitlines()) - 1


def test_same_statistics(outputs):
    direct, portable = outputs["direct"][1], outputs["portable"][1]
    for split in SPLITS:
        expected, actual = _statistics(direct, split), _statistics(portable, split)
        assert actual.num_examples == expected.num_examples > 0
        assert [f.path for f in actual.features] == [f.path for f in expected.features]
        for mine, theirs in zip(actual.features, expected.features, strict=True):
            if theirs.HasField("num_stats"):
                for key in ("mean", "std_dev", "min", "max", "num_zeros"):
                    assert getattr(mine.num_stats, key) == pytest.approx(
                        getattr(theirs.num_stats, key), rel=1e-9
                    ), (split, theirs.path, key)
                common = (mine.num_stats.common_stats, theirs.num_stats.common_stats)
            else:
                assert mine.string_stats.unique == theirs.string_stats.unique
                assert list(mine.string_stats.top_values) == list(theirs.string_stats.top_values)
                common = (mine.string_stats.common_stats, theirs.string_stats.common_stats)
            assert common[0].num_non_missing == common[1].num_non_missing, (split, theirs.path)
            assert common[0].num_missing == common[1].num_missing, (split, theirs.path)
