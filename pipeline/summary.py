"""What a run produced, read back from ML Metadata and its artifacts."""

import dataclasses
from pathlib import Path
from typing import Any

import tensorflow_model_analysis as tfma
from tfx.types import artifact_utils

from components.data_gate import anomalies as anomalies_lib
from components.evaluator.sampling import SPLIT_EXAMPLES
from pipeline import metadata
from pipeline import pipeline as ids
from pipeline.config import PipelineConfig
from pipeline.eval_config import ACCURACY, ERROR_METRICS, EXAMPLE_COUNT
from pipeline.local_run import RunOutcome
from pipeline.report import tfma_metrics
from pipeline.run_summary import (
    UNDEFINED,
    RunSummary,
    SplitMetrics,
    defined,
    fixed,
    significant,
)

_PER_CLASS_METRICS = ("precision", "recall", "f1_score", "auc")
# Regression errors as TFMA names them -> as the summary shows them.
_ERRORS = {tfma_name: short for short, (_, tfma_name) in ERROR_METRICS.items()}
_CANDIDATE, _BASELINE = tfma_metrics.CANDIDATE, tfma_metrics.BASELINE


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
    metrics = evaluation and read_split_metrics(evaluation.uri, split, label_classes)
    if not metrics:
        return metrics
    total = metadata.custom_property(evaluation, SPLIT_EXAMPLES.format(split=split))
    if total is not None and int(total) > metrics.example_count:
        return dataclasses.replace(metrics, split_examples=int(total))
    return metrics


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
        shown = UNDEFINED if defined(value) is None else f"{value:+.4g}"
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
            f"{key.name} {significant(value)} is above the value threshold "
            f"{bounds.upper_bound.value:.4g}"
        )
    if key.name == EXAMPLE_COUNT:
        return (
            f"{key.name} {fixed(value, 0)} is below the value threshold "
            f"{bounds.lower_bound.value:.0f} (data.min_examples.eval)"
        )
    return f"{key.name} {fixed(value)} is below the value threshold {bounds.lower_bound.value:.3f}"


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
