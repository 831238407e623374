"""TFMA's scalar metrics per slice, with undefined values as None rather than NaN or 0.

TFMA writes an undefined metric in two ways. Ratios such as precision and recall come
out as NaN when their denominator is zero (``_divide_only_positive_denominator`` in
``tensorflow_model_analysis/metrics/confusion_matrix_metrics.py``): precision of a class
never predicted, recall of a class absent from the split. AUC, though, is summed with
``np.nansum`` over a ROC curve whose rates are all NaN when the class has no positive
(or no negative) examples (``AUC._metric_value`` there), so an undefined AUC reads
0.0, as if the model were perfectly wrong. Here both become None: NaN and infinities
by value, AUCs by the class counts of the split (from the
MultiClassConfusionMatrixPlot, else from an undefined recall).
"""

import dataclasses
import math
from typing import Any

import tensorflow_model_analysis as tfma

OVERALL = "Overall"
CANDIDATE, BASELINE = "candidate", "baseline"
RECALL = "recall"
# Curve areas TFMA sums with np.nansum: 0.0 for a class with no positives or negatives.
AUC_METRICS = ("auc", "auc_precision_recall")

# (model, metric name, class id or None, is_diff) -> value; None when undefined
MetricKey = tuple[str, str, int | None, bool]
MetricValues = dict[MetricKey, float | None]


@dataclasses.dataclass(frozen=True)
class ClassCounts:
    """Weighted examples per true class in one slice, and in all."""

    positives: dict[int, float]
    total: float

    def one_sided(self, class_id: int) -> bool:
        """True when the class has no positive or no negative examples (AUC undefined)."""
        positives = self.positives.get(class_id, 0.0)
        return positives <= 0.0 or positives >= self.total


def read_metrics(uri: str) -> dict[str, MetricValues]:
    """Slice label -> every scalar metric under an evaluation artifact, undefined as None."""
    values = load_metric_values(uri)
    counts = class_counts(uri)
    return {label: without_undefined(v, counts.get(label)) for label, v in values.items()}


def load_metric_values(uri: str) -> dict[str, MetricValues]:
    """Slice label -> every scalar metric TFMA wrote (candidate, baseline and diffs).

    NaN and infinite values are None; a 0.0 AUC is left as TFMA wrote it.
    """
    by_slice: dict[str, MetricValues] = {}
    for metrics in tfma.load_metrics(uri):
        values = by_slice.setdefault(slice_label(metrics.slice_key), {})
        for item in metrics.metric_keys_and_values:
            if item.value.WhichOneof("type") != "double_value":
                continue
            values[metric_key(item.key)] = _finite(item.value.double_value.value)
    return by_slice


def metric_key(key: Any) -> MetricKey:
    """(model, name, class id, is_diff) of a TFMA MetricKey proto."""
    class_id = key.sub_key.class_id.value if key.sub_key.HasField("class_id") else None
    return (key.model_name or CANDIDATE, key.name, class_id, key.is_diff)


def slice_label(slice_key: Any) -> str:
    """``Overall``, or ``<feature> = <value>`` (crossed keys joined by ``, ``)."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        value = value.decode() if isinstance(value, bytes) else value
        parts.append(f"{single.column} = {value}")
    return ", ".join(parts) or OVERALL


def confusion_entries(uri: str) -> dict[str, list[tuple[int, int, float]]]:
    """Slice label -> the candidate's (actual id, predicted id, count) confusion entries.

    From the first threshold of the MultiClassConfusionMatrixPlot; empty when TFMA
    wrote none.
    """
    entries: dict[str, list[tuple[int, int, float]]] = {}
    for plots in tfma.load_plots(uri):
        for item in plots.plot_keys_and_values:
            if item.key.model_name not in ("", CANDIDATE):
                continue
            if item.value.HasField("multi_class_confusion_matrix_at_thresholds"):
                matrices = item.value.multi_class_confusion_matrix_at_thresholds.matrices
                entries[slice_label(plots.slice_key)] = [
                    (e.actual_class_id, e.predicted_class_id, e.num_weighted_examples)
                    for e in (matrices[0].entries if matrices else [])
                ]
    return entries


def class_counts(uri: str) -> dict[str, ClassCounts]:
    """Slice label -> examples per true class, from the confusion matrix plot."""
    return {label: counts_of(entries) for label, entries in confusion_entries(uri).items()}


def counts_of(entries: list[tuple[int, int, float]]) -> ClassCounts:
    """Examples per true class in (actual id, predicted id, count) confusion entries."""
    positives: dict[int, float] = {}
    for actual, _, count in entries:
        positives[actual] = positives.get(actual, 0.0) + count
    return ClassCounts(positives=positives, total=sum(positives.values()))


def without_undefined(values: MetricValues, counts: ClassCounts | None) -> MetricValues:
    """``values`` with each per-class AUC (and its change) None where it is undefined.

    Args:
        values: One slice's metrics, NaN already None.
        counts: The slice's class counts; None when unknown, and then an AUC is
            undefined only where the same class's recall is (no positive examples).
    """
    return {
        key: None if _undefined_auc(key, values, counts) else value for key, value in values.items()
    }


def _undefined_auc(key: MetricKey, values: MetricValues, counts: ClassCounts | None) -> bool:
    model, name, class_id, _ = key
    if name not in AUC_METRICS or class_id is None:
        return False
    if counts is not None and counts.one_sided(class_id):
        return True
    recall = (model, RECALL, class_id, False)
    return recall in values and values[recall] is None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
