"""One monitoring pass over a window of logged requests: figures, distances, alerts.

Alerts (each one line in ``MonitorResult.alerts``):

- a feature's skew (live vs training split) or drift (live vs the previous window) above
  its threshold;
- a schema anomaly in the live inputs (SERVING environment);
- an error rate above ``max_error_rate``;
- online accuracy below the test split's by more than ``max_accuracy_drop``
  (classification), or online MAE above the test split's by more than
  ``max_error_increase`` of it (regression), once ``min_labelled`` instances are labelled.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from tensorflow_metadata.proto.v0 import schema_pb2

from monitoring import distances
from monitoring.distances import Distance, Thresholds
from monitoring.logs import Record, Windows

CLASSES_OUTPUT = "classes"
REGRESSION_OUTPUTS = ("predictions", "outputs")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Thresholds of one monitoring pass (``monitoring:`` in the config)."""

    skew: Thresholds
    drift: Thresholds
    max_error_rate: float
    max_accuracy_drop: float
    max_error_increase: float
    min_labelled: int
    sample_rate: float


@dataclasses.dataclass(frozen=True)
class Traffic:
    """What the logs say about load and speed (logged requests only; rates scaled up by
    the sample rate).

    Attributes:
        requests: Logged requests in the window; ``instances`` their examples.
        error_rate: Share of logged requests answered with a 4xx or 5xx status.
        p50_ms, p99_ms: Latency percentiles of the logged requests, milliseconds.
        requests_per_second: Estimated request rate over the window; None for one instant.
    """

    requests: int
    instances: int
    errors: int
    error_rate: float
    p50_ms: float
    p99_ms: float
    requests_per_second: float | None
    versions: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Online:
    """The served model on labelled traffic beside its test split figure.

    Attributes:
        metric: ``accuracy`` (classification) or ``mae`` (regression).
        value: On the labelled instances; None when none is labelled.
        labelled: Labelled instances in the window.
        test_value: The test split's figure for the same metric, when known.
    """

    metric: str
    value: float | None
    labelled: int
    test_value: float | None


@dataclasses.dataclass(frozen=True)
class MonitorResult:
    """Everything ``monitor.html`` and the summary show."""

    model: str
    window: str
    traffic: Traffic
    skew: tuple[Distance, ...]
    drift: tuple[Distance, ...]
    anomalies: tuple[tuple[str, str], ...]
    online: Online
    alerts: tuple[str, ...]
    baseline: str
    previous_requests: int


def monitor(
    model: str,
    windows: Windows,
    schema: schema_pb2.Schema,
    served_features: list[str],
    train_statistics,
    test_value: float | None,
    regression: bool,
    settings: Settings,
    baseline: str = "",
) -> MonitorResult:
    """Computes one pass (see the module docstring). ``train_statistics`` may be None (no
    skew then); ``test_value`` is the test split's accuracy, or MAE for regression."""
    schema = distances.serving_schema(schema, served_features)
    live = distances.statistics(windows.current, schema)
    skew, drift, anomalies = [], [], []
    if live.datasets:
        anomalies = distances.anomalies(live, schema)
        if train_statistics is not None:
            skew = distances.skew(train_statistics, live, schema, settings.skew)
        previous = distances.statistics(windows.previous, schema)
        if previous.datasets:
            drift = distances.drift(live, previous, schema, settings.drift)
    traffic = measure_traffic(windows.current, settings.sample_rate)
    online = online_figure(windows.current, regression, test_value)
    result = MonitorResult(
        model=model,
        window=windows.description,
        traffic=traffic,
        skew=tuple(skew),
        drift=tuple(drift),
        anomalies=tuple(anomalies),
        online=online,
        alerts=(),
        baseline=baseline,
        previous_requests=len({r.request_id for r in windows.previous}),
    )
    return dataclasses.replace(result, alerts=tuple(alerts_of(result, settings, regression)))


def measure_traffic(records: list[Record], sample_rate: float) -> Traffic:
    """Request count, error rate, latency percentiles and rate of the logged requests."""
    requests: dict[str, Record] = {}
    instances = 0
    for record in records:
        requests.setdefault(record.request_id, record)
        instances += record.ok
    latencies = np.array([r.latency_ms for r in requests.values()])
    errors = sum(1 for r in requests.values() if not r.ok)
    times = [r.time for r in requests.values()]
    span = max(times) - min(times) if times else 0.0
    rate = len(requests) / span / sample_rate if span > 0 and sample_rate > 0 else None
    return Traffic(
        requests=len(requests),
        instances=instances,
        errors=errors,
        error_rate=errors / len(requests) if requests else 0.0,
        p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else math.nan,
        p99_ms=float(np.percentile(latencies, 99)) if len(latencies) else math.nan,
        requests_per_second=rate,
        versions=tuple(sorted({r.version for r in requests.values() if r.version >= 0})),
    )


