"""Which runs there were, and what produced a model: read-only ML Metadata queries.

``list_runs`` reads the ``pipeline_run`` contexts and their node executions (plus each
run's ``summary.json`` when the runner wrote one); ``lineage`` walks MLMD events from a
pushed model back through the Trainer to the data, schema, transform graph and code
that made it.
"""

import dataclasses
import datetime
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components import custom_config as config_keys
from pipeline import metadata, run_lock
from pipeline.config import PipelineConfig

SUMMARY_FILE = "summary.json"
PIPELINE_CONTEXT = "pipeline"
PUSHED_MODEL_TYPE = "PushedModel"
MODEL_TYPE = "Model"
BLESSING_TYPE = "ModelBlessing"
HISTORY_FILE = "history.json"
# Resolver and Importer executions are bookkeeping; they "execute" in a fully cached run.
_SYSTEM_NODE_TYPES = ("Resolver", "Importer")

_State = metadata_store_pb2.Execution.State
_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


class LineageError(LookupError):
    """No model matches the query, or its lineage is incomplete in ML Metadata."""


class NoSuchRunError(LookupError):
    """The ML Metadata store has no such run (or no run at all)."""


@dataclasses.dataclass(frozen=True)
class RunRow:
    """One pipeline run, as ``runner.py runs`` lists it.

    Attributes:
        run_id: The ``pipeline_run`` context name (the runner's run id).
        started: When the run's context was created (local time).
        status: ``complete``, ``cached`` (nothing executed), ``failed``, ``running``, or
            ``interrupted`` (its process is gone and it did not finish).
        blessed: The Evaluator's verdict; None when it did not run.
        pushed_version: Serving version the pusher recorded; None when nothing was pushed.
        outcome: The runner's one-line outcome from ``summary.json``, when present.
        failed_node: Node whose execution failed, if any.
        executed: Executions that ran in this run.
        cached: Executions that reused an earlier result.
        owner: The process that ran it (``owner.json``), when the runner recorded one.
        active_node: Node whose execution was running when the run was last seen.
    """

    run_id: str
    started: datetime.datetime
    status: str
    blessed: bool | None
    pushed_version: str | None
    outcome: str | None
    failed_node: str | None
    executed: int
    cached: int
    owner: run_lock.RunOwner | None = None
    active_node: str | None = None


@dataclasses.dataclass(frozen=True)
class ArtifactRef:
    """An artifact and the execution that produced it.

    Attributes:
        id: MLMD artifact id.
        type: MLMD artifact type name, e.g. ``Examples``.
        uri: Where the artifact's payload lives.
        producer: Node id of the producing execution, e.g. ``Trainer``.
        producer_execution_id: MLMD id of that execution.
        run_id: The run in which it was produced.
    """

    id: int
    type: str
    uri: str
    producer: str | None = None
    producer_execution_id: int | None = None
    run_id: str | None = None


@dataclasses.dataclass(frozen=True)
class FileFingerprint:
    """A raw input file as it is on disk now."""

    path: str
    sha256: str
    size_bytes: int


