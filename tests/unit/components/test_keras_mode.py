"""The legacy Keras mode holds in every process the DAG starts, and its check can fail."""

import os
import subprocess
import sys

from components import keras_mode

CHECK = "from components import keras_mode; keras_mode.require_legacy_keras(); print('ok')"


def test_holds_in_the_test_process():
    keras_mode.require_legacy_keras()


def test_child_processes_inherit_it():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_check_fails_without_it():
    env = {k: v for k, v in os.environ.items() if k not in keras_mode.ENVIRONMENT}
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, env=env)
    assert result.returncode != 0
    assert "KerasModeError" in result.stderr
