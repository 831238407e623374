"""Airflow 2: the DAG folder loads, the DAG mirrors the pipeline, and a DAG run pushes a model.

Needs the ``airflow`` dependency group; without it the module is skipped. Airflow reads
``AIRFLOW_HOME`` when it is first imported, so nothing here imports it before the
``airflow_home`` fixture has pointed it at a fresh SQLite metadata database.
"""

import dataclasses
import datetime
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

if importlib.util.find_spec("airflow") is None:
    pytest.skip("Apache Airflow is not installed: uv sync --group airflow", allow_module_level=True)

from tfx.types import standard_artifacts  # noqa: E402

from pipeline.config import AirflowConfig, load_config  # noqa: E402
from pipeline.metadata import open_store  # noqa: E402
from pipeline.pipeline import create_pipeline  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
DAGS = REPO / "dags"
CONFIG = REPO / "configs" / "penguins.yaml"
CONDITIONAL_NODES = {"TestEvaluator", "TFLiteConverter", "ServingPusher"}
HYPERPARAMETERS = {"epochs", "learning_rate"}


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    """AIRFLOW_HOME in a temporary directory, with its metadata database created."""
    if "airflow" in sys.modules:
        pytest.fail("airflow was imported before AIRFLOW_HOME was set; it would use ~/airflow")
    home = tmp_path_factory.mktemp("airflow_home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW_HOME", str(home))
        env.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        env.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(DAGS))
        env.delenv("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", raising=False)  # Airflow's 30 s
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        yield home


@pytest.fixture(scope="module")
def builder(airflow_home):
    """``pipeline.airflow``, imported once Airflow's home is set."""
    import pipeline.airflow

    return pipeline.airflow


@pytest.fixture(scope="module")
def tasks(airflow_home):
    """``pipeline.airflow_tasks`` (TFX's launcher code), imported once Airflow's home is set."""
    import pipeline.airflow_tasks

    return pipeline.airflow_tasks


def edges(pairs) -> dict[str, set[str]]:
    return {name: set(others) for name, others in pairs}


# Parses the DAG folder as Airflow's DAG processor does, in a fresh interpreter (this one has
# imported TFX already) that has imported Airflow and its PythonOperator, and reports what the
# parse took and imported.
PARSE = """
import json, sys, time
import airflow.operators.python
from airflow.configuration import conf
from airflow.models import DagBag
started = time.monotonic()
bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
seconds = time.monotonic() - started
dag = bag.get_dag("penguins")
print(json.dumps({
    "seconds": seconds,
    "timeout": conf.getfloat("core", "dagbag_import_timeout"),
    "errors": {path: str(error) for path, error in bag.import_errors.items()},
    "dag_ids": bag.dag_ids,
    "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks} if dag else None,
    "heavy": sorted(m for m in ("tensorflow", "tfx", "apache_beam") if m in sys.modules),
}))
"""


