"""Airflow 2: the DAG of ``create_pipeline(cfg)`` as an Airflow DAG, one task per TFX node.

Built with TFX's ``AirflowDagRunner``: each task runs its component in the worker's process
against the pipeline's ML Metadata (``cfg.metadata_path``), so the Airflow workers need this
project's environment (the ``airflow`` dependency group) and ``TF_USE_LEGACY_KERAS=1`` before
TensorFlow is imported, which ``dags/penguins_dag.py`` sets.

TFX's Airflow runner launches nodes with its pre-IR launchers, which know nothing of
``tfx.dsl.Cond`` and resolve a Resolver's upstream inputs across all runs. The launcher here
restores the local runner's meaning: a node whose condition is false is skipped (Airflow then
skips what depends on it), and a Resolver sees its upstream nodes' outputs of this run only.
"""

import dataclasses
import datetime
from typing import Any, ClassVar

from airflow.exceptions import AirflowSkipException
from airflow.models import DAG
from tfx import types
from tfx.dsl.compiler import compiler_utils, placeholder_utils
from tfx.dsl.components.base import base_driver, base_node
from tfx.dsl.components.common import resolver
from tfx.dsl.experimental.conditionals import conditional
from tfx.orchestration import data_types
from tfx.orchestration import metadata as legacy_metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.airflow import airflow_dag_runner
from tfx.orchestration.launcher import in_process_component_launcher
from tfx.orchestration.portable import data_types as portable_data_types
from tfx.proto.orchestration import placeholder_pb2
from tfx.types import channel_utils

from pipeline.config import AirflowConfig, PipelineConfig
from pipeline.pipeline import create_pipeline


def create_airflow_dag(cfg: PipelineConfig, airflow: AirflowConfig) -> DAG:
    """Builds the Airflow DAG of ``create_pipeline(cfg)``; its id is the pipeline's name.

    Args:
        cfg: The pipeline configuration.
        airflow: Schedule, start date, retries and concurrency of the DAG.

    Returns:
        The DAG, one task per pipeline node with the pipeline's dependencies.
    """
    dag_pipeline = create_pipeline(cfg)
    launcher = type(
        "PipelineLauncher",
        (ComponentScopedLauncher,),
        {"conditions": node_conditions(dag_pipeline)},
    )
    runner = airflow_dag_runner.AirflowDagRunner(
        airflow_dag_runner.AirflowPipelineConfig(
            airflow_dag_config=dag_arguments(airflow),
            supported_launcher_classes=[launcher],
        )
    )
    return runner.run(dag_pipeline)


def dag_arguments(airflow: AirflowConfig) -> dict[str, Any]:
    """Keyword arguments of ``airflow.models.DAG`` from ``airflow``; never catches up."""
    return {
        "schedule": airflow.schedule,
        "start_date": datetime.datetime.combine(
            datetime.date.fromisoformat(airflow.start_date),
            datetime.time(),
            tzinfo=datetime.timezone.utc,
        ),
        "catchup": False,
        "max_active_runs": airflow.max_active_runs,
        "default_args": {
            "retries": airflow.retries,
            "retry_delay": datetime.timedelta(minutes=airflow.retry_delay_minutes),
        },
    }


class _ComponentScopedNames(base_driver.BaseDriver):
    """Names output artifacts ``<node id>.<output key>:<run id>``.

    TFX's Airflow driver names them ``<output key>:<run id>``, and ML Metadata keeps artifact
    names unique per type, so two nodes with the same output (Evaluator and TestEvaluator
    both write a ModelEvaluation ``evaluation``) cannot both run in one DAG run. Inputs are
    resolved by producer and output key, never by this name.
    """

    def _prepare_output_artifacts(self, **kwargs: Any) -> dict[str, list]:
        outputs = super()._prepare_output_artifacts(**kwargs)
        node_id = kwargs["component_info"].component_id
        run_id = kwargs["pipeline_info"].run_id
        for key, artifacts in outputs.items():
            for artifact in artifacts:
                artifact.name = f"{node_id}.{key}:{run_id}"
        return outputs