@dataclasses.dataclass(frozen=True)
class Lineage:
    """What produced a model, from the pushed artifact back to the raw CSV files.

    Attributes:
        model: The Trainer's ``model`` output.
        trainer_execution_id: MLMD id of the Trainer execution that produced it.
        run_id: The run in which the Trainer produced it.
        examples: The Trainer's ``examples`` input (Transform's transformed examples).
        transform_graph: The Trainer's ``transform_graph`` input.
        raw_examples: ExampleGen's examples, Transform's input.
        schema: Transform's schema input.
        hyperparameters_artifact: The Tuner's ``best_hyperparameters``, when it ran.
        hyperparameters: The values training used (``history.json``; else the config's).
        custom_config: The Trainer's ``custom_config``.
        code_digest: Digest of the trainer code (``custom_config``).
        transform_code_digest: Digest of the preprocessing code (Transform's custom_config).
        model_run: The Trainer's ``model_run`` output: TensorBoard logs and history.json.
        pushed_model: The pusher's output when the model was pushed.
        pushed_version: Its serving version.
        pushed_destination: Where that version was written.
        input_base: ExampleGen's input directory.
        recorded_input_fingerprint: ExampleGen's fingerprint (sizes and mtimes) at ingestion.
        current_input_fingerprint: The same fingerprint of the files on disk now.
        csv_files: SHA-256 of each input file on disk now.
    """

    model: ArtifactRef
    trainer_execution_id: int
    run_id: str | None
    examples: ArtifactRef | None
    transform_graph: ArtifactRef | None
    raw_examples: ArtifactRef | None
    schema: ArtifactRef | None
    hyperparameters_artifact: ArtifactRef | None
    hyperparameters: dict[str, Any]
    custom_config: dict[str, Any]
    code_digest: str | None
    transform_code_digest: str | None
    model_run: ArtifactRef | None
    pushed_model: ArtifactRef | None = None
    pushed_version: str | None = None
    pushed_destination: str | None = None
    input_base: str | None = None
    recorded_input_fingerprint: str | None = None
    current_input_fingerprint: str | None = None
    csv_files: tuple[FileFingerprint, ...] = ()

    @property
    def inputs_unchanged(self) -> bool | None:
        """Whether the input files still have the sizes and mtimes ExampleGen recorded."""
        if self.recorded_input_fingerprint is None or self.current_input_fingerprint is None:
            return None
        return self.recorded_input_fingerprint == self.current_input_fingerprint


def list_runs(cfg: PipelineConfig) -> list[RunRow]:
    """Every run of ``cfg``'s pipeline, newest first.

    The runs in its ML Metadata store, and the runs whose owner recorded itself in the
    runs dir but that stopped (or are still starting) before reaching ML Metadata. A run
    whose owner is gone before it finished is ``interrupted``.

    Raises:
        FileNotFoundError: There is neither an ML Metadata store nor a recorded run.
        OSError: The store or the runs dir cannot be read.
    """
    owners = run_owners(cfg)
    rows: list[RunRow] = []
    if os.path.lexists(cfg.metadata_path) or not owners:
        with metadata.open_store(cfg.metadata_path) as store:
            rows = [
                _run_row(store, cfg, context, owners.get(context.name))
                for context in run_contexts(store, cfg.name)
            ]
    recorded = {row.run_id for row in rows}
    rows += [_unrecorded_row(cfg, o) for run_id, o in owners.items() if run_id not in recorded]
    return sorted(rows, key=lambda row: row.started, reverse=True)


def run_owners(cfg: PipelineConfig) -> dict[str, run_lock.RunOwner]:
    """Run id -> the owner recorded in ``runs/<run id>/owner.json``, for every run with one.

    Raises:
        OSError: The runs dir exists but cannot be listed, or a record cannot be read.
    """
    if not cfg.runs_dir.exists():
        return {}
    owners = {}
    for run_dir in sorted(cfg.runs_dir.iterdir()):
        owner = run_lock.read_run_owner(run_dir) if run_dir.is_dir() else None
        if owner is not None:
            owners[run_dir.name] = owner
    return owners


def owned_status(status: str, alive: bool | None, finished: bool) -> str:
    """A run's status once its owner's liveness is known.

    Args:
        status: The status ML Metadata implies (``run_status``).
        alive: Whether the owning process still runs; None when that cannot be told
            (another host).
        finished: Whether the run wrote its summary (it got to the end).
    """
    if alive is None:
        return status
    if alive:
        return status if finished else "running"
    if status == "running" or not finished:
        return "interrupted"
    return status


def resolve_run_id(cfg: PipelineConfig, run_id: str | None = None) -> str:
    """``run_id`` when the store holds that run; the newest run when it is None.

    Raises:
        NoSuchRunError: No such run, or no run yet.
        FileNotFoundError: There is no ML Metadata store.
    """
    with metadata.open_store(cfg.metadata_path) as store:
        if run_id is None:
            contexts = run_contexts(store, cfg.name)
            if not contexts:
                raise NoSuchRunError(f"no runs of pipeline {cfg.name!r} in {cfg.metadata_path}")
            return contexts[0].name
        if store.get_context_by_type_and_name(metadata.PIPELINE_RUN_CONTEXT, run_id) is None:
            raise NoSuchRunError(f"no run {run_id!r} in {cfg.metadata_path}")
        return run_id


