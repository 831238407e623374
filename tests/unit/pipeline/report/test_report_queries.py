"""list_runs and lineage over a real ML Metadata store, written the way TFX writes one.

The store is SQLite under tmp_path: contexts per pipeline, run and node; executions
with their input and output events; a cached run whose executions point at the first
run's artifacts, as TFX's cache does.
"""

import dataclasses
import datetime
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2 as pb
from tfx.utils import io_utils

from components import features, process_owner
from pipeline import metadata, run_lock
from pipeline.config import DataConfig, EvaluatorConfig, PipelineConfig
from pipeline.report import build, data_sections, queries
from pipeline.run_summary import RunSummary, SplitMetrics

PIPELINE = "penguins"
SPEC = features.FeatureSpec(
    task=features.CLASSIFICATION,
    label=features.Label("species", ("Adelie", "Gentoo")),
    features=(features.make_feature("island", "categorical"),),
)
RUN_1, RUN_2, RUN_3 = "20260101T000000.000001", "20260102T000000.000001", "20260103T000000.000001"
HYPERPARAMETERS = {"learning_rate": 0.02, "hidden_units": [16, 8]}


class MetadataWriter:
    """Writes contexts, executions and events into a real MLMD store."""

    def __init__(self, path: Path):
        config = pb.ConnectionConfig()
        config.sqlite.filename_uri = str(path)
        config.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = mlmd.MetadataStore(config)
        self._contexts: dict[tuple[str, str], pb.Context] = {}
        self.pipeline = self._context("pipeline", PIPELINE)

    def artifact(self, type_name: str, uri: str, **properties) -> pb.Artifact:
        type_id = self.store.put_artifact_type(pb.ArtifactType(name=type_name))
        artifact = pb.Artifact(type_id=type_id, uri=uri, state=pb.Artifact.LIVE)
        _set(artifact, properties)
        [artifact.id] = self.store.put_artifacts([artifact])
        return artifact

    def execute(
        self,
        run_id: str,
        node_id: str,
        inputs: dict[str, pb.Artifact] | None = None,
        outputs: dict[str, pb.Artifact] | None = None,
        state: int = pb.Execution.COMPLETE,
        type_name: str | None = None,
        **properties,
    ) -> int:
        type_id = self.store.put_execution_type(pb.ExecutionType(name=type_name or node_id))
        execution = pb.Execution(type_id=type_id, last_known_state=state)
        _set(execution, properties)
        events = [
            (artifact, _event(kind, key))
            for kind, artifacts in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs))
            for key, artifact in (artifacts or {}).items()
        ]
        contexts = [
            self.pipeline,
            self._context("pipeline_run", run_id),
            self._context("node", f"{PIPELINE}.{node_id}"),
        ]
        execution_id, _, _ = self.store.put_execution(execution, events, contexts)
        return execution_id

    def _context(self, type_name: str, name: str) -> pb.Context:
        if (type_name, name) not in self._contexts:
            type_id = self.store.put_context_type(pb.ContextType(name=type_name))
            context = self.store.get_context_by_type_and_name(type_name, name)
            if context is None:
                context = pb.Context(type_id=type_id, name=name)
                [context.id] = self.store.put_contexts([context])
            self._contexts[(type_name, name)] = context
        return self._contexts[(type_name, name)]


def _set(item, properties: dict) -> None:
    for name, value in properties.items():
        if isinstance(value, int):
            item.custom_properties[name].int_value = value
        else:
            item.custom_properties[name].string_value = value


def _event(kind: int, key: str) -> pb.Event:
    event = pb.Event(type=kind)
    event.path.steps.add().key = key
    event.path.steps.add().index = 0
    return event


@pytest.fixture
def world(tmp_path):
    """Three runs: trained and pushed; unchanged (cached); stopped at DataGate."""
    csv_dir = tmp_path / "data"
    csv_dir.mkdir()
    (csv_dir / "penguins.csv").write_text("species,island\nAdelie,Biscoe\n")
    cfg = PipelineConfig(
        name=PIPELINE,
        work_dir=tmp_path / "work",
        data=DataConfig(csv_dir=csv_dir),
        spec=SPEC,
    )
    cfg.work_dir.mkdir()
    writer = MetadataWriter(cfg.metadata_path)
    a = _first_run(writer, cfg, tmp_path)
    _cached_run(writer, a)
    raw = writer.artifact("Examples", str(tmp_path / "raw3"))
    writer.execute(RUN_3, "CsvExampleGen", outputs={"examples": raw})
    writer.execute(RUN_3, "DataGate", state=pb.Execution.FAILED)
    _summary(cfg, RUN_1)
    return cfg, a


