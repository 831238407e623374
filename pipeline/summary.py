"""What a run produced, read back from ML Metadata and its artifacts."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import tensorflow_model_analysis as tfma
from tfx.types import artifact_utils

from components.data_gate import anomalies as anomalies_lib
from pipeline import metadata
from pipeline import pipeline as ids
from pipeline.config import PipelineConfig
from pipeline.eval_config import ACCURACY, EXAMPLE_COUNT
from pipeline.local_run import RunOutcome

_PER_CLASS_METRICS = ("precision", "recall", "auc")
_CANDIDATE, _BASELINE = "candidate", "baseline"


@dataclasses.dataclass(frozen=True)
class SplitMetrics:
    """Overall (unsliced) TFMA metrics of one split.

    Attributes:
        per_class: Class name -> {precision, recall, auc}.
        baseline_accuracy: The baseline model's accuracy when one was compared.
    """

    split: str
    example_count: int
    accuracy: float
    per_class: dict[str, dict[str, float]]
    baseline_accuracy: float | None = None


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
        return json.dumps(dataclasses.asdict(self), indent=2)


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
        error=None if outcome.error is None else _one_line(outcome.error),
        anomalies=[dataclasses.asdict(a) for a in anomalies],
        eval_metrics=_split_metrics(evaluation, "eval", cfg.data.label_classes),
        test_metrics=_split_metrics(test_evaluation, "test", cfg.data.label_classes),
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
    """The unsliced metrics TFMA wrote for ``split`` under an evaluation artifact."""
    values: dict[tuple[str, str, int | None], float] = {}
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for item in metrics.metric_keys_and_values:
            key = item.key
            if key.is_diff:
                continue
            class_id = key.sub_key.class_id.value if key.sub_key.HasField("class_id") else None
            values[(key.model_name or _CANDIDATE, key.name, class_id)] = (
                item.value.double_value.value
            )
    if (_CANDIDATE, ACCURACY, None) not in values:
        return None
    return SplitMetrics(
        split=split,
        example_count=int(values.get((_CANDIDATE, EXAMPLE_COUNT, None), 0)),
        accuracy=values[(_CANDIDATE, ACCURACY, None)],
        per_class={
            name: {
                metric: values[(_CANDIDATE, metric, class_id)]
                for metric in _PER_CLASS_METRICS
                if (_CANDIDATE, metric, class_id) in values
            }
            for class_id, name in enumerate(label_classes)
        },
        baseline_accuracy=values.get((_BASELINE, ACCURACY, None)),
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
    line = f"{m.split:<10} accuracy {m.accuracy:.3f} on {m.example_count} examples"
    if m.baseline_accuracy is not None:
        line += f" (baseline {m.baseline_accuracy:.3f})"
    for name, metrics in m.per_class.items():
        line += f"\n           {name:<12}" + "  ".join(f"{k} {v:.3f}" for k, v in metrics.items())
    return line


def _format_tflite(p: dict[str, Any]) -> str:
    verdict = "blessed" if p.get("tflite_blessed") == 1 else "NOT blessed (accuracy drop too large)"
    return (
        f"tflite     {p.get('quantization')}: {p.get('tflite_size_bytes', 0) / 1024:.1f} KiB, "
        f"accuracy {p.get('tflite_accuracy', float('nan')):.3f} "
        f"(SavedModel {p.get('saved_model_accuracy', float('nan')):.3f}), "
        f"max |dp| {p.get('max_abs_probability_diff', float('nan')):.1e}, "
        f"p50 {p.get('tflite_latency_p50_ms', float('nan')):.2f} ms "
        f"(SavedModel {p.get('saved_model_latency_p50_ms', float('nan')):.2f} ms), {verdict}"
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
        allowed = threshold.change_threshold.absolute.value
        return (
            f"{key.name} changed by {value:+.3f} against the baseline; "
            f"the change threshold allows {allowed:+.3f}"
        )
    bound = threshold.value_threshold.lower_bound.value
    if key.name == EXAMPLE_COUNT:
        return (
            f"{key.name} {value:.0f} is below the value threshold {bound:.0f} "
            "(data.min_examples.eval)"
        )
    return f"{key.name} {value:.3f} is below the value threshold {bound:.3f}"


def _first(outputs: dict, key: str):
    artifacts = outputs.get(key) or []
    return artifacts[0] if artifacts else None


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())
