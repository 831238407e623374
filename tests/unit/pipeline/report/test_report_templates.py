"""The report templates, rendered from small hand-made contexts (no pipeline run needed)."""

import dataclasses
import datetime
import re
import subprocess

import pytest

from components import features
from components.data_gate.anomalies import Anomaly
from pipeline.config import EvaluatorConfig
from pipeline.report import (
    build,
    charts,
    data,
    data_sections,
    deployment,
    evaluation,
    headline,
    queries,
)
from pipeline.run_summary import RunSummary

SECTIONS = ("run", "data", "schema", "anomalies", "model", "deployment", "lineage")
STARTED = datetime.datetime(2026, 11, 22, 3, 8, 5, tzinfo=datetime.timezone.utc)
LABELS = ("Adelie", "Chinstrap", "Gentoo")
VIEW = evaluation.task_view(
    features.FeatureSpec(
        task=features.CLASSIFICATION,
        label=features.Label("species", LABELS),
        features=(features.make_feature("island", "categorical"),),
    ),
    EvaluatorConfig(),
)


def _ref(artifact_id: int, kind: str, producer: str = "Node") -> queries.ArtifactRef:
    return queries.ArtifactRef(artifact_id, kind, f"/work/{kind}/{artifact_id}", producer, 1, "r1")


def _run(**overrides) -> build.RunSection:
    values = dict(
        pipeline="penguins",
        run_id="20261122T030725.714244",
        started=STARTED,
        config="/work/configs/penguins.yaml",
        config_digest="60687790cd69",
        git=build.GitInfo("3571591242060563ab7cc30ea6e8e29e5b3175b7", dirty=False),
        components=tuple(
            build.component_rows(
                [
                    {"node_id": "CsvExampleGen", "state": "executed", "seconds": 6.5},
                    {"node_id": "Trainer", "state": "executed", "seconds": 23.0},
                ]
            )
        ),
        total_seconds=29.5,
        outcome="blessed and pushed",
        outcome_kind="ok",
        error=None,
        stopped_at=None,
        blessed=True,
        pushed_version="7",
        log_path="/work/runs/r1/pipeline.log",
        headlines=(headline.Headline("eval", "accuracy", 0.9873, 79, 0.9747),),
    )
    return build.RunSection(**{**values, **overrides})


def _data() -> data_sections.DataSection:
    numeric = data.FeatureRow(
        "bill_length_mm",
        False,
        (
            data.FeatureStats(
                "train",
                240,
                0.0125,
                mean=44.1,
                std=5.38,
                min=33.1,
                max=55.9,
                chart=charts.histogram([(33.1, 40.0, 50.0), (40.0, 55.9, 190.0)]),
            ),
        ),
    )
    categorical = data.FeatureRow(
        "island",
        True,
        (
            data.FeatureStats(
                "train",
                240,
                0.0,
                unique=3,
                top_values=(("Biscoe", 118.0), ("Dream", 87.0)),
                chart=charts.category_bars([("Biscoe", 118.0), ("Dream", 87.0)]),
            ),
        ),
    )
    return data_sections.DataSection(
        artifact=_ref(3, "ExampleStatistics", "StatisticsGen"),
        splits=(("train", 240), ("eval", 79)),
        numeric=(numeric,),
        categorical=(categorical,),
        comparisons=(
            data.Comparison("island", data.Measurement("L-infinity", 0.10027, 0.1), None),
            data.Comparison(
                "bill_length_mm",
                data.Measurement("Jensen-Shannon", 0.075, 0.1),
                data.Measurement("Jensen-Shannon", 0.0, 0.1),
            ),
            data.Comparison(
                "body_mass_g",
                data.Measurement("Jensen-Shannon", 0.0434, 0.1),
                data.Measurement("Jensen-Shannon", 0.8211, 0.1),
            ),
        ),
        baseline=data_sections.DriftBaseline("20261122T020000.000000", 3, same_artifact=True),
        categorical_threshold=0.1,
        numeric_threshold=0.1,
    )


def _schema() -> data_sections.SchemaSection:
    return data_sections.SchemaSection(
        artifact=_ref(2, "Schema", "ImportSchemaGen"),
        source="/repo/schemas/penguins/schema.pbtxt",
        rows=(data.SchemaRow("island", "string", "required", "exactly 1", "Biscoe, Dream"),),
    )


