"""The report's model section: training curves, TFMA metrics, thresholds, confusion matrices.

Reads the Trainer's ``history.json`` and what TFMA wrote under an evaluation artifact:
metrics per slice (candidate and baseline), the validation result, the eval config's
thresholds and, for classification, the MultiClassConfusionMatrixPlot. ``task_view``
is the one place that decides, per task, which metrics the section shows.
"""

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs
from tensorflow_model_analysis.writers import eval_config_writer

from components.features import FeatureSpec
from pipeline.config import EvaluatorConfig
from pipeline.eval_config import ACCURACY, ERROR_METRICS, EXAMPLE_COUNT
from pipeline.report import charts, formatting, tfma_metrics
from pipeline.report.tfma_metrics import BASELINE, CANDIDATE, OVERALL, MetricValues, slice_label

HISTORY_FILE = "history.json"
PER_CLASS_METRICS = ("precision", "recall", "f1_score", "auc")
PASS, FAIL, NOT_CHECKED = "pass", "fail", "not checked"
SCORE, ERROR = "score", "error"


@dataclasses.dataclass(frozen=True)
class Metric:
    """A metric shown per slice.

    Attributes:
        key: TFMA's name, e.g. ``mean_absolute_error``.
        name: Its short name in the report and the summary: ``accuracy``, ``mae``.
        title: Its column heading: ``accuracy``, ``MAE``.
        kind: ``score`` (higher is better, in [0, 1]) or ``error`` (lower is better, in
            the label's units; MSE in squared units).
    """

    key: str
    name: str
    title: str
    kind: str


@dataclasses.dataclass(frozen=True)
class TaskView:
    """What the model section shows for the config's task.

    Attributes:
        task: ``classification`` or ``regression``.
        label: The label column's name.
        classes: Class names by class id; empty for regression.
        metrics: The per-slice columns; ``headline`` among them.
        headline: The gated metric: accuracy, or ``evaluator.error_metric``.
        history_metric: The Keras metric drawn per epoch (``accuracy`` or ``mae``).
    """

    task: str
    label: str
    classes: tuple[str, ...]
    metrics: tuple[Metric, ...]
    headline: Metric
    history_metric: str

    @property
    def regression(self) -> bool:
        return not self.classes


def task_view(spec: FeatureSpec, evaluator: EvaluatorConfig) -> TaskView:
    """The metrics the report shows for ``spec``'s task, the gated one first."""
    if spec.is_regression:
        errors = tuple(
            Metric(tfma_name, short, short.upper(), ERROR)
            for short, (_, tfma_name) in ERROR_METRICS.items()
        )
        headline = next(m for m in errors if m.name == evaluator.error_metric)
        return TaskView(
            task=spec.task,
            label=spec.label.name,
            classes=(),
            metrics=(headline, *(m for m in errors if m is not headline)),
            headline=headline,
            history_metric="mae",
        )
    accuracy = Metric(ACCURACY, "accuracy", "accuracy", SCORE)
    return TaskView(
        task=spec.task,
        label=spec.label.name,
        classes=tuple(spec.label.classes),
        metrics=(accuracy,),
        headline=accuracy,
        history_metric="accuracy",
    )


@dataclasses.dataclass(frozen=True)
class TrainingHistory:
    """What Keras recorded per epoch, and the curves drawn from it.

    Attributes:
        final: Each metric's value in the last epoch.
        metric: The Keras metric drawn beside the loss: ``accuracy`` or ``mae``.
        best_epoch: 1-based epoch of the best validation value of ``metric``.
        best_value: That value.
    """

    epochs_run: int
    hyperparameters: dict[str, Any]
    final: dict[str, float]
    metric: str
    best_epoch: int | None
    best_value: float | None
    loss_chart: charts.LineChart
    metric_chart: charts.LineChart


