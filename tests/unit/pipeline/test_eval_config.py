"""The blessing thresholds, judged by TFMA's own metrics validator."""

import dataclasses
from pathlib import Path

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.evaluators import metrics_validator

from pipeline.config import MinExamples, load_config
from pipeline.eval_config import ACCURACY, build_eval_config
from pipeline.summary import describe_failure

REPO = Path(__file__).resolve().parents[3]
OVERALL = ()


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    cfg = load_config(REPO / "configs" / "penguins.yaml", work_dir=tmp_path_factory.mktemp("w"))
    data = dataclasses.replace(cfg.data, min_examples=MinExamples(eval=20))
    return dataclasses.replace(cfg, data=data)


def failures(cfg, example_count: int, accuracy: float) -> list[str]:
    metrics = {
        tfma.metrics.MetricKey(name="example_count"): example_count,
        tfma.metrics.MetricKey(name=ACCURACY): accuracy,
    }
    result = metrics_validator.validate_metrics(
        (OVERALL, metrics), build_eval_config(cfg, with_change_threshold=False)
    )
    return [describe_failure(f) for s in result.metric_validations_per_slice for f in s.failures]


def test_perfect_accuracy_on_one_example_is_not_blessed(cfg):
    assert failures(cfg, example_count=1, accuracy=1.0) == [
        "example_count 1 is below the value threshold 20 (data.min_examples.eval)"
    ]


def test_enough_examples_and_accuracy_bless(cfg):
    assert failures(cfg, example_count=20, accuracy=0.9) == []


def test_low_accuracy_still_fails_alone(cfg):
    assert failures(cfg, example_count=79, accuracy=0.5) == [
        f"{ACCURACY} 0.500 is below the value threshold 0.800"
    ]


def test_small_slices_are_not_held_to_the_minimum(cfg):
    metrics = {
        tfma.metrics.MetricKey(name="example_count"): 3,
        tfma.metrics.MetricKey(name=ACCURACY): 0.1,
    }
    result = metrics_validator.validate_metrics(
        ((("island", b"Torgersen"),), metrics), build_eval_config(cfg, with_change_threshold=False)
    )
    assert result.validation_ok


def test_test_split_scoring_has_no_thresholds(cfg):
    config = build_eval_config(cfg, with_thresholds=False)
    assert not any(m.per_slice_thresholds or m.HasField("threshold")
                   for spec in config.metrics_specs for m in spec.metrics)  # fmt: skip
