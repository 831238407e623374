"""The report's model section: training curves, TFMA metrics, thresholds, confusion matrices.

Reads the Trainer's ``history.json`` and what TFMA wrote under an evaluation artifact:
metrics per slice (candidate and baseline), the validation result, the eval config's
thresholds and the MultiClassConfusionMatrixPlot.
"""

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs
from tensorflow_model_analysis.writers import eval_config_writer

from pipeline.eval_config import ACCURACY
from pipeline.report import charts, tfma_metrics
from pipeline.report.tfma_metrics import BASELINE, CANDIDATE, OVERALL, MetricValues, slice_label

HISTORY_FILE = "history.json"
EXAMPLE_COUNT = "example_count"
PER_CLASS_METRICS = ("precision", "recall", "auc")
PASS, FAIL, NOT_CHECKED = "pass", "fail", "not checked"


@dataclasses.dataclass(frozen=True)
class TrainingHistory:
    """What Keras recorded per epoch, and the curves drawn from it.

    Attributes:
        final: Each metric's value in the last epoch.
        best_epoch: 1-based epoch of the best validation accuracy.
    """

    epochs_run: int
    hyperparameters: dict[str, Any]
    final: dict[str, float]
    best_epoch: int | None
    best_val_accuracy: float | None
    loss_chart: charts.LineChart
    accuracy_chart: charts.LineChart


@dataclasses.dataclass(frozen=True)
class SliceRow:
    """Example count and accuracy of one slice, with the baseline's beside it."""

    label: str
    example_count: float | None
    accuracy: float | None
    baseline_accuracy: float | None


@dataclasses.dataclass(frozen=True)
class ClassRow:
    """Per-class metrics (overall slice) of the candidate and the baseline."""

    name: str
    candidate: dict[str, float | None]
    baseline: dict[str, float | None]


@dataclasses.dataclass(frozen=True)
class ThresholdRow:
    """One TFMA threshold and whether the candidate met it.

    Attributes:
        rule: e.g. ``>= 0.800`` or ``change vs baseline >= -0.010``.
        value: The candidate's value (or its change against the baseline).
        status: ``pass``, ``fail`` or ``not checked`` (a change threshold with no baseline).
    """

    metric: str
    slice: str
    kind: str
    rule: str
    value: float | None
    status: str


@dataclasses.dataclass(frozen=True)
class Cell:
    """A confusion-matrix cell; ``shade`` is its background opacity."""

    count: float
    shade: float
    diagonal: bool


@dataclasses.dataclass(frozen=True)
class ConfusionMatrix:
    """Rows are the true class, columns the predicted class."""

    split: str
    labels: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    total: float
    correct: float

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.total if self.total else None


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """TFMA's results for one split.

    Attributes:
        validation_ok: TFMA's verdict; None when the evaluation had no thresholds.
    """

    split: str
    uri: str
    slices: tuple[SliceRow, ...]
    classes: tuple[ClassRow, ...]
    has_baseline: bool
    thresholds: tuple[ThresholdRow, ...]
    validation_ok: bool | None
    confusion: ConfusionMatrix | None

    @property
    def overall(self) -> SliceRow | None:
        return next((s for s in self.slices if s.label == OVERALL), None)


def read_history(model_run_uri: str) -> TrainingHistory | None:
    """The Trainer's ``history.json`` with loss and accuracy curves, or None if absent."""
    path = Path(model_run_uri) / HISTORY_FILE
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    history: dict[str, list[float]] = raw.get("history", {})
    val_accuracy = history.get("val_accuracy") or []
    best = max(range(len(val_accuracy)), key=val_accuracy.__getitem__) if val_accuracy else None
    return TrainingHistory(
        epochs_run=int(raw.get("epochs_run", len(history.get("loss", [])))),
        hyperparameters=raw.get("hyperparameters", {}),
        final={name: values[-1] for name, values in history.items() if values},
        best_epoch=None if best is None else best + 1,
        best_val_accuracy=None if best is None else val_accuracy[best],
        loss_chart=charts.line_chart("Loss", _pick(history, ("loss", "val_loss"))),
        accuracy_chart=charts.line_chart(
            "Accuracy", _pick(history, ("accuracy", "val_accuracy")), y_range=(0.0, 1.0)
        ),
    )


def _pick(history: dict[str, list[float]], names: Iterable[str]) -> dict[str, list[float]]:
    return {name: history[name] for name in names if history.get(name)}


def read_evaluation(
    uri: str, split: str, label_classes: tuple[str, ...], gated: bool = True
) -> Evaluation:
    """Metrics per slice, per-class metrics, thresholds and confusion matrix of one split.

    Args:
        uri: A ModelEvaluation artifact's URI.
        split: The split it evaluated, for display.
        label_classes: Class names by class id.
        gated: Whether the evaluation carried thresholds (the Evaluator, not TestEvaluator).
    """
    values = tfma_metrics.read_metrics(uri)
    overall = values.get(OVERALL, {})
    has_baseline = any(model == BASELINE for model, *_ in overall)
    validation = tfma.load_validation_result(uri) if gated else None
    return Evaluation(
        split=split,
        uri=uri,
        slices=tuple(slice_rows(values)),
        classes=tuple(class_rows(overall, label_classes)),
        has_baseline=has_baseline,
        thresholds=tuple(threshold_rows(uri, values, validation)) if gated else (),
        validation_ok=None if validation is None else validation.validation_ok,
        confusion=read_confusion(uri, split, label_classes),
    )


