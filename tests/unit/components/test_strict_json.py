"""Strict JSON: non-finite floats become null, and the output parses as standard JSON."""

import dataclasses
import json

import numpy as np
import pytest

from components import strict_json


def _strict_loads(text: str):
    """json.loads that refuses NaN/Infinity, as standard JSON readers do."""

    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@dataclasses.dataclass(frozen=True)
class _Metrics:
    precision: float
    per_class: dict[str, dict[str, float]]


def test_non_finite_floats_become_null_at_any_depth():
    value = _Metrics(
        precision=float("nan"),
        per_class={"Chinstrap": {"auc": float("inf"), "recall": -float("inf"), "n": 0.5}},
    )
    text = strict_json.dumps({"eval": value, "pair": (1.0, float("nan"))}, indent=2)
    assert _strict_loads(text) == {
        "eval": {
            "precision": None,
            "per_class": {"Chinstrap": {"auc": None, "recall": None, "n": 0.5}},
        },
        "pair": [1.0, None],
    }


def test_the_standard_library_would_have_written_nan():
    with pytest.raises(ValueError, match="NaN"):
        _strict_loads(json.dumps({"precision": float("nan")}))


def test_numpy_nan_is_a_float_and_becomes_null():
    assert strict_json.dumps({"auc": np.float64("nan")}) == '{"auc": null}'


def test_finite_values_and_other_types_pass_unchanged():
    value = {"accuracy": 0.987, "count": 79, "blessed": True, "pushed": None, "name": "Gentoo"}
    assert _strict_loads(strict_json.dumps(value, sort_keys=True)) == value
    assert strict_json.finite_or_none(0.0) == 0.0
    assert strict_json.finite_or_none(float("nan")) is None
