"""Training history, TFMA metric tables, threshold wording and confusion matrices."""

import json

import pytest
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from pipeline.eval_config import ACCURACY
from pipeline.report import evaluation

LABELS = ("Adelie", "Chinstrap", "Gentoo")
C, B = evaluation.CANDIDATE, evaluation.BASELINE


def test_confusion_matrix_counts_and_accuracy():
    matrix = evaluation.confusion_matrix(
        "eval", [(0, 0, 38.0), (0, 1, 1.0), (1, 1, 15.0), (2, 2, 25.0)], LABELS
    )
    assert matrix.labels == LABELS
    assert [[cell.count for cell in row] for row in matrix.rows] == [
        [38.0, 1.0, 0.0],
        [0.0, 15.0, 0.0],
        [0.0, 0.0, 25.0],
    ]
    assert (matrix.total, matrix.correct) == (79.0, 78.0)
    assert matrix.accuracy == pytest.approx(78 / 79)
    assert [row[i].diagonal for i, row in enumerate(matrix.rows)] == [True] * 3
    assert matrix.rows[0][0].shade > matrix.rows[1][1].shade > matrix.rows[0][1].shade > 0
    assert matrix.rows[1][0].shade == 0.0


def test_confusion_matrix_gives_unknown_ids_a_row_of_their_own():
    matrix = evaluation.confusion_matrix("test", [(0, -1, 2.0), (0, 0, 3.0)], ("a", "b"))
    assert matrix.labels == ("a", "b", "id -1")
    assert matrix.rows[0][2].count == 2.0 and matrix.correct == 3.0


def test_read_history(tmp_path):
    history = {
        "loss": [1.0, 0.5, 0.4],
        "val_loss": [0.9, 0.6, 0.5],
        "accuracy": [0.5, 0.8, 0.9],
        "val_accuracy": [0.6, 0.95, 0.9],
    }
    (tmp_path / "history.json").write_text(
        json.dumps({"history": history, "hyperparameters": {"epochs": 60}, "epochs_run": 3})
    )
    result = evaluation.read_history(str(tmp_path))
    assert result.epochs_run == 3
    assert (result.best_epoch, result.best_value) == (2, 0.95)
    assert result.final == {"loss": 0.4, "val_loss": 0.5, "accuracy": 0.9, "val_accuracy": 0.9}
    assert [s.name for s in result.loss_chart.series] == ["loss", "val_loss"]
    assert [s.name for s in result.metric_chart.series] == ["accuracy", "val_accuracy"]
    assert all(len(s.points.split()) == 3 for s in result.metric_chart.series)


def test_read_history_of_a_regression_model_draws_mae_and_picks_the_lowest(tmp_path):
    history = {"loss": [900.0, 400.0, 300.0], "mae": [30, 20, 15], "val_mae": [31, 18, 19]}
    (tmp_path / "history.json").write_text(json.dumps({"history": history}))
    result = evaluation.read_history(str(tmp_path), "mae")
    assert (result.metric, result.best_epoch, result.best_value) == ("mae", 2, 18)
    assert result.metric_chart.title == "MAE"
    assert [s.name for s in result.metric_chart.series] == ["mae", "val_mae"]


def test_read_history_without_the_file_is_none(tmp_path):
    assert evaluation.read_history(str(tmp_path)) is None


def _slice_key(**columns) -> metrics_for_slice_pb2.SliceKey:
    key = metrics_for_slice_pb2.SliceKey()
    for column, value in columns.items():
        key.single_slice_keys.add(column=column, bytes_value=value.encode())
    return key


def test_slice_labels():
    assert evaluation.slice_label(_slice_key()) == "Overall"
    assert evaluation.slice_label(_slice_key(island="Biscoe")) == "island = Biscoe"
    assert evaluation.spec_label(tfma.SlicingSpec()) == "Overall"
    assert evaluation.spec_label(tfma.SlicingSpec(feature_keys=["sex"])) == "by sex"
    assert (
        evaluation.spec_label(tfma.SlicingSpec(feature_values={"island": "Dream"}))
        == "island = Dream"
    )


def test_threshold_rules_in_words():
    value = tfma.GenericValueThreshold(lower_bound={"value": 0.8})
    change = tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.HIGHER_IS_BETTER, absolute={"value": -0.01}
    )
    assert evaluation.threshold_rule(value, is_diff=False) == ">= 0.800"
    assert evaluation.threshold_rule(change, is_diff=True) == "change vs baseline >= -0.010"
    upper = tfma.GenericValueThreshold(upper_bound={"value": 55.0})
    relative = tfma.GenericChangeThreshold(
        direction=tfma.MetricDirection.LOWER_IS_BETTER, relative={"value": 0.05}
    )
    count = tfma.GenericValueThreshold(lower_bound={"value": 20})
    assert evaluation.threshold_rule(upper, is_diff=False) == "<= 55"
    assert evaluation.threshold_rule(count, is_diff=False) == ">= 20"
    assert (
        evaluation.threshold_rule(relative, is_diff=True) == "change vs baseline <= +5.0% relative"
    )


def test_slice_rows_put_overall_first_and_pair_the_baseline():
    values = {
        "island = Dream": {
            (C, ACCURACY, None, False): 0.966,
            (C, "example_count", None, False): 29,
        },
        "Overall": {
            (C, ACCURACY, None, False): 0.987,
            (B, ACCURACY, None, False): 1.0,
            (C, "example_count", None, False): 79,
        },
    }
    accuracy = evaluation.Metric(ACCURACY, "accuracy", "accuracy", evaluation.SCORE)
    rows = evaluation.slice_rows(values, [accuracy])
    assert rows == [
        evaluation.SliceRow("Overall", 79, {"accuracy": 0.987}, {"accuracy": 1.0}),
        evaluation.SliceRow("island = Dream", 29, {"accuracy": 0.966}, {}),
    ]


def test_class_rows_by_class_id():
    overall = {(C, "precision", 1, False): 0.938, (B, "recall", 0, False): 1.0}
    rows = evaluation.class_rows(overall, LABELS)
    assert [r.name for r in rows] == list(LABELS)
    assert rows[1].candidate == {"precision": 0.938, "recall": None, "f1_score": None, "auc": None}
    assert rows[0].baseline["recall"] == 1.0
