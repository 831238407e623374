"""Reading, wording and gating on real ExampleValidator ``SchemaDiff.pb`` files."""

from pathlib import Path

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.data_gate.anomalies import (
    ANOMALIES_FILE,
    AnomaliesFoundError,
    Anomaly,
    check_no_anomalies,
    format_anomalies,
    read_anomalies,
)

ERROR = anomalies_pb2.AnomalyInfo.ERROR
WARNING = anomalies_pb2.AnomalyInfo.WARNING


def info(short: str, description: str, severity=ERROR) -> anomalies_pb2.AnomalyInfo:
    return anomalies_pb2.AnomalyInfo(
        short_description=short, description=description, severity=severity
    )


def write_split(uri: Path, split: str, anomalies: anomalies_pb2.Anomalies) -> None:
    directory = uri / f"Split-{split}"
    directory.mkdir(parents=True)
    (directory / ANOMALIES_FILE).write_bytes(anomalies.SerializeToString())


@pytest.fixture
def artifact(tmp_path) -> Path:
    """An ExampleAnomalies artifact: eval is clean, train has three problems."""
    train = anomalies_pb2.Anomalies()
    train.anomaly_info["sex"].CopyFrom(
        info("Unexpected string values", "Examples contain values missing from the schema: x.")
    )
    train.anomaly_info["body_mass_g"].CopyFrom(
        info("Out-of-range values", "Unexpectedly large value: 9000.", WARNING)
    )
    train.dataset_anomaly_info.CopyFrom(info("Low num examples", "Too few examples."))
    write_split(tmp_path, "train", train)
    write_split(tmp_path, "eval", anomalies_pb2.Anomalies())
    return tmp_path


def test_read_anomalies_in_split_then_feature_order(artifact):
    found = read_anomalies(str(artifact), ["eval", "train"])
    assert found == [
        Anomaly(
            "train",
            "body_mass_g",
            "WARNING",
            "Out-of-range values",
            "Unexpectedly large value: 9000.",
        ),
        Anomaly(
            "train",
            "sex",
            "ERROR",
            "Unexpected string values",
            "Examples contain values missing from the schema: x.",
        ),
        Anomaly("train", "(dataset)", "ERROR", "Low num examples", "Too few examples."),
    ]


def test_read_anomalies_follows_the_given_splits(artifact):
    assert read_anomalies(str(artifact), ["eval"]) == []
    assert {a.split for a in read_anomalies(str(artifact), ["train", "eval"])} == {"train"}


def test_read_anomalies_missing_split_is_an_error(artifact):
    with pytest.raises(tf.errors.NotFoundError, match="Split-test"):
        read_anomalies(str(artifact), ["test"])


def test_format_anomalies_aligns_columns(artifact):
    assert format_anomalies(read_anomalies(str(artifact), ["train"])).splitlines() == [
        "split  feature      problem                   description",
        "train  body_mass_g  Out-of-range values       Unexpectedly large value: 9000.",
        "train  sex          Unexpected string values  "
        "Examples contain values missing from the schema: x.",
        "train  (dataset)    Low num examples          Too few examples.",
    ]


def test_format_no_anomalies():
    assert format_anomalies([]) == "no anomalies"


def test_check_no_anomalies_names_each_feature(artifact):
    with pytest.raises(AnomaliesFoundError) as raised:
        check_no_anomalies(read_anomalies(str(artifact), ["train", "eval"]))
    message = str(raised.value)
    assert message.startswith("3 data anomalies: ")
    assert "sex (Unexpected string values)" in message
    assert "body_mass_g (Out-of-range values)" in message
    assert "(dataset) (Low num examples)" in message


def test_check_no_anomalies_passes_clean_data(artifact):
    check_no_anomalies(read_anomalies(str(artifact), ["eval"]))
