"""What a run produced, read back from ML Metadata and its artifacts."""

import dataclasses
from pathlib import Path
from typing import Any

import tensorflow_model_analysis as tfma
from tfx.types import artifact_utils

from components import strict_json
from components.data_gate import anomalies as anomalies_lib
from pipeline import metadata
from pipeline import pipeline as ids
from pipeline.config import PipelineConfig
from pipeline.eval_config import ACCURACY, ERROR_METRICS, EXAMPLE_COUNT
from pipeline.local_run import RunOutcome
from pipeline.report import tfma_metrics

_PER_CLASS_METRICS = ("precision", "recall", "f1_score", "auc")
# Regression errors as TFMA names them -> as the summary shows them.
_ERRORS = {tfma_name: short for short, (_, tfma_name) in ERROR_METRICS.items()}
_CANDIDATE, _BASELINE = tfma_metrics.CANDIDATE, tfma_metrics.BASELINE
UNDEFINED = "n/a"


@dataclasses.dataclass(frozen=True)
class SplitMetrics:
    """Overall (unsliced) TFMA metrics of one split.

    Attributes:
        accuracy: Classification accuracy; None for regression.
        per_class: Class name -> {precision, recall, f1_score, auc}; None where undefined
            on the split (a class absent from it, or never predicted).
        baseline_accuracy: The baseline model's accuracy when one was compared.
        errors: Regression: {mae, mse, rmse} in label units (mse squared).
        baseline_errors: The baseline model's errors when one was compared.
    """

    split: str
    example_count: int
    accuracy: float | None
    per_class: dict[str, dict[str, float | None]]
    baseline_accuracy: float | None = None
    errors: dict[str, float | None] = dataclasses.field(default_factory=dict)
    baseline_errors: dict[str, float | None] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The closing summary of a run; also written as ``summary.json`` in the run's directory."""

    pipeline: str
    run_id: str
    config: str
    config_digest: str
    work_dir: str
    metadata_path: str
    log_path: str
    components: list[dict[str, Any]]
    outcome: str
    error: str | None = None
    anomalies: list[dict[str, str]] = dataclasses.field(default_factory=list)
    eval_metrics: SplitMetrics | None = None
    test_metrics: SplitMetrics | None = None
    blessed: bool | None = None
    blessing_failures: list[str] = dataclasses.field(default_factory=list)
    pushed_version: str | None = None
    pushed_path: str | None = None
    tflite: dict[str, Any] | None = None
    pushed_tflite_path: str | None = None

    def to_json(self) -> str:
        """Strict JSON: an undefined metric (NaN) is ``null``."""
        return strict_json.dumps(self, indent=2)


def summarize(cfg: PipelineConfig, outcome: RunOutcome, log_path: Path) -> RunSummary:
    """Collects the run's outcome, anomalies, metrics, blessing and push from MLMD."""
    with metadata.open_store(cfg.metadata_path) as store:
        outputs = {
            r.node_id: metadata.output_artifacts(store, execution.execution_id)
            for r in outcome.reports
            if r.state in ("executed", "cached")
            and (
                execution := metadata.node_execution(store, cfg.name, outcome.run_id, r.node_id)
            ).execution_id
        }
    anomalies = _anomalies(outputs.get(ids.VALIDATOR_ID, {}))
    blessing = _first(outputs.get(ids.EVALUATOR_ID, {}), "blessing")
    evaluation = _first(outputs.get(ids.EVALUATOR_ID, {}), "evaluation")
    test_evaluation = _first(outputs.get(ids.TEST_EVALUATOR_ID, {}), "evaluation")
    pushed = _first(outputs.get(ids.PUSHER_ID, {}), "pushed_model")
    tflite = _first(outputs.get(ids.TFLITE_CONVERTER_ID, {}), "tflite_model")
    blessed = None if blessing is None else metadata.custom_property(blessing, "blessed") == 1
    push = _properties(pushed) if pushed and metadata.custom_property(pushed, "pushed") == 1 else {}
    return RunSummary(
        pipeline=cfg.name,
        run_id=outcome.run_id,
        config=str(cfg.source),
        config_digest=cfg.digest(),
        work_dir=str(cfg.work_dir),
        metadata_path=str(cfg.metadata_path),
        log_path=str(log_path),
        components=[dataclasses.asdict(r) for r in outcome.reports],
        outcome=_outcome(outcome, blessed, bool(push)),
        error=None if outcome.error is None else describe_error(outcome.error),
        anomalies=[dataclasses.asdict(a) for a in anomalies],
        eval_metrics=_split_metrics(evaluation, "eval", cfg.spec.label.classes),
        test_metrics=_split_metrics(test_evaluation, "test", cfg.spec.label.classes),
        blessed=blessed,
        blessing_failures=_blessing_failures(evaluation) if blessed is False else [],
        pushed_version=push.get("pushed_version"),
        pushed_path=push.get("pushed_destination"),
        tflite=tflite and _properties(tflite),
        pushed_tflite_path=push.get("pushed_tflite_destination"),
    )