def _anomalies(rows=(), stopped=False) -> data_sections.AnomaliesSection:
    return data_sections.AnomaliesSection(
        artifact=_ref(4, "ExampleAnomalies", "ExampleValidator"),
        rows=tuple(rows),
        policy="fail",
        stopped=stopped,
    )


def _model() -> build.ModelSection:
    history = {"loss": [1.0, 0.4, 0.2], "val_loss": [0.9, 0.5, 0.3]}
    accuracy = {"accuracy": [0.6, 0.9, 0.97], "val_accuracy": [0.7, 0.95, 0.96]}
    matrix = evaluation.confusion_matrix("eval", [(0, 0, 38.0), (0, 1, 1.0), (2, 2, 25.0)], LABELS)
    result = evaluation.Evaluation(
        split="eval",
        uri="/work/Evaluator/evaluation/9",
        view=VIEW,
        slices=(
            evaluation.SliceRow("Overall", 79.0, {"accuracy": 0.9873}, {"accuracy": 0.9747}),
            evaluation.SliceRow("island = Biscoe", 38.0, {"accuracy": 1.0}, {"accuracy": 1.0}),
        ),
        classes=tuple(
            evaluation.ClassRow(
                n, {"precision": 0.99, "recall": 0.98, "f1_score": 0.985, "auc": 1.0}, {}
            )
            if n != "Chinstrap"
            # No Chinstrap in the split: every per-class metric is undefined.
            else evaluation.ClassRow(n, dict.fromkeys(evaluation.PER_CLASS_METRICS), {})
            for n in LABELS
        ),
        has_baseline=True,
        thresholds=(
            evaluation.ThresholdRow(
                "sparse_categorical_accuracy",
                "Overall",
                "value",
                ">= 0.800",
                0.9873,
                "pass",
                "0.987",
            ),
            evaluation.ThresholdRow(
                "sparse_categorical_accuracy",
                "Overall",
                "change",
                "change vs baseline >= -0.010",
                0.0126,
                "pass",
                "+0.013",
            ),
        ),
        validation_ok=True,
        confusion=matrix,
    )
    return build.ModelSection(
        model=_ref(14, "Model", "Trainer"),
        history=evaluation.TrainingHistory(
            epochs_run=3,
            hyperparameters={"epochs": 60, "learning_rate": 0.01},
            final={"loss": 0.2, "val_accuracy": 0.96},
            metric="accuracy",
            best_epoch=2,
            best_value=0.96,
            loss_chart=charts.line_chart("Loss", history),
            metric_chart=charts.line_chart("Accuracy", accuracy, y_range=(0.0, 1.0)),
        ),
        eval=result,
        test=None,
        blessed=True,
        decision=build.blessing_decision(True, result),
        baseline=_ref(8, "Model", "Trainer"),
        tensorboard_dir="/work/Trainer/model_run/7",
    )


def _deployment() -> deployment.DeploymentSection:
    tflite = {
        "examples": 79,
        "quantization": "dynamic",
        "saved_model_accuracy": 0.9873,
        "tflite_accuracy": 0.9747,
        "accuracy_drop": 0.0126,
        "saved_model_size_bytes": 376123,
        "tflite_size_bytes": 27052,
        "saved_model_latency_p50_ms": 0.45,
        "tflite_latency_p50_ms": 0.05,
        "saved_model_latency_p99_ms": 0.7,
        "tflite_latency_p99_ms": 0.09,
        "max_abs_probability_diff": 0.0123,
        "tflite_blessed": 1,
        "requires_select_tf_ops": 1,
    }
    return deployment.DeploymentSection(
        tflite=tflite,
        tflite_uri="/work/TFLiteConverter/tflite_model/10",
        pushed=True,
        pushed_version="7",
        pushed_destination="/work/serving/penguins/7",
        pushed_tflite_destination=None,
        already_served=False,
        **deployment.parity_table(tflite, regression=False, tolerance=0.01),
    )


