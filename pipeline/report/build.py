"""``build_report(cfg, run_id)``: one self-contained HTML page about one run.

The page is rendered from Jinja templates shipped in ``templates/``; this module only
gathers values (from the run's ``summary.json``, ML Metadata and the artifacts) into
plain dataclasses, ``data_sections`` those of the data, schema and anomalies sections.
CSS and charts are inline, so the file opens offline and can be mailed or archived as
it is.
"""

import dataclasses
import datetime
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata
from pipeline import pipeline as ids
from pipeline.config import PipelineConfig
from pipeline.report import data_sections as sections
from pipeline.report import deployment, evaluation, formatting, headline, queries
from pipeline.report import misclassified as image_errors
from pipeline.report.queries import first
from pipeline.run_files import REPORT_FILE
from pipeline.run_summary import RunSummary

TEMPLATE = "report.html.j2"
TEMPLATES_DIR = Path(__file__).parent / "templates"
REPO_DIR = Path(__file__).resolve().parents[2]
_GIT_TIMEOUT_SECONDS = 10


@dataclasses.dataclass(frozen=True)
class ComponentRow:
    """A node's line in the run table; ``bar`` is its share of the longest node's time (%)."""

    node_id: str
    state: str
    seconds: float | None
    bar: float


@dataclasses.dataclass(frozen=True)
class GitInfo:
    """The checkout the report was built from."""

    commit: str
    dirty: bool


@dataclasses.dataclass(frozen=True)
class RunSection:
    """Who, when, with what, and how it ended.

    Attributes:
        outcome_kind: ``ok``, ``warn`` (not blessed) or ``fail`` (stopped), for the banner.
        headlines: The task's headline metric (accuracy, or the gated regression error)
            of the eval and test splits, as summarized.
        blessing_failures: Why the model was not blessed, one threshold per line.
    """

    pipeline: str
    run_id: str
    started: datetime.datetime | None
    config: str
    config_digest: str
    git: GitInfo | None
    components: tuple[ComponentRow, ...]
    total_seconds: float
    outcome: str
    outcome_kind: str
    error: str | None
    stopped_at: str | None
    blessed: bool | None
    pushed_version: str | None
    log_path: str | None
    headlines: tuple[headline.Headline, ...] = ()
    blessing_failures: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ModelSection:
    """Training, evaluation and the blessing decision."""

    model: queries.ArtifactRef
    history: evaluation.TrainingHistory | None
    eval: evaluation.Evaluation | None
    test: evaluation.Evaluation | None
    blessed: bool | None
    decision: str
    baseline: queries.ArtifactRef | None
    tensorboard_dir: str | None
    misclassified: image_errors.MisclassifiedGrid | None = None


def build_report(cfg: PipelineConfig, run_id: str | None = None) -> Path:
    """Writes ``<work_dir>/runs/<run_id>/report.html`` and returns its path.

    Args:
        cfg: The pipeline config the run used.
        run_id: The run; default the newest run in ML Metadata.

    Raises:
        queries.NoSuchRunError: The store holds no such run.
    """
    run_id = queries.resolve_run_id(cfg, run_id)
    html = render(collect(cfg, run_id))
    path = cfg.runs_dir / run_id / REPORT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path


def render(context: Mapping[str, Any]) -> str:
    """The report HTML for a context as ``collect`` builds it."""
    return template_environment().get_template(TEMPLATE).render(**context)