def _first_run(writer: MetadataWriter, cfg: PipelineConfig, root: Path) -> dict[str, pb.Artifact]:
    a = {
        "raw": writer.artifact("Examples", str(root / "raw")),
        "schema": writer.artifact("Schema", str(root / "schema")),
        "statistics": writer.artifact("ExampleStatistics", str(root / "stats")),
        "anomalies": writer.artifact("ExampleAnomalies", str(root / "anomalies")),
        "graph": writer.artifact("TransformGraph", str(root / "graph")),
        "transformed": writer.artifact("Examples", str(root / "transformed")),
        "model": writer.artifact("Model", str(root / "model")),
        "model_run": writer.artifact("ModelRun", str(root / "model_run")),
        "blessing": writer.artifact("ModelBlessing", str(root / "blessing"), blessed=1),
        "pushed": writer.artifact(
            "PushedModel",
            str(root / "pushed"),
            pushed=1,
            pushed_version="1",
            pushed_destination=str(cfg.serving_model_dir / "1"),
        ),
    }
    (root / "model_run").mkdir()
    (root / "model_run" / "history.json").write_text(
        json.dumps({"hyperparameters": HYPERPARAMETERS, "history": {}})
    )
    csv = str(cfg.data.csv_dir)
    ids = {
        "CsvExampleGen": writer.execute(
            RUN_1,
            "CsvExampleGen",
            outputs={"examples": a["raw"]},
            input_base=csv,
            input_config=json.dumps({"splits": [{"name": "single_split", "pattern": "*"}]}),
            input_fingerprint=io_utils.generate_fingerprint("single_split", f"{csv}/*"),
        ),
    }
    writer.execute(RUN_1, "ImportSchemaGen", outputs={"schema": a["schema"]})
    writer.execute(RUN_1, "StatisticsGen", {"examples": a["raw"]}, {"statistics": a["statistics"]})
    writer.execute(
        RUN_1,
        "ExampleValidator",
        {"statistics": a["statistics"], "schema": a["schema"]},
        {"anomalies": a["anomalies"]},
    )
    ids["Transform"] = writer.execute(
        RUN_1,
        "Transform",
        {"examples": a["raw"], "schema": a["schema"]},
        {"transform_graph": a["graph"], "transformed_examples": a["transformed"]},
        custom_config=json.dumps({"code_digest": "transform-digest"}),
    )
    a["trainer_execution"] = writer.execute(
        RUN_1,
        "Trainer",
        {"examples": a["transformed"], "transform_graph": a["graph"]},
        {"model": a["model"], "model_run": a["model_run"]},
        custom_config=json.dumps({"code_digest": "trainer-digest", "hyperparameters": {}}),
    )
    writer.execute(RUN_1, "resolver", type_name="tfx.dsl.components.common.resolver.Resolver")
    writer.execute(RUN_1, "Evaluator", {"model": a["model"]}, {"blessing": a["blessing"]})
    writer.execute(
        RUN_1,
        "ServingPusher",
        {"model": a["model"], "model_blessing": a["blessing"]},
        {"pushed_model": a["pushed"]},
    )
    # An evaluation without thresholds: TFX leaves its blessing without a verdict.
    unjudged = writer.artifact("ModelBlessing", str(root / "test_blessing"))
    writer.execute(RUN_1, "TestEvaluator", {"model": a["model"]}, {"blessing": unjudged})
    return a


def _cached_run(writer: MetadataWriter, a: dict[str, pb.Artifact]) -> None:
    cached = pb.Execution.CACHED
    writer.execute(RUN_2, "CsvExampleGen", outputs={"examples": a["raw"]}, state=cached)
    writer.execute(
        RUN_2, "Trainer", {"examples": a["transformed"]}, {"model": a["model"]}, state=cached
    )
    writer.execute(RUN_2, "resolver", type_name="tfx.dsl.components.common.resolver.Resolver")
    writer.execute(
        RUN_2, "Evaluator", {"model": a["model"]}, {"blessing": a["blessing"]}, state=cached
    )
    writer.execute(
        RUN_2,
        "ServingPusher",
        {"model": a["model"], "model_blessing": a["blessing"]},
        {"pushed_model": a["pushed"]},
        state=cached,
    )