def run_contexts(store: mlmd.MetadataStore, pipeline_name: str) -> list[metadata_store_pb2.Context]:
    """The pipeline's ``pipeline_run`` contexts, newest first."""
    pipeline = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
    if pipeline is None:
        return []
    in_pipeline = {e.id for e in store.get_executions_by_context(pipeline.id)}
    contexts = [
        c
        for c in store.get_contexts_by_type(metadata.PIPELINE_RUN_CONTEXT)
        if any(e.id in in_pipeline for e in store.get_executions_by_context(c.id))
    ]
    return sorted(contexts, key=lambda c: (c.create_time_since_epoch, c.id), reverse=True)


def run_outputs(
    store: mlmd.MetadataStore, pipeline_name: str, run_id: str, node_id: str
) -> dict[str, list[metadata_store_pb2.Artifact]]:
    """Output key -> artifacts of ``node_id`` in the run (empty when it did not run)."""
    execution = metadata.node_execution(store, pipeline_name, run_id, node_id)
    if execution.execution_id is None or execution.state not in ("executed", "cached"):
        return {}
    return metadata.output_artifacts(store, execution.execution_id)


def first(outputs: dict[str, list[Any]], key: str) -> Any:
    """The first artifact under ``key``, or None."""
    artifacts = outputs.get(key) or []
    return artifacts[0] if artifacts else None


def read_summary(cfg: PipelineConfig, run_id: str) -> dict[str, Any] | None:
    """The run's ``summary.json`` as written by the runner, or None."""
    path = cfg.runs_dir / run_id / SUMMARY_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _run_row(
    store: mlmd.MetadataStore,
    cfg: PipelineConfig,
    context: metadata_store_pb2.Context,
    owner: run_lock.RunOwner | None = None,
) -> RunRow:
    system_types = {
        t.id for t in store.get_execution_types() if t.name.endswith(_SYSTEM_NODE_TYPES)
    }
    executions = [
        e for e in store.get_executions_by_context(context.id) if e.type_id not in system_types
    ]
    states = [e.last_known_state for e in executions]
    failed = [e for e in executions if e.last_known_state in (_State.FAILED, _State.CANCELED)]
    outputs = _outputs_by_type(store, [e.id for e in executions])
    # TFX's Evaluator sets "blessed" only where it checked thresholds: the gating
    # Evaluator, not an evaluation that merely scores (TestEvaluator).
    verdicts = [
        metadata.custom_property(b, "blessed")
        for b in outputs.get(BLESSING_TYPE, [])
        if metadata.custom_property(b, "blessed") is not None
    ]
    pushes = [
        p for p in outputs.get(PUSHED_MODEL_TYPE, []) if metadata.custom_property(p, "pushed") == 1
    ]
    active = [e for e in executions if e.last_known_state in (_State.NEW, _State.RUNNING)]
    summary = read_summary(cfg, context.name)
    status = run_status(states)
    if owner is not None:
        status = owned_status(status, owner.alive(), finished=summary is not None)
    return RunRow(
        run_id=context.name,
        started=local_time(context.create_time_since_epoch),
        status=status,
        blessed=(verdicts[0] == 1) if verdicts else None,
        pushed_version=metadata.custom_property(pushes[0], "pushed_version") if pushes else None,
        outcome=(summary or {}).get("outcome"),
        failed_node=_node_id(store, failed[0].id, cfg.name) if failed else None,
        executed=states.count(_State.COMPLETE),
        cached=states.count(_State.CACHED),
        owner=owner,
        active_node=_node_id(store, active[-1].id, cfg.name) if active else None,
    )


