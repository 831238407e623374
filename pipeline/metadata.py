"""Read-only ML Metadata queries the runner and tests need."""

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline import os_errors

PIPELINE_RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
_State = metadata_store_pb2.Execution.State


@dataclasses.dataclass(frozen=True)
class NodeExecution:
    """What one node did in one pipeline run.

    Attributes:
        node_id: Component id, e.g. ``Trainer``.
        state: ``executed``, ``cached``, ``failed``, ``running`` or ``skipped`` (no execution).
        execution_id: MLMD execution id, None when skipped.
    """

    node_id: str
    state: str
    execution_id: int | None


_STATE_NAMES = {
    _State.COMPLETE: "executed",
    _State.CACHED: "cached",
    _State.FAILED: "failed",
    _State.RUNNING: "running",
    _State.NEW: "running",
    _State.CANCELED: "failed",
}


@contextlib.contextmanager
def open_store(path: Path) -> Iterator[mlmd.MetadataStore]:
    """An MLMD store over the SQLite file at ``path`` (which must exist), read-only.

    Raises:
        FileNotFoundError: There is no database at ``path`` (no run yet).
        NotADirectoryError: A file stands where one of its directories should be.
        IsADirectoryError: ``path`` is a directory.
    """
    os_errors.check_file(Path(path))
    if not Path(path).is_file():
        raise FileNotFoundError(f"no ML Metadata database at {path}")
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    yield mlmd.MetadataStore(config)


def node_execution(
    store: mlmd.MetadataStore, pipeline_name: str, run_id: str, node_id: str
) -> NodeExecution:
    """The node's execution within the run, or ``skipped`` when it has none."""
    run_context = store.get_context_by_type_and_name(PIPELINE_RUN_CONTEXT, run_id)
    node_context = store.get_context_by_type_and_name(NODE_CONTEXT, f"{pipeline_name}.{node_id}")
    if run_context is None or node_context is None:
        return NodeExecution(node_id, "skipped", None)
    in_run = {e.id for e in store.get_executions_by_context(run_context.id)}
    executions = [e for e in store.get_executions_by_context(node_context.id) if e.id in in_run]
    if not executions:
        return NodeExecution(node_id, "skipped", None)
    latest = max(executions, key=lambda e: e.id)
    return NodeExecution(node_id, _STATE_NAMES.get(latest.last_known_state, "unknown"), latest.id)


def output_artifacts(
    store: mlmd.MetadataStore, execution_id: int
) -> dict[str, list[metadata_store_pb2.Artifact]]:
    """Output key -> artifacts of an execution (a cached one points at the reused artifacts)."""
    outputs: dict[str, list[int]] = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        if event.type in (
            metadata_store_pb2.Event.OUTPUT,
            metadata_store_pb2.Event.DECLARED_OUTPUT,
        ):
            key = event.path.steps[0].key if event.path.steps else ""
            outputs.setdefault(key, []).append(event.artifact_id)
    artifacts = {
        a.id: a for a in store.get_artifacts_by_id([i for ids in outputs.values() for i in ids])
    }
    return {key: [artifacts[i] for i in ids] for key, ids in outputs.items()}


def custom_property(artifact: metadata_store_pb2.Artifact, name: str):
    """An artifact custom property as a Python value, or None."""
    if name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return getattr(value, value.WhichOneof("value"))
