"""The report's data, schema and anomalies sections: statistics, skew, drift, schema, anomalies.

Statistics come from StatisticsGen's artifact (``Split-<split>/FeatureStats.pb``); skew
(train against eval) and drift (train against the train split of the last run that
trained a model; ``data_sections.drift_baseline``) from TFDV's comparators, set on a copy
of the schema, so the curated schema itself is not changed.
"""

import dataclasses
import os

import tensorflow as tf
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from pipeline.report import charts

STATS_FILE = "FeatureStats.pb"
SCHEMA_FILE = "schema.pbtxt"
TRAIN, EVAL = "train", "eval"
SPLIT_ORDER = ("train", "eval", "test")

# Comparator thresholds: L-infinity distance between category frequencies, and
# Jensen-Shannon divergence between numeric histograms (0 = identical, 1 = disjoint).
CATEGORICAL_THRESHOLD = 0.1
NUMERIC_THRESHOLD = 0.1
TOP_VALUES_SHOWN = 5

_MEASUREMENT_NAMES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: "L-infinity",
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: "Jensen-Shannon",
    anomalies_pb2.DriftSkewInfo.Measurement.NORMALIZED_ABSOLUTE_DIFFERENCE: "normalized abs. diff",
}
_TYPE_NAMES = {schema_pb2.BYTES: "string", schema_pb2.INT: "int", schema_pb2.FLOAT: "float"}


@dataclasses.dataclass(frozen=True)
class FeatureStats:
    """One feature in one split.

    Attributes:
        count: Examples with a value.
        missing_fraction: Share of examples without one.
        top_values: (value, count), most frequent first (categorical features).
        chart: Histogram (numeric) or category counts (categorical).
    """

    split: str
    count: int
    missing_fraction: float
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    unique: int | None = None
    top_values: tuple[tuple[str, float], ...] = ()
    chart: charts.BarChart | None = None


@dataclasses.dataclass(frozen=True)
class FeatureRow:
    """A feature across the splits."""

    name: str
    categorical: bool
    splits: tuple[FeatureStats, ...]