def _unrecorded_row(cfg: PipelineConfig, owner: run_lock.RunOwner) -> RunRow:
    """A run its owner recorded that left nothing in ML Metadata (yet)."""
    summary = read_summary(cfg, owner.run_id)
    started = owner.started or datetime.datetime.fromtimestamp(0).astimezone()
    return RunRow(
        run_id=owner.run_id,
        started=started,
        status=owned_status("running", owner.alive(), finished=summary is not None),
        blessed=None,
        pushed_version=None,
        outcome=(summary or {}).get("outcome"),
        failed_node=None,
        executed=0,
        cached=0,
        owner=owner,
    )


def _outputs_by_type(
    store: mlmd.MetadataStore, execution_ids: list[int]
) -> dict[str, list[metadata_store_pb2.Artifact]]:
    """Artifact type name -> artifacts the executions output (or reused, when cached)."""
    events = store.get_events_by_execution_ids(execution_ids) if execution_ids else []
    artifact_ids = sorted({e.artifact_id for e in events if e.type in _OUTPUT_EVENTS})
    types = {t.id: t.name for t in store.get_artifact_types()}
    by_type: dict[str, list[metadata_store_pb2.Artifact]] = {}
    for artifact in store.get_artifacts_by_id(artifact_ids):
        by_type.setdefault(types.get(artifact.type_id, ""), []).append(artifact)
    return by_type


def run_status(states: list[int]) -> str:
    """A run's status from its (non-system) executions' MLMD states."""
    if any(s in (_State.FAILED, _State.CANCELED) for s in states):
        return "failed"
    if any(s in (_State.NEW, _State.RUNNING) for s in states):
        return "running"
    if _State.CACHED in states and _State.COMPLETE not in states:
        return "cached"
    return "complete"


def local_time(milliseconds: int) -> datetime.datetime:
    """An MLMD timestamp (milliseconds since the epoch) as an aware local datetime."""
    return datetime.datetime.fromtimestamp(milliseconds / 1000).astimezone()


def _node_id(store: mlmd.MetadataStore, execution_id: int, pipeline_name: str) -> str | None:
    prefix = f"{pipeline_name}."
    for context in store.get_contexts_by_execution(execution_id):
        if context.type == metadata.NODE_CONTEXT and context.name.startswith(prefix):
            return context.name[len(prefix) :]
    return None


def _run_id(store: mlmd.MetadataStore, execution_id: int) -> str | None:
    for context in store.get_contexts_by_execution(execution_id):
        if context.type == metadata.PIPELINE_RUN_CONTEXT:
            return context.name
    return None


def lineage(
    cfg: PipelineConfig, version: int | None = None, model_uri: str | None = None
) -> Lineage:
    """What produced a pushed (or trained) model.

    Args:
        cfg: Pipeline config; supplies the ML Metadata store and pipeline name.
        version: A pushed serving version.
        model_uri: A pushed version's directory, or a Trainer model artifact's URI.
            With neither given, the newest push.

    Raises:
        LineageError: No such model in ML Metadata.
    """
    with metadata.open_store(cfg.metadata_path) as store:
        pushed, model = _find_model(store, version, model_uri)
        return model_lineage(store, cfg.name, model, pushed)


