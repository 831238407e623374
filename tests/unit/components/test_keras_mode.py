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


AUTOGRAPH_CHECK = """
import tf_keras
from tensorflow.python.autograph.core import config
from tensorflow.python.autograph.impl import conversion
from components import keras_mode, strict_json

layer_call = tf_keras.layers.Dense(1).call
before = conversion.is_allowlisted(layer_call)
keras_mode.skip_autograph_for_libraries()
keras_mode.skip_autograph_for_libraries()
prefixes = [rule._prefix for rule in config.CONVERSION_RULES]
print(before, conversion.is_allowlisted(layer_call), conversion.is_allowlisted(strict_json.dumps),
      prefixes.count("tf_keras"), "tensorflow" in prefixes)
"""


def test_autograph_traces_tf_keras_as_written_and_still_converts_project_code():
    result = subprocess.run(
        [sys.executable, "-c", AUTOGRAPH_CHECK], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "True", "False", "1", "True"]
