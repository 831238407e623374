"""Statistics summaries, skew and drift through TFDV, and schema rows.

Summaries and schema rows use hand-built protos; drift is measured on statistics TFDV
computes from the shipped penguins rows, as StatisticsGen does.
"""

import csv
from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipeline.report import data

REPO = Path(__file__).resolve().parents[4]


def _numeric(name: str, buckets: list[tuple[float, float, float]], missing: int = 0):
    feature = statistics_pb2.FeatureNameStatistics(type=statistics_pb2.FeatureNameStatistics.FLOAT)
    feature.path.step.append(name)
    stats = feature.num_stats
    stats.common_stats.num_non_missing = int(sum(c for _, _, c in buckets))
    stats.common_stats.num_missing = missing
    stats.common_stats.min_num_values = stats.common_stats.max_num_values = 1
    stats.common_stats.avg_num_values = 1
    stats.common_stats.tot_num_values = stats.common_stats.num_non_missing
    stats.mean, stats.std_dev = 44.1, 5.4
    stats.min, stats.max = buckets[0][0], buckets[-1][1]
    histogram = stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    for low, high, count in buckets:
        histogram.buckets.add(low_value=low, high_value=high, sample_count=count)
    return feature


def _categorical(name: str, counts: dict[str, float]):
    feature = statistics_pb2.FeatureNameStatistics(type=statistics_pb2.FeatureNameStatistics.STRING)
    feature.path.step.append(name)
    stats = feature.string_stats
    stats.common_stats.num_non_missing = int(sum(counts.values()))
    stats.common_stats.min_num_values = stats.common_stats.max_num_values = 1
    stats.common_stats.avg_num_values = 1
    stats.common_stats.tot_num_values = stats.common_stats.num_non_missing
    stats.unique = len(counts)
    ordered = sorted(counts.items(), key=lambda item: -item[1])
    for rank, (value, count) in enumerate(ordered):
        stats.top_values.add(value=value, frequency=count)
        stats.rank_histogram.buckets.add(
            low_rank=rank, high_rank=rank, label=value, sample_count=count
        )
    return feature


def _stats(island: dict[str, float], bill: list[tuple[float, float, float]]):
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=int(sum(island.values())))
    dataset.features.append(_numeric("bill_length_mm", bill))
    dataset.features.append(_categorical("island", island))
    return stats


SCHEMA = text_format.Parse(
    """
    feature { name: "island" type: BYTES domain: "island" }
    feature { name: "bill_length_mm" type: FLOAT }
    string_domain { name: "island" value: "Biscoe" value: "Dream" }
    """,
    schema_pb2.Schema(),
)
BILL = [(30.0, 40.0, 40.0), (40.0, 50.0, 50.0), (50.0, 60.0, 10.0)]


def test_numeric_feature_summary():
    categorical, summary = data.feature_stats("train", _numeric("bill_length_mm", BILL, 5))
    assert not categorical
    assert (summary.count, summary.min, summary.max) == (100, 30.0, 60.0)
    assert summary.missing_fraction == pytest.approx(5 / 105)
    assert [bar.height for bar in summary.chart.bars] == [28.8, 36.0, 7.2]


def test_categorical_feature_summary_lists_the_most_frequent_first():
    categorical, summary = data.feature_stats(
        "eval", _categorical("island", {"Dream": 29.0, "Biscoe": 38.0, "Torgersen": 12.0})
    )
    assert categorical
    assert summary.unique == 3 and summary.count == 79
    assert summary.top_values == (("Biscoe", 38.0), ("Dream", 29.0), ("Torgersen", 12.0))
    assert [bar.title for bar in summary.chart.bars][0] == "Biscoe: 38"


def test_feature_rows_put_numeric_features_first_and_keep_split_order():
    rows = data.feature_rows(
        {
            "train": _stats({"Biscoe": 60.0, "Dream": 40.0}, BILL),
            "eval": _stats({"Biscoe": 20.0, "Dream": 10.0}, BILL),
        }
    )
    assert [(r.name, r.categorical) for r in rows] == [
        ("bill_length_mm", False),
        ("island", True),
    ]
    assert [s.split for s in rows[1].splits] == ["train", "eval"]
    assert [s.count for s in rows[1].splits] == [100, 30]


def test_comparators_are_set_on_a_copy():
    copy = data.with_comparators(SCHEMA, categorical_threshold=0.2, numeric_threshold=0.3)
    island, bill = copy.feature
    assert island.skew_comparator.infinity_norm.threshold == 0.2
    assert island.drift_comparator.infinity_norm.threshold == 0.2
    assert bill.skew_comparator.jensen_shannon_divergence.threshold == 0.3
    assert not SCHEMA.feature[0].HasField("skew_comparator")


