"""What produced a model: ``runner.py lineage``, walked through ML Metadata events.

From a pushed model (ServingPusher's ``pushed_model``, found by its version or serving
directory) or a Trainer model back through the Trainer to the data, schema, transform
graph and code that made it, with the headline metric its run recorded (accuracy, or
the gated regression error).
"""

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components import custom_config as config_keys
from pipeline import metadata
from pipeline.config import PipelineConfig
from pipeline.report import headline as headlines
from pipeline.report.store import (
    INPUT_EVENTS,
    ArtifactRef,
    ArtifactWalker,
    execution_inputs,
    first,
    producer,
    read_summary,
    run_id_of,
)

PUSHED_MODEL_TYPE = "PushedModel"
MODEL_TYPE = "Model"
HISTORY_FILE = "history.json"


class LineageError(LookupError):
    """No model matches the query, or its lineage is incomplete in ML Metadata."""


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
        evaluations: The task's headline metric (accuracy, or the gated regression
            error) on the eval and test splits, as the Trainer's run recorded them in its
            ``summary.json``; empty when it wrote none.
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
    evaluations: tuple[headlines.Headline, ...] = ()

    @property
    def inputs_unchanged(self) -> bool | None:
        """Whether the input files still have the sizes and mtimes ExampleGen recorded."""
        if self.recorded_input_fingerprint is None or self.current_input_fingerprint is None:
            return None
        return self.recorded_input_fingerprint == self.current_input_fingerprint


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
        pushed, model = _find_model(store, cfg, version, model_uri)
        return model_lineage(store, cfg, model, pushed)


def model_lineage(
    store: mlmd.MetadataStore,
    cfg: PipelineConfig,
    model: metadata_store_pb2.Artifact,
    pushed: metadata_store_pb2.Artifact | None = None,
) -> Lineage:
    """Walks ML Metadata events from a Trainer ``model`` back to the raw data.

    The metrics are those the Trainer's run recorded: the Evaluator of that run judged
    this model.

    Raises:
        LineageError: No execution recorded ``model`` as its output.
    """
    trainer = producer(store, model.id)
    if trainer is None:
        raise LineageError(f"no execution produced model artifact {model.id} ({model.uri})")
    walk = ArtifactWalker(store, cfg.name)
    run_id = run_id_of(store, trainer.id)
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
        run_id=run_id,
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
        evaluations=headlines.summary_headlines(
            read_summary(cfg, run_id) if run_id else None, headlines.headline_name(cfg)
        ),
    )


def _find_model(
    store: mlmd.MetadataStore, cfg: PipelineConfig, version: int | None, model_uri: str | None
) -> tuple[metadata_store_pb2.Artifact | None, metadata_store_pb2.Artifact]:
    """(pushed model or None, Trainer model) matching the query, among the pushes into this
    pipeline's served model (pipelines may share a work dir and its ML Metadata)."""
    if model_uri is not None:
        wanted = os.path.normpath(model_uri)
        models = [
            a for a in store.get_artifacts_by_type(MODEL_TYPE) if os.path.normpath(a.uri) == wanted
        ]
        if models:
            return first_push_of(store, models[0]), models[0]
    served = os.path.normpath(str(cfg.serving_model_dir))
    pushes = [
        p
        for p in _pushes(store)
        if os.path.dirname(os.path.normpath(str(metadata.custom_property(p, "pushed_destination"))))
        == served
    ]
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
        if e.type in INPUT_EVENTS
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


def format_lineage(found: Lineage) -> str:
    """The ``runner.py lineage`` answer: one line per input, with ML Metadata ids.

    After the model, its headline metric per split (``eval  accuracy 0.987 on 79
    examples`` or ``eval  mae 41.23 on 88 examples (baseline 43.10)``).
    """
    lines = []
    if found.pushed_model:
        lines.append(
            _line("pushed", f"version {found.pushed_version} -> {found.pushed_destination}")
            + f"  ({_describe(found.pushed_model)})"
        )
    lines.append(_line("model", f"{found.model.uri}  ({_describe(found.model)})"))
    lines += [_line(h.split, h.describe()) for h in found.evaluations]
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