def test_list_runs_newest_first_with_status_blessing_and_push(world):
    cfg, _ = world
    runs = queries.list_runs(cfg)

    assert [r.run_id for r in runs] == [RUN_3, RUN_2, RUN_1]
    stopped, cached, first = runs
    assert (stopped.status, stopped.failed_node, stopped.blessed) == ("failed", "DataGate", None)
    assert stopped.pushed_version is None
    assert (cached.status, cached.executed, cached.cached) == ("cached", 0, 4)
    assert (cached.blessed, cached.pushed_version) == (True, "1")
    assert (first.status, first.executed, first.cached) == ("complete", 9, 0)
    assert (first.blessed, first.pushed_version) == (True, "1")
    assert first.outcome == "blessed and pushed" and cached.outcome is None
    assert isinstance(first.started, datetime.datetime) and first.started.tzinfo is not None


def test_lineage_of_a_pushed_version_walks_back_to_the_raw_files(world):
    cfg, a = world
    found = queries.lineage(cfg, version=1)

    assert found.pushed_model.id == a["pushed"].id
    assert (found.pushed_model.producer, found.pushed_model.run_id) == ("ServingPusher", RUN_1)
    assert found.model.id == a["model"].id
    assert found.trainer_execution_id == a["trainer_execution"]
    assert found.run_id == RUN_1
    assert found.examples.id == a["transformed"].id
    assert found.transform_graph.id == a["graph"].id
    assert found.raw_examples.id == a["raw"].id
    assert found.schema.id == a["schema"].id
    assert found.model_run.id == a["model_run"].id
    assert found.code_digest == "trainer-digest"
    assert found.transform_code_digest == "transform-digest"
    assert found.hyperparameters == HYPERPARAMETERS  # what training used, from history.json
    assert found.pushed_version == "1"
    csv = cfg.data.csv_dir / "penguins.csv"
    assert found.csv_files == (
        queries.FileFingerprint(
            str(csv), hashlib.sha256(csv.read_bytes()).hexdigest(), csv.stat().st_size
        ),
    )
    assert found.inputs_unchanged is True


def test_lineage_by_uri_finds_the_same_model(world):
    cfg, a = world
    by_serving_dir = queries.lineage(
        cfg, model_uri=a["pushed"].custom_properties["pushed_destination"].string_value
    )
    by_model = queries.lineage(cfg, model_uri=a["model"].uri + "/")
    newest = queries.lineage(cfg)
    assert by_serving_dir.model.id == by_model.model.id == newest.model.id == a["model"].id
    assert by_model.pushed_model.id == a["pushed"].id


def test_lineage_notices_input_files_changed_since_ingestion(world):
    cfg, _ = world
    with (cfg.data.csv_dir / "penguins.csv").open("a") as f:
        f.write("Gentoo,Dream\n")
    assert queries.lineage(cfg, version=1).inputs_unchanged is False


def test_lineage_of_an_unknown_version_says_so(world):
    cfg, _ = world
    with pytest.raises(queries.LineageError, match="no pushed model with version 9"):
        queries.lineage(cfg, version=9)


def test_input_fingerprint_matches_example_gens(tmp_path):
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.csv").write_text("x\n22\n")
    (tmp_path / ".hidden").write_text("ExampleGen's glob sees this too")
    patterns = {"single_split": "*"}

    expected = io_utils.generate_fingerprint("single_split", f"{tmp_path}/*")
    assert queries.input_fingerprint(str(tmp_path), patterns) == expected
    assert "num_files:3" in expected


@pytest.mark.parametrize(
    ("states", "status"),
    [
        ([pb.Execution.COMPLETE, pb.Execution.CACHED], "complete"),
        ([pb.Execution.CACHED, pb.Execution.CACHED], "cached"),
        ([pb.Execution.COMPLETE, pb.Execution.FAILED], "failed"),
        ([pb.Execution.RUNNING], "running"),
        ([], "complete"),
    ],
)
def test_run_status(states, status):
    assert queries.run_status(states) == status


def test_format_runs_aligns_one_line_per_run(world):
    cfg, _ = world
    lines = queries.format_runs(queries.list_runs(cfg)).splitlines()

    assert lines[0].split() == [
        "run",
        "started",
        "status",
        "blessed",
        "pushed",
        "eval",
        "outcome",
    ]
    assert lines[1].split()[0] == RUN_3 and lines[1].endswith("failed at DataGate")
    assert lines[2].split()[3:5] == ["cached", "yes"]
    assert lines[3].endswith("blessed and pushed")
    assert lines[0].index("status") == lines[1].index("failed") == lines[2].index("cached")


