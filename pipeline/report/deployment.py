"""The report's deployment section: TFLite parity per task, the micro model, the push.

The TFLiteConverter records its parity figures as custom properties of its artifact
(``components/tflite_converter/parity.py``): accuracy and the largest probability
difference for classification, MAE and the largest prediction difference for
regression, the micro model's under a ``micro_`` prefix. ``parity_table`` picks those
of the task.
"""

import dataclasses
from typing import Any

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata
from pipeline import pipeline as ids
from pipeline.config import PipelineConfig
from pipeline.report import formatting
from pipeline.report.store import first, run_outputs

TFLITE_BLESSED, MICRO_BLESSED = "tflite_blessed", "micro_blessed"


@dataclasses.dataclass(frozen=True)
class ParityRow:
    """One figure of each form; a value is None where the form was not measured.

    Attributes:
        kind: How it reads: ``metric``, ``error``, ``size`` or ``milliseconds``.
        key: Its ``data-metric`` name in the page, e.g. ``tflite/mae``.
    """

    name: str
    kind: str
    key: str
    saved_model: float | None
    tflite: float | None
    micro: float | None = None


@dataclasses.dataclass(frozen=True)
class Gate:
    """The parity gate of one converted form: its verdict and the rule in words."""

    form: str
    passed: bool | None
    rule: str
    measured: str


@dataclasses.dataclass(frozen=True)
class Difference:
    """The largest absolute output difference of a converted form from the SavedModel."""

    form: str
    what: str
    value: float | None


@dataclasses.dataclass(frozen=True)
class DeploymentSection:
    """The TFLite parity figures and the push.

    Attributes:
        tflite: Every custom property of the TFLiteConverter's artifact.
        has_micro: Whether a microcontroller model was built and scored.
        parity: The task's figures of the SavedModel, the TFLite and the micro model.
        differences: Largest |Δ probability| (classification) or |Δ prediction|.
        gates: The TFLite (and micro) gate with its rule.
    """

    tflite: dict[str, Any] | None
    tflite_uri: str | None
    pushed: bool
    pushed_version: str | None
    pushed_destination: str | None
    pushed_tflite_destination: str | None
    already_served: bool
    has_micro: bool = False
    parity: tuple[ParityRow, ...] = ()
    differences: tuple[Difference, ...] = ()
    gates: tuple[Gate, ...] = ()


def deployment_section(
    store: mlmd.MetadataStore, cfg: PipelineConfig, run_id: str
) -> DeploymentSection | None:
    """What the converter and the pusher recorded in the run; None when neither ran."""
    tflite = first(run_outputs(store, cfg.name, run_id, ids.TFLITE_CONVERTER_ID), "tflite_model")
    pushed = first(run_outputs(store, cfg.name, run_id, ids.PUSHER_ID), "pushed_model")
    if tflite is None and pushed is None:
        return None
    push = properties(pushed) if pushed is not None else {}
    converted = properties(tflite) if tflite is not None else None
    return DeploymentSection(
        tflite=converted,
        tflite_uri=tflite.uri if tflite is not None else None,
        pushed=push.get("pushed") == 1,
        pushed_version=push.get("pushed_version"),
        pushed_destination=push.get("pushed_destination"),
        pushed_tflite_destination=push.get("pushed_tflite_destination"),
        already_served=push.get("already_served") == 1,
        **(
            parity_table(converted, cfg.spec.is_regression, cfg.tflite.accuracy_tolerance)
            if converted is not None
            else {}
        ),
    )


def properties(artifact: metadata_store_pb2.Artifact) -> dict[str, Any]:
    """Every custom property of an artifact, by name."""
    return {name: metadata.custom_property(artifact, name) for name in artifact.custom_properties}


def parity_table(p: dict[str, Any], regression: bool, tolerance: float) -> dict[str, Any]:
    """The ``DeploymentSection`` fields ``has_micro``, ``parity``, ``differences``, ``gates``.

    Args:
        p: The TFLiteConverter artifact's custom properties.
        regression: Whether the task is regression (MAE) or classification (accuracy).
        tolerance: ``tflite.accuracy_tolerance``: accuracy points for classification, a
            fraction of the SavedModel's MAE for regression.
    """
    has_micro = MICRO_BLESSED in p or "micro_size_bytes" in p
    if regression:
        score = ParityRow("MAE", "error", "tflite/mae", *_forms(p, "mae", has_micro))
        what, diff = "|Δ prediction|", "max_abs_prediction_diff"
    else:
        score = ParityRow(
            "accuracy", "metric", "tflite/accuracy", *_forms(p, "accuracy", has_micro)
        )
        what, diff = "|Δ probability|", "max_abs_probability_diff"
    rows = [
        score,
        ParityRow("size", "size", "tflite/size", *_forms(p, "size_bytes", has_micro)),
        ParityRow(
            "latency p50 (one example)",
            "milliseconds",
            "tflite/p50",
            *_forms(p, "latency_p50_ms", has_micro),
        ),
        ParityRow(
            "latency p99 (one example)",
            "milliseconds",
            "tflite/p99",
            *_forms(p, "latency_p99_ms", has_micro),
        ),
    ]
    differences = [Difference("TFLite", what, p.get(diff))]
    gates = [_gate(p, "TFLite", "tflite", TFLITE_BLESSED, regression, tolerance)]
    if has_micro:
        differences.append(Difference("micro", what, p.get(f"micro_{diff}")))
        gates.append(_gate(p, "micro", "micro", MICRO_BLESSED, regression, tolerance))
    return {
        "has_micro": has_micro,
        "parity": tuple(rows),
        "differences": tuple(differences),
        "gates": tuple(gates),
    }


def _forms(p: dict[str, Any], figure: str, has_micro: bool) -> tuple[Any, Any, Any]:
    """(SavedModel, TFLite, micro) values of one figure, e.g. ``saved_model_mae``."""
    return (
        p.get(f"saved_model_{figure}"),
        p.get(f"tflite_{figure}"),
        p.get(f"micro_{figure}") if has_micro else None,
    )


def _gate(
    p: dict[str, Any], form: str, prefix: str, verdict: str, regression: bool, tolerance: float
) -> Gate:
    value = p.get(verdict)
    passed = None if value is None else value == 1
    # The TFLite model's comparisons are unprefixed (accuracy_drop), the micro model's not.
    prefix = "" if prefix == "tflite" else f"{prefix}_"
    if regression:
        return Gate(
            form=form,
            passed=passed,
            rule=f"MAE at most {formatting.percent(tolerance)} above the SavedModel's",
            measured=f"{formatting.relative(p.get(prefix + 'relative_mae_increase'))} MAE",
        )
    return Gate(
        form=form,
        passed=passed,
        rule=f"accuracy at most {formatting.metric(tolerance)} below the SavedModel's",
        measured=f"{formatting.signed(_negated(p.get(prefix + 'accuracy_drop')))} accuracy",
    )


def _negated(value: Any) -> Any:
    return -value if isinstance(value, int | float) and not isinstance(value, bool) else value
