"""The push gate's smoke test: a SavedModel loads and answers sanely on a few examples.

Separate from ``pusher.py`` (versions, rollback, history) so those stay free of NumPy and
TensorFlow; TensorFlow is imported only when a model is loaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from components.trainer.signature_names import RAW_SIGNATURE

_SUM_TOLERANCE = 1e-3
# Lines of a TensorFlow error message that say where, not what.
_NOISE = ("Graph execution error", "Detected at node", "<stack traces", "[[", "File ")


class SmokeTestError(RuntimeError):
    """A model failed to load or gave unusable predictions; it must not be pushed."""


def smoke_test(
    saved_model_dir: str,
    dense_inputs: dict[str, np.ndarray],
    signature_key: str = RAW_SIGNATURE,
    task: str | None = None,
) -> None:
    """Loads a SavedModel and checks its predictions on a few examples.

    Args:
        saved_model_dir: The SavedModel directory.
        dense_inputs: One rank-1 array per input of the signature, all of length n.
        signature_key: The signature to call.
        task: ``classification`` or ``regression`` (see ``check_outputs``); None: the
            one the outputs answer.

    Raises:
        SmokeTestError: With a one-line reason if the model cannot be loaded or called,
            or its outputs fail ``check_outputs``.
    """
    # Imported here so pushing, rollback and history stay usable without TensorFlow.
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(saved_model_dir)
    except Exception as error:  # any load failure means "do not push"
        raise SmokeTestError(f"cannot load {saved_model_dir}: {describe_error(error)}") from error
    if signature_key not in loaded.signatures:
        raise SmokeTestError(
            f"no signature {signature_key!r}; found {sorted(loaded.signatures.keys())}"
        )
    signature = loaded.signatures[signature_key]
    tensors = _signature_tensors(tf, signature, dense_inputs)
    try:
        outputs = signature(**tensors)
    except Exception as error:  # a model that cannot run its own signature is broken
        raise SmokeTestError(f"{signature_key} failed: {describe_error(error)}") from error
    n = len(next(iter(dense_inputs.values())))
    check_outputs({key: value.numpy() for key, value in outputs.items()}, n, task)


def check_outputs(outputs: dict[str, np.ndarray], n: int, task: str | None = None) -> None:
    """Checks model outputs for n examples; raises SmokeTestError naming the first problem.

    Classification: ``probabilities`` is an [n, k>=2] array of finite values in [0, 1]
    whose rows sum to 1. Regression: ``predictions`` is an [n] array of finite floats.
    Every output has n rows.

    Args:
        outputs: Output name -> array, as the signature returned them.
        n: Examples fed.
        task: ``classification`` or ``regression``; None: classification if there is a
            ``probabilities`` output, regression if there is a ``predictions`` one.
    """
    task = task or _task_of(outputs)
    if task not in _CHECKS:
        raise SmokeTestError(f"unknown task {task!r}; expected one of {sorted(_CHECKS)}")
    name = _OUTPUT_OF_TASK[task]
    if name not in outputs:
        raise SmokeTestError(f"no {name!r} output for a {task} model; found {sorted(outputs)}")
    for key, value in outputs.items():
        if value.ndim == 0 or value.shape[0] != n:
            shape = list(value.shape)
            raise SmokeTestError(f"output {key!r} has shape {shape}, expected [{n}, ...]")
    _CHECKS[task](outputs[name], n)


def _task_of(outputs: dict[str, np.ndarray]) -> str:
    tasks = [task for task, name in _OUTPUT_OF_TASK.items() if name in outputs]
    if len(tasks) != 1:
        raise SmokeTestError(
            f"expected a 'probabilities' or a 'predictions' output; found {sorted(outputs)}"
        )
    return tasks[0]


def _check_probabilities(probabilities: np.ndarray, n: int) -> None:
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        raise SmokeTestError(
            f"probabilities have shape {list(probabilities.shape)}, expected [{n}, k>=2]"
        )
    if not np.isfinite(probabilities).all():
        raise SmokeTestError("probabilities contain NaN or infinite values")
    if (probabilities < 0).any() or (probabilities > 1).any():
        raise SmokeTestError("probabilities fall outside [0, 1]")
    sums = probabilities.sum(axis=1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > _SUM_TOLERANCE:
        raise SmokeTestError(f"probability rows sum to {sums.tolist()}, not 1")


def _check_predictions(predictions: np.ndarray, n: int) -> None:
    if predictions.shape != (n,):
        raise SmokeTestError(f"predictions have shape {list(predictions.shape)}, expected [{n}]")
    if not np.issubdtype(predictions.dtype, np.floating):
        raise SmokeTestError(f"predictions are {predictions.dtype}, expected floats")
    if not np.isfinite(predictions).all():
        raise SmokeTestError("predictions contain NaN or infinite values")


_OUTPUT_OF_TASK = {"classification": "probabilities", "regression": "predictions"}
_CHECKS = {"classification": _check_probabilities, "regression": _check_predictions}


def _signature_tensors(tf: Any, signature: Any, dense_inputs: dict[str, np.ndarray]) -> dict:
    specs = signature.structured_input_signature[1]
    if set(specs) != set(dense_inputs):
        raise SmokeTestError(
            f"signature inputs {sorted(specs)} differ from smoke inputs {sorted(dense_inputs)}"
        )
    lengths = {len(value) for value in dense_inputs.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise SmokeTestError(f"smoke inputs must share one non-zero length, got {sorted(lengths)}")
    try:
        return {key: tf.constant(dense_inputs[key], spec.dtype) for key, spec in specs.items()}
    except (TypeError, ValueError) as error:
        reason = describe_error(error)
        raise SmokeTestError(f"smoke inputs do not fit the signature: {reason}") from error


def describe_error(error: BaseException, limit: int = 300) -> str:
    """``Type: the informative line`` of an exception, skipping TensorFlow's preamble."""
    lines = [line.strip() for line in str(error).splitlines()]
    useful = [line for line in lines if line and not line.startswith(_NOISE)]
    text = (useful or lines or [""])[0]
    return f"{type(error).__name__}: {text}"[:limit]