def slice_rows(values: dict[str, MetricValues]) -> list[SliceRow]:
    """Overall first, then each slice by label."""
    labels = sorted(values, key=lambda label: (label != OVERALL, label))
    return [
        SliceRow(
            label=label,
            example_count=values[label].get((CANDIDATE, EXAMPLE_COUNT, None, False)),
            accuracy=values[label].get((CANDIDATE, ACCURACY, None, False)),
            baseline_accuracy=values[label].get((BASELINE, ACCURACY, None, False)),
        )
        for label in labels
    ]


def class_rows(overall: MetricValues, label_classes: tuple[str, ...]) -> list[ClassRow]:
    """Precision, recall and AUC of each class, candidate and baseline."""
    return [
        ClassRow(
            name=name,
            candidate={m: overall.get((CANDIDATE, m, class_id, False)) for m in PER_CLASS_METRICS},
            baseline={m: overall.get((BASELINE, m, class_id, False)) for m in PER_CLASS_METRICS},
        )
        for class_id, name in enumerate(label_classes)
    ]


def threshold_rows(
    uri: str, values: dict[str, MetricValues], validation: Any
) -> list[ThresholdRow]:
    """Every threshold in the evaluation's config, with the candidate's value and verdict."""
    eval_config = eval_config_writer.load_eval_run(uri)[0]
    if eval_config is None:
        return []
    failed = {
        (slice_label(per_slice.slice_key), f.metric_key.name, f.metric_key.is_diff)
        for per_slice in validation.metric_validations_per_slice
        for f in per_slice.failures
    }
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config
    )
    rows = []
    for key, slices_and_thresholds in thresholds.items():
        if key.model_name not in ("", CANDIDATE):
            continue  # the same thresholds, listed again for the baseline model
        for slicing_spec, threshold in slices_and_thresholds:
            rows.append(_threshold_row(key, slicing_spec, threshold, values, failed))
    return sorted(rows, key=lambda r: (r.metric, r.slice, r.kind))


def _threshold_row(key, slicing_spec, threshold, values, failed) -> ThresholdRow:
    label = spec_label(slicing_spec)
    class_id = key.sub_key.class_id if key.sub_key and key.sub_key.class_id is not None else None
    metric = key.name if class_id is None else f"{key.name} (class {class_id})"
    value = values.get(label, {}).get((CANDIDATE, key.name, class_id, key.is_diff))
    if key.is_diff and value is None:
        status = NOT_CHECKED
    else:
        status = FAIL if (label, key.name, key.is_diff) in failed else PASS
    return ThresholdRow(
        metric=metric,
        slice=label,
        kind="change" if key.is_diff else "value",
        rule=threshold_rule(threshold, key.is_diff),
        value=value,
        status=status,
    )


def spec_label(slicing_spec: Any) -> str:
    """A slicing spec as a label: ``Overall``, ``island = Biscoe`` or ``by sex``."""
    if slicing_spec is None:
        return OVERALL
    fixed = [f"{k} = {v}" for k, v in sorted(slicing_spec.feature_values.items())]
    by = [f"by {k}" for k in slicing_spec.feature_keys]
    return ", ".join(fixed + by) or OVERALL


def threshold_rule(threshold: Any, is_diff: bool) -> str:
    """``>= 0.800``, ``<= 0.5``, ``change vs baseline >= -0.010``."""
    if is_diff:
        higher = threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
        parts = []
        if threshold.HasField("absolute"):
            parts.append(f"{threshold.absolute.value:+.3f}")
        if threshold.HasField("relative"):
            parts.append(f"{threshold.relative.value:+.1%} relative")
        return f"change vs baseline {'>=' if higher else '<='} " + " and ".join(parts)
    parts = []
    if threshold.HasField("lower_bound"):
        parts.append(f">= {threshold.lower_bound.value:.3f}")
    if threshold.HasField("upper_bound"):
        parts.append(f"<= {threshold.upper_bound.value:.3f}")
    return " and ".join(parts)


def read_confusion(uri: str, split: str, label_classes: tuple[str, ...]) -> ConfusionMatrix | None:
    """The candidate's overall MultiClassConfusionMatrixPlot, or None if TFMA wrote none."""
    entries = tfma_metrics.confusion_entries(uri).get(OVERALL)
    return None if entries is None else confusion_matrix(split, entries, label_classes)


def confusion_matrix(
    split: str, entries: Iterable[tuple[int, int, float]], label_classes: tuple[str, ...]
) -> ConfusionMatrix:
    """A square matrix over the classes from (actual id, predicted id, count) entries.

    Ids outside the classes (e.g. TFMA's -1 for "no prediction") get a row and
    column of their own named after the id.
    """
    entries = list(entries)
    extra = sorted({i for a, p, _ in entries for i in (a, p) if not 0 <= i < len(label_classes)})
    ids = list(range(len(label_classes))) + extra
    labels = tuple(label_classes) + tuple(f"id {i}" for i in extra)
    counts = {(a, p): 0.0 for a in ids for p in ids}
    for actual, predicted, count in entries:
        counts[(actual, predicted)] += count
    peak = max(counts.values(), default=0.0)
    rows = tuple(
        tuple(Cell(counts[(a, p)], charts.cell_shade(counts[(a, p)], peak), a == p) for p in ids)
        for a in ids
    )
    return ConfusionMatrix(
        split=split,
        labels=labels,
        rows=rows,
        total=sum(counts.values()),
        correct=sum(counts[(i, i)] for i in ids),
    )