def _lineage() -> queries.Lineage:
    return queries.Lineage(
        model=_ref(14, "Model", "Trainer"),
        trainer_execution_id=7,
        run_id="r1",
        examples=_ref(9, "Examples", "Transform"),
        transform_graph=_ref(6, "TransformGraph", "Transform"),
        raw_examples=_ref(1, "Examples", "CsvExampleGen"),
        schema=_ref(2, "Schema", "ImportSchemaGen"),
        hyperparameters_artifact=None,
        hyperparameters={"learning_rate": 0.01},
        custom_config={"code_digest": "6db38331d43cddd6"},
        code_digest="6db38331d43cddd6",
        transform_code_digest="54b0d7d2b911b230",
        model_run=_ref(13, "ModelRun", "Trainer"),
        pushed_model=_ref(20, "PushedModel", "ServingPusher"),
        pushed_version="7",
        pushed_destination="/work/serving/penguins/7",
        input_base="/repo/data/penguins",
        recorded_input_fingerprint="split:single_split,num_files:1",
        current_input_fingerprint="split:single_split,num_files:1",
        csv_files=(queries.FileFingerprint("/repo/data/penguins/penguins.csv", "ab" * 32, 15203),),
    )


def _complete() -> dict:
    return {
        "run": _run(),
        "data": _data(),
        "schema": _schema(),
        "anomalies": _anomalies(),
        "model": _model(),
        "deployment": _deployment(),
        "lineage": _lineage(),
        "label_classes": LABELS,
        "generated": STARTED,
    }


def _stopped() -> dict:
    anomaly = Anomaly(
        "train",
        "island",
        "ERROR",
        "Unexpected string values",
        "Examples contain values missing from the schema: <b>Atlantis</b> (<1%).",
    )
    run = _run(
        outcome="stopped at DataGate",
        outcome_kind="fail",
        error="AnomaliesFoundError: 1 data anomalies: island (Unexpected string values)",
        stopped_at="DataGate",
        blessed=None,
        pushed_version=None,
        headlines=(),
    )
    return {
        **_complete(),
        "run": run,
        "anomalies": _anomalies([anomaly], stopped=True),
        "model": None,
        "deployment": None,
        "lineage": None,
    }


def _metric(html: str, name: str) -> str:
    match = re.search(rf'data-metric="{re.escape(name)}">([^<]*)<', html)
    assert match, f"no {name} in the report"
    return match.group(1)


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def test_complete_run_renders_every_section_with_its_numbers():
    html = build.render(_complete())

    assert re.findall(r'<section id="(\w+)">', html) == list(SECTIONS)
    assert _metric(html, "pushed_version") == "7"
    assert _metric(html, "examples/train") == "240"
    assert _metric(html, "eval/Overall/accuracy") == "0.987"
    assert _metric(html, "eval/Overall/examples") == "79"
    assert _metric(html, "tflite/accuracy") == "0.975"
    assert "Not reached" not in html
    model = _section(html, "model")
    assert "0.975" in model and "+0.013" in model  # baseline accuracy and the change
    assert model.count('class="badge pass"') == 2
    assert "<polyline" in model and 'class="validation"' in model
    assert "38 of" not in model and "63 of 64 right" in model
    assert "above threshold" in _section(html, "data")  # sex-like skew of 0.1003 > 0.1
    assert "0.1003" in _section(html, "data")
    assert _metric(html, "drift/body_mass_g") == "0.8211"
    assert _metric(html, "skew/body_mass_g") == "0.0434"
    assert _metric(html, "drift/bill_length_mm") == "0.0000"
    assert _metric(html, "drift/island") == "–"  # TFDV measured no drift for it
    assert "the last run that trained a model" in _section(html, "data")
    assert _metric(html, "eval/Chinstrap/auc") == "n/a"
    assert _metric(html, "eval/Chinstrap/precision") == "n/a"
    assert _metric(html, "eval/Gentoo/auc") == "1.000"
    assert _metric(html, "eval/Gentoo/f1_score") == "0.985"
    assert _metric(html, "run/eval/accuracy") == "0.987"
    assert "on 79 examples (baseline 0.975)" in _section(html, "run")
    deployed = _section(html, "deployment")
    assert "|Δ probability|" in deployed and "measured -0.013 accuracy" in deployed
    assert 'class="confusion"' in model
    lineage = _section(html, "lineage")
    for artifact_id in ("#20", "#14", "#9", "#6", "#1", "#2", "#13"):
        assert artifact_id in lineage
    assert "6db38331d43cddd6" in lineage and "ab" * 32 in lineage


