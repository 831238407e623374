"""The real pipeline, run by ``runner.py --local`` on the shipped data, checked through ML Metadata.

The penguins history (``tests/e2e/conftest.py``) starts two runs together in one work
directory: one trains and pushes (the cold run), the other waits for it and then finds every
component cached (the unchanged re-run). Later in that directory: a run whose model cannot
meet its threshold, then one with a looser change threshold. Runs on a CSV that breaks the
schema and on too little data use work directories of their own.
"""

import csv
import json
import re
from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import text_format
from penguins_runs import REPO, run_id_of, run_pipeline, write_config
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_serving.config import model_server_config_pb2

from pipeline import metadata

pytestmark = pytest.mark.e2e

PIPELINE_NAME = "penguins"
COMPONENTS = (
    "CsvExampleGen",
    "ImportSchemaGen",
    "StatisticsGen",
    "ExampleValidator",
    "DataGate",
    "Transform",
    "Trainer",
    "Evaluator",
    "TestEvaluator",
    "TFLiteConverter",
    "ServingPusher",
)
RESOLVER = "latest_blessed_model_resolver"


def states(summary: dict) -> dict[str, str]:
    return {c["node_id"]: c["state"] for c in summary["components"]}


def mlmd_states(work_dir: Path, run_id: str, nodes) -> dict[str, str]:
    with metadata.open_store(work_dir / "metadata.sqlite") as store:
        return {n: metadata.node_execution(store, PIPELINE_NAME, run_id, n).state for n in nodes}


def served_versions(work_dir: Path) -> list[str]:
    return sorted(
        p.name for p in (work_dir / "serving" / PIPELINE_NAME).iterdir() if p.name.isdigit()
    )


@pytest.fixture(scope="module")
def workspace(penguins_history) -> Path:
    return penguins_history.workspace


@pytest.fixture(scope="module")
def first_run(penguins_history):
    return penguins_history.first.process, penguins_history.first.summary


@pytest.fixture(scope="module")
def rerun(penguins_history):
    return penguins_history.rerun.process, penguins_history.rerun.summary


@pytest.fixture(scope="module")
def impossible_run(rerun, workspace):
    config = write_config(
        workspace,
        evaluator={"min_accuracy": 1.0},
        trainer={"steps_per_epoch": 1, "hyperparameters": {"epochs": 1, "learning_rate": 0.0001}},
        tuner={
            "enabled": True,
            "max_trials": 2,
            "epochs": 1,
            "learning_rate_choices": [0.02, 0.03],
        },
    )
    return run_pipeline(config)


def test_first_run_executes_every_component_once(first_run, workspace):
    process, summary = first_run
    assert process.returncode == 0, process.stderr[-3000:]
    assert mlmd_states(workspace / "work", summary["run_id"], COMPONENTS) == dict.fromkeys(
        COMPONENTS, "executed"
    )
    with metadata.open_store(workspace / "work" / "metadata.sqlite") as store:
        run = store.get_context_by_type_and_name(metadata.PIPELINE_RUN_CONTEXT, summary["run_id"])
        executions = store.get_executions_by_context(run.id)
    assert len(executions) == len(COMPONENTS) + 1  # + the resolver
    assert states(summary)[RESOLVER] == "resolved"


def test_first_run_prints_progress_and_summary(first_run):
    process, summary = first_run
    for node in COMPONENTS:
        assert any(line.split()[:2] == [node, "executed"] for line in process.stdout.splitlines())
    assert "blessed    yes" in process.stdout
    assert f"pushed     version {summary['pushed_version']}" in process.stdout
    assert summary["eval_metrics"]["accuracy"] >= 0.8
    assert summary["test_metrics"]["example_count"] > 0
    assert Path(summary["log_path"]).read_text().count("Component Trainer is finished.") == 1


def test_pushed_model_predicts_on_raw_examples(first_run):
    _, summary = first_run
    rows = list(csv.DictReader((REPO / "data" / "penguins" / "penguins.csv").open()))[::10]
    model = tf.saved_model.load(summary["pushed_path"])
    outputs = model.signatures["serving_default"](
        examples=tf.constant([_raw_example(row) for row in rows])
    )
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (len(rows), 3)
    assert probabilities.sum(axis=1) == pytest.approx(1.0, abs=1e-5)
    predicted = [c.decode() for c in outputs["classes"].numpy()]
    accuracy = sum(p == row["species"] for p, row in zip(predicted, rows, strict=True)) / len(rows)
    assert accuracy >= 0.8

    dense = model.signatures["serving_raw"](**_dense_inputs(rows))
    assert dense["probabilities"].numpy() == pytest.approx(probabilities, abs=1e-6)