def model_lineage(
    store: mlmd.MetadataStore,
    pipeline_name: str,
    model: metadata_store_pb2.Artifact,
    pushed: metadata_store_pb2.Artifact | None = None,
) -> Lineage:
    """Walks ML Metadata events from a Trainer ``model`` back to the raw data.

    Raises:
        LineageError: No execution recorded ``model`` as its output.
    """
    trainer = producer(store, model.id)
    if trainer is None:
        raise LineageError(f"no execution produced model artifact {model.id} ({model.uri})")
    walk = ArtifactWalker(store, pipeline_name)
    trainer_inputs = execution_inputs(store, trainer.id)
    examples = first(trainer_inputs, "examples")
    transform_graph = first(trainer_inputs, "transform_graph")
    hyperparameters = first(trainer_inputs, "hyperparameters")
    transform = transform_graph and producer(store, transform_graph.id)
    transform_inputs = execution_inputs(store, transform.id) if transform else {}
    raw_examples = first(transform_inputs, "examples")
    example_gen = raw_examples and producer(store, raw_examples.id)
    model_run = first(metadata.output_artifacts(store, trainer.id), "model_run")
    custom_config = _json_property(trainer, "custom_config")
    return Lineage(
        model=walk.ref(model),
        trainer_execution_id=trainer.id,
        run_id=_run_id(store, trainer.id),
        examples=walk.ref(examples),
        transform_graph=walk.ref(transform_graph),
        raw_examples=walk.ref(raw_examples),
        schema=walk.ref(first(transform_inputs, "schema")),
        hyperparameters_artifact=walk.ref(hyperparameters),
        hyperparameters=_trained_hyperparameters(model_run, custom_config),
        custom_config=custom_config,
        code_digest=custom_config.get(config_keys.CODE_DIGEST),
        transform_code_digest=(
            _json_property(transform, "custom_config").get(config_keys.CODE_DIGEST)
            if transform
            else None
        ),
        model_run=walk.ref(model_run),
        pushed_model=walk.ref(pushed),
        pushed_version=pushed and metadata.custom_property(pushed, "pushed_version"),
        pushed_destination=pushed and metadata.custom_property(pushed, "pushed_destination"),
        **_input_files(example_gen),
    )


def producer(store: mlmd.MetadataStore, artifact_id: int) -> metadata_store_pb2.Execution | None:
    """The execution that wrote the artifact (not a cached execution that reused it)."""
    events = store.get_events_by_artifact_ids([artifact_id])
    execution_ids = sorted({e.execution_id for e in events if e.type in _OUTPUT_EVENTS})
    executions = store.get_executions_by_id(execution_ids)
    completed = [e for e in executions if e.last_known_state == _State.COMPLETE]
    candidates = completed or executions
    return min(candidates, key=lambda e: e.id) if candidates else None


def execution_inputs(
    store: mlmd.MetadataStore, execution_id: int
) -> dict[str, list[metadata_store_pb2.Artifact]]:
    """Input key -> artifacts of an execution.

    An input under a condition has more than one key in its event path (the
    predicate's hidden key and the input's own); it is listed under each.
    """
    keyed: dict[str, list[int]] = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        if event.type in _INPUT_EVENTS:
            for step in event.path.steps:
                if step.HasField("key"):
                    keyed.setdefault(step.key, []).append(event.artifact_id)
    wanted = sorted({i for artifact_ids in keyed.values() for i in artifact_ids})
    artifacts = {a.id: a for a in store.get_artifacts_by_id(wanted)}
    return {key: [artifacts[i] for i in artifact_ids] for key, artifact_ids in keyed.items()}


class ArtifactWalker:
    """Turns MLMD artifacts into ``ArtifactRef`` values, naming their producers."""

    def __init__(self, store: mlmd.MetadataStore, pipeline_name: str):
        self._store = store
        self._pipeline_name = pipeline_name
        self._types = {t.id: t.name for t in store.get_artifact_types()}

    def ref(self, artifact: metadata_store_pb2.Artifact | None) -> ArtifactRef | None:
        """The artifact with its type, producer node, execution and run; None for None."""
        if artifact is None:
            return None
        execution = producer(self._store, artifact.id)
        return ArtifactRef(
            id=artifact.id,
            type=self._types.get(artifact.type_id, "?"),
            uri=artifact.uri,
            producer=execution and _node_id(self._store, execution.id, self._pipeline_name),
            producer_execution_id=execution and execution.id,
            run_id=execution and _run_id(self._store, execution.id),
        )