@dataclasses.dataclass(frozen=True)
class SliceRow:
    """Example count and the task's metrics of one slice, the baseline's beside them.

    Attributes:
        values: Metric short name (``accuracy``, ``mae``) -> the candidate's value.
        baseline: The same for the baseline model; empty without one.
    """

    label: str
    example_count: float | None
    values: dict[str, float | None]
    baseline: dict[str, float | None]


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
        rule: e.g. ``>= 0.800``, ``<= 55`` or ``change vs baseline <= +5.0% relative``.
        value: The candidate's value (or its change against the baseline).
        shown: ``value`` as the report prints it, with the relative change of a
            relative change threshold: ``+1.2 (+2.9%)``.
        status: ``pass``, ``fail`` or ``not checked`` (a change threshold with no baseline).
    """

    metric: str
    slice: str
    kind: str
    rule: str
    value: float | None
    status: str
    shown: str = formatting.MISSING


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
        view: What the task shows (its metrics, the gated one, the classes).
        classes: Per-class metrics; empty for regression.
        validation_ok: TFMA's verdict; None when the evaluation had no thresholds.
        confusion: The overall confusion matrix; None for regression.
    """

    split: str
    uri: str
    view: TaskView
    slices: tuple[SliceRow, ...]
    classes: tuple[ClassRow, ...]
    has_baseline: bool
    thresholds: tuple[ThresholdRow, ...]
    validation_ok: bool | None
    confusion: ConfusionMatrix | None

    @property
    def overall(self) -> SliceRow | None:
        return next((s for s in self.slices if s.label == OVERALL), None)


def read_history(model_run_uri: str, metric: str = "accuracy") -> TrainingHistory | None:
    """The Trainer's ``history.json`` with the loss and ``metric`` curves, or None if absent.

    Args:
        model_run_uri: The Trainer's ``model_run`` artifact.
        metric: The Keras metric beside the loss: ``accuracy`` (best is highest) or an
            error such as ``mae`` (best is lowest).
    """
    path = Path(model_run_uri) / HISTORY_FILE
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    history: dict[str, list[float]] = raw.get("history", {})
    validation = history.get(f"val_{metric}") or []
    pick = max if metric == "accuracy" else min
    best = pick(range(len(validation)), key=validation.__getitem__) if validation else None
    return TrainingHistory(
        epochs_run=int(raw.get("epochs_run", len(history.get("loss", [])))),
        hyperparameters=raw.get("hyperparameters", {}),
        final={name: values[-1] for name, values in history.items() if values},
        metric=metric,
        best_epoch=None if best is None else best + 1,
        best_value=None if best is None else validation[best],
        loss_chart=charts.line_chart("Loss", _pick(history, ("loss", "val_loss"))),
        metric_chart=charts.line_chart(
            "Accuracy" if metric == "accuracy" else metric.upper(),
            _pick(history, (metric, f"val_{metric}")),
            y_range=(0.0, 1.0) if metric == "accuracy" else None,
        ),
    )


def _pick(history: dict[str, list[float]], names: Iterable[str]) -> dict[str, list[float]]:
    return {name: history[name] for name in names if history.get(name)}


def read_evaluation(uri: str, split: str, view: TaskView, gated: bool = True) -> Evaluation:
    """Metrics per slice, per-class metrics, thresholds and confusion matrix of one split.

    Args:
        uri: A ModelEvaluation artifact's URI.
        split: The split it evaluated, for display.
        view: The task's metrics and class names (``task_view``).
        gated: Whether the evaluation carried thresholds (the Evaluator, not TestEvaluator).
    """
    values = tfma_metrics.read_metrics(uri)
    overall = values.get(OVERALL, {})
    has_baseline = any(model == BASELINE for model, *_ in overall)
    validation = tfma.load_validation_result(uri) if gated else None
    return Evaluation(
        split=split,
        uri=uri,
        view=view,
        slices=tuple(slice_rows(values, view.metrics)),
        classes=tuple(class_rows(overall, view.classes)),
        has_baseline=has_baseline,
        thresholds=tuple(threshold_rows(uri, values, validation, view)) if gated else (),
        validation_ok=None if validation is None else validation.validation_ok,
        confusion=None if view.regression else read_confusion(uri, split, view.classes),
    )