def test_first_run_converts_gates_and_pushes_both_forms(first_run, workspace):
    _, summary = first_run
    tflite = summary["tflite"]
    assert tflite["tflite_blessed"] == 1
    assert tflite["tflite_accuracy"] >= tflite["saved_model_accuracy"] - 0.01
    assert tflite["examples"] == summary["eval_metrics"]["example_count"]
    published = Path(summary["pushed_tflite_path"])
    assert published.name == summary["pushed_version"]
    assert published.parent.name == f"{PIPELINE_NAME}-tflite"

    rows = list(csv.DictReader((REPO / "data" / "penguins" / "penguins.csv").open()))[::10]
    saved_model = tf.saved_model.load(summary["pushed_path"]).signatures["serving_raw"]
    expected = saved_model(**_dense_inputs(rows))["probabilities"].numpy()
    interpreter = tf.lite.Interpreter(model_path=str(published / "tflite"))
    runner = interpreter.get_signature_runner("serving_raw")
    dense = {k: v.numpy() for k, v in _dense_inputs(rows).items()}
    first = runner(**{k: v[:1] for k, v in dense.items()})["probabilities"]  # batch of one first
    assert first == pytest.approx(expected[:1], abs=1e-3)
    actual = runner(**dense)["probabilities"]
    assert actual == pytest.approx(expected, abs=1e-3)

    config = model_server_config_pb2.ModelServerConfig()
    text_format.Parse((workspace / "work" / "serving" / "models.config").read_text(), config)
    (model,) = config.model_config_list.config
    assert model.name == PIPELINE_NAME
    assert model.base_path == str(Path(summary["pushed_path"]).parent)


def _dense_inputs(rows: list[dict]) -> dict[str, tf.Tensor]:
    """The serving_raw form: one tensor per feature, NaN or "" where a value is missing."""
    types = {f.name: f.type for f in _schema().feature}
    columns = {}
    for key in types:
        if key in ("species", "year"):
            continue
        if types[key] == schema_pb2.BYTES:
            columns[key] = tf.constant([row[key] for row in rows])
        else:
            columns[key] = tf.constant([float(row[key] or "nan") for row in rows], tf.float32)
    return columns


def _raw_example(row: dict) -> bytes:
    """A serialized tf.Example typed by the curated schema; the label is left out."""
    types = {f.name: f.type for f in _schema().feature}
    feature = {}
    for key, value in row.items():
        if key == "species" or value == "":
            continue
        if types[key] == schema_pb2.BYTES:
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
        elif types[key] == schema_pb2.FLOAT:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        else:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _schema() -> schema_pb2.Schema:
    path = REPO / "schemas" / "penguins" / "schema.pbtxt"
    return text_format.Parse(path.read_text(), schema_pb2.Schema())


def test_unchanged_rerun_executes_nothing(first_run, rerun, workspace):
    process, summary = rerun
    assert process.returncode == 0, process.stderr[-3000:]
    assert mlmd_states(workspace / "work", summary["run_id"], COMPONENTS) == dict.fromkeys(
        COMPONENTS, "cached"
    )
    assert "executed" not in process.stdout
    assert summary["pushed_version"] == first_run[1]["pushed_version"]
    assert served_versions(workspace / "work") == [first_run[1]["pushed_version"]]


def test_impossible_threshold_pushes_nothing(impossible_run, first_run, workspace):
    process, summary = impossible_run
    assert process.returncode == 0, process.stderr[-3000:]
    ran = mlmd_states(workspace / "work", summary["run_id"], COMPONENTS)
    assert ran["Trainer"] == "executed" and ran["Evaluator"] == "executed"
    assert ran["ServingPusher"] == "skipped" and ran["TestEvaluator"] == "skipped"
    assert ran["TFLiteConverter"] == "skipped"
    assert summary["blessed"] is False and summary["pushed_version"] is None
    assert summary["eval_metrics"]["baseline_accuracy"] == first_run[1]["eval_metrics"]["accuracy"]
    assert any("sparse_categorical_accuracy" in f for f in summary["blessing_failures"])
    assert "blessed    no" in process.stdout
    assert served_versions(workspace / "work") == [first_run[1]["pushed_version"]]


def test_tuner_result_reaches_the_trainer(impossible_run, workspace):
    _, summary = impossible_run
    work_dir = workspace / "work"
    assert mlmd_states(work_dir, summary["run_id"], ("Tuner",)) == {"Tuner": "executed"}
    with metadata.open_store(work_dir / "metadata.sqlite") as store:
        trainer = metadata.node_execution(store, PIPELINE_NAME, summary["run_id"], "Trainer")
        (model_run,) = metadata.output_artifacts(store, trainer.execution_id)["model_run"]
    history = json.loads((Path(model_run.uri) / "history.json").read_text())
    assert history["hyperparameters"]["learning_rate"] in (0.02, 0.03)  # config said 0.0001
    assert history["epochs_run"] == 1


def test_out_of_domain_category_stops_before_transform(out_of_domain_run):
    config, process, summary = out_of_domain_run
    assert process.returncode == 1
    assert summary["outcome"] == "stopped at DataGate"
    assert any(a["feature"] == "island" for a in summary["anomalies"])
    assert "Data anomalies: the run stopped before Transform" in process.stdout
    assert any(
        " island " in line and "Unexpected string values" in line
        for line in process.stdout.splitlines()
    )
    ran = mlmd_states(config.parent / "work", summary["run_id"], ("ExampleValidator", "Transform"))
    assert ran == {"ExampleValidator": "executed", "Transform": "skipped"}