def _find_model(
    store: mlmd.MetadataStore, version: int | None, model_uri: str | None
) -> tuple[metadata_store_pb2.Artifact | None, metadata_store_pb2.Artifact]:
    """(pushed model or None, Trainer model) matching the query."""
    if model_uri is not None:
        wanted = os.path.normpath(model_uri)
        models = [
            a for a in store.get_artifacts_by_type(MODEL_TYPE) if os.path.normpath(a.uri) == wanted
        ]
        if models:
            return first_push_of(store, models[0]), models[0]
    pushes = _pushes(store)
    if version is not None:
        pushes = [
            p for p in pushes if metadata.custom_property(p, "pushed_version") == str(version)
        ]
    if model_uri is not None:
        pushes = [
            p
            for p in pushes
            if os.path.normpath(str(metadata.custom_property(p, "pushed_destination"))) == wanted
        ]
    if not pushes:
        raise LineageError(_not_found(version, model_uri))
    # A version pushed once and later re-blessed has several push records; the first wrote it.
    pushed = min(pushes, key=lambda p: p.id) if (version or model_uri) else pushes[-1]
    return pushed, _pushed_model_source(store, pushed)


def first_push_of(
    store: mlmd.MetadataStore, model: metadata_store_pb2.Artifact
) -> metadata_store_pb2.Artifact | None:
    """The first push record of ``model``, if it was ever pushed."""
    consumers = {
        e.execution_id
        for e in store.get_events_by_artifact_ids([model.id])
        if e.type in _INPUT_EVENTS
    }
    pushed_ids = {p.id for p in _pushes(store)}
    pushes = [
        artifact
        for execution_id in sorted(consumers)
        for artifact in metadata.output_artifacts(store, execution_id).get("pushed_model", [])
        if artifact.id in pushed_ids
    ]
    return min(pushes, key=lambda p: p.id) if pushes else None


def _pushes(store: mlmd.MetadataStore) -> list[metadata_store_pb2.Artifact]:
    pushes = [
        p
        for p in store.get_artifacts_by_type(PUSHED_MODEL_TYPE)
        if metadata.custom_property(p, "pushed") == 1
    ]
    return sorted(pushes, key=lambda p: p.id)


def _pushed_model_source(
    store: mlmd.MetadataStore, pushed: metadata_store_pb2.Artifact
) -> metadata_store_pb2.Artifact:
    pusher = producer(store, pushed.id)
    model = pusher and first(execution_inputs(store, pusher.id), "model")
    if model is None:
        raise LineageError(f"pushed model artifact {pushed.id} has no recorded model input")
    return model


def _not_found(version: int | None, model_uri: str | None) -> str:
    if version is not None:
        return f"no pushed model with version {version} in ML Metadata"
    if model_uri is not None:
        return f"no pushed or trained model at {model_uri} in ML Metadata"
    return "nothing has been pushed yet"


def _json_property(execution: metadata_store_pb2.Execution, name: str) -> dict[str, Any]:
    value = metadata.custom_property(execution, name)
    parsed = json.loads(value) if isinstance(value, str) and value else None
    return parsed if isinstance(parsed, dict) else {}


def _trained_hyperparameters(
    model_run: metadata_store_pb2.Artifact | None, custom_config: dict[str, Any]
) -> dict[str, Any]:
    history = Path(model_run.uri) / HISTORY_FILE if model_run else None
    if history is not None and history.is_file():
        return json.loads(history.read_text()).get("hyperparameters", {})
    return custom_config.get(config_keys.HYPERPARAMETERS, {})


def _input_files(example_gen: metadata_store_pb2.Execution | None) -> dict[str, Any]:
    """ExampleGen's input directory, fingerprints then and now, and file digests now."""
    if example_gen is None:
        return {}
    input_base = metadata.custom_property(example_gen, "input_base")
    if not input_base:
        return {}
    recorded = metadata.custom_property(example_gen, "input_fingerprint")
    patterns = _split_patterns(example_gen)
    files = sorted(
        {p for pattern in patterns.values() for p in Path(input_base).glob(pattern) if p.is_file()}
    )
    return {
        "input_base": input_base,
        "recorded_input_fingerprint": recorded,
        "current_input_fingerprint": input_fingerprint(input_base, patterns) if recorded else None,
        "csv_files": tuple(_file_fingerprint(p) for p in files),
    }


def _split_patterns(example_gen: metadata_store_pb2.Execution) -> dict[str, str]:
    splits = _json_property(example_gen, "input_config").get("splits") or [
        {"name": "single_split", "pattern": "*"}
    ]
    return {s["name"]: s["pattern"] for s in splits}


