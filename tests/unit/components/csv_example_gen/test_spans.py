"""Spans: ``data.input_pattern`` with ``{SPAN}``, TFX's driver finding the latest span, the
executor reading the latest ``num_spans`` of them."""

import csv
from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import message
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components.csv_example_gen import component, executor
from components.examples_io import read_serialized_examples
from pipeline.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[4]
PENGUINS = REPO / "data" / "penguins" / "penguins.csv"
SPLITS = example_gen_pb2.Output(
    split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=1)]
    )
)


def write_spans(root: Path, sizes: dict[int, int]) -> None:
    rows = list(csv.reader(PENGUINS.open()))
    start = 1
    for span, size in sizes.items():
        directory = root / f"span-{span}"
        directory.mkdir(parents=True)
        with (directory / "data.csv").open("w", newline="") as f:
            csv.writer(f).writerows([rows[0], *rows[start : start + size]])
        start += size


def run(root: Path, out: Path, num_spans: int) -> tuple[int, int]:
    """(span the driver picked, examples read), the driver's work done as TFX's driver does."""
    node = component.CsvExampleGen(
        input_base=str(root),
        output_config=SPLITS,
        missing_values=["", "NA"],
        code_digest="test",
        input_pattern="span-{SPAN}/*.csv",
        num_spans=num_spans,
    )
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(node.exec_properties["input_config"], input_config)
    _, span, _ = example_gen_utils.calculate_splits_fingerprint_span_and_version(
        str(root), input_config.splits
    )
    exec_properties = {
        key: proto_utils.proto_to_json(value) if isinstance(value, message.Message) else value
        for key, value in node.exec_properties.items()
        if value is not None
    }
    exec_properties["input_config"] = proto_utils.proto_to_json(input_config)
    exec_properties["span"] = span
    examples = standard_artifacts.Examples()
    examples.uri = str(out)
    executor.Executor().Do({}, {"examples": [examples]}, exec_properties)
    (split,) = artifact_utils.decode_split_names(examples.split_names)
    return span, len(list(read_serialized_examples(examples.uri, split)))


def test_the_latest_spans_are_read(tmp_path):
    write_spans(tmp_path / "data", {1: 30, 2: 20, 4: 10})
    assert run(tmp_path / "data", tmp_path / "one", num_spans=1) == (4, 10)
    assert run(tmp_path / "data", tmp_path / "two", num_spans=2) == (4, 10)  # span 3 is absent
    assert run(tmp_path / "data", tmp_path / "all", num_spans=4) == (4, 60)


def test_span_patterns():
    settings = {executor.SPAN_PATTERN: "span-{SPAN}/*.csv", executor.NUM_SPANS: 3}
    assert executor.span_patterns(settings, 5, "span-5/*.csv") == [
        "span-3/*.csv",
        "span-4/*.csv",
        "span-5/*.csv",
    ]
    assert executor.span_patterns({}, None, "*") == ["*"]


def config(tmp_path: Path, data: str) -> Path:
    text = (REPO / "configs" / "penguins.yaml").read_text().replace("../", f"{REPO}/")
    text = text.replace(f"csv_dir: {REPO}/data/penguins", data)
    path = tmp_path / "spans.yaml"
    path.write_text(text)
    return path


def test_the_config_reads_spans_and_refuses_a_pattern_without_one(tmp_path):
    write_spans(tmp_path / "data", {1: 30, 2: 20})
    data = f"csv_dir: {tmp_path / 'data'}\n  input_pattern: span-{{SPAN}}/*.csv\n  num_spans: 2"
    cfg = load_config(config(tmp_path, data))
    assert [p.parent.name for p in cfg.data.csv_files()] == ["span-1", "span-2"]
    assert cfg.data.header()[0] == "species"
    with pytest.raises(ConfigError, match="data.input_pattern"):
        load_config(config(tmp_path, f"csv_dir: {tmp_path / 'data'}\n  input_pattern: '*.csv'"))
    with pytest.raises(ConfigError, match="data.num_spans"):
        load_config(config(tmp_path, data.replace("num_spans: 2", "num_spans: 0")))


def test_the_pipeline_passes_the_pattern_to_example_gen(tmp_path):
    from pipeline.pipeline import create_pipeline

    write_spans(tmp_path / "data", {1: 30})
    data = f"csv_dir: {tmp_path / 'data'}\n  input_pattern: span-{{SPAN}}/*.csv"
    cfg = load_config(config(tmp_path, data), work_dir=tmp_path / "work")
    (example_gen,) = [n for n in create_pipeline(cfg).components if n.id == component.NODE_ID]
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(example_gen.exec_properties["input_config"], input_config)
    assert input_config.splits[0].pattern == "span-{SPAN}/*.csv"
    assert tf.io.gfile.exists(str(tmp_path / "data" / "span-1" / "data.csv"))