REGRESSION_SPEC = features.FeatureSpec(
    task=features.REGRESSION,
    label=features.Label("progression", ()),
    features=(features.make_feature("bmi", "numeric"),),
)


def _summary(cfg: PipelineConfig, run_id: str, **metrics) -> None:
    """A summary.json as the runner writes it."""
    run_dir = cfg.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(
        pipeline=cfg.name,
        run_id=run_id,
        config=str(cfg.source),
        config_digest=cfg.digest(),
        work_dir=str(cfg.work_dir),
        metadata_path=str(cfg.metadata_path),
        log_path=str(run_dir / "pipeline.log"),
        components=[],
        outcome="blessed and pushed",
        **metrics,
    )
    (run_dir / "summary.json").write_text(summary.to_json())


def _split(split: str, count: int, **values) -> SplitMetrics:
    return SplitMetrics(
        **{"split": split, "example_count": count, "accuracy": None, "per_class": {}, **values}
    )


@pytest.fixture
def regression_world(world, tmp_path):
    """The same store, read as a regression pipeline gated on RMSE."""
    cfg, a = world
    csv_dir = tmp_path / "regression"
    csv_dir.mkdir()
    (csv_dir / "data.csv").write_text("progression,bmi\n151,32.1\n")
    cfg = dataclasses.replace(
        cfg,
        data=DataConfig(csv_dir=csv_dir),
        spec=REGRESSION_SPEC,
        evaluator=EvaluatorConfig(error_metric="rmse", max_error=60.0),
    )
    errors = {"mae": 40.28, "mse": 2568.4, "rmse": 50.68}
    _summary(
        cfg,
        RUN_1,
        eval_metrics=_split(
            "eval", 88, errors=errors, baseline_errors={"mae": 41.0, "mse": 2601.0, "rmse": 51.0}
        ),
        test_metrics=_split("test", 58, errors={"mae": 47.85, "mse": 3409.0, "rmse": 58.39}),
    )
    return cfg, a


def test_runs_and_lineage_show_accuracy_for_classification(world):
    cfg, _ = world
    _summary(
        cfg,
        RUN_1,
        eval_metrics=_split("eval", 79, accuracy=0.9873, baseline_accuracy=None),
        test_metrics=_split("test", 25, accuracy=1.0),
    )
    first = row(cfg, RUN_1)
    assert (first.headline.name, first.headline.value) == ("accuracy", 0.9873)
    assert row(cfg, RUN_2).headline is None  # no summary.json

    lines = queries.format_runs(queries.list_runs(cfg)).splitlines()
    header = lines[0]
    assert lines[3][header.index("eval") :].startswith("accuracy 0.987  blessed and pushed")
    assert lines[2][header.index("eval") :].startswith("-")

    text = queries.format_lineage(queries.lineage(cfg, version=1)).splitlines()
    assert "eval         accuracy 0.987 on 79 examples" in text
    assert "test         accuracy 1.000 on 25 examples" in text


def test_runs_and_lineage_show_the_gated_error_for_regression(regression_world):
    cfg, _ = regression_world
    first = row(cfg, RUN_1)
    assert (first.headline.name, first.headline.value) == ("rmse", 50.68)

    line = queries.format_runs(queries.list_runs(cfg)).splitlines()[3]
    assert "rmse 50.68  blessed and pushed" in line and "accuracy" not in line

    found = queries.lineage(cfg, version=1)
    assert [(h.split, h.name, h.value) for h in found.evaluations] == [
        ("eval", "rmse", 50.68),
        ("test", "rmse", 58.39),
    ]
    text = queries.format_lineage(found).splitlines()
    assert "eval         rmse 50.68 on 88 examples (baseline 51)" in text
    assert "test         rmse 58.39 on 58 examples" in text
    assert not any("accuracy" in line for line in text)


def test_lineage_without_a_summary_shows_no_metric(world):
    cfg, _ = world
    (cfg.runs_dir / RUN_1 / "summary.json").unlink()
    found = queries.lineage(cfg, version=1)
    assert found.evaluations == ()
    assert not any(line.startswith("eval") for line in queries.format_lineage(found).splitlines())