def input_fingerprint(input_base: str, patterns: dict[str, str]) -> str:
    """ExampleGen's fingerprint of its input files (count, bytes, mtime checksums), computed now.

    The format of ``tfx.utils.io_utils.generate_fingerprint``, one line per split,
    rebuilt here so that ``runner.py runs`` and ``lineage`` need not load TensorFlow.
    """
    lines = []
    for name, pattern in patterns.items():
        stats = [p.stat() for p in Path(input_base).glob(pattern)]
        mtimes = [s.st_mtime_ns // 10**9 for s in stats]
        xor = 0
        for mtime in mtimes:
            xor ^= mtime
        lines.append(
            f"split:{name},num_files:{len(stats)},total_bytes:{sum(s.st_size for s in stats)},"
            f"xor_checksum:{xor},sum_checksum:{sum(mtimes)}"
        )
    return "\n".join(lines)


def _file_fingerprint(path: Path) -> FileFingerprint:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return FileFingerprint(str(path), digest.hexdigest(), path.stat().st_size)


def format_runs(rows: list[RunRow]) -> str:
    """The ``runner.py runs`` table: one aligned line per run, newest first."""
    if not rows:
        return "no runs yet"
    headers = ("run", "started", "status", "blessed", "pushed", "outcome")
    lines = [
        (
            r.run_id,
            r.started.strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            "-" if r.blessed is None else ("yes" if r.blessed else "no"),
            r.pushed_version or "-",
            r.outcome or _unfinished_outcome(r),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [headers, *lines]) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line[:5], widths, strict=True))
        + "  "
        + line[5]
        for line in [headers, *lines]
    )


def _unfinished_outcome(row: RunRow) -> str:
    """What the outcome column says of a run that wrote no summary."""
    where = f" at {row.active_node}" if row.active_node else ""
    if row.status == "interrupted" and row.owner:
        return f"interrupted{where}: {row.owner.process.describe()} is gone"
    if row.status == "running" and row.owner:
        return f"running{where}: {row.owner.process.describe()}"
    return f"failed at {row.failed_node}" if row.failed_node else ""


def format_lineage(found: Lineage) -> str:
    """The ``runner.py lineage`` answer: one line per input, with ML Metadata ids."""
    lines = []
    if found.pushed_model:
        lines.append(
            _line("pushed", f"version {found.pushed_version} -> {found.pushed_destination}")
            + f"  ({_describe(found.pushed_model)})"
        )
    lines.append(_line("model", f"{found.model.uri}  ({_describe(found.model)})"))
    for label, ref in (
        ("examples", found.examples),
        ("transform", found.transform_graph),
        ("raw data", found.raw_examples),
        ("schema", found.schema),
        ("tuned hp", found.hyperparameters_artifact),
        ("tensorboard", found.model_run),
    ):
        if ref is not None:
            lines.append(_line(label, f"{ref.uri}  ({_describe(ref)})"))
    if found.input_base:
        state = {True: "unchanged since ingestion", False: "CHANGED since ingestion"}.get(
            found.inputs_unchanged, "not comparable with what ExampleGen recorded"
        )
        lines.append(_line("csv files", f"{found.input_base}  ({state})"))
        lines += [
            _line("", f"{Path(f.path).name}  sha256 {f.sha256}  {f.size_bytes} bytes")
            for f in found.csv_files
        ]
    lines.append(
        _line("code", f"trainer {found.code_digest}, preprocessing {found.transform_code_digest}")
    )
    lines.append(
        _line("hparams", ", ".join(f"{k}={v}" for k, v in sorted(found.hyperparameters.items())))
    )
    return "\n".join(lines)


def _line(label: str, text: str) -> str:
    return f"{label:<12} {text}"


def _describe(ref: ArtifactRef) -> str:
    produced = f", {ref.producer} execution {ref.producer_execution_id}" if ref.producer else ""
    run = f", run {ref.run_id}" if ref.run_id else ""
    return f"{ref.type} {ref.id}{produced}{run}"
