"""Airflow 2: the DAG of ``create_pipeline(cfg)`` as an Airflow DAG, one task per TFX node.

Built with TFX's ``AirflowDagRunner``: each task runs its component in the worker's process
against the pipeline's ML Metadata (``cfg.metadata_path``), so the Airflow workers need this
project's environment (the ``airflow`` dependency group) and ``TF_USE_LEGACY_KERAS=1`` before
TensorFlow is imported, which ``dags/penguins_dag.py`` sets.
"""

import datetime
from typing import Any

from airflow.models import DAG
from tfx.dsl.components.base import base_driver
from tfx.orchestration.airflow import airflow_dag_runner
from tfx.orchestration.launcher import in_process_component_launcher

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
    runner = airflow_dag_runner.AirflowDagRunner(
        airflow_dag_runner.AirflowPipelineConfig(
            airflow_dag_config=dag_arguments(airflow),
            supported_launcher_classes=[ComponentScopedLauncher],
        )
    )
    return runner.run(create_pipeline(cfg))


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


class ComponentScopedLauncher(in_process_component_launcher.InProcessComponentLauncher):
    """TFX's in-process launcher, with node-scoped output artifact names."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        driver = self._driver_class
        if issubclass(driver, base_driver.BaseDriver):
            self._driver_class = type(
                f"ComponentScoped{driver.__name__}", (_ComponentScopedNames, driver), {}
            )