def template_environment() -> jinja2.Environment:
    """The pages' Jinja environment: ``templates/``, escaping on, undefined values an
    error, the report's number filters."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(formatting.FILTERS)
    return environment


def collect(cfg: PipelineConfig, run_id: str) -> dict[str, Any]:
    """Every section's values for one run (a section not reached is None)."""
    summary = queries.read_summary(cfg, run_id)
    with metadata.open_store(cfg.metadata_path) as store:
        context = store.get_context_by_type_and_name(metadata.PIPELINE_RUN_CONTEXT, run_id)
        if context is None:
            raise queries.NoSuchRunError(f"no run {run_id!r} in {cfg.metadata_path}")
        run = _run_section(store, cfg, context, summary)
        walk = queries.ArtifactWalker(store, cfg.name)
        validator_inputs = sections.node_inputs(store, cfg.name, run_id, ids.VALIDATOR_ID)
        model = _model_section(store, cfg, run_id, walk)
        deployment_values = deployment.deployment_section(store, cfg, run_id)
        return {
            "run": run,
            "data": sections.data_section(store, cfg, run_id, validator_inputs, walk),
            "schema": sections.schema_section(store, validator_inputs, walk),
            "anomalies": sections.anomalies_section(
                store, cfg, run_id, run.stopped_at is not None, walk
            ),
            "model": model,
            "deployment": deployment_values,
            "lineage": _lineage(store, cfg, model),
            "label_classes": cfg.spec.label.classes,
            "task": cfg.spec.task,
            "generated": datetime.datetime.now().astimezone(),
        }


# --- run ---------------------------------------------------------------------------------


def _run_section(
    store: mlmd.MetadataStore,
    cfg: PipelineConfig,
    context: metadata_store_pb2.Context,
    summary: RunSummary | None,
) -> RunSection:
    summary = summary or _summary_from_metadata(store, cfg, context.name)
    rows = component_rows(summary.components)
    stopped_at = next((r.node_id for r in rows if r.state == "failed"), None)
    return RunSection(
        pipeline=cfg.name,
        run_id=context.name,
        started=queries.local_time(context.create_time_since_epoch),
        config=summary.config or str(cfg.source),
        config_digest=summary.config_digest or cfg.digest(),
        git=git_info(REPO_DIR),
        components=tuple(rows),
        total_seconds=sum(r.seconds or 0.0 for r in rows),
        outcome=summary.outcome or "unknown",
        outcome_kind=outcome_kind(summary),
        error=summary.error,
        stopped_at=stopped_at,
        blessed=summary.blessed,
        pushed_version=summary.pushed_version,
        log_path=summary.log_path or None,
        headlines=headline.summary_headlines(summary, headline.headline_name(cfg)),
        blessing_failures=tuple(summary.blessing_failures or ()),
    )


def component_rows(components: list[dict[str, Any]]) -> list[ComponentRow]:
    """The summary's component list with bars scaled to the slowest component."""
    longest = max((c.get("seconds") or 0.0 for c in components), default=0.0) or 1.0
    return [
        ComponentRow(
            node_id=c["node_id"],
            state=c["state"],
            seconds=c.get("seconds"),
            bar=round(100 * (c.get("seconds") or 0.0) / longest, 1),
        )
        for c in components
    ]


def outcome_kind(summary: RunSummary) -> str:
    """``fail`` for a stopped run, ``warn`` for an unblessed model, ``ok`` otherwise."""
    if summary.error:
        return "fail"
    if summary.blessed is False:
        return "warn"
    return "ok"


def _summary_from_metadata(
    store: mlmd.MetadataStore, cfg: PipelineConfig, run_id: str
) -> RunSummary:
    """What ``summary.json`` would say, for a run the runner did not write one for.

    The config, its digest and the log are not known from ML Metadata: they are left
    empty (``_run_section`` shows the config's own, and no log).
    """
    prefix = f"{cfg.name}."
    node_ids = sorted(
        c.name[len(prefix) :]
        for c in store.get_contexts_by_type(metadata.NODE_CONTEXT)
        if c.name.startswith(prefix)
    )
    components = []
    for node_id in node_ids:
        execution = metadata.node_execution(store, cfg.name, run_id, node_id)
        if execution.execution_id is None:
            continue
        (record,) = store.get_executions_by_id([execution.execution_id])
        seconds = (record.last_update_time_since_epoch - record.create_time_since_epoch) / 1000
        components.append({"node_id": node_id, "state": execution.state, "seconds": seconds})
    components.sort(key=lambda c: c["node_id"])
    failed = next((c["node_id"] for c in components if c["state"] == "failed"), None)
    blessing = first(queries.run_outputs(store, cfg.name, run_id, ids.EVALUATOR_ID), "blessing")
    blessed = blessing and metadata.custom_property(blessing, "blessed")
    return RunSummary(
        pipeline=cfg.name,
        run_id=run_id,
        config="",
        config_digest="",
        work_dir=str(cfg.work_dir),
        metadata_path=str(cfg.metadata_path),
        log_path="",
        components=components,
        outcome=f"stopped at {failed}" if failed else "finished (no summary.json)",
        error=f"{failed} failed" if failed else None,
        blessed=None if blessed is None else blessed == 1,
    )


