"""The one Keras mode the whole DAG uses: legacy tf-keras 2.16.

TFMA's Evaluator cannot load Keras 3 models and keras-tuner 1.3.5 needs tf-keras,
so every process that imports TensorFlow (runner, Beam workers, containers, tests)
must see ``TF_USE_LEGACY_KERAS=1`` before its first ``import tensorflow``.
``runner.py`` applies ``ENVIRONMENT``; code that builds models calls
``require_legacy_keras`` so a process where it did not hold fails loudly.
"""

ENVIRONMENT = {"TF_USE_LEGACY_KERAS": "1"}


class KerasModeError(RuntimeError):
    """TensorFlow was imported without the legacy Keras mode."""


def require_legacy_keras() -> None:
    """Raises KerasModeError unless ``tf.keras`` is tf-keras 2.x."""
    import tensorflow as tf
    import tf_keras

    if tf.keras.Model is not tf_keras.Model:
        raise KerasModeError(
            "tf.keras is Keras 3, not tf-keras: set TF_USE_LEGACY_KERAS=1 before TensorFlow is "
            "first imported (runner.py does this)"
        )