class _ThisRunsUpstreamOutputs:
    """Resolver inputs: an upstream node's output channel means that node's output of this run.

    TFX's pre-IR Resolver driver reads every artifact a producer ever wrote, so the
    baseline strategy's ``candidate`` would be all Trainer models rather than this run's.
    Channels without a producer (the baseline pool) still span all runs.
    """

    _metadata_handle: legacy_metadata.Metadata

    def _build_input_dict(
        self, pipeline_info: data_types.PipelineInfo, input_channels: dict[str, Any]
    ) -> dict[str, list[types.Artifact]]:
        upstream = {k: c for k, c in input_channels.items() if _producer_of(c)}
        resolved = super()._build_input_dict(  # type: ignore[misc]
            pipeline_info, {k: c for k, c in input_channels.items() if k not in upstream}
        )
        for key, channel in upstream.items():
            resolved[key] = _outputs_of_this_run(self._metadata_handle, pipeline_info, channel)
        return resolved


@dataclasses.dataclass(frozen=True)
class Condition:
    """One ``tfx.dsl.Cond`` predicate of a node, ready to evaluate against ML Metadata.

    Attributes:
        predicate: The predicate, encoded with each channel's key in ``channels``.
        channels: The output channels the predicate reads, by key.
    """

    predicate: placeholder_pb2.PlaceholderExpression
    channels: dict[str, types.BaseChannel]

    def holds(self, handle: legacy_metadata.Metadata, run: data_types.PipelineInfo) -> bool:
        """Whether the predicate is true for the channels' artifacts of run ``run``."""
        return self.holds_for(
            {key: _outputs_of_this_run(handle, run, c) for key, c in self.channels.items()}
        )

    def holds_for(self, artifacts: dict[str, list[types.Artifact]]) -> bool:
        """Whether the predicate is true for ``artifacts`` (by channel key); false if unset."""
        context = placeholder_utils.ResolutionContext(
            exec_info=portable_data_types.ExecutionInfo(input_dict=artifacts)
        )
        return placeholder_utils.resolve_placeholder_expression(self.predicate, context) is True


def node_conditions(dag_pipeline: tfx_pipeline.Pipeline) -> dict[str, tuple[Condition, ...]]:
    """The ``tfx.dsl.Cond`` predicates of each node inside one, by node id."""
    registry = dag_pipeline.dsl_context_registry
    result = {}
    for node in dag_pipeline.components:
        predicates = conditional.get_predicates(node, registry)
        if predicates:
            result[node.id] = tuple(_condition(p) for p in predicates)
    return result


def _condition(predicate: Any) -> Condition:
    # The compiler's key: a predicate's channels may already carry it, and encoding keeps it.
    key = compiler_utils.implicit_channel_key
    channels = {key(c): c for c in channel_utils.get_dependent_channels(predicate)}
    return Condition(
        predicate=channel_utils.encode_placeholder_with_channels(predicate, key),
        channels=channels,
    )


def _producer_of(channel: types.BaseChannel) -> str | None:
    return getattr(channel, "producer_component_id", None)


def _outputs_of_this_run(
    handle: legacy_metadata.Metadata,
    run: data_types.PipelineInfo,
    channel: types.BaseChannel,
) -> list[types.Artifact]:
    return handle.search_artifacts(
        artifact_name=channel.output_key,
        pipeline_info=run,
        producer_component_id=_producer_of(channel),
    )


class ComponentScopedLauncher(in_process_component_launcher.InProcessComponentLauncher):
    """TFX's in-process launcher, with node-scoped output names, conditions and run-scoped
    Resolver inputs.

    Attributes:
        conditions: Each conditional node's predicates, by node id (see ``node_conditions``).
    """

    conditions: ClassVar[dict[str, tuple[Condition, ...]]] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        node: base_node.BaseNode = kwargs["component"]
        driver = self._driver_class
        if issubclass(driver, base_driver.BaseDriver):
            mixins = [_ComponentScopedNames]
            if isinstance(node, resolver.Resolver):
                mixins.insert(0, _ThisRunsUpstreamOutputs)
            self._driver_class = type(f"ComponentScoped{driver.__name__}", (*mixins, driver), {})

    def launch(self) -> portable_data_types.ExecutionInfo:
        """Runs the node, or raises AirflowSkipException when one of its conditions is false."""
        node_id = self._component_info.component_id
        conditions = self.conditions.get(node_id, ())
        if conditions:
            with self._metadata_connection as handle:
                if not all(c.holds(handle, self._pipeline_info) for c in conditions):
                    raise AirflowSkipException(f"{node_id}: its tfx.dsl.Cond condition is false")
        return super().launch()
