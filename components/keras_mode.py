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


# Libraries whose code is written for graph tracing as it stands. AutoGraph skips the
# "keras" package by name, but not tf-keras, whose modules are named "tf_keras": without
# this rule every tf-keras layer, loss, metric and optimizer method is parsed and rewritten
# on each trace (about two thirds of the Trainer's CPU time on a small model). TF Transform
# also runs as TF1 graph code, so its layers and analyzers need no rewriting either.
GRAPH_READY_LIBRARIES = ("tf_keras", "tensorflow_transform")


def skip_autograph_for_libraries() -> None:
    """Makes AutoGraph trace ``GRAPH_READY_LIBRARIES`` as written, as it does Keras.

    Only library code is affected; the project's own functions are still converted.
    Idempotent; applies to the calling process from its next trace on.
    """
    from tensorflow.python.autograph.core import config, config_lib

    present = {rule._prefix for rule in config.CONVERSION_RULES}  # noqa: SLF001
    missing = tuple(
        config_lib.DoNotConvert(name) for name in GRAPH_READY_LIBRARIES if name not in present
    )
    if missing:
        config.CONVERSION_RULES = (*missing, *config.CONVERSION_RULES)