@pytest.fixture(scope="module")
def reevaluated_run(impossible_run, workspace):
    """The first run's config with a looser change threshold: same model, new blessing."""
    return run_pipeline(write_config(workspace, evaluator={"max_accuracy_drop": 0.02}))


def test_reblessed_served_model_is_not_pushed_again(reevaluated_run, first_run, workspace):
    process, summary = reevaluated_run
    assert process.returncode == 0, process.stderr[-3000:]
    ran = mlmd_states(workspace / "work", summary["run_id"], COMPONENTS)
    assert ran["Trainer"] == "cached"
    assert ran["Evaluator"] == "executed" and ran["ServingPusher"] == "executed"
    assert summary["blessed"] is True
    assert summary["pushed_version"] == first_run[1]["pushed_version"]
    assert served_versions(workspace / "work") == [first_run[1]["pushed_version"]]


def test_two_runs_started_together_train_and_push_once(penguins_history):
    """The history's two runs, started together on one work dir: one waits for the other."""
    first, second = penguins_history.first, penguins_history.rerun
    work_dir = penguins_history.work_dir
    for started in (first, second):
        assert started.process.returncode == 0, started.process.stderr[-3000:]
    assert "waiting for it to finish" not in first.process.stdout
    waiting = second.process.stdout.splitlines()[0]
    assert waiting.startswith(f"penguins: work dir {work_dir} is in use by ")
    assert waiting.endswith("; waiting for it to finish")
    # The holder is named once it has recorded itself; a start within that instant sees
    # "another run (not yet recorded)".
    if "(not yet recorded)" not in waiting:
        assert f"run {first.summary['run_id']} (pid {first.pid} on host " in waiting
    assert run_id_of(second.process.stdout) == second.summary["run_id"]
    assert states(first.summary)["Trainer"] == "executed"
    assert mlmd_states(work_dir, second.summary["run_id"], COMPONENTS) == dict.fromkeys(
        COMPONENTS, "cached"
    )
    assert served_versions(work_dir) == [first.summary["pushed_version"]] == ["1"]


def test_an_unchanged_run_stops_before_tfx_and_shows_the_last_summary(penguins_history):
    """Without ``--recheck``, inputs equal to the last complete run's start no run at all."""
    process = penguins_history.unchanged
    rerun_id = penguins_history.rerun.summary["run_id"]
    assert process.returncode == 0, process.stdout[-2000:] + process.stderr[-3000:]
    lines = process.stdout.splitlines()
    assert lines[0] == (
        f"penguins: up to date: config, code, schema, data and packages are those of run "
        f"{rerun_id}; nothing ran (--recheck runs it through TFX's cache)"
    )
    assert f"run        {rerun_id}  (penguins: unchanged" in process.stdout
    assert (
        lines[-1] == f"report     {penguins_history.work_dir / 'runs' / rerun_id / 'report.html'}"
    )
    assert run_id_of(process.stdout) is None
    assert process.stderr == ""
    assert (penguins_history.work_dir / "runs" / rerun_id / "inputs.json").is_file()


def test_too_little_data_and_bad_labels_stop_at_the_data_gate(tmp_path):
    """Ten rows in R's dialect, one of an unknown species and one without a species."""
    csv_dir = tmp_path / "data"
    csv_dir.mkdir()
    lines = (REPO / "data" / "penguins" / "penguins.csv").read_text().splitlines()[:9]
    header = ",".join(f'"{name}"' for name in lines[0].split(","))
    rows = [",".join(cell or "NA" for cell in line.split(",")) for line in lines[1:]]
    rows += [
        '"Emperor","Dream",45.1,17.2,200,4000,"male",2009',
        'NA,"Dream",40,18,190,3700,NA,2009',
    ]
    (csv_dir / "penguins.csv").write_text("\r\n".join([header, *rows]) + "\r\n")
    process, summary = run_pipeline(write_config(tmp_path, csv_dir=csv_dir))

    assert process.returncode == 1
    assert summary["outcome"] == "stopped at DataGate"
    (error_line,) = [line for line in process.stdout.splitlines() if line.startswith("error ")]
    problems = error_line.removeprefix("error").strip().split("; ")
    split_sizes = [p for p in problems if p.startswith("split ")]
    assert len(split_sizes) == 3  # no split of ten rows reaches its minimum
    assert all(re.fullmatch(
        r"split (train|eval|test) has \d+ examples, fewer than the \d+ "
        r"data\.min_examples\.\1 asks for", p) for p in split_sizes)  # fmt: skip
    assert any(re.fullmatch(r"label 'species' is missing in 1 of \d+ examples of split \w+", p)
               for p in problems)  # fmt: skip
    assert problems[-1].startswith(
        "label 'species' has values not in label.classes [Adelie, Chinstrap, Gentoo]: "
        "'Emperor' (1 in "
    )
    ran = mlmd_states(tmp_path / "work", summary["run_id"], ("DataGate", "Transform", "Trainer"))
    assert ran == {"DataGate": "failed", "Transform": "skipped", "Trainer": "skipped"}