def test_the_report_reads_the_summary_or_rebuilds_one_from_ml_metadata(world):
    cfg, _ = world
    with metadata.open_store(cfg.metadata_path) as store:

        def section(run_id: str) -> build.RunSection:
            context = store.get_context_by_type_and_name(metadata.PIPELINE_RUN_CONTEXT, run_id)
            return build._run_section(store, cfg, context, queries.read_summary(cfg, run_id))

        written, rebuilt = section(RUN_1), section(RUN_3)  # RUN_3 wrote no summary.json

    assert (written.outcome, written.outcome_kind) == ("blessed and pushed", "ok")
    assert written.log_path == str(cfg.runs_dir / RUN_1 / "pipeline.log")
    assert (rebuilt.outcome, rebuilt.outcome_kind) == ("stopped at DataGate", "fail")
    assert (rebuilt.stopped_at, rebuilt.error) == ("DataGate", "DataGate failed")
    assert (rebuilt.config, rebuilt.config_digest) == (str(cfg.source), cfg.digest())
    assert rebuilt.log_path is None


def test_format_runs_without_runs():
    assert queries.format_runs([]) == "no runs yet"


def test_format_lineage_names_each_input_with_its_id(world):
    cfg, a = world
    text = queries.format_lineage(queries.lineage(cfg, version=1))

    assert f"PushedModel {a['pushed'].id}, ServingPusher execution" in text
    assert f"Model {a['model'].id}, Trainer execution {a['trainer_execution']}" in text
    assert f"Examples {a['raw'].id}, CsvExampleGen execution" in text
    assert "unchanged since ingestion" in text
    assert "trainer trainer-digest, preprocessing transform-digest" in text
    assert "learning_rate=0.02" in text


def test_resolve_run_id(world):
    cfg, _ = world
    assert queries.resolve_run_id(cfg) == RUN_3
    assert queries.resolve_run_id(cfg, RUN_1) == RUN_1
    with pytest.raises(queries.NoSuchRunError, match="no run 'nope'"):
        queries.resolve_run_id(cfg, "nope")


# ---------------------------------------------------------------------------- run owners


def test_runs_and_lineage_keep_to_their_pipeline_on_a_shared_work_dir(world):
    cfg, a = world
    other = dataclasses.replace(cfg, name="taxi")
    run_dir = cfg.runs_dir / "20260105T000000.000001"
    run_dir.mkdir(parents=True)
    run_lock.write_run_owner(
        run_dir, run_lock.RunOwner(run_dir.name, process_owner.current(), "taxi")
    )
    assert run_dir.name not in {r.run_id for r in queries.list_runs(cfg)}
    assert run_dir.name in {r.run_id for r in queries.list_runs(other)}
    assert queries.lineage(cfg, version=1).model.id == a["model"].id
    with pytest.raises(queries.LineageError):
        queries.lineage(other, version=1)  # taxi never pushed; penguins' version 1 is not its


RUN_4 = "20260104T000000.000001"


