"""Rules for image data, read from StatisticsGen's output. No TFX imports.

Each broken rule is one line, and the DataGate treats them as data anomalies (they stop
the run under ``validation.on_anomalies: fail`` and are logged under ``warn``):

- A file the ImageExampleGen could not use (undecodable, truncated, not an image, a format
  outside ``data.image_formats``, a folder inside a class folder), named by its path: the
  ``image_error`` feature's values are ``<file>: <problem>``, and its statistics list them.
- A class of ``label.classes`` without a single image (an empty or missing class folder).
- One class holding more than ``data.max_class_share`` of the images.
"""

import dataclasses
import os
from collections.abc import Sequence

import tensorflow as tf
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.data_gate.anomalies import AnomaliesFoundError
from components.data_gate.data_rules import STATISTICS_FILE
from components.image_example_gen import keys

MAX_CLASS_SHARE_KEY = "data.max_class_share"
# Files named one per line; the rest are counted. (StatisticsGen lists up to 1000 values.)
SHOWN_FILES = 10


@dataclasses.dataclass(frozen=True)
class ImageStats:
    """What the statistics of every split together say about image examples.

    Attributes:
        num_examples: Examples (files) in all splits.
        class_counts: Label value -> examples holding it, as far as the statistics list them.
        file_problems: ``image_error`` values (``<file>: <problem>``) the statistics list.
        files_with_problems: Examples with an ``image_error``, listed or not.
    """

    num_examples: int
    class_counts: dict[str, int]
    file_problems: tuple[str, ...]
    files_with_problems: int


def read_image_stats(
    artifact_uri: str,
    splits: Sequence[str],
    label_key: str = keys.LABEL,
    error_key: str = keys.IMAGE_ERROR,
) -> ImageStats:
    """Sums the image facts of ``splits`` of an ExampleStatistics artifact."""
    num_examples = 0
    classes: dict[str, int] = {}
    problems: set[str] = set()
    with_problems = 0
    for split in splits:
        path = os.path.join(artifact_uri, f"Split-{split}", STATISTICS_FILE)
        stats_list = statistics_pb2.DatasetFeatureStatisticsList()
        stats_list.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
        for dataset in stats_list.datasets:
            num_examples += int(dataset.num_examples)
            for feature in dataset.features:
                name = feature.name or ".".join(feature.path.step)
                if name == label_key:
                    for value, count in _string_values(feature).items():
                        classes[value] = classes.get(value, 0) + count
                elif name == error_key:
                    problems.update(_string_values(feature))
                    with_problems += int(feature.string_stats.common_stats.num_non_missing)
    return ImageStats(num_examples, classes, tuple(sorted(problems)), with_problems)


def _string_values(feature: statistics_pb2.FeatureNameStatistics) -> dict[str, int]:
    string = feature.string_stats
    return {b.label: int(b.sample_count) for b in string.rank_histogram.buckets} or {
        v.value: int(v.frequency) for v in string.top_values
    }


def file_problems(stats: ImageStats) -> list[str]:
    """One line per file the pipeline cannot use, the first ``SHOWN_FILES`` by name."""
    lines = [f"file {problem}" for problem in stats.file_problems[:SHOWN_FILES]]
    unnamed = stats.files_with_problems - len(lines)
    if unnamed > 0:
        lines.append(
            f"and {unnamed} more files with problems (the {keys.IMAGE_ERROR} feature's "
            "statistics list them)"
        )
    return lines


def empty_classes(stats: ImageStats, label_classes: Sequence[str]) -> list[str]:
    """One line per class of ``label_classes`` without an image."""
    return [
        f"class {name!r} has no images (its class folder is empty or missing)"
        for name in label_classes
        if not stats.class_counts.get(name)
    ]


def dominant_class(stats: ImageStats, max_class_share: float) -> list[str]:
    """A line if one class holds more than ``max_class_share`` of the images."""
    total = sum(stats.class_counts.values())
    if not total:
        return []
    name, count = max(sorted(stats.class_counts.items()), key=lambda item: item[1])
    if count / total <= max_class_share:
        return []
    return [
        f"class {name!r} holds {count / total:.0%} of the images ({count} of {total}), "
        f"more than {MAX_CLASS_SHARE_KEY} {max_class_share:g}"
    ]


def image_anomalies(
    stats: ImageStats, label_classes: Sequence[str], max_class_share: float
) -> list[str]:
    """Every broken image rule, one line each: files, then empty classes, then balance."""
    return (
        file_problems(stats)
        + empty_classes(stats, label_classes)
        + dominant_class(stats, max_class_share)
    )


def check_no_image_anomalies(lines: Sequence[str]) -> None:
    """Raises AnomaliesFoundError, one line holding every anomaly, if there are any."""
    if lines:
        raise AnomaliesFoundError(f"image data anomalies: {'; '.join(lines)}")
