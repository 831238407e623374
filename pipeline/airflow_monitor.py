"""Airflow 2: the optional monitor DAG that retrains when the served model's inputs move.

``<pipeline name>_monitor`` runs on ``airflow.monitor_schedule``: its ``monitor`` task runs
``runner.py monitor``'s pass (``pipeline.monitor.run_monitor``) and lets the ``retrain``
task (a ``TriggerDagRunOperator`` of the pipeline's own DAG) run only when a skew or drift
alert fired. Other alerts (errors, online quality, schema) are in ``monitor.html`` for a
person to judge: retraining on the same data would not fix them. With nothing logged yet
the pass is skipped, not failed.
"""

import logging
from pathlib import Path

from airflow.models import DAG
from airflow.operators.python import ShortCircuitOperator
from airflow.operators.trigger_dagrun import TriggerDagRunOperator

from pipeline.airflow import dag_arguments
from pipeline.config import AirflowConfig, PipelineConfig

MONITOR_TASK, RETRAIN_TASK = "monitor", "retrain"


def create_monitor_dag(cfg: PipelineConfig, airflow: AirflowConfig) -> DAG | None:
    """The monitor DAG, or None when ``airflow.monitor_schedule`` is null (the default)."""
    if airflow.monitor_schedule is None:
        return None
    arguments = dag_arguments(airflow)
    arguments["schedule"] = airflow.monitor_schedule
    arguments["max_active_runs"] = 1
    with DAG(dag_id=f"{cfg.name}_monitor", **arguments) as dag:
        monitor = ShortCircuitOperator(
            task_id=MONITOR_TASK,
            python_callable=drift_fired,
            op_kwargs={"config": str(cfg.source), "work_dir": str(cfg.work_dir)},
        )
        retrain = TriggerDagRunOperator(task_id=RETRAIN_TASK, trigger_dag_id=cfg.name)
        monitor >> retrain
    return dag


def drift_fired(config: str, work_dir: str) -> bool:
    """One monitoring pass of the config's served model; True when skew or drift fired."""
    # Inside the task: TFDV, TensorFlow and Beam stay out of the DAG file's parse.
    from monitoring.logs import MonitorError
    from monitoring.monitor import retrain_needed
    from pipeline.config import load_config
    from pipeline.monitor import run_monitor

    cfg = load_config(Path(config), work_dir=Path(work_dir))
    try:
        outcome = run_monitor(cfg)
    except MonitorError as err:
        logging.info("nothing to monitor: %s", err)
        return False
    for alert in outcome.result.alerts:
        logging.warning("alert: %s", alert)
    logging.info("monitor page: %s", outcome.html)
    return retrain_needed(outcome.result)
