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
    """Raises KerasModeError unless ``tf.keras`` is tf-keras 2.x; then keeps AutoGraph
    out of tf-keras' own code (``skip_autograph_in_tf_keras``)."""
    import tensorflow as tf
    import tf_keras

    if tf.keras.Model is not tf_keras.Model:
        raise KerasModeError(
            "tf.keras is Keras 3, not tf-keras: set TF_USE_LEGACY_KERAS=1 before TensorFlow is "
            "first imported (runner.py does this)"
        )
    skip_autograph_in_tf_keras()


def skip_autograph_in_tf_keras() -> None:
    """Tells AutoGraph not to convert tf-keras' own functions, as it never converted Keras'.

    TensorFlow's AutoGraph rules leave the ``keras`` package alone (Keras is written for
    graph mode) but predate the separate ``tf_keras`` package, so with legacy Keras every
    ``fit`` re-transpiles some 400 tf-keras functions (train step, optimizer, metrics)
    from their Python source: 25-70 s of each process's first ``fit`` here, for any model.
    Idempotent.
    """
    from tensorflow.python.autograph.core import config, config_lib

    rule = config_lib.DoNotConvert("tf_keras")
    if not any(str(r) == str(rule) for r in config.CONVERSION_RULES):
        config.CONVERSION_RULES = (rule, *config.CONVERSION_RULES)
