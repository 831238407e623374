"""Reads ExampleValidator's anomalies and puts them in words. No TFX imports."""

import dataclasses
import os

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2

ANOMALIES_FILE = "SchemaDiff.pb"


class AnomaliesFoundError(RuntimeError):
    """The data broke the schema and the config says to stop."""


@dataclasses.dataclass(frozen=True)
class Anomaly:
    """One feature's problem in one split."""

    split: str
    feature: str
    severity: str
    problem: str
    description: str


def read_anomalies(artifact_uri: str, splits: list[str]) -> list[Anomaly]:
    """Anomalies of every split, in split then feature order.

    Args:
        artifact_uri: URI of an ExampleAnomalies artifact.
        splits: Its split names.
    """
    found = []
    for split in splits:
        proto = anomalies_pb2.Anomalies()
        path = os.path.join(artifact_uri, f"Split-{split}", ANOMALIES_FILE)
        proto.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        for feature, info in sorted(proto.anomaly_info.items()):
            found.append(_anomaly(split, feature, info))
        if proto.HasField("dataset_anomaly_info"):
            found.append(_anomaly(split, "(dataset)", proto.dataset_anomaly_info))
    return found


def _anomaly(split: str, feature: str, info: anomalies_pb2.AnomalyInfo) -> Anomaly:
    return Anomaly(
        split=split,
        feature=feature,
        severity=anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
        problem=info.short_description,
        description=info.description,
    )


def format_anomalies(anomalies: list[Anomaly]) -> str:
    """A readable block: one line per split and feature, aligned columns."""
    if not anomalies:
        return "no anomalies"
    headers = ("split", "feature", "problem", "description")
    rows = [(a.split, a.feature, a.problem, a.description) for a in anomalies]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=False))
        + "  "
        + row[3]
        for row in [headers, *rows]
    ]
    return "\n".join(lines)


def check_no_anomalies(anomalies: list[Anomaly]) -> None:
    """Raises AnomaliesFoundError, naming each feature, if there are any."""
    if anomalies:
        named = ", ".join(sorted({f"{a.feature} ({a.problem})" for a in anomalies}))
        raise AnomaliesFoundError(f"{len(anomalies)} data anomalies: {named}")