@dataclasses.dataclass(frozen=True)
class Measurement:
    """A skew or drift distance and the threshold it is held to."""

    kind: str
    value: float
    threshold: float

    @property
    def above(self) -> bool:
        return self.value > self.threshold


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Skew (train vs eval) and drift (train vs the previous run's train) of one feature."""

    feature: str
    skew: Measurement | None
    drift: Measurement | None


@dataclasses.dataclass(frozen=True)
class SchemaRow:
    """One schema feature as the report lists it."""

    name: str
    type: str
    presence: str
    value_count: str
    domain: str


def load_statistics(artifact_uri: str, split: str) -> statistics_pb2.DatasetFeatureStatisticsList:
    """StatisticsGen's statistics of one split."""
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    path = os.path.join(artifact_uri, f"Split-{split}", STATS_FILE)
    stats.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
    return stats


def load_schema(artifact_uri: str) -> schema_pb2.Schema:
    """The schema in a Schema artifact."""
    path = os.path.join(artifact_uri, SCHEMA_FILE)
    return text_format.Parse(tf.io.gfile.GFile(path).read(), schema_pb2.Schema())


def ordered_splits(splits: list[str]) -> list[str]:
    """train, eval, test first, any other split after them in name order."""
    known = [s for s in SPLIT_ORDER if s in splits]
    return known + sorted(s for s in splits if s not in SPLIT_ORDER)


def num_examples(stats: statistics_pb2.DatasetFeatureStatisticsList) -> int:
    """Examples counted in the first (only) dataset of a statistics list."""
    return int(stats.datasets[0].num_examples) if stats.datasets else 0


def feature_rows(
    stats_by_split: dict[str, statistics_pb2.DatasetFeatureStatisticsList],
) -> list[FeatureRow]:
    """Per feature (numeric first, then categorical, each by name), its stats in each split."""
    per_feature: dict[str, list[tuple[bool, FeatureStats]]] = {}
    for split, stats in stats_by_split.items():
        dataset = stats.datasets[0] if stats.datasets else None
        for feature in dataset.features if dataset else []:
            name = ".".join(feature.path.step) or feature.name
            per_feature.setdefault(name, []).append(feature_stats(split, feature))
    rows = [
        FeatureRow(name, categorical=entries[0][0], splits=tuple(s for _, s in entries))
        for name, entries in per_feature.items()
    ]
    return sorted(rows, key=lambda r: (r.categorical, r.name))


def feature_stats(
    split: str, feature: statistics_pb2.FeatureNameStatistics
) -> tuple[bool, FeatureStats]:
    """(is categorical, summary) of one feature's statistics."""
    kind = feature.WhichOneof("stats")
    if kind == "num_stats":
        return False, _numeric(split, feature.num_stats)
    if kind == "string_stats":
        return True, _categorical(split, feature.string_stats)
    common = getattr(feature, kind).common_stats if kind else statistics_pb2.CommonStatistics()
    return True, FeatureStats(split, _with_value(common), _missing(common))


def _missing(common: statistics_pb2.CommonStatistics) -> float:
    total = common.num_non_missing + common.num_missing
    return (total - _with_value(common)) / total if total else 0.0


def _with_value(common: statistics_pb2.CommonStatistics) -> int:
    """Examples holding a value. An empty CSV field is a feature present with no value,
    which TFDV counts as non-missing; for single-valued features those are exactly
    ``num_non_missing - tot_num_values``."""
    if common.max_num_values <= 1:
        return int(common.tot_num_values)
    return int(common.num_non_missing)


def _numeric(split: str, stats: statistics_pb2.NumericStatistics) -> FeatureStats:
    standard = next(
        (h for h in stats.histograms if h.type == statistics_pb2.Histogram.STANDARD), None
    )
    buckets = (
        [(b.low_value, b.high_value, b.sample_count) for b in standard.buckets] if standard else []
    )
    return FeatureStats(
        split=split,
        count=_with_value(stats.common_stats),
        missing_fraction=_missing(stats.common_stats),
        mean=stats.mean,
        std=stats.std_dev,
        min=stats.min,
        max=stats.max,
        chart=charts.histogram(buckets),
    )


def _categorical(split: str, stats: statistics_pb2.StringStatistics) -> FeatureStats:
    counts = [(b.label, b.sample_count) for b in stats.rank_histogram.buckets] or [
        (v.value, v.frequency) for v in stats.top_values
    ]
    return FeatureStats(
        split=split,
        count=_with_value(stats.common_stats),
        missing_fraction=_missing(stats.common_stats),
        unique=int(stats.unique),
        top_values=tuple((v.value, v.frequency) for v in stats.top_values[:TOP_VALUES_SHOWN]),
        chart=charts.category_bars(counts),
    )


def with_comparators(
    schema: schema_pb2.Schema,
    categorical_threshold: float = CATEGORICAL_THRESHOLD,
    numeric_threshold: float = NUMERIC_THRESHOLD,
) -> schema_pb2.Schema:
    """A copy of ``schema`` with skew and drift comparators on every feature."""
    copy = schema_pb2.Schema()
    copy.CopyFrom(schema)
    for feature in copy.feature:
        for comparator in (feature.skew_comparator, feature.drift_comparator):
            if feature.type == schema_pb2.BYTES:
                comparator.infinity_norm.threshold = categorical_threshold
            else:
                comparator.jensen_shannon_divergence.threshold = numeric_threshold
    return copy


def skew_and_drift(
    schema: schema_pb2.Schema,
    train: statistics_pb2.DatasetFeatureStatisticsList,
    evaluation: statistics_pb2.DatasetFeatureStatisticsList | None,
    previous_train: statistics_pb2.DatasetFeatureStatisticsList | None,
) -> list[Comparison]:
    """TFDV's skew and drift measurements per feature, by feature name.

    Categorical features: L-infinity distance between the two value-frequency vectors.
    Numeric features: Jensen-Shannon divergence of the STANDARD histograms StatisticsGen
    writes, as TFDV defines it (``JensenShannonDivergence`` in TFDV's
    ``tensorflow_data_validation/anomalies/metrics.cc``): both histograms are rebucketed
    on the union of their bucket boundaries (mass spread uniformly within a bucket),
    point, infinite and NaN masses get buckets of their own, both are normalized, and
    JSD = (KL(P||M) + KL(Q||M)) / 2 with M = (P + Q) / 2 in bits, capped at 1. So 0 is
    identical and 1 disjoint; a numeric feature scaled by 1.8 reads about 0.83 in the
    report tests.

    Only the distances are taken from the result; the schema checks themselves are
    ExampleValidator's job and appear in the anomalies section.
    """
    if evaluation is None and previous_train is None:
        return []
    result = tfdv.validate_statistics(
        train,
        with_comparators(schema),
        previous_statistics=previous_train,
        serving_statistics=evaluation,
    )
    return sorted(
        (
            Comparison(
                feature=".".join(info.path.step),
                skew=_measurement(info.skew_measurements),
                drift=_measurement(info.drift_measurements),
            )
            for info in result.drift_skew_info
        ),
        key=lambda c: c.feature,
    )


def _measurement(measurements) -> Measurement | None:
    if not measurements:
        return None
    worst = max(measurements, key=lambda m: m.value - m.threshold)
    return Measurement(
        kind=_MEASUREMENT_NAMES.get(worst.type, "distance"),
        value=worst.value,
        threshold=worst.threshold,
    )


def schema_rows(schema: schema_pb2.Schema) -> list[SchemaRow]:
    """Feature, type, presence, value count and domain of each schema feature."""
    domains = {d.name: d for d in schema.string_domain}
    return [
        SchemaRow(
            name=f.name,
            type=_TYPE_NAMES.get(f.type, schema_pb2.FeatureType.Name(f.type)),
            presence=_presence(f),
            value_count=_value_count(f),
            domain=_domain(f, domains),
        )
        for f in schema.feature
    ]


def _presence(feature: schema_pb2.Feature) -> str:
    if not feature.HasField("presence"):
        return "optional"
    fraction = feature.presence.min_fraction
    if fraction >= 1.0:
        return "required"
    return f"in at least {fraction:.0%} of examples" if fraction else "optional"


def _value_count(feature: schema_pb2.Feature) -> str:
    if feature.HasField("shape"):
        return "exactly " + " x ".join(str(d.size) for d in feature.shape.dim)
    if feature.HasField("value_count"):
        return f"{feature.value_count.min} to {feature.value_count.max}"
    return "any"


def _domain(feature: schema_pb2.Feature, domains: dict[str, schema_pb2.StringDomain]) -> str:
    kind = feature.WhichOneof("domain_info")
    if kind == "domain" and feature.domain in domains:
        return ", ".join(domains[feature.domain].value)
    if kind == "string_domain":
        return ", ".join(feature.string_domain.value)
    if kind in ("int_domain", "float_domain"):
        bounds = getattr(feature, kind)
        low = bounds.min if bounds.HasField("min") else float("-inf")
        high = bounds.max if bounds.HasField("max") else float("inf")
        return f"{low:g} to {high:g}" if kind == "float_domain" else f"{low} to {high}"
    return "any"
