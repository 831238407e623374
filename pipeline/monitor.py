"""``runner.py monitor``: the served model's request logs against its training data.

Finds, in ML Metadata, the newest run that trained a model (its Trainer executed): the
train split statistics and the schema its ExampleValidator used, and the test split's
figure from its summary. Then runs ``monitoring.monitor`` over a window of the request
logs and writes ``monitor.html`` and ``monitor.json`` under ``<work dir>/monitor/<model>/``.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import math
from pathlib import Path
from typing import Any

from monitoring import logs as logs_lib
from monitoring.distances import Thresholds
from monitoring.logs import MonitorError
from monitoring.monitor import MonitorResult, Settings, monitor
from pipeline.config import PipelineConfig
from serving.feedback import FeedbackStore, read_labels_csv

HTML_FILE = "monitor.html"
JSON_FILE = "monitor.json"
SPAN_FILE = "monitored.csv"


@dataclasses.dataclass(frozen=True)
class MonitorOutcome:
    """A pass's result and the files it wrote."""

    result: MonitorResult
    html: Path
    json: Path
    labels_added: int = 0
    exported: Path | None = None
    exported_rows: int = 0


@dataclasses.dataclass(frozen=True)
class Reference:
    """What the logs are compared with: from the newest run that trained a model."""

    run_id: str | None
    schema: Any  # schema_pb2.Schema
    train_statistics: Any  # DatasetFeatureStatisticsList, or None
    test_value: float | None


def settings_of(cfg: PipelineConfig) -> Settings:
    """The config's ``monitoring:`` thresholds."""
    m = cfg.monitoring
    return Settings(
        skew=Thresholds(m.skew.categorical, m.skew.numeric),
        drift=Thresholds(m.drift.categorical, m.drift.numeric),
        max_error_rate=m.max_error_rate,
        max_accuracy_drop=m.max_accuracy_drop,
        max_error_increase=m.max_error_increase,
        min_labelled=m.min_labelled,
        sample_rate=m.sample_rate,
    )


def run_monitor(
    cfg: PipelineConfig,
    window: int | None = None,
    since: float | None = None,
    labels_csv: Path | None = None,
    export_span: Path | None = None,
) -> MonitorOutcome:
    """One monitoring pass (see the module docstring).

    Args:
        window: The newest N logged requests (default ``monitoring.window``).
        since: Instead, the requests of the last ``since`` seconds.
        labels_csv: A ``request_id,label[,instance]`` CSV to attach first.
        export_span: Directory to write the window's labelled requests to as a CSV span.

    Raises:
        MonitorError: No logs, no request in the window, or an unusable option.
        FeedbackError: The labels CSV cannot be read.
    """
    directory = cfg.serving_logs_dir / cfg.model_name
    added = 0
    if labels_csv is not None:
        added = FeedbackStore(cfg.serving_logs_dir).add(cfg.model_name, read_labels_csv(labels_csv))
    records = logs_lib.read_records(directory)
    if not records:
        raise MonitorError(
            f"no request logs under {directory}: serve with runner.py serve and send requests"
        )
    windows = logs_lib.select_windows(records, window=window or cfg.monitoring.window, since=since)
    reference = find_reference(cfg)
    result = monitor(
        model=cfg.model_name,
        windows=windows,
        schema=reference.schema,
        served_features=[f.name for f in cfg.spec.features],
        train_statistics=reference.train_statistics,
        test_value=reference.test_value,
        regression=cfg.spec.is_regression,
        settings=settings_of(cfg),
        baseline=f"run {reference.run_id}" if reference.run_id else "",
    )
    from pipeline.report import monitor_page

    cfg.monitor_dir.mkdir(parents=True, exist_ok=True)
    html = cfg.monitor_dir / HTML_FILE
    html.write_text(
        monitor_page.render(
            result, directory, cfg.monitoring.sample_rate, cfg.monitoring.max_error_rate
        ),
        encoding="utf-8",
    )
    summary = cfg.monitor_dir / JSON_FILE
    summary.write_text(json.dumps(to_json(result), indent=2, default=str))
    exported, rows = None, 0
    if export_span is not None:
        exported, rows = export_labelled(cfg, windows.current, reference.schema, export_span)
    return MonitorOutcome(result, html, summary, added, exported, rows)


def find_reference(cfg: PipelineConfig) -> Reference:
    """Train statistics, schema and test figure of the newest run that trained a model;
    the curated schema alone when there is no such run (no skew, no test figure).

    Raises:
        MonitorError: Neither a run nor a curated schema gives a schema.
    """
    from pipeline.report import data, headline, queries
    from pipeline.report import data_sections as sections

    found = None
    if cfg.metadata_path.is_file():
        from pipeline import metadata

        with metadata.open_store(cfg.metadata_path) as store:
            for context in queries.run_contexts(store, cfg.name):
                trainer = metadata.node_execution(
                    store, cfg.name, context.name, sections.TRAINER_ID
                )
                if trainer.state != "executed":
                    continue
                inputs = sections.node_inputs(store, cfg.name, context.name, _validator_id())
                statistics, schema = (queries.first(inputs, k) for k in ("statistics", "schema"))
                if statistics is not None and schema is not None:
                    found = (context.name, statistics.uri, schema.uri)
                    break
    if found is None:
        if cfg.validation.schema_path is None:
            raise MonitorError("no run has trained a model yet, and the config has no schema_path")
        return Reference(None, _read_schema(cfg.validation.schema_path), None, None)
    run_id, statistics_uri, schema_uri = found
    name = "mae" if cfg.spec.is_regression else "accuracy"
    summary = queries.read_summary(cfg, run_id)
    test = headline.from_summary(summary.test_metrics if summary else None, name)
    return Reference(
        run_id=run_id,
        schema=data.load_schema(schema_uri),
        train_statistics=data.load_statistics(statistics_uri, data.TRAIN),
        test_value=test.value if test else None,
    )


def _validator_id() -> str:
    from pipeline import pipeline as ids

    return ids.VALIDATOR_ID


def _read_schema(path: Path):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    return text_format.Parse(Path(path).read_text(), schema_pb2.Schema())


def export_labelled(
    cfg: PipelineConfig, records: list[logs_lib.Record], schema, directory: Path
) -> tuple[Path, int]:
    """Writes the answered, labelled instances as ``<directory>/monitored.csv``, with the
    training CSV's header (columns the server does not receive are left empty).

    Raises:
        MonitorError: ``directory`` holds files already (a span is written once).
    """
    from tensorflow_metadata.proto.v0 import schema_pb2

    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()):
        raise MonitorError(f"--export-span: {directory} is not empty; give a new span directory")
    header = cfg.data.header()
    label = cfg.spec.label.name
    ints = {f.name for f in schema.feature if f.type == schema_pb2.INT}
    rows = [r for r in records if r.ok and r.label is not None]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SPAN_FILE
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for record in rows:
            writer.writerow(
                [
                    _csv_value(
                        record.label if c == label else _first(record.features.get(c)), c in ints
                    )
                    for c in header
                ]
            )
    return path, len(rows)


def _first(values: list | None) -> Any:
    return values[0] if values else None


def _csv_value(value: Any, integer: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float):
        if integer and math.isfinite(value):
            return str(int(round(value)))
        return repr(value)
    return str(value)


def to_json(result: MonitorResult) -> dict[str, Any]:
    """The pass as JSON (``monitor.json``): what a scheduler or a test reads."""
    content = dataclasses.asdict(result)
    content["generated"] = datetime.datetime.now().astimezone().isoformat()
    return content
