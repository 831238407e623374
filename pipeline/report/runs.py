"""Which runs there were: ``runner.py runs``, read from ML Metadata and the runs dir.

``list_runs`` reads the ``pipeline_run`` contexts and their node executions, plus each
run's ``summary.json`` when the runner wrote one (its outcome and the headline metric
of the task: accuracy, or the gated regression error) and ``owner.json`` (whether the
process that ran it is still there).
"""

import dataclasses
import datetime
import os

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata, run_lock
from pipeline.config import PipelineConfig
from pipeline.report import headline as headlines
from pipeline.report.store import (
    OUTPUT_EVENTS,
    local_time,
    node_id_of,
    read_summary,
    run_contexts,
)

PUSHED_MODEL_TYPE = "PushedModel"
BLESSING_TYPE = "ModelBlessing"
# Resolver and Importer executions are bookkeeping; they "execute" in a fully cached run.
_SYSTEM_NODE_TYPES = ("Resolver", "Importer")

_State = metadata_store_pb2.Execution.State


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
        headline: The eval split's headline metric from ``summary.json``: accuracy, or
            the gated regression error.
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
    headline: headlines.Headline | None = None


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
    """Run id -> the owner recorded in ``runs/<run id>/owner.json``, for every run of this
    pipeline with one (pipelines may share a work dir and so its ``runs/``).

    Raises:
        OSError: The runs dir exists but cannot be listed, or a record cannot be read.
    """
    if not cfg.runs_dir.exists():
        return {}
    owners = {}
    for run_dir in sorted(cfg.runs_dir.iterdir()):
        owner = run_lock.read_run_owner(run_dir) if run_dir.is_dir() else None
        if owner is not None and _of_pipeline(cfg, owner):
            owners[run_dir.name] = owner
    return owners


def _of_pipeline(cfg: PipelineConfig, owner: run_lock.RunOwner) -> bool:
    """Whether the run belongs to ``cfg``'s pipeline: by its owner record, or for a record
    without a pipeline name, by the run's summary."""
    if owner.pipeline:
        return owner.pipeline == cfg.name
    summary = read_summary(cfg, owner.run_id)
    return summary is None or summary.pipeline == cfg.name


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
        outcome=summary.outcome if summary else None,
        failed_node=node_id_of(store, failed[0].id, cfg.name) if failed else None,
        executed=states.count(_State.COMPLETE),
        cached=states.count(_State.CACHED),
        owner=owner,
        active_node=node_id_of(store, active[-1].id, cfg.name) if active else None,
        headline=headlines.from_summary(
            summary.eval_metrics if summary else None, headlines.headline_name(cfg)
        ),
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
        outcome=summary.outcome if summary else None,
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
    artifact_ids = sorted({e.artifact_id for e in events if e.type in OUTPUT_EVENTS})
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


def format_runs(rows: list[RunRow]) -> str:
    """The ``runner.py runs`` table: one aligned line per run, newest first.

    The ``eval`` column is the task's headline metric on the eval split (``accuracy
    0.987``, ``mae 41.23``), ``-`` when the run recorded none.
    """
    if not rows:
        return "no runs yet"
    headers = ("run", "started", "status", "blessed", "pushed", "eval", "outcome")
    lines = [
        (
            r.run_id,
            r.started.strftime("%Y-%m-%d %H:%M:%S"),
            r.status,
            "-" if r.blessed is None else ("yes" if r.blessed else "no"),
            r.pushed_version or "-",
            r.headline.short() if r.headline else "-",
            r.outcome or _unfinished_outcome(r),
        )
        for r in rows
    ]
    aligned = len(headers) - 1
    widths = [max(len(line[i]) for line in [headers, *lines]) for i in range(aligned)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line[:aligned], widths, strict=True))
        + "  "
        + line[aligned]
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