def online_figure(records: list[Record], regression: bool, test_value: float | None) -> Online:
    """Accuracy (or MAE) of the answered, labelled instances."""
    pairs = [(r, r.label) for r in records if r.ok and r.label is not None]
    if regression:
        errors = []
        for record, label in pairs:
            name = next((n for n in REGRESSION_OUTPUTS if n in record.outputs), None)
            if name is not None and record.outputs[name]:
                errors.append(abs(float(record.outputs[name][0]) - float(label)))
        value = float(np.mean(errors)) if errors else None
        return Online("mae", value, len(errors), test_value)
    hits = []
    for record, label in pairs:
        predicted = record.outputs.get(CLASSES_OUTPUT)
        if predicted:
            hits.append(_text(predicted[0]) == _text(label))
    value = float(np.mean(hits)) if hits else None
    return Online("accuracy", value, len(hits), test_value)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def alerts_of(result: MonitorResult, settings: Settings, regression: bool) -> list[str]:
    """One line per alert (see the module docstring)."""
    alerts = [
        f"skew: {d.feature} {d.measure} {d.value:.3f} > {d.threshold:g} (vs training split)"
        for d in result.skew
        if d.above
    ]
    alerts += [
        f"drift: {d.feature} {d.measure} {d.value:.3f} > {d.threshold:g} (vs previous window)"
        for d in result.drift
        if d.above
    ]
    alerts += [f"schema: {name}: {text}" for name, text in result.anomalies]
    traffic = result.traffic
    if traffic.error_rate > settings.max_error_rate:
        alerts.append(
            f"errors: {traffic.error_rate:.1%} of logged requests failed "
            f"(> {settings.max_error_rate:.1%})"
        )
    online = result.online
    comparable = online.value is not None and online.test_value is not None
    if comparable and online.labelled >= settings.min_labelled:
        if not regression and online.value < online.test_value - settings.max_accuracy_drop:
            alerts.append(
                f"accuracy: online {online.value:.3f} on {online.labelled} labelled < test "
                f"{online.test_value:.3f} - {settings.max_accuracy_drop:g}"
            )
        limit = online.test_value * (1 + settings.max_error_increase)
        if regression and online.value > limit:
            alerts.append(
                f"mae: online {online.value:.4g} on {online.labelled} labelled > test "
                f"{online.test_value:.4g} x {1 + settings.max_error_increase:g}"
            )
    return alerts


def retrain_needed(result: MonitorResult) -> bool:
    """Whether the inputs moved (a skew or drift alert): new data may fix that."""
    return any(a.startswith(("skew:", "drift:")) for a in result.alerts)


def format_summary(result: MonitorResult, html_path: str | None = None) -> str:
    """The one-screen summary ``runner.py monitor`` prints."""
    t, o = result.traffic, result.online
    rate = f"{t.requests_per_second:.2f}/s" if t.requests_per_second is not None else "n/a"
    versions = ", ".join(map(str, t.versions)) or "none"
    lines = [
        f"{result.model}: {result.window} (versions {versions}; "
        f"{result.previous_requests} requests before them for drift)",
        f"traffic    {t.requests} requests, {t.instances} instances, request rate {rate}",
        f"latency    p50 {t.p50_ms:.1f} ms  p99 {t.p99_ms:.1f} ms",
        f"errors     {t.errors} ({t.error_rate:.1%})",
    ]
    shown = "{:.3f}" if o.metric == "accuracy" else "{:.4g}"
    online = (
        "no labelled requests" if o.value is None else f"{shown.format(o.value)} on {o.labelled}"
    )
    test = "n/a" if o.test_value is None else shown.format(o.test_value)
    lines.append(f"{o.metric:<10} online {online}; test split {test}")
    for title, rows in (("skew", result.skew), ("drift", result.drift)):
        worst = max(rows, key=lambda d: d.value - d.threshold, default=None)
        shown = (
            f"worst {worst.feature} {worst.measure} {worst.value:.3f} "
            f"(threshold {worst.threshold:g})"
            if worst
            else "not measured"
        )
        lines.append(f"{title:<10} {shown}")
    lines.append(f"schema     {len(result.anomalies)} anomalies")
    if result.alerts:
        lines.append(f"ALERTS ({len(result.alerts)}):")
        lines += [f"  {a}" for a in result.alerts]
    else:
        lines.append("no alert")
    if html_path:
        lines.append(f"report     {html_path}")
    return "\n".join(lines)