def _split_metrics(evaluation, split: str, label_classes: tuple[str, ...]) -> SplitMetrics | None:
    return evaluation and read_split_metrics(evaluation.uri, split, label_classes)


def _properties(artifact) -> dict[str, Any]:
    return {name: metadata.custom_property(artifact, name) for name in artifact.custom_properties}


def read_split_metrics(
    evaluation_uri: str, split: str, label_classes: tuple[str, ...]
) -> SplitMetrics | None:
    """The unsliced metrics TFMA wrote for ``split`` under an evaluation artifact.

    ``label_classes`` is empty for a regression model, whose errors are read instead. A
    metric that is undefined on this split (see ``pipeline.report.tfma_metrics``) is None,
    and is written as ``null`` in ``summary.json``.
    """
    values = tfma_metrics.read_metrics(evaluation_uri).get(tfma_metrics.OVERALL, {})
    example_count = int(values.get((_CANDIDATE, EXAMPLE_COUNT, None, False)) or 0)
    if not label_classes:
        return _regression_metrics(split, example_count, values)
    accuracy = values.get((_CANDIDATE, ACCURACY, None, False))
    if accuracy is None:
        return None
    return SplitMetrics(
        split=split,
        example_count=example_count,
        accuracy=accuracy,
        per_class={
            name: {
                metric: values[(_CANDIDATE, metric, class_id, False)]
                for metric in _PER_CLASS_METRICS
                if (_CANDIDATE, metric, class_id, False) in values
            }
            for class_id, name in enumerate(label_classes)
        },
        baseline_accuracy=values.get((_BASELINE, ACCURACY, None, False)),
    )


def format_summary(summary: RunSummary) -> str:
    """The closing block printed after the progress lines."""
    lines = [
        f"run        {summary.run_id}  ({summary.pipeline}: {summary.outcome})",
        f"work dir   {summary.work_dir}",
        f"metadata   {summary.metadata_path}",
        f"log        {summary.log_path}",
    ]
    for split_metrics in (summary.eval_metrics, summary.test_metrics):
        if split_metrics:
            lines.append(_format_metrics(split_metrics))
    if summary.blessed is not None:
        lines.append("blessed    " + ("yes" if summary.blessed else "no"))
        lines += [f"           {failure}" for failure in summary.blessing_failures]
    if summary.tflite:
        lines.append(_format_tflite(summary.tflite))
    if summary.pushed_version:
        lines.append(f"pushed     version {summary.pushed_version} -> {summary.pushed_path}")
    if summary.pushed_tflite_path:
        lines.append(f"           tflite -> {summary.pushed_tflite_path}")
    elif summary.pushed_version:
        lines.append("           tflite: not pushed (not converted, or not blessed)")
    elif summary.blessed is not None:
        lines.append(
            "pushed     nothing (model not blessed)"
            if not summary.blessed
            else "pushed     nothing"
        )
    if summary.error:
        lines.append(f"error      {summary.error}")
    return "\n".join(lines)


def _format_metrics(m: SplitMetrics) -> str:
    if m.accuracy is None:
        line = f"{m.split:<10} " + "  ".join(f"{k} {_number(v)}" for k, v in m.errors.items())
        line += f" on {m.example_count} examples"
        if m.baseline_errors:
            baseline = "  ".join(f"{k} {_number(v)}" for k, v in m.baseline_errors.items())
            line += f" (baseline {baseline})"
        return line
    line = f"{m.split:<10} accuracy {_fixed(m.accuracy)} on {m.example_count} examples"
    if m.baseline_accuracy is not None:
        line += f" (baseline {_fixed(m.baseline_accuracy)})"
    for name, metrics in m.per_class.items():
        line += f"\n           {name:<12}" + "  ".join(
            f"{k} {_fixed(v)}" for k, v in metrics.items()
        )
    return line


def _format_tflite(p: dict[str, Any]) -> str:
    """The TFLite line: size, the task's metric for both forms, the largest output gap,
    latencies and the gate's verdict; a second line for the micro model when built."""
    regression = "tflite_mae" in p
    if regression:
        metric = (
            f"MAE {_number(p.get('tflite_mae'))} (SavedModel {_number(p.get('saved_model_mae'))}), "
            f"max |d prediction| {_number(p.get('max_abs_prediction_diff'))}"
        )
        refused = "NOT blessed (MAE increase too large)"
    else:
        metric = (
            f"accuracy {_fixed(p.get('tflite_accuracy'))} "
            f"(SavedModel {_fixed(p.get('saved_model_accuracy'))}), "
            f"max |dp| {_scientific(p.get('max_abs_probability_diff'))}"
        )
        refused = "NOT blessed (accuracy drop too large)"
    verdict = "blessed" if p.get("tflite_blessed") == 1 else refused
    line = (
        f"tflite     {p.get('quantization')}: {_fixed(p.get('tflite_size_bytes'), 1, 1024)} KiB, "
        f"{metric}, p50 {_fixed(p.get('tflite_latency_p50_ms'), 2)} ms "
        f"(SavedModel {_fixed(p.get('saved_model_latency_p50_ms'), 2)} ms), {verdict}"
    )
    if "micro_size_bytes" in p:
        score = (
            f"MAE {_number(p.get('micro_mae'))}"
            if regression
            else f"accuracy {_fixed(p.get('micro_accuracy'))}"
        )
        micro_verdict = "blessed" if p.get("micro_blessed") == 1 else "NOT blessed"
        line += (
            f"\n           micro int8: {_fixed(p.get('micro_size_bytes'), 1, 1024)} KiB, "
            f"{score}, {micro_verdict}"
        )
    return line


