"""Read-only ML Metadata helpers shared by the run list, lineage and the report.

Run contexts, a node's outputs in a run, an artifact's producer and an execution's
inputs, artifact references naming their producers, and the run's ``summary.json``.
"""

import dataclasses
import datetime
from typing import Any

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata
from pipeline.config import PipelineConfig
from pipeline.run_files import SUMMARY_FILE
from pipeline.run_summary import RunSummary, read_summary_file

PIPELINE_CONTEXT = "pipeline"

_State = metadata_store_pb2.Execution.State
OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


class NoSuchRunError(LookupError):
    """The ML Metadata store has no such run (or no run at all)."""


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


def read_summary(cfg: PipelineConfig, run_id: str) -> RunSummary | None:
    """The run's ``summary.json`` as the runner wrote it; None when there is none or it
    cannot be read."""
    return read_summary_file(cfg.runs_dir / run_id / SUMMARY_FILE)


def local_time(milliseconds: int) -> datetime.datetime:
    """An MLMD timestamp (milliseconds since the epoch) as an aware local datetime."""
    return datetime.datetime.fromtimestamp(milliseconds / 1000).astimezone()


def node_id_of(store: mlmd.MetadataStore, execution_id: int, pipeline_name: str) -> str | None:
    """The pipeline node an execution belongs to, e.g. ``Trainer``."""
    prefix = f"{pipeline_name}."
    for context in store.get_contexts_by_execution(execution_id):
        if context.type == metadata.NODE_CONTEXT and context.name.startswith(prefix):
            return context.name[len(prefix) :]
    return None


def run_id_of(store: mlmd.MetadataStore, execution_id: int) -> str | None:
    """The run an execution belongs to."""
    for context in store.get_contexts_by_execution(execution_id):
        if context.type == metadata.PIPELINE_RUN_CONTEXT:
            return context.name
    return None


def producer(store: mlmd.MetadataStore, artifact_id: int) -> metadata_store_pb2.Execution | None:
    """The execution that wrote the artifact (not a cached execution that reused it)."""
    events = store.get_events_by_artifact_ids([artifact_id])
    execution_ids = sorted({e.execution_id for e in events if e.type in OUTPUT_EVENTS})
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
        if event.type in INPUT_EVENTS:
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
            producer=execution and node_id_of(self._store, execution.id, self._pipeline_name),
            producer_execution_id=execution and execution.id,
            run_id=execution and run_id_of(self._store, execution.id),
        )