def git_info(repo: Path) -> GitInfo | None:
    """HEAD of the git checkout at ``repo``, or None when it is not one (or git is absent)."""
    try:
        head = _git(repo, "rev-parse", "HEAD")
        status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return GitInfo(commit=head.stdout.strip(), dirty=bool(status.stdout.strip()))


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT_SECONDS,
        check=False,
    )


# --- model, lineage ----------------------------------------------------------


def _model_section(
    store: mlmd.MetadataStore, cfg: PipelineConfig, run_id: str, walk: queries.ArtifactWalker
) -> ModelSection | None:
    evaluator_inputs = sections.node_inputs(store, cfg.name, run_id, ids.EVALUATOR_ID)
    model = first(evaluator_inputs, "model")
    if model is None:
        return None
    trainer = queries.producer(store, model.id)
    model_run = trainer and first(metadata.output_artifacts(store, trainer.id), "model_run")
    outputs = queries.run_outputs(store, cfg.name, run_id, ids.EVALUATOR_ID)
    evaluation_artifact = first(outputs, "evaluation")
    blessing = first(outputs, "blessing")
    test_artifact = first(
        queries.run_outputs(store, cfg.name, run_id, ids.TEST_EVALUATOR_ID), "evaluation"
    )
    view = evaluation.task_view(cfg.spec, cfg.evaluator)
    eval_result = evaluation_artifact and evaluation.read_evaluation(
        evaluation_artifact.uri, ids.EVAL_SPLIT, view
    )
    blessed_value = blessing and metadata.custom_property(blessing, "blessed")
    blessed = None if blessed_value is None else blessed_value == 1
    return ModelSection(
        model=walk.ref(model),
        history=model_run and evaluation.read_history(model_run.uri, view.history_metric),
        eval=eval_result,
        test=test_artifact
        and evaluation.read_evaluation(test_artifact.uri, ids.TEST_SPLIT, view, gated=False),
        blessed=blessed,
        decision=blessing_decision(blessed, eval_result),
        baseline=walk.ref(first(evaluator_inputs, "baseline_model")),
        tensorboard_dir=model_run and model_run.uri,
        misclassified=test_artifact and _misclassified(store, cfg, run_id, model.uri),
    )


def _misclassified(
    store: mlmd.MetadataStore, cfg: PipelineConfig, run_id: str, model_uri: str
) -> image_errors.MisclassifiedGrid | None:
    """The grid of misclassified test images, for an image classifier whose test split
    was scored."""
    examples = first(
        sections.node_inputs(store, cfg.name, run_id, ids.TEST_EVALUATOR_ID), "examples"
    )
    if examples is None:
        return None
    return image_errors.misclassified_images(cfg.spec, model_uri, examples.uri, ids.TEST_SPLIT)


def blessing_decision(blessed: bool | None, result: evaluation.Evaluation | None) -> str:
    """The Evaluator's verdict in one sentence."""
    if blessed is None:
        return "The Evaluator did not decide (it did not finish)."
    if not blessed:
        return "Not blessed: the model failed a threshold, so it was neither converted nor pushed."
    if result is not None and not result.has_baseline:
        return (
            "Blessed: it met every value threshold; there was no earlier blessed model "
            "to compare with, so change thresholds were not checked."
        )
    return "Blessed: it met every value threshold and did not fall behind the baseline."


def _lineage(
    store: mlmd.MetadataStore, cfg: PipelineConfig, model: ModelSection | None
) -> queries.Lineage | None:
    if model is None:
        return None
    (artifact,) = store.get_artifacts_by_id([model.model.id])
    return queries.model_lineage(store, cfg, artifact, queries.first_push_of(store, artifact))
