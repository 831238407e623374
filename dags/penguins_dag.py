"""Airflow DAG of the penguins pipeline: ``configs/penguins.yaml`` scheduled by Airflow.

Point Airflow's ``dags_folder`` at this directory (see README, "Scheduling on Airflow").
Airflow imports this file in its own processes, so it applies the DAG's Keras mode before
anything imports TensorFlow.
"""

import os
from pathlib import Path

from components import keras_mode

os.environ.update(keras_mode.ENVIRONMENT)

from pipeline.airflow import create_airflow_dag  # noqa: E402
from pipeline.airflow_monitor import create_monitor_dag  # noqa: E402
from pipeline.config import load_config  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "penguins.yaml"

_CFG = load_config(CONFIG)
DAG = create_airflow_dag(_CFG, _CFG.airflow)
# airflow.monitor_schedule: the <name>_monitor DAG, retraining when the served inputs drift.
MONITOR_DAG = create_monitor_dag(_CFG, _CFG.airflow)