def _fixed(value: Any, digits: int = 3, divisor: float = 1.0) -> str:
    """``value / divisor`` with ``digits`` decimals; ``n/a`` when absent or undefined."""
    number = _defined(value)
    return UNDEFINED if number is None else f"{number / divisor:.{digits}f}"


def _scientific(value: Any) -> str:
    number = _defined(value)
    return UNDEFINED if number is None else f"{number:.1e}"


def _defined(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return strict_json.finite_or_none(float(value))


def _outcome(outcome: RunOutcome, blessed: bool | None, pushed: bool) -> str:
    if outcome.error is not None:
        return f"stopped at {outcome.failed_node or 'an unknown component'}"
    if not any(r.state == "executed" for r in outcome.reports):
        return "unchanged: every component cached, nothing pushed again"
    if pushed:
        return "blessed and pushed"
    return "not blessed, nothing pushed" if blessed is False else "done"


def _anomalies(validator_outputs: dict) -> list[anomalies_lib.Anomaly]:
    artifact = _first(validator_outputs, "anomalies")
    if artifact is None:
        return []
    splits = artifact_utils.decode_split_names(
        metadata.custom_property(artifact, "split_names")
        or artifact.properties["split_names"].string_value
    )
    return anomalies_lib.read_anomalies(artifact.uri, splits)


def _blessing_failures(evaluation) -> list[str]:
    if evaluation is None:
        return []
    result = tfma.load_validation_result(evaluation.uri)
    return [
        describe_failure(failure)
        for per_slice in result.metric_validations_per_slice
        for failure in per_slice.failures
    ] or ["(no metric failed; see the Evaluator's validation result)"]


def describe_failure(failure) -> str:
    """One line for a TFMA threshold failure, e.g. ``accuracy 0.291 is below 0.800``."""
    key, threshold = failure.metric_key, failure.metric_threshold
    value = failure.metric_value.double_value.value
    if key.is_diff:
        change = threshold.change_threshold
        shown = UNDEFINED if _defined(value) is None else f"{value:+.4g}"
        if change.HasField("relative"):
            return (
                f"{key.name} changed by {shown} against the baseline; the change "
                f"threshold allows {change.relative.value:+.1%} of the baseline's value"
            )
        return (
            f"{key.name} changed by {shown} against the baseline; "
            f"the change threshold allows {change.absolute.value:+.3f}"
        )
    bounds = threshold.value_threshold
    if bounds.HasField("upper_bound"):
        return (
            f"{key.name} {_number(value)} is above the value threshold "
            f"{bounds.upper_bound.value:.4g}"
        )
    if key.name == EXAMPLE_COUNT:
        return (
            f"{key.name} {_fixed(value, 0)} is below the value threshold "
            f"{bounds.lower_bound.value:.0f} (data.min_examples.eval)"
        )
    return f"{key.name} {_fixed(value)} is below the value threshold {bounds.lower_bound.value:.3f}"


def _regression_metrics(split: str, example_count: int, values: dict) -> SplitMetrics | None:
    errors = {
        short: values.get((_CANDIDATE, name, None, False))
        for name, short in _ERRORS.items()
        if (_CANDIDATE, name, None, False) in values
    }
    if not errors:
        return None
    return SplitMetrics(
        split=split,
        example_count=example_count,
        accuracy=None,
        per_class={},
        errors=errors,
        baseline_errors={
            short: values.get((_BASELINE, name, None, False))
            for name, short in _ERRORS.items()
            if (_BASELINE, name, None, False) in values
        },
    )


def _number(value: float | None) -> str:
    """Four significant digits, or n/a for an undefined value."""
    return UNDEFINED if _defined(value) is None else f"{value:.4g}"


def _first(outputs: dict, key: str):
    artifacts = outputs.get(key) or []
    return artifacts[0] if artifacts else None


def describe_error(error: BaseException) -> str:
    """One line for a component's exception; the run log holds the traceback.

    The project's own errors are written as one line for the user and stand as they are;
    any other keeps its type, so ``KeyError: 'fare'`` is never a bare ``'fare'``.
    """
    message = _one_line(error)
    if type(error).__module__.startswith(("components.", "pipeline.")) and message:
        return message
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())
