"""TFDV on logged inputs: statistics, schema anomalies, skew and drift per feature.

- Statistics: TFDV's in-memory generator over an Arrow batch built from the logged
  features, each typed as the schema types it (the server logs a count sent as 181.0 as a
  float; the schema's INT feature gets 181), so they compare with StatisticsGen's.
- Schema: a copy of the curated schema with TRAINING and SERVING environments; the label
  and every schema feature the model does not take are absent from SERVING, so a request
  without a label is no anomaly.
- Skew: the live statistics against the training split's; drift: against the previous
  window's. L-infinity for categorical features, Jensen-Shannon divergence for numeric
  ones, as the run report measures (``pipeline/report/data.py``), with the thresholds of
  ``monitoring.skew`` and ``monitoring.drift``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from monitoring.logs import Record

TRAINING, SERVING = "TRAINING", "SERVING"
L_INFINITY, JENSEN_SHANNON = "L-infinity", "Jensen-Shannon"
_MEASUREMENTS = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: L_INFINITY,
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: JENSEN_SHANNON,
}


@dataclasses.dataclass(frozen=True)
class Distance:
    """One feature's distance and the threshold it is held to."""

    feature: str
    measure: str
    value: float
    threshold: float

    @property
    def above(self) -> bool:
        return self.value > self.threshold


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Largest distances that raise no alert, per feature kind."""

    categorical: float
    numeric: float


def serving_schema(schema: schema_pb2.Schema, served: Iterable[str]) -> schema_pb2.Schema:
    """A copy of ``schema`` in which only the ``served`` features belong to SERVING."""
    copy = schema_pb2.Schema()
    copy.CopyFrom(schema)
    served = set(served)
    del copy.default_environment[:]
    copy.default_environment.extend([TRAINING, SERVING])
    for feature in copy.feature:
        if feature.name not in served and SERVING not in feature.not_in_environment:
            feature.not_in_environment.append(SERVING)
    return copy


def statistics(records: list[Record], schema: schema_pb2.Schema):
    """TFDV statistics of the logged inputs of answered requests, typed by the schema.

    Returns:
        A DatasetFeatureStatisticsList with one dataset (num_examples = instances).
    """
    rows = [r.features for r in records if r.ok]
    if not rows:
        return statistics_pb2.DatasetFeatureStatisticsList()
    names = sorted({name for row in rows for name in row})
    types = {f.name: f.type for f in schema.feature}
    arrays, fields = [], []
    for name in names:
        kind = types.get(name)
        values = [_typed(row.get(name), kind) for row in rows]
        value_type = {schema_pb2.INT: pa.int64(), schema_pb2.FLOAT: pa.float32()}.get(
            kind, pa.binary()
        )
        arrays.append(pa.array(values, type=pa.list_(value_type)))
        fields.append(name)
    batch = pa.RecordBatch.from_arrays(arrays, fields)
    return stats_impl.generate_statistics_in_memory(batch, tfdv.StatsOptions())


def _typed(values: list | None, kind) -> list | None:
    if not values:
        return None
    if kind == schema_pb2.INT:
        return [int(round(float(v))) for v in values if np.isfinite(float(v))] or None
    if kind == schema_pb2.FLOAT:
        return [float(v) for v in values]
    return [v if isinstance(v, bytes) else str(v).encode() for v in values]


def with_comparators(
    schema: schema_pb2.Schema, skew: Thresholds | None, drift: Thresholds | None
) -> schema_pb2.Schema:
    """A copy of ``schema`` with skew and drift comparators on every feature."""
    copy = schema_pb2.Schema()
    copy.CopyFrom(schema)
    for feature in copy.feature:
        for comparator, limits in (
            (feature.skew_comparator, skew),
            (feature.drift_comparator, drift),
        ):
            if limits is None:
                continue
            if feature.type == schema_pb2.BYTES:
                comparator.infinity_norm.threshold = limits.categorical
            else:
                comparator.jensen_shannon_divergence.threshold = limits.numeric
    return copy


def anomalies(live, schema: schema_pb2.Schema) -> list[tuple[str, str]]:
    """(feature, description) of what the live statistics break in the SERVING schema."""
    result = tfdv.validate_statistics(live, schema, environment=SERVING)
    return sorted(
        (name, info.description or info.short_description)
        for name, info in result.anomaly_info.items()
    )


def skew(train, live, schema: schema_pb2.Schema, thresholds: Thresholds) -> list[Distance]:
    """Per feature, the distance between the training split's and the live statistics."""
    result = tfdv.validate_statistics(
        train,
        with_comparators(schema, thresholds, None),
        environment=SERVING,
        serving_statistics=live,
    )
    return _distances(result, "skew_measurements")


def drift(live, previous, schema: schema_pb2.Schema, thresholds: Thresholds) -> list[Distance]:
    """Per feature, the distance between the previous window's and the live statistics."""
    result = tfdv.validate_statistics(
        live,
        with_comparators(schema, None, thresholds),
        environment=SERVING,
        previous_statistics=previous,
    )
    return _distances(result, "drift_measurements")


def _distances(result: anomalies_pb2.Anomalies, field: str) -> list[Distance]:
    found = []
    for info in result.drift_skew_info:
        measurements = getattr(info, field)
        if not measurements:
            continue
        worst = max(measurements, key=lambda m: m.value - m.threshold)
        found.append(
            Distance(
                feature=".".join(info.path.step),
                measure=_MEASUREMENTS.get(worst.type, "distance"),
                value=float(worst.value),
                threshold=float(worst.threshold),
            )
        )
    return sorted(found, key=lambda d: d.feature)
