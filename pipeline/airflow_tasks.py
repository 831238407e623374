"""Airflow 2: what each task of ``pipeline.airflow``'s DAG runs, TFX and TensorFlow included.

``run_node`` builds ``create_pipeline(cfg)`` as TFX's ``AirflowDagRunner`` builds it (once per
process and config) and runs the task's node with TFX's Airflow operator and launcher, in the
worker's process against the pipeline's ML Metadata (``cfg.metadata_path``). So the Airflow
workers need this project's environment (the ``airflow`` dependency group) and
``TF_USE_LEGACY_KERAS=1`` before TensorFlow is imported, which ``dags/penguins_dag.py`` sets.

TFX's Airflow runner launches nodes with its pre-IR launchers, which know nothing of
``tfx.dsl.Cond`` and resolve a Resolver's upstream inputs across all runs. The launcher here
restores the local runner's meaning: a node whose condition is false is skipped (Airflow then
skips what depends on it), and a Resolver sees its upstream nodes' outputs of this run only.
"""

import dataclasses
from collections.abc import Mapping
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

from pipeline.airflow import dag_arguments
from pipeline.config import AirflowConfig, PipelineConfig
from pipeline.pipeline import create_pipeline


def run_node(cfg: PipelineConfig, airflow: AirflowConfig, node_id: str, context: Mapping) -> None:
    """Runs pipeline node ``node_id`` in the Airflow task whose context is ``context``.

    Args:
        cfg: The pipeline configuration the DAG was built from.
        airflow: The DAG's Airflow settings.
        node_id: The node, which is the task's id.
        context: The task's Airflow context (``ti``, ``task``, ``dag_run``, ...).

    Raises:
        RuntimeError: The task's upstream tasks are not the node's upstream nodes (the
            DAG's graph, ``pipeline.graph``, no longer describes ``create_pipeline``).
        AirflowSkipException: The node's ``tfx.dsl.Cond`` condition is false.
    """
    tfx_task = tfx_dag(cfg, airflow).get_task(node_id)
    upstream = set(context["task"].upstream_task_ids)
    if upstream != set(tfx_task.upstream_task_ids):
        raise RuntimeError(
            f"{node_id}: the DAG's upstream tasks {sorted(upstream)} are not the pipeline's "
            f"upstream nodes {sorted(tfx_task.upstream_task_ids)}; update pipeline/graph.py"
        )
    # TFX's operator hands its component's execution properties over as templated op_kwargs.
    exec_properties = tfx_task.render_template(tfx_task.op_kwargs["exec_properties"], context)
    tfx_task.python_callable(exec_properties=exec_properties, **context)


# (id(cfg), id(airflow)) -> (cfg, airflow, DAG): the configs are kept, so the ids stay theirs.
_TFX_DAGS: dict[tuple[int, int], tuple[PipelineConfig, AirflowConfig, DAG]] = {}


def tfx_dag(cfg: PipelineConfig, airflow: AirflowConfig) -> DAG:
    """TFX's own Airflow DAG of ``create_pipeline(cfg)``, built once per process and config.

    Its tasks are TFX's ``AirflowComponent`` operators with ``ComponentScopedLauncher``; its
    id is the pipeline's name. Nothing schedules it: ``run_node`` runs its tasks' callables.
    """
    key = (id(cfg), id(airflow))
    if key not in _TFX_DAGS:
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
        _TFX_DAGS[key] = (cfg, airflow, runner.run(dag_pipeline))
    return _TFX_DAGS[key][2]


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
