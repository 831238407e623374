"""A run's summary as ``summary.json`` holds it, and its closing block on screen.

Free of TFX, TFMA and ML Metadata, so the runner can show a stored summary without them
(``pipeline/summary.py`` collects a new one from ML Metadata).
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

from components import strict_json

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
        split_examples: The split's size when it was larger than the Evaluator's
            ``max_examples`` and ``example_count`` examples of it, a uniform sample, were
            scored; None when the whole split was.
    """

    split: str
    example_count: int
    accuracy: float | None
    per_class: dict[str, dict[str, float | None]]
    baseline_accuracy: float | None = None
    errors: dict[str, float | None] = dataclasses.field(default_factory=dict)
    baseline_errors: dict[str, float | None] = dataclasses.field(default_factory=dict)
    split_examples: int | None = None


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

    @classmethod
    def from_json(cls, text: str) -> "RunSummary":
        """The summary ``to_json`` wrote.

        Raises:
            ValueError: ``text`` is not JSON, or not a summary (a field missing or unknown).
        """
        values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError("a run summary is a JSON object")
        try:
            for key in ("eval_metrics", "test_metrics"):
                if values.get(key) is not None:
                    values[key] = SplitMetrics(**values[key])
            return cls(**values)
        except TypeError as err:
            raise ValueError(f"not a run summary: {err}") from err


def read_summary_file(path: Path) -> RunSummary | None:
    """The summary stored at ``path``; None when there is none or it cannot be read."""
    try:
        return RunSummary.from_json(path.read_text())
    except (OSError, ValueError):
        return None


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
        line = f"{m.split:<10} " + "  ".join(f"{k} {significant(v)}" for k, v in m.errors.items())
        line += _scored(m)
        if m.baseline_errors:
            baseline = "  ".join(f"{k} {significant(v)}" for k, v in m.baseline_errors.items())
            line += f" (baseline {baseline})"
        return line
    line = f"{m.split:<10} accuracy {fixed(m.accuracy)}{_scored(m)}"
    if m.baseline_accuracy is not None:
        line += f" (baseline {fixed(m.baseline_accuracy)})"
    for name, metrics in m.per_class.items():
        line += f"\n           {name:<12}" + "  ".join(
            f"{k} {fixed(v)}" for k, v in metrics.items()
        )
    return line


def _scored(m: SplitMetrics) -> str:
    if m.split_examples is None:
        return f" on {m.example_count} examples"
    return f" on {m.example_count} of {m.split_examples} examples (uniform sample)"


def _format_tflite(p: dict[str, Any]) -> str:
    """The TFLite line: size, the task's metric for both forms, the largest output gap,
    latencies and the gate's verdict; a second line for the micro model when built."""
    regression = "tflite_mae" in p
    if regression:
        metric = (
            f"MAE {significant(p.get('tflite_mae'))} "
            f"(SavedModel {significant(p.get('saved_model_mae'))}), "
            f"max |d prediction| {significant(p.get('max_abs_prediction_diff'))}"
        )
        refused = "NOT blessed (MAE increase too large)"
    else:
        metric = (
            f"accuracy {fixed(p.get('tflite_accuracy'))} "
            f"(SavedModel {fixed(p.get('saved_model_accuracy'))}), "
            f"max |dp| {_scientific(p.get('max_abs_probability_diff'))}"
        )
        refused = "NOT blessed (accuracy drop too large)"
    verdict = "blessed" if p.get("tflite_blessed") == 1 else refused
    line = (
        f"tflite     {p.get('quantization')}: {fixed(p.get('tflite_size_bytes'), 1, 1024)} KiB, "
        f"{metric}, p50 {fixed(p.get('tflite_latency_p50_ms'), 2)} ms "
        f"(SavedModel {fixed(p.get('saved_model_latency_p50_ms'), 2)} ms), {verdict}"
    )
    if "micro_size_bytes" in p:
        score = (
            f"MAE {significant(p.get('micro_mae'))}"
            if regression
            else f"accuracy {fixed(p.get('micro_accuracy'))}"
        )
        micro_verdict = "blessed" if p.get("micro_blessed") == 1 else "NOT blessed"
        line += (
            f"\n           micro int8: {fixed(p.get('micro_size_bytes'), 1, 1024)} KiB, "
            f"{score}, {micro_verdict}"
        )
    return line


def fixed(value: Any, digits: int = 3, divisor: float = 1.0) -> str:
    """``value / divisor`` with ``digits`` decimals; ``n/a`` when absent or undefined."""
    number = defined(value)
    return UNDEFINED if number is None else f"{number / divisor:.{digits}f}"


def _scientific(value: Any) -> str:
    number = defined(value)
    return UNDEFINED if number is None else f"{number:.1e}"


def defined(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return strict_json.finite_or_none(float(value))


def significant(value: float | None) -> str:
    """Four significant digits, or n/a for an undefined value."""
    return UNDEFINED if defined(value) is None else f"{value:.4g}"