def test_skew_and_drift_measure_each_feature_against_its_threshold():
    train = _stats({"Biscoe": 60.0, "Dream": 40.0}, BILL)
    same_mix = _stats({"Biscoe": 30.0, "Dream": 20.0}, [(a, b, c / 2) for a, b, c in BILL])
    shifted = _stats({"Biscoe": 20.0, "Dream": 80.0}, BILL)

    comparisons = {c.feature: c for c in data.skew_and_drift(SCHEMA, train, same_mix, shifted)}

    island, bill = comparisons["island"], comparisons["bill_length_mm"]
    assert island.skew.kind == "L-infinity" and island.skew.value == pytest.approx(0.0)
    assert island.drift.value == pytest.approx(0.4)  # 0.6 -> 0.2 of the examples are Biscoe
    assert island.drift.above and not island.skew.above
    assert island.drift.threshold == data.CATEGORICAL_THRESHOLD
    assert bill.skew.kind == "Jensen-Shannon" and bill.skew.value == pytest.approx(0.0)
    assert bill.drift.threshold == data.NUMERIC_THRESHOLD


def test_no_comparison_without_eval_or_previous_statistics():
    assert data.skew_and_drift(SCHEMA, _stats({"Biscoe": 1.0}, BILL), None, None) == []


def test_schema_rows_of_the_curated_schema():
    schema = data.load_schema(str(REPO / "schemas" / "penguins"))
    rows = {r.name: r for r in data.schema_rows(schema)}
    assert rows["island"] == data.SchemaRow(
        "island", "string", "required", "exactly 1", "Biscoe, Dream, Torgersen"
    )
    assert rows["sex"].presence == "in at least 90% of examples"
    assert rows["sex"].value_count == "0 to 1"
    assert rows["flipper_length_mm"].domain == "150 to 250"
    assert rows["bill_length_mm"].domain == "25 to 70"
    assert rows["bill_length_mm"].type == "float"


def test_ordered_splits():
    assert data.ordered_splits(["test", "zeta", "train", "eval"]) == [
        "train",
        "eval",
        "test",
        "zeta",
    ]


def test_an_empty_csv_field_counts_as_missing():
    # CsvExampleGen writes an empty field as a feature with no values, which TFDV
    # counts as non-missing: 10 examples, 8 values, 2 empty lists, 1 absent.
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from pipeline.report import data as report_data

    common = statistics_pb2.CommonStatistics(
        num_non_missing=10, num_missing=1, tot_num_values=8, max_num_values=1, min_num_values=0
    )
    assert report_data._with_value(common) == 8
    assert report_data._missing(common) == pytest.approx(3 / 11)


def _write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> str:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def _times(row: dict[str, str], feature: str, factor: float) -> dict[str, str]:
    value = row[feature]
    return {**row, feature: str(float(value) * factor) if value else value}


@pytest.fixture(scope="module")
def penguin_statistics(tmp_path_factory) -> dict[str, statistics_pb2.DatasetFeatureStatisticsList]:
    """TFDV statistics of two disjoint parts of the penguins CSV, one also with a heavier body.

    ``baseline``: two rows in three; ``fresh``: the third row; ``shifted``: the same
    rows as ``fresh`` with ``body_mass_g`` multiplied by 1.8.
    """
    directory = tmp_path_factory.mktemp("penguins")
    with (REPO / "data" / "penguins" / "penguins.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        header, rows = list(reader.fieldnames), list(reader)
    parts = {
        "baseline": [r for i, r in enumerate(rows) if i % 3],
        "fresh": rows[::3],
        "shifted": [_times(r, "body_mass_g", 1.8) for r in rows[::3]],
    }
    return {
        name: tfdv.generate_statistics_from_csv(
            _write_rows(directory / f"{name}.csv", header, part)
        )
        for name, part in parts.items()
    }


def _drift(stats, current: str) -> dict[str, data.Measurement]:
    schema = data.load_schema(str(REPO / "schemas" / "penguins"))
    comparisons = data.skew_and_drift(schema, stats[current], None, stats["baseline"])
    return {c.feature: c.drift for c in comparisons}


NUMERIC = ("bill_depth_mm", "bill_length_mm", "body_mass_g", "flipper_length_mm", "year")


def test_every_numeric_feature_gets_a_jensen_shannon_drift(penguin_statistics):
    drift = _drift(penguin_statistics, "fresh")
    for feature in NUMERIC:
        assert drift[feature] is not None, feature
        assert drift[feature].kind == "Jensen-Shannon"
        assert drift[feature].threshold == data.NUMERIC_THRESHOLD
    assert drift["island"].kind == "L-infinity"


def test_unshifted_penguins_stay_below_the_drift_threshold(penguin_statistics):
    drift = _drift(penguin_statistics, "fresh")
    assert all(not drift[feature].above for feature in drift), drift
    assert drift["body_mass_g"].value < data.NUMERIC_THRESHOLD  # 0.051 (sampling noise)


def test_body_mass_times_1_8_drifts_far_above_the_threshold(penguin_statistics):
    unshifted = _drift(penguin_statistics, "fresh")
    shifted = _drift(penguin_statistics, "shifted")
    assert shifted["body_mass_g"].above
    assert shifted["body_mass_g"].value > 0.5  # 0.84
    # Only body mass moved: the other features' distances are those of the fresh rows.
    for feature in set(NUMERIC) - {"body_mass_g"}:
        assert shifted[feature].value == pytest.approx(unshifted[feature].value)