def dead_owner(run_id: str) -> run_lock.RunOwner:
    """The owner record of a real process that has since been killed."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    owner = run_lock.RunOwner(
        run_id,
        dataclasses.replace(
            process_owner.current(),
            pid=child.pid,
            start_ticks=process_owner._start_ticks(child.pid),
        ),
    )
    child.kill()
    child.wait()
    return owner


def stuck_in_trainer(cfg: PipelineConfig) -> None:
    """RUN_4 got as far as the Trainer, whose execution ML Metadata still calls RUNNING."""
    writer = MetadataWriter(cfg.metadata_path)
    writer.execute(RUN_4, "CsvExampleGen", outputs={"examples": writer.artifact("Examples", "x")})
    writer.execute(RUN_4, "Trainer", state=pb.Execution.RUNNING)
    (cfg.runs_dir / RUN_4).mkdir(parents=True)


def row(cfg: PipelineConfig, run_id: str) -> queries.RunRow:
    return next(r for r in queries.list_runs(cfg) if r.run_id == run_id)


def test_a_run_whose_owner_was_killed_is_interrupted(world):
    cfg, _ = world
    stuck_in_trainer(cfg)
    owner = dead_owner(RUN_4)
    run_lock.write_run_owner(cfg.runs_dir / RUN_4, owner)

    stuck = row(cfg, RUN_4)
    assert (stuck.status, stuck.active_node, stuck.owner) == ("interrupted", "Trainer", owner)
    line = queries.format_runs(queries.list_runs(cfg)).splitlines()[1]
    assert line.split()[:3] == [
        RUN_4,
        stuck.started.strftime("%Y-%m-%d"),
        stuck.started.strftime("%H:%M:%S"),
    ]
    assert line.endswith(
        f"interrupted at Trainer: pid {owner.process.pid} on host "
        f"{owner.process.host}, started {owner.process.started_at} is gone"
    )


def test_a_run_whose_owner_still_runs_is_running(world):
    cfg, _ = world
    stuck_in_trainer(cfg)
    run_lock.write_run_owner(
        cfg.runs_dir / RUN_4, run_lock.RunOwner(RUN_4, process_owner.current())
    )

    assert row(cfg, RUN_4).status == "running"


def test_a_run_owned_on_another_host_keeps_what_ml_metadata_says(world):
    cfg, _ = world
    stuck_in_trainer(cfg)
    elsewhere = dataclasses.replace(dead_owner(RUN_4).process, host="another-host")
    run_lock.write_run_owner(cfg.runs_dir / RUN_4, run_lock.RunOwner(RUN_4, elsewhere))

    assert row(cfg, RUN_4).status == "running"


def test_a_finished_run_keeps_its_status_after_its_owner_exits(world):
    cfg, _ = world
    run_lock.write_run_owner(cfg.runs_dir / RUN_1, dead_owner(RUN_1))  # it wrote summary.json

    assert row(cfg, RUN_1).status == "complete"


def test_a_run_killed_before_reaching_ml_metadata_is_listed_as_interrupted(world):
    cfg, _ = world
    run_id = "20260105T000000.000001"
    (cfg.runs_dir / run_id).mkdir()
    run_lock.write_run_owner(cfg.runs_dir / run_id, dead_owner(run_id))

    unrecorded = row(cfg, run_id)
    assert (unrecorded.status, unrecorded.executed) == ("interrupted", 0)


def test_runs_recorded_only_by_their_owners_are_listed_without_a_store(tmp_path):
    (tmp_path / "penguins.csv").write_text("species,island\nAdelie,Biscoe\n")
    cfg = PipelineConfig(
        name=PIPELINE,
        work_dir=tmp_path / "work",
        data=DataConfig(csv_dir=tmp_path),
        spec=SPEC,
    )
    with pytest.raises(FileNotFoundError, match="no ML Metadata database"):
        queries.list_runs(cfg)
    (cfg.runs_dir / RUN_1).mkdir(parents=True)
    run_lock.write_run_owner(cfg.runs_dir / RUN_1, dead_owner(RUN_1))

    assert [(r.run_id, r.status) for r in queries.list_runs(cfg)] == [(RUN_1, "interrupted")]


@pytest.mark.parametrize(
    ("status", "alive", "finished", "shown"),
    [
        ("running", False, False, "interrupted"),
        ("complete", False, False, "interrupted"),  # killed between two components
        ("running", False, True, "interrupted"),
        ("failed", False, True, "failed"),
        ("complete", True, False, "running"),  # between two components, still going
        ("complete", True, True, "complete"),
        ("running", None, False, "running"),  # another host: ML Metadata's word stands
    ],
)
def test_owned_status(status, alive, finished, shown):
    assert queries.owned_status(status, alive, finished) == shown


def test_drift_baseline_is_the_last_run_that_trained(tmp_path):
    """Runs: trained; cached; Trainer failed; stopped at the data gate; the current one."""
    writer = MetadataWriter(tmp_path / "metadata.sqlite")
    stats = {run: writer.artifact("ExampleStatistics", f"/stats/{run}") for run in "ABCDE"}
    cached, failed = pb.Execution.CACHED, pb.Execution.FAILED
    runs = [
        ("run-a", stats["A"], pb.Execution.COMPLETE, pb.Execution.COMPLETE),
        ("run-b", stats["A"], cached, cached),
        ("run-c", stats["C"], pb.Execution.COMPLETE, failed),
        ("run-d", stats["D"], pb.Execution.COMPLETE, None),
        ("run-e", stats["E"], pb.Execution.COMPLETE, None),
    ]
    for run_id, statistics, validator_state, trainer_state in runs:
        writer.execute(
            run_id, "ExampleValidator", {"statistics": statistics}, state=validator_state
        )
        if trainer_state is not None:
            writer.execute(run_id, "Trainer", state=trainer_state)

    def baseline(run_id):
        found = data_sections.drift_baseline(writer.store, PIPELINE, run_id)
        return found and (found[0], found[1].uri)

    assert baseline("run-e") == ("run-a", "/stats/A")  # not run-d, which stopped early
    assert baseline("run-c") == ("run-a", "/stats/A")  # not run-b, whose Trainer was cached
    assert baseline("run-b") == ("run-a", "/stats/A")
    assert baseline("run-a") is None
    assert baseline("no-such-run") is None