def test_dag_folder_parses_without_tfx_within_airflows_default_timeout(airflow_home, tmp_path):
    process = subprocess.run(
        [sys.executable, "-c", PARSE, str(DAGS)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    parse = json.loads(process.stdout.strip().splitlines()[-1])
    print(f"DagBag parse of {DAGS}: {parse['seconds']:.2f} s (timeout {parse['timeout']:.0f} s)")
    assert parse["errors"] == {}
    assert parse["dag_ids"] == ["penguins"]
    assert parse["timeout"] == 30  # Airflow's default: nothing here raises it
    assert parse["heavy"] == []  # TFX, TensorFlow and Beam load in the tasks only
    nodes = create_pipeline(load_config(CONFIG)).components
    assert parse["upstream"] == {n.id: sorted(u.id for u in n.upstream_nodes) for n in nodes}


def test_one_task_per_node_with_the_pipelines_edges(builder, tmp_path):
    cfg = load_config(CONFIG, work_dir=tmp_path)
    nodes = create_pipeline(cfg).components
    dag = builder.create_airflow_dag(cfg, AirflowConfig())
    assert dag.dag_id == cfg.name
    assert edges((t.task_id, t.upstream_task_ids) for t in dag.tasks) == edges(
        (n.id, (u.id for u in n.upstream_nodes)) for n in nodes
    )
    assert edges((t.task_id, t.downstream_task_ids) for t in dag.tasks) == edges(
        (n.id, (d.id for d in n.downstream_nodes)) for n in nodes
    )


def test_schedule_start_retries_and_concurrency_come_from_config(builder, tmp_path):
    settings = AirflowConfig(
        schedule="0 3 * * 1",
        start_date="2025-02-03",
        retries=3,
        retry_delay_minutes=7,
        max_active_runs=2,
    )
    dag = builder.create_airflow_dag(load_config(CONFIG, work_dir=tmp_path), settings)
    assert dag.schedule_interval == "0 3 * * 1"
    assert dag.start_date == datetime.datetime(2025, 2, 3, tzinfo=datetime.timezone.utc)
    assert dag.catchup is False
    assert dag.max_active_runs == 2
    assert {(t.retries, t.retry_delay) for t in dag.tasks} == {(3, datetime.timedelta(minutes=7))}


def test_triggered_only_dag(builder, tmp_path):
    settings = AirflowConfig(schedule=None)
    dag = builder.create_airflow_dag(load_config(CONFIG, work_dir=tmp_path), settings)
    assert dag.schedule_interval is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": "0 3 * *"}, "schedule: needs a five-field cron"),
        ({"schedule": "@fortnightly"}, "schedule: needs a five-field cron"),
        ({"start_date": "03.02.2025"}, "start_date: needs YYYY-MM-DD"),
        ({"start_date": "2025-02-30"}, "start_date: not a date"),
        ({"retries": -1}, "retries: must be >= 0"),
        ({"retry_delay_minutes": 0}, "retry_delay_minutes: must be >= 1"),
        ({"max_active_runs": 0}, "max_active_runs: must be >= 1"),
    ],
)
def test_bad_settings_name_their_key(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        dataclasses.replace(AirflowConfig(), **change)


def test_conditions_are_those_of_the_blessing_cond(tasks, tmp_path):
    conditions = tasks.node_conditions(create_pipeline(load_config(CONFIG, work_dir=tmp_path)))
    assert set(conditions) == CONDITIONAL_NODES
    for (condition,) in conditions.values():
        assert set(condition.channels) == {"_Evaluator.blessing"}


@pytest.mark.parametrize(
    ("blessings", "holds"),
    [([1], True), ([0], False), ([], False), ([None], False)],
    ids=["blessed", "not-blessed", "no-blessing", "blessed-unset"],
)
def test_blessing_condition(tasks, tmp_path, blessings, holds):
    conditions = tasks.node_conditions(create_pipeline(load_config(CONFIG, work_dir=tmp_path)))
    artifacts = []
    for blessed in blessings:
        blessing = standard_artifacts.ModelBlessing()
        if blessed is not None:
            blessing.set_int_custom_property("blessed", blessed)
        artifacts.append(blessing)
    for node_id, (condition,) in conditions.items():
        assert condition.holds_for({"_Evaluator.blessing": artifacts}) is holds, node_id


def write_config(tmp_path: Path, **changes) -> Path:
    """The shipped config on the shipped data, work dir under ``tmp_path``, with ``changes``."""
    raw = yaml.safe_load(CONFIG.read_text())
    raw["work_dir"] = str(tmp_path / "work")
    raw["data"]["csv_dir"] = str(REPO / "data" / "penguins")
    raw["validation"]["schema_path"] = str(REPO / "schemas" / "penguins" / "schema.pbtxt")
    raw["trainer"]["hyperparameters"]["epochs"] = 25
    for section, values in changes.items():
        for key, value in values.items():
            target = raw[section]["hyperparameters"] if key in HYPERPARAMETERS else raw[section]
            target[key] = value
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


def input_ids(cfg, run_id: str, node_id: str, key: str) -> list[int]:
    """Ids of the artifacts ``node_id`` took as input ``key`` in DAG run ``run_id``."""
    with open_store(cfg.metadata_path) as store:
        run = store.get_context_by_type_and_name("run", f"{cfg.name}.{run_id}")
        (execution,) = [
            e
            for e in store.get_executions_by_context(run.id)
            if e.properties["component_id"].string_value == node_id
        ]
        return sorted(
            event.artifact_id
            for event in store.get_events_by_execution_ids([execution.id])
            if event.type == event.INPUT and event.path.steps[0].key == key
        )


@pytest.fixture(scope="module")
def dag_runs(builder, tmp_path_factory):
    """Two DAG runs: a good model, then a worse one the Evaluator must not bless."""
    workspace = tmp_path_factory.mktemp("dag_runs")
    good = load_config(write_config(workspace))
    first = builder.create_airflow_dag(good, AirflowConfig(schedule=None)).test()
    worse = load_config(
        write_config(
            workspace,
            evaluator={"min_accuracy": 1.0},
            trainer={"steps_per_epoch": 1, "epochs": 1, "learning_rate": 0.0001},
        )
    )
    second = builder.create_airflow_dag(worse, AirflowConfig(schedule=None)).test()
    return good, first, second


def task_states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


@pytest.mark.e2e
@pytest.mark.slow
def test_dag_run_trains_and_pushes_a_model(dag_runs):
    cfg, first, _ = dag_runs
    assert set(task_states(first).values()) == {"success"}, task_states(first)
    assert first.state == "success"
    versions = [d for d in cfg.serving_model_dir.iterdir() if d.name.isdigit()]
    assert len(versions) == 1
    assert (versions[0] / "saved_model.pb").is_file()
    assert input_ids(cfg, first.run_id, "Evaluator", "baseline_model") == []


@pytest.mark.e2e
@pytest.mark.slow
def test_unblessed_model_skips_conversion_push_and_test_scoring(dag_runs):
    cfg, _, second = dag_runs
    states = task_states(second)
    assert {n for n, s in states.items() if s == "skipped"} == CONDITIONAL_NODES, states
    assert {s for n, s in states.items() if n not in CONDITIONAL_NODES} == {"success"}, states
    assert second.state == "success"
    assert [d.name for d in cfg.serving_model_dir.iterdir() if d.name.isdigit()] == ["1"]


@pytest.mark.e2e
@pytest.mark.slow
def test_evaluator_baseline_is_the_earlier_blessed_model(dag_runs):
    cfg, first, second = dag_runs
    first_model = input_ids(cfg, first.run_id, "ServingPusher", "model")
    assert first_model
    assert input_ids(cfg, second.run_id, "Evaluator", "baseline_model") == first_model
    assert input_ids(cfg, second.run_id, "Evaluator", "model") != first_model


def test_monitor_dag_is_off_by_default(airflow_home, tmp_path):
    from pipeline.airflow_monitor import create_monitor_dag

    assert create_monitor_dag(load_config(CONFIG, work_dir=tmp_path), AirflowConfig()) is None


def test_monitor_dag_triggers_the_pipeline_only_when_inputs_move(airflow_home, tmp_path):
    from pipeline.airflow_monitor import create_monitor_dag

    cfg = load_config(CONFIG, work_dir=tmp_path)
    dag = create_monitor_dag(cfg, AirflowConfig(monitor_schedule="@hourly"))
    assert dag.dag_id == "penguins_monitor" and dag.schedule_interval == "@hourly"
    monitor, retrain = dag.get_task("monitor"), dag.get_task("retrain")
    assert monitor.downstream_task_ids == {"retrain"}
    assert retrain.trigger_dag_id == cfg.name
    # Nothing served and logged yet: the pass is skipped, the pipeline not triggered.
    assert monitor.python_callable(**monitor.op_kwargs) is False
