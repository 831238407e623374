"""Summaries collected from ML Metadata: threshold failures and errors in one line each."""

import math

from tensorflow_model_analysis.proto import validation_result_pb2

from pipeline import summary


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
