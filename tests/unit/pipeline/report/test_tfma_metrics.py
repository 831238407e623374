"""Undefined metrics from a real TFMA run: a class absent from the split.

TFMA runs model-free here (labels and probabilities read from the examples) with the
pipeline's own metrics specs, so precision, recall, AUC and the confusion matrix are
computed exactly as the Evaluator computes them.
"""

import json
import math
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma

from pipeline import run_summary, summary
from pipeline.config import load_config
from pipeline.eval_config import build_eval_config
from pipeline.report import evaluation, formatting, tfma_metrics

REPO = Path(__file__).resolve().parents[4]
LABELS = ("Adelie", "Chinstrap", "Gentoo")
C = tfma_metrics.CANDIDATE
# (label id, class probabilities): no Chinstrap example, and none predicted.
ROWS = [
    (0, [0.9, 0.05, 0.05]),
    (0, [0.8, 0.1, 0.1]),
    (0, [0.2, 0.1, 0.7]),
    (2, [0.1, 0.1, 0.8]),
    (2, [0.6, 0.1, 0.3]),
]


def _write_examples(path: Path) -> None:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for label, probabilities in ROWS:
            example = tf.train.Example()
            features = example.features.feature
            features["label"].int64_list.value.append(label)
            features["probabilities"].float_list.value.extend(probabilities)
            features["island"].bytes_list.value.append(b"Biscoe")
            features["sex"].bytes_list.value.append(b"male")
            writer.write(example.SerializeToString())


@pytest.fixture(scope="module")
def evaluation_uri(tmp_path_factory) -> str:
    """An evaluation written by TFMA with the pipeline's metrics, on ``ROWS``."""
    directory = tmp_path_factory.mktemp("tfma")
    eval_config = build_eval_config(
        load_config(REPO / "configs" / "penguins.yaml"), with_thresholds=False
    )
    del eval_config.model_specs[:]
    eval_config.model_specs.add(label_key="label", prediction_key="probabilities")
    _write_examples(directory / "examples.tfrecord")
    output = directory / "evaluation"
    tfma.run_model_analysis(
        eval_config=eval_config,
        data_location=str(directory / "examples.tfrecord"),
        output_path=str(output),
    )
    return str(output)


def test_tfma_itself_writes_nan_and_a_zero_auc_for_the_absent_class(evaluation_uri):
    raw = tfma_metrics.load_metric_values(evaluation_uri)[tfma_metrics.OVERALL]
    assert raw[(C, "precision", 1, False)] is None  # NaN from TFMA, None here
    assert raw[(C, "recall", 1, False)] is None
    assert raw[(C, "auc", 1, False)] == 0.0  # what TFMA writes; it is not a score


def test_absent_class_metrics_are_undefined_and_the_others_are_not(evaluation_uri):
    overall = tfma_metrics.read_metrics(evaluation_uri)[tfma_metrics.OVERALL]
    assert [overall[(C, m, 1, False)] for m in ("precision", "recall", "auc")] == [None] * 3
    # Adelie: 2 of 3 predicted right at threshold 0.5, 2 of the 3 predicted are Adelie.
    assert overall[(C, "precision", 0, False)] == pytest.approx(2 / 3)
    assert overall[(C, "recall", 0, False)] == pytest.approx(2 / 3)
    assert overall[(C, "auc", 0, False)] == pytest.approx(5 / 6)
    assert overall[(C, "auc", 2, False)] == pytest.approx(5 / 6)


def test_class_counts_come_from_the_confusion_matrix(evaluation_uri):
    counts = tfma_metrics.class_counts(evaluation_uri)[tfma_metrics.OVERALL]
    assert counts.positives == {0: 3.0, 2: 2.0} and counts.total == 5.0
    assert counts.one_sided(1) and not counts.one_sided(0)


def test_a_class_that_is_every_example_has_no_auc_either():
    values = {(C, "auc", 0, False): 0.0, (C, "auc", 0, True): -0.5, (C, "recall", 0, False): 1.0}
    counts = tfma_metrics.counts_of([(0, 0, 4.0)])
    assert tfma_metrics.without_undefined(values, counts) == {
        (C, "auc", 0, False): None,
        (C, "auc", 0, True): None,
        (C, "recall", 0, False): 1.0,
    }


def test_without_class_counts_an_undefined_recall_makes_the_auc_undefined():
    values = {(C, "auc", 1, False): 0.0, (C, "recall", 1, False): None, (C, "auc", 0, False): 0.0}
    assert tfma_metrics.without_undefined(values, None) == {
        (C, "auc", 1, False): None,
        (C, "recall", 1, False): None,
        (C, "auc", 0, False): 0.0,  # a real 0.0: the model ranked every Adelie last
    }


def test_summary_json_is_strict_json_with_null_for_undefined_metrics(evaluation_uri):
    metrics = summary.read_split_metrics(evaluation_uri, "eval", LABELS)
    run = run_summary.RunSummary(
        **dict.fromkeys(
            ("pipeline", "run_id", "config", "config_digest", "work_dir", "metadata_path"), "x"
        ),
        log_path="x",
        components=[],
        outcome="done",
        eval_metrics=metrics,
        tflite={"max_abs_probability_diff": math.nan},
    )

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    written = json.loads(run.to_json(), parse_constant=refuse)
    assert written["eval_metrics"]["per_class"]["Chinstrap"] == {
        "precision": None,
        "recall": None,
        "f1_score": None,
        "auc": None,
    }
    assert written["eval_metrics"]["per_class"]["Gentoo"]["auc"] == pytest.approx(5 / 6)
    assert written["tflite"]["max_abs_probability_diff"] is None


def test_summary_on_screen_says_n_a_for_undefined_metrics(evaluation_uri):
    metrics = summary.read_split_metrics(evaluation_uri, "eval", LABELS)
    lines = run_summary._format_metrics(metrics).splitlines()
    assert lines[0] == "eval       accuracy 0.600 on 5 examples"
    assert lines[2] == "           Chinstrap   precision n/a  recall n/a  f1_score n/a  auc n/a"
    assert lines[3] == (
        "           Gentoo      precision 0.500  recall 0.500  f1_score 0.500  auc 0.833"
    )


def test_report_class_rows_say_n_a_for_undefined_metrics(evaluation_uri):
    cfg = load_config(REPO / "configs" / "penguins.yaml")
    view = evaluation.task_view(cfg.spec, cfg.evaluator)
    result = evaluation.read_evaluation(evaluation_uri, "eval", view, gated=False)
    chinstrap = next(row for row in result.classes if row.name == "Chinstrap")
    assert chinstrap.candidate == dict.fromkeys(("precision", "recall", "f1_score", "auc"))
    assert [formatting.class_metric(v) for v in chinstrap.candidate.values()] == ["n/a"] * 4
    assert result.confusion.total == 5.0
