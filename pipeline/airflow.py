"""Airflow 2: the DAG of ``create_pipeline(cfg)`` as an Airflow DAG, one task per TFX node.

Parsing the DAG imports neither TFX nor TensorFlow (Airflow parses DAG files often, within
``dagbag_import_timeout``, 30 s by default): the tasks and their dependencies come from
``pipeline.graph``, and each task's callable imports ``pipeline.airflow_tasks`` when it runs,
which builds the TFX pipeline and launches the task's node with TFX's Airflow launcher (see
there for what the launcher adds: conditions, node-scoped names, run-scoped Resolver inputs).
"""

import datetime
import functools
from typing import Any

from airflow.models import DAG
from airflow.operators.python import PythonOperator

from pipeline.config import AirflowConfig, PipelineConfig
from pipeline.graph import pipeline_graph


def create_airflow_dag(cfg: PipelineConfig, airflow: AirflowConfig) -> DAG:
    """Builds the Airflow DAG of ``create_pipeline(cfg)``; its id is the pipeline's name.

    Args:
        cfg: The pipeline configuration.
        airflow: Schedule, start date, retries and concurrency of the DAG.

    Returns:
        The DAG, one task per pipeline node (task id = node id) with the pipeline's
        dependencies; a task runs its node when Airflow runs it.
    """
    dag = DAG(dag_id=cfg.name, **dag_arguments(airflow))
    tasks: dict[str, PythonOperator] = {}
    for node_id, upstream in pipeline_graph(cfg).items():
        tasks[node_id] = PythonOperator(
            task_id=node_id,
            python_callable=functools.partial(_run_node, cfg, airflow, node_id),
            dag=dag,
        )
        for upstream_id in upstream:
            tasks[node_id].set_upstream(tasks[upstream_id])
    return dag


def _run_node(cfg: PipelineConfig, airflow: AirflowConfig, node_id: str, **context: Any) -> None:
    from pipeline import airflow_tasks  # TFX and TensorFlow: only where a task runs

    airflow_tasks.run_node(cfg, airflow, node_id, context)


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
