"""Runs the pipeline with TFX's LocalDagRunner and reports each component as it ends."""

import dataclasses
import logging
import time
from collections.abc import Callable

from tfx.dsl.compiler import compiler
from tfx.dsl.compiler import constants as compiler_constants
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.portable import runtime_parameter_utils

from components import keras_mode
from pipeline import metadata
from pipeline.config import PipelineConfig
from pipeline.pipeline import create_pipeline

# LocalDagRunner logs these around every node (tfx/orchestration/local/local_dag_runner.py).
_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."
_SYSTEM_NODE_TYPES = ("Resolver", "Importer")


@dataclasses.dataclass(frozen=True)
class ComponentReport:
    """One progress line: a node, what it did and how long it took.

    Attributes:
        state: executed, cached, resolved (system node), skipped (condition false) or failed.
    """

    node_id: str
    state: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class RunOutcome:
    """A finished or stopped run."""

    run_id: str
    reports: tuple[ComponentReport, ...]
    error: Exception | None

    @property
    def failed_node(self) -> str | None:
        return next((r.node_id for r in self.reports if r.state == "failed"), None)


def run_local(
    cfg: PipelineConfig, run_id: str, on_report: Callable[[ComponentReport], None]
) -> RunOutcome:
    """Compiles and runs the pipeline locally under ``run_id``.

    A component that raises stops the run; the outcome then carries the error and a
    ``failed`` report for that component instead of raising.
    """
    # Components run in this process: library code traces as written (keras_mode).
    keras_mode.skip_autograph_for_libraries()
    ir = compiler.Compiler().compile(create_pipeline(cfg))
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {compiler_constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    system_nodes = {
        n.pipeline_node.node_info.id
        for n in ir.nodes
        if n.pipeline_node.node_info.type.name.endswith(_SYSTEM_NODE_TYPES)
    }
    reports: list[ComponentReport] = []

    def finished(node_id: str, seconds: float, failed: bool = False) -> None:
        if failed:
            state = "failed"
        else:
            with metadata.open_store(cfg.metadata_path) as store:
                state = metadata.node_execution(store, cfg.name, run_id, node_id).state
            if node_id in system_nodes and state == "executed":
                state = "resolved"
        reports.append(ComponentReport(node_id, state, seconds))
        on_report(reports[-1])

    watcher = _NodeWatcher(finished)
    root = logging.getLogger()
    root.addHandler(watcher)
    error = None
    try:
        LocalDagRunner().run_with_ir(ir)
    except Exception as err:  # noqa: BLE001 - any component failure stops the run, reported below
        error = err
        # The run log keeps the whole traceback; the terminal gets one line (summary.py).
        logging.exception("the run stopped")
        watcher.fail_running()
    finally:
        root.removeHandler(watcher)
    return RunOutcome(run_id, tuple(reports), error)


class _NodeWatcher(logging.Handler):
    """Turns LocalDagRunner's per-node log records into timed callbacks."""

    def __init__(self, on_finished: Callable[..., None]):
        super().__init__(level=logging.INFO)
        self._on_finished = on_finished
        self._running: tuple[str, float] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == _RUNNING:
            self._running = (record.args[0], time.monotonic())
        elif record.msg == _FINISHED and self._running:
            node_id, started = self._running
            self._running = None
            self._on_finished(node_id, time.monotonic() - started)

    def fail_running(self) -> None:
        if self._running:
            node_id, started = self._running
            self._running = None
            self._on_finished(node_id, time.monotonic() - started, failed=True)
