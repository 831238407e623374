"""A run's headline metric, per task, read from ``summary.json`` without loading TFMA.

Classification is judged on accuracy, regression on the gated error
(``evaluator.error_metric``: ``mae``, ``mse`` or ``rmse``), so ``runner.py runs`` and
``lineage`` show that one number, as the summary wrote it.
"""

import dataclasses
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.report import formatting
from pipeline.run_summary import RunSummary, SplitMetrics

ACCURACY = "accuracy"


@dataclasses.dataclass(frozen=True)
class Headline:
    """The metric a split was judged on.

    Attributes:
        split: ``eval`` or ``test``.
        name: ``accuracy``, or the gated error ``mae``, ``mse`` or ``rmse``.
        value: The candidate's value; None when undefined or not recorded.
        example_count: Examples the split held.
        baseline: The baseline model's value, when one was compared.
    """

    split: str
    name: str
    value: float | None
    example_count: int | None = None
    baseline: float | None = None

    @property
    def is_error(self) -> bool:
        """True for a regression error (lower is better, in label units)."""
        return self.name != ACCURACY

    def value_text(self, value: float | None = None) -> str:
        """``0.987`` for accuracy, ``41.23`` for an error, ``n/a`` when undefined."""
        value = self.value if value is None else value
        if value is None:
            return formatting.UNDEFINED
        return formatting.error(value) if self.is_error else formatting.metric(value)

    def short(self) -> str:
        """``accuracy 0.987`` or ``mae 41.23``."""
        return f"{self.name} {self.value_text()}"

    def describe(self) -> str:
        """``mae 41.23 on 88 examples (baseline 43.10)``."""
        text = self.short()
        if self.example_count is not None:
            text += f" on {self.example_count} examples"
        if self.baseline is not None:
            text += f" (baseline {self.value_text(self.baseline)})"
        return text


def headline_name(cfg: PipelineConfig) -> str:
    """``accuracy`` for classification, else the gated error (``evaluator.error_metric``)."""
    return cfg.evaluator.error_metric if cfg.spec.is_regression else ACCURACY


def from_summary(metrics: SplitMetrics | None, name: str) -> Headline | None:
    """The ``name`` metric of a split as ``summary.json`` records it.

    Args:
        metrics: ``eval_metrics`` or ``test_metrics`` of a summary; None when absent.
        name: ``accuracy`` or an error's short name (``headline_name``).
    """
    if not metrics:
        return None
    if name == ACCURACY:
        value, baseline = metrics.accuracy, metrics.baseline_accuracy
    else:
        value = (metrics.errors or {}).get(name)
        baseline = (metrics.baseline_errors or {}).get(name)
    count = metrics.example_count
    return Headline(
        split=str(metrics.split or "eval"),
        name=name,
        value=_number(value),
        example_count=int(count) if isinstance(count, int | float) else None,
        baseline=_number(baseline),
    )


def summary_headlines(summary: RunSummary | None, name: str) -> tuple[Headline, ...]:
    """The eval and test headlines of a summary, those it has."""
    if not summary:
        return ()
    found = (from_summary(m, name) for m in (summary.eval_metrics, summary.test_metrics))
    return tuple(h for h in found if h is not None)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