def test_stopped_run_fills_the_data_sections_and_says_the_rest_was_not_reached():
    html = build.render(_stopped())

    assert re.findall(r'<section id="(\w+)">', html) == list(SECTIONS)
    assert "Stopped at DataGate" in _section(html, "run")
    anomalies = _section(html, "anomalies")
    assert "Fail: 1 anomaly found" in anomalies
    assert "Unexpected string values" in anomalies
    assert "&lt;b&gt;Atlantis&lt;/b&gt;" in anomalies  # data is escaped, never markup
    assert "The run stopped before Transform" in anomalies
    for section in ("model", "deployment", "lineage"):
        assert "Not reached" in _section(html, section)
        assert "DataGate" in _section(html, section)
    assert _metric(html, "examples/eval") == "79"
    assert "island" in _section(html, "schema")


def test_a_run_the_gate_stopped_without_schema_anomalies_does_not_say_pass():
    gate = "image data anomalies: file 3/broken.png: PNG that cannot be decoded"
    context = _stopped()
    context["run"] = dataclasses.replace(context["run"], error=gate)
    context["anomalies"] = _anomalies([], stopped=True)

    anomalies = _section(build.render(context), "anomalies")

    assert "Pass" not in anomalies
    assert "the DataGate stopped the run" in anomalies and "3/broken.png" in anomalies


def test_an_unblessed_run_says_why_in_its_banner():
    failure = "sparse_categorical_accuracy changed by -0.013 against the baseline"
    run = _run(
        outcome="not blessed, nothing pushed",
        outcome_kind="warn",
        blessed=False,
        pushed_version=None,
        blessing_failures=(failure,),
    )
    html = build.render({**_complete(), "run": run, "deployment": None})

    assert re.search(r'class="banner warn">\s*Not blessed, nothing pushed', html)
    assert failure in _section(html, "run")
    assert "Not reached: nothing was converted or pushed; the model was not blessed." in html


def test_report_is_self_contained():
    html = build.render(_complete())

    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html
    assert "<link" not in html
    assert "<style>" in html


def test_a_missing_context_value_is_an_error_not_a_blank():
    context = _complete()
    del context["lineage"]
    with pytest.raises(Exception, match="lineage"):
        build.render(context)


@pytest.mark.parametrize(
    ("ending", "kind"),
    [
        ({"error": "AnomaliesFoundError: ...", "blessed": None}, "fail"),
        ({"error": None, "blessed": False}, "warn"),
        ({"error": None, "blessed": True}, "ok"),
        ({}, "ok"),
    ],
)
def test_outcome_kind(ending, kind):
    summary = RunSummary(
        pipeline="penguins",
        run_id="r1",
        config="configs/penguins.yaml",
        config_digest="0123456789ab",
        work_dir="/work",
        metadata_path="/work/metadata.sqlite",
        log_path="/work/runs/r1/pipeline.log",
        components=[],
        outcome="done",
    )
    assert build.outcome_kind(dataclasses.replace(summary, **ending)) == kind


def test_component_bars_are_relative_to_the_slowest_component():
    rows = build.component_rows(
        [
            {"node_id": "A", "state": "executed", "seconds": 10.0},
            {"node_id": "B", "state": "cached", "seconds": 2.5},
            {"node_id": "C", "state": "skipped", "seconds": None},
        ]
    )
    assert [r.bar for r in rows] == [100.0, 25.0, 0.0]


def test_blessing_decision_in_words():
    assert build.blessing_decision(None, None).startswith("The Evaluator did not decide")
    assert build.blessing_decision(False, None).startswith("Not blessed")
    assert "no earlier blessed model" in build.blessing_decision(
        True, dataclasses.replace(_model().eval, has_baseline=False)
    )


def test_git_info_outside_a_checkout_is_none(tmp_path):
    assert build.git_info(tmp_path) is None


def test_git_info_reads_head(tmp_path):
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "f.txt").write_text("one")
    git("add", "f.txt")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD")
    assert build.git_info(tmp_path) == build.GitInfo(head, dirty=False)
    (tmp_path / "f.txt").write_text("two")
    assert build.git_info(tmp_path) == build.GitInfo(head, dirty=True)
