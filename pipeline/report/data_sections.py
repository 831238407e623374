"""The report's data, schema and anomalies sections, gathered from ML Metadata.

Drift is measured against a **baseline**: the train statistics of the last earlier run
that trained a model (its Trainer execution completed). A run that stopped at the data
gate, failed later or reused a cached model is not a baseline: comparing with a run
that did not train would hide a shift that reached it first (the second run with the
same shifted CSV would show no drift at all).
"""

import dataclasses

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.types import artifact_utils

from components.data_gate import anomalies as anomalies_lib
from pipeline import metadata
from pipeline import pipeline as ids
from pipeline.config import PipelineConfig
from pipeline.report import data, queries
from pipeline.report.queries import first

Artifacts = dict[str, list[metadata_store_pb2.Artifact]]
# The Trainer's node id: create_pipeline keeps TFX's default, the component class name.
TRAINER_ID = "Trainer"


@dataclasses.dataclass(frozen=True)
class DriftBaseline:
    """The statistics drift is measured against: those of the last run that trained.

    Attributes:
        run_id: That run.
        artifact_id: Its ExampleStatistics artifact.
        same_artifact: The current run validated the very same statistics (cached data).
    """

    run_id: str
    artifact_id: int
    same_artifact: bool


@dataclasses.dataclass(frozen=True)
class DataSection:
    """Statistics per split and feature, with skew and drift."""

    artifact: queries.ArtifactRef
    splits: tuple[tuple[str, int], ...]
    numeric: tuple[data.FeatureRow, ...]
    categorical: tuple[data.FeatureRow, ...]
    comparisons: tuple[data.Comparison, ...]
    baseline: DriftBaseline | None
    categorical_threshold: float
    numeric_threshold: float


@dataclasses.dataclass(frozen=True)
class SchemaSection:
    """The schema the data was validated against."""

    artifact: queries.ArtifactRef
    source: str | None
    rows: tuple[data.SchemaRow, ...]


@dataclasses.dataclass(frozen=True)
class AnomaliesSection:
    """ExampleValidator's findings and what the run did about them."""

    artifact: queries.ArtifactRef
    rows: tuple[anomalies_lib.Anomaly, ...]
    policy: str
    stopped: bool

    @property
    def passed(self) -> bool:
        return not self.rows


def node_inputs(
    store: mlmd.MetadataStore, pipeline_name: str, run_id: str, node_id: str
) -> Artifacts:
    """Input key -> artifacts of the node's execution in the run (empty when none)."""
    execution = metadata.node_execution(store, pipeline_name, run_id, node_id)
    if execution.execution_id is None:
        return {}
    return queries.execution_inputs(store, execution.execution_id)


def data_section(
    store: mlmd.MetadataStore,
    cfg: PipelineConfig,
    run_id: str,
    validator_inputs: Artifacts,
    walk: queries.ArtifactWalker,
) -> DataSection | None:
    """Statistics, skew (train vs eval) and drift (train vs the baseline's train)."""
    statistics = first(validator_inputs, "statistics")
    if statistics is None:
        return None
    splits = data.ordered_splits(split_names(statistics))
    stats = {split: data.load_statistics(statistics.uri, split) for split in splits}
    baseline = drift_baseline(store, cfg.name, run_id)
    schema = first(validator_inputs, "schema")
    comparisons = []
    if schema is not None and data.TRAIN in stats:
        comparisons = data.skew_and_drift(
            data.load_schema(schema.uri),
            stats[data.TRAIN],
            stats.get(data.EVAL),
            data.load_statistics(baseline[1].uri, data.TRAIN) if baseline else None,
        )
    rows = data.feature_rows(stats)
    return DataSection(
        artifact=walk.ref(statistics),
        splits=tuple((split, data.num_examples(stats[split])) for split in splits),
        numeric=tuple(r for r in rows if not r.categorical),
        categorical=tuple(r for r in rows if r.categorical),
        comparisons=tuple(comparisons),
        baseline=baseline
        and DriftBaseline(baseline[0], baseline[1].id, baseline[1].id == statistics.id),
        categorical_threshold=data.CATEGORICAL_THRESHOLD,
        numeric_threshold=data.NUMERIC_THRESHOLD,
    )


def drift_baseline(
    store: mlmd.MetadataStore, pipeline_name: str, run_id: str
) -> tuple[str, metadata_store_pb2.Artifact] | None:
    """(run id, statistics) of the newest run before ``run_id`` whose Trainer executed.

    "Executed" is a completed Trainer execution, not a cached one: a cached Trainer
    trained on the statistics of the run that executed it, which this finds further back.
    """
    names = [c.name for c in queries.run_contexts(store, pipeline_name)]
    for earlier in names[names.index(run_id) + 1 :] if run_id in names else []:
        trainer = metadata.node_execution(store, pipeline_name, earlier, TRAINER_ID)
        if trainer.state != "executed":
            continue
        inputs = node_inputs(store, pipeline_name, earlier, ids.VALIDATOR_ID)
        statistics = first(inputs, "statistics")
        if statistics is not None:
            return earlier, statistics
    return None


def split_names(artifact: metadata_store_pb2.Artifact) -> list[str]:
    """The split names an artifact records (custom property or TFX property)."""
    encoded = (
        metadata.custom_property(artifact, "split_names")
        or artifact.properties["split_names"].string_value
    )
    return artifact_utils.decode_split_names(encoded)


def schema_section(
    store: mlmd.MetadataStore, validator_inputs: Artifacts, walk: queries.ArtifactWalker
) -> SchemaSection | None:
    """The schema ExampleValidator used, and the file ImportSchemaGen read it from."""
    schema = first(validator_inputs, "schema")
    if schema is None:
        return None
    producer = queries.producer(store, schema.id)
    source = producer and metadata.custom_property(producer, "schema_file")
    return SchemaSection(
        artifact=walk.ref(schema),
        source=source or None,
        rows=tuple(data.schema_rows(data.load_schema(schema.uri))),
    )


def anomalies_section(
    store: mlmd.MetadataStore,
    cfg: PipelineConfig,
    run_id: str,
    stopped: bool,
    walk: queries.ArtifactWalker,
) -> AnomaliesSection | None:
    """ExampleValidator's anomalies in the run; ``stopped`` when the run stopped early."""
    outputs = queries.run_outputs(store, cfg.name, run_id, ids.VALIDATOR_ID)
    artifact = first(outputs, "anomalies")
    if artifact is None:
        return None
    return AnomaliesSection(
        artifact=walk.ref(artifact),
        rows=tuple(anomalies_lib.read_anomalies(artifact.uri, split_names(artifact))),
        policy=cfg.validation.on_anomalies,
        stopped=stopped,
    )
