"""Prometheus metrics of the REST server, served at TF Serving's path.

TF Serving exposes its metrics at ``GET /monitoring/prometheus/metrics`` when its
monitoring config enables Prometheus; this server always does. Each app has its own
registry (two apps in one process, as in the tests, do not share counts).

Metrics (every one carries ``model``):

- ``serving_requests_total{model, version, verb, code}``: inference requests by model,
  served version ("" when none was reached), verb (predict, classify, regress, feedback)
  and HTTP status code.
- ``serving_request_latency_seconds{model, verb}``: a histogram of the time from the body
  being read to the answer being rendered, in seconds.
- ``serving_rejected_inputs_total{model, reason}``: requests refused before or during the
  model call, by reason (``bad_request`` 400, ``too_large`` 413, ``not_found`` 404,
  ``unavailable`` 503, ``internal`` 500).
- ``serving_predicted_class_total{model, version, class}``: predicted classes (a
  classification signature's ``classes`` output), one count per example.
- ``serving_prediction_value{model, version}``: a histogram of a regression output's values.
- ``serving_log_records_total{model}`` and ``serving_log_records_dropped_total{model,
  reason}``: request log records written, and those dropped (``queue_full``,
  ``write_error``) instead of slowing or failing a request.
"""

from __future__ import annotations

import collections

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from serving.signatures import PREDICTED_CLASS_OUTPUT

METRICS_PATH = "/monitoring/prometheus/metrics"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds; a REST call on a small model takes a few milliseconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
REJECTION_REASONS = {
    400: "bad_request",
    404: "not_found",
    413: "too_large",
    500: "internal",
    503: "unavailable",
}
# Regression outputs: the project's export, then TF Serving's regress output.
REGRESSION_OUTPUTS = ("predictions", "outputs")


class ServingMetrics:
    """The server's Prometheus registry and the counters it updates per request."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "serving_requests",
            "Inference requests by model, version, verb and HTTP status code.",
            ("model", "version", "verb", "code"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "serving_request_latency_seconds",
            "Time to answer an inference request, body read to answer rendered (seconds).",
            ("model", "verb"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rejected = Counter(
            "serving_rejected_inputs",
            "Requests refused, by reason.",
            ("model", "reason"),
            registry=self.registry,
        )
        self.predicted_class = Counter(
            "serving_predicted_class",
            "Predicted classes, one per example.",
            ("model", "version", "class"),
            registry=self.registry,
        )
        self.prediction_value = Histogram(
            "serving_prediction_value",
            "Regression outputs, one per example.",
            ("model", "version"),
            buckets=(-1e4, -1e3, -100, -10, -1, 0, 1, 10, 100, 1e3, 1e4, 1e5),
            registry=self.registry,
        )
        self.log_records = Counter(
            "serving_log_records",
            "Request log records written.",
            ("model",),
            registry=self.registry,
        )
        self.log_dropped = Counter(
            "serving_log_records_dropped",
            "Request log records dropped instead of delaying or failing a request.",
            ("model", "reason"),
            registry=self.registry,
        )

    def observe(
        self,
        model: str,
        version: int | None,
        verb: str,
        status: int,
        seconds: float,
        outputs: dict[str, np.ndarray] | None = None,
    ) -> None:
        """Counts one request: its status, latency, rejection reason and predictions."""
        shown = "" if version is None else str(version)
        self.requests.labels(model, shown, verb, str(status)).inc()
        self.latency.labels(model, verb).observe(seconds)
        if status >= 400:
            self.rejected.labels(model, REJECTION_REASONS.get(status, str(status))).inc()
        if outputs:
            self._predictions(model, shown, outputs)

    def _predictions(self, model: str, version: str, outputs: dict[str, np.ndarray]) -> None:
        classes = outputs.get(PREDICTED_CLASS_OUTPUT)
        if classes is not None and classes.ndim == 1:
            counts = collections.Counter(
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for v in classes.tolist()
            )
            for label, count in counts.items():
                self.predicted_class.labels(model, version, label).inc(count)
            return
        name = next((n for n in REGRESSION_OUTPUTS if n in outputs), None)
        if name is None:
            return
        values = np.asarray(outputs[name])
        if values.dtype.kind == "f" and values.size == len(values):
            histogram = self.prediction_value.labels(model, version)
            for value in values.reshape(-1):
                if np.isfinite(value):
                    histogram.observe(float(value))

    def render(self) -> bytes:
        """The registry in Prometheus' text exposition format."""
        return generate_latest(self.registry)
