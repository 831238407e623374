"""Rules the data must meet before Transform, read from StatisticsGen's output. No TFX imports.

- Every split holds at least its minimum number of examples (an empty or tiny split
  trains or blesses a model on nothing).
- Every example has a label, and for classification every label value is one of the
  configured classes (Transform would otherwise fail deep in the Trainer).
"""

import dataclasses
import os
from collections.abc import Mapping, Sequence

import tensorflow as tf
from tensorflow_metadata.proto.v0 import statistics_pb2

STATISTICS_FILE = "FeatureStats.pb"
# The config keys the messages point at.
MIN_EXAMPLES_KEY = "data.min_examples"
LABEL_CLASSES_KEY = "label.classes"
_SHOWN_VALUES = 5


class DataRulesError(RuntimeError):
    """The data cannot train or judge a model; the message says which rule and split."""


@dataclasses.dataclass(frozen=True)
class LabelStats:
    """What one split's statistics say about the label column.

    Attributes:
        rows_without_value: Examples with no label value (absent or an empty list).
        values: Label value -> examples holding it, as far as the statistics list them.
        unlisted_values: Distinct values the statistics counted but did not list.
        value_range: (min, max) of a numeric label, else None.
    """

    rows_without_value: int
    values: dict[str, int]
    unlisted_values: int = 0
    value_range: tuple[float, float] | None = None


@dataclasses.dataclass(frozen=True)
class SplitStats:
    """One split's example count and its label column (None: no example has a label)."""

    split: str
    num_examples: int
    label: LabelStats | None


def read_split_stats(artifact_uri: str, splits: Sequence[str], label_key: str) -> list[SplitStats]:
    """Example counts and label statistics of ``splits`` of an ExampleStatistics artifact."""
    found = []
    for split in splits:
        path = os.path.join(artifact_uri, f"Split-{split}", STATISTICS_FILE)
        stats_list = statistics_pb2.DatasetFeatureStatisticsList()
        stats_list.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        dataset = (
            stats_list.datasets[0]
            if stats_list.datasets
            else statistics_pb2.DatasetFeatureStatistics()
        )
        feature = next((f for f in dataset.features if _name(f) == label_key), None)
        found.append(
            SplitStats(
                split=split,
                num_examples=int(dataset.num_examples),
                label=None if feature is None else _label_stats(feature),
            )
        )
    return found


def _name(feature: statistics_pb2.FeatureNameStatistics) -> str:
    return feature.name or ".".join(feature.path.step)


def _label_stats(feature: statistics_pb2.FeatureNameStatistics) -> LabelStats:
    if feature.HasField("string_stats"):
        string = feature.string_stats
        buckets = string.rank_histogram.buckets
        values = {b.label: int(b.sample_count) for b in buckets} or {
            v.value: int(v.frequency) for v in string.top_values
        }
        return LabelStats(
            rows_without_value=_rows_without_value(string.common_stats),
            values=values,
            unlisted_values=max(0, int(string.unique) - len(values)),
        )
    numeric = feature.num_stats
    return LabelStats(
        rows_without_value=_rows_without_value(numeric.common_stats),
        values={},
        value_range=(numeric.min, numeric.max),
    )


def _rows_without_value(common: statistics_pb2.CommonStatistics) -> int:
    # An absent feature is "missing"; an empty value list (TFX's stock CSV reader writes
    # one for an empty field) counts as non-missing but holds no value.
    if common.max_num_values > 1:
        return int(common.num_missing)
    return int(common.num_missing + max(0, common.num_non_missing - common.tot_num_values))


def too_few_examples(stats: Sequence[SplitStats], min_examples: Mapping[str, int]) -> list[str]:
    """One problem per split holding fewer examples than ``min_examples`` asks."""
    return [
        f"split {s.split} has {s.num_examples} examples, fewer than the "
        f"{min_examples[s.split]} {MIN_EXAMPLES_KEY}.{s.split} asks for"
        for s in stats
        if s.split in min_examples and s.num_examples < min_examples[s.split]
    ]


def label_problems(
    stats: Sequence[SplitStats], label_key: str, label_classes: Sequence[str]
) -> list[str]:
    """Examples without a label, and label values outside ``label_classes``.

    Args:
        stats: Every split's statistics.
        label_key: The label column.
        label_classes: The classes; empty accepts any value (regression).
    """
    with_examples = [s for s in stats if s.num_examples]
    if with_examples and all(s.label is None for s in with_examples):
        return [f"label column '{label_key}' is not in the data"]
    problems = []
    for s in with_examples:
        missing = s.num_examples if s.label is None else s.label.rows_without_value
        if missing:
            problems.append(
                f"label '{label_key}' is missing in {missing} of {s.num_examples} "
                f"examples of split {s.split}"
            )
    if label_classes:
        unknown = _unknown_values(with_examples, set(label_classes))
        if unknown:
            problems.append(
                f"label '{label_key}' has values not in {LABEL_CLASSES_KEY} "
                f"[{', '.join(label_classes)}]: {unknown}"
            )
    return problems


def _unknown_values(stats: Sequence[SplitStats], classes: set[str]) -> str:
    """The values outside ``classes`` in words, with their example counts per split."""
    counts: dict[str, dict[str, int]] = {}
    unlisted = 0
    for s in stats:
        if s.label is None:
            continue
        values = dict(s.label.values)
        if s.label.value_range is not None:
            values = {_number(v): 0 for v in s.label.value_range}
        for value, count in values.items():
            if value not in classes:
                counts.setdefault(value, {})[s.split] = count
        unlisted = max(unlisted, s.label.unlisted_values)
    words = [
        f"{value!r} ({', '.join(f'{n} in {split}' for split, n in where.items() if n)})"
        if any(where.values())
        else repr(value)
        for value, where in sorted(counts.items(), key=lambda kv: -sum(kv[1].values()))
    ]
    if len(words) > _SHOWN_VALUES:
        unlisted += len(words) - _SHOWN_VALUES
        words = words[:_SHOWN_VALUES]
    if unlisted and words:
        words.append(f"and {unlisted} more")
    return ", ".join(words)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def check_data_rules(
    stats: Sequence[SplitStats],
    min_examples: Mapping[str, int],
    label_key: str,
    label_classes: Sequence[str],
) -> None:
    """Raises DataRulesError, one line naming each broken rule and split, if any is broken."""
    problems = too_few_examples(stats, min_examples) + label_problems(
        stats, label_key, label_classes
    )
    if problems:
        raise DataRulesError("; ".join(problems))
