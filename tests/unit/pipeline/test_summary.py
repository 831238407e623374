"""The closing summary on screen: undefined values read n/a, never nan or 0.000."""

import math

from tensorflow_model_analysis.proto import validation_result_pb2

from pipeline import summary


def _run(**overrides) -> summary.RunSummary:
    values = dict.fromkeys(
        ("pipeline", "run_id", "config", "config_digest", "work_dir", "metadata_path", "log_path"),
        "x",
    )
    return summary.RunSummary(**values, components=[], outcome="done", **overrides)


def test_tflite_line_says_n_a_for_missing_and_undefined_figures():
    text = summary.format_summary(
        _run(
            tflite={
                "quantization": "dynamic",
                "tflite_size_bytes": 27052,
                "tflite_accuracy": 1.0,
                "saved_model_accuracy": math.nan,
                "max_abs_probability_diff": math.inf,
                "tflite_blessed": 1,
            }
        )
    )
    (line,) = [line for line in text.splitlines() if line.startswith("tflite")]
    assert line == (
        "tflite     dynamic: 26.4 KiB, accuracy 1.000 (SavedModel n/a), max |dp| n/a, "
        "p50 n/a ms (SavedModel n/a ms), blessed"
    )


def test_per_class_lines_say_n_a_for_undefined_metrics():
    metrics = summary.SplitMetrics(
        split="test",
        example_count=25,
        accuracy=1.0,
        per_class={"Chinstrap": {"precision": None, "recall": None, "auc": None}},
        baseline_accuracy=math.nan,
    )
    text = summary.format_summary(_run(test_metrics=metrics))
    assert "test       accuracy 1.000 on 25 examples (baseline n/a)" in text
    assert "           Chinstrap   precision n/a  recall n/a  auc n/a" in text
    assert "nan" not in text


def test_threshold_failure_with_an_undefined_value():
    failure = validation_result_pb2.ValidationFailure()
    failure.metric_key.name = "sparse_categorical_accuracy"
    failure.metric_threshold.value_threshold.lower_bound.value = 0.8
    failure.metric_value.double_value.value = math.nan
    assert summary.describe_failure(failure) == (
        "sparse_categorical_accuracy n/a is below the value threshold 0.800"
    )
    failure.metric_value.double_value.value = 0.291
    assert summary.describe_failure(failure) == (
        "sparse_categorical_accuracy 0.291 is below the value threshold 0.800"
    )


def test_errors_keep_their_type_unless_they_are_the_projects_one_line_messages():
    from components.data_gate.data_rules import DataRulesError

    assert summary.describe_error(KeyError("fare")) == "KeyError: 'fare'"
    assert summary.describe_error(RuntimeError()) == "RuntimeError"
    assert (
        summary.describe_error(DataRulesError("split test has 0 examples"))
        == "split test has 0 examples"
    )