def slice_rows(values: dict[str, MetricValues], metrics: Iterable[Metric]) -> list[SliceRow]:
    """Overall first, then each slice by label, with ``metrics`` of both models."""
    metrics = tuple(metrics)
    labels = sorted(values, key=lambda label: (label != OVERALL, label))
    return [
        SliceRow(
            label=label,
            example_count=values[label].get((CANDIDATE, EXAMPLE_COUNT, None, False)),
            values={m.name: values[label].get((CANDIDATE, m.key, None, False)) for m in metrics},
            baseline={
                m.name: values[label][(BASELINE, m.key, None, False)]
                for m in metrics
                if (BASELINE, m.key, None, False) in values[label]
            },
        )
        for label in labels
    ]


def class_rows(overall: MetricValues, label_classes: tuple[str, ...]) -> list[ClassRow]:
    """Precision, recall, F1 and AUC of each class by name, candidate and baseline."""
    return [
        ClassRow(
            name=name,
            candidate={m: overall.get((CANDIDATE, m, class_id, False)) for m in PER_CLASS_METRICS},
            baseline={m: overall.get((BASELINE, m, class_id, False)) for m in PER_CLASS_METRICS},
        )
        for class_id, name in enumerate(label_classes)
    ]


def threshold_rows(
    uri: str, values: dict[str, MetricValues], validation: Any, view: TaskView
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
            rows.append(_threshold_row(key, slicing_spec, threshold, values, failed, view))
    return sorted(rows, key=lambda r: (r.metric, r.slice, r.kind))


def _threshold_row(key, slicing_spec, threshold, values, failed, view) -> ThresholdRow:
    label = spec_label(slicing_spec)
    class_id = key.sub_key.class_id if key.sub_key and key.sub_key.class_id is not None else None
    metric = key.name
    if class_id is not None:
        name = view.classes[class_id] if 0 <= class_id < len(view.classes) else class_id
        metric = f"{key.name} ({view.label} = {name})"
    slice_values = values.get(label, {})
    value = slice_values.get((CANDIDATE, key.name, class_id, key.is_diff))
    if key.is_diff and value is None:
        status = NOT_CHECKED
    else:
        status = FAIL if (label, key.name, key.is_diff) in failed else PASS
    error = any(m.key == key.name and m.kind == ERROR for m in view.metrics)
    if key.is_diff:
        shown = (formatting.signed_error if error else formatting.signed)(value)
        baseline = slice_values.get((BASELINE, key.name, class_id, False))
        if threshold.HasField("relative") and value is not None and baseline:
            shown += f" ({formatting.relative(value / baseline)})"
    elif error:
        shown = formatting.error(value)
    else:
        shown = formatting.number(value) if key.name == EXAMPLE_COUNT else formatting.metric(value)
    return ThresholdRow(
        metric=metric,
        slice=label,
        kind="change" if key.is_diff else "value",
        rule=threshold_rule(threshold, key.is_diff),
        value=value,
        status=status,
        shown=shown,
    )


def spec_label(slicing_spec: Any) -> str:
    """A slicing spec as a label: ``Overall``, ``<feature> = <value>`` or ``by <feature>``."""
    if slicing_spec is None:
        return OVERALL
    fixed = [f"{k} = {v}" for k, v in sorted(slicing_spec.feature_values.items())]
    by = [f"by {k}" for k in slicing_spec.feature_keys]
    return ", ".join(fixed + by) or OVERALL


def threshold_rule(threshold: Any, is_diff: bool) -> str:
    """``>= 0.800``, ``<= 55``, ``change vs baseline >= -0.010`` or ``<= +5.0% relative``."""
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
        parts.append(f">= {_bound(threshold.lower_bound.value)}")
    if threshold.HasField("upper_bound"):
        parts.append(f"<= {_bound(threshold.upper_bound.value)}")
    return " and ".join(parts)


def _bound(value: float) -> str:
    """A threshold's bound: ``0.800`` up to 1 (a score), else ``55``, ``20``, ``3025.5``."""
    if abs(value) <= 1:
        return formatting.metric(value)
    return formatting.error(value)


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
