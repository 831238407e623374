"""smoke_test.py: a SavedModel that loads and answers sanely per task, or one line why not."""

import numpy as np
import pytest
import tensorflow as tf
from tiny_models import smoke_inputs

from components.serving_pusher import smoke_test


def test_smoke_test_accepts_a_good_model(models):
    smoke_test.smoke_test(str(models["good"]), smoke_inputs())


@pytest.mark.parametrize(
    "model, signature, message",
    [
        ("nan", "serving_raw", "NaN"),
        ("shape", "serving_raw", r"shape \[4, 1\]"),
        ("good", "serving_default", "no signature 'serving_default'"),
        ("missing", "serving_raw", "cannot load"),
    ],
)
def test_smoke_test_refuses_a_broken_model_with_the_reason(
    models, tmp_path, model, signature, message
):
    directory = models.get(model, tmp_path / "missing")
    with pytest.raises(smoke_test.SmokeTestError, match=message) as caught:
        smoke_test.smoke_test(str(directory), smoke_inputs(), signature_key=signature)
    assert "\n" not in str(caught.value)


def test_smoke_test_refuses_inputs_the_signature_does_not_take(models):
    inputs = smoke_inputs()
    inputs["colour"] = inputs.pop("island")
    with pytest.raises(smoke_test.SmokeTestError, match="differ"):
        smoke_test.smoke_test(str(models["good"]), inputs)


def test_smoke_test_refuses_inputs_of_unequal_length(models):
    inputs = smoke_inputs()
    inputs["bill_length_mm"] = inputs["bill_length_mm"][:2]  # rows no longer line up
    with pytest.raises(smoke_test.SmokeTestError, match="share one non-zero length"):
        smoke_test.smoke_test(str(models["good"]), inputs)


def test_describe_error_skips_tensorflow_preamble():
    error = tf.errors.InvalidArgumentError(
        None,
        None,
        "Graph execution error:\n\nDetected at node X:\nCould not parse 'x'\n\t [[{{node X}}]]",
    )
    assert smoke_test.describe_error(error) == "InvalidArgumentError: Could not parse 'x'"
    assert smoke_test.describe_error(ValueError("")) == "ValueError: "


def test_check_outputs_wants_rows_summing_to_one():
    with pytest.raises(smoke_test.SmokeTestError, match="sum"):
        smoke_test.check_outputs({"probabilities": np.full((2, 3), 0.2, np.float32)}, 2)
    with pytest.raises(smoke_test.SmokeTestError, match="shape"):
        smoke_test.check_outputs({"probabilities": np.full((3, 2), 0.5, np.float32)}, 2)


def test_smoke_test_accepts_a_good_regression_model(models):
    smoke_test.smoke_test(str(models["regression"]), smoke_inputs(), task="regression")
    smoke_test.smoke_test(str(models["regression"]), smoke_inputs())  # task read off the outputs


@pytest.mark.parametrize(
    "model, task, message",
    [
        ("regression-nan", "regression", "predictions contain NaN"),
        ("regression-shape", "regression", r"predictions have shape \[4, 1\], expected \[4\]"),
        ("good", "regression", "no 'predictions' output for a regression model"),
        ("regression", "classification", "no 'probabilities' output for a classification model"),
    ],
)
def test_smoke_test_checks_what_the_task_outputs(models, model, task, message):
    with pytest.raises(smoke_test.SmokeTestError, match=message) as caught:
        smoke_test.smoke_test(str(models[model]), smoke_inputs(), task=task)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "outputs, message",
    [
        ({"predictions": np.arange(2, dtype=np.int64)}, "predictions are int64"),
        ({"predictions": np.array([1.0, np.inf], np.float32)}, "NaN or infinite"),
        ({"scores": np.zeros(2, np.float32)}, "'probabilities' or a 'predictions'"),
        (
            {"predictions": np.zeros(2, np.float32), "probabilities": np.full((2, 2), 0.5)},
            "'probabilities' or a 'predictions'",
        ),
    ],
)
def test_check_outputs_of_a_regression(outputs, message):
    with pytest.raises(smoke_test.SmokeTestError, match=message):
        smoke_test.check_outputs(outputs, 2)
    smoke_test.check_outputs({"predictions": np.array([1.5, -3.0], np.float32)}, 2)
