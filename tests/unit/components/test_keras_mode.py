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


def test_autograph_leaves_tf_keras_code_alone():
    import tf_keras
    from tensorflow.python.autograph.impl import conversion

    keras_mode.skip_autograph_in_tf_keras()
    keras_mode.skip_autograph_in_tf_keras()  # idempotent
    from tensorflow.python.autograph.core import config

    rules = [str(r) for r in config.CONVERSION_RULES]
    assert rules.count("DoNotConvert rule for tf_keras") == 1
    assert conversion.is_allowlisted(tf_keras.Model.train_step)
    assert not conversion.is_allowlisted(test_autograph_leaves_tf_keras_code_alone)
