"""Scoring a converted model against its SavedModel on the same examples, per task.

Classification: accuracy of each form and the largest absolute probability difference;
the gate is the accuracy drop (SavedModel - TFLite, in accuracy points) against the
tolerance. Regression: mean absolute error (MAE) of each form and the largest absolute
prediction difference; the gate is the MAE increase (TFLite - SavedModel, in label units)
against the tolerance read as a fraction of the SavedModel's MAE (0.01: TFLite may be up
to 1% worse). The same ``tflite.accuracy_tolerance`` setting gates both, and the micro
model too.
"""

import dataclasses
import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from components import features
from components.tflite_converter import device, storage
from components.tflite_converter.storage import directory_size, read_bytes
from components.trainer import export

_WARMUP_CALLS = 10
_OUTPUT_BY_TASK = {
    features.CLASSIFICATION: export.PROBABILITIES,
    features.REGRESSION: export.PREDICTIONS,
}

Predict = Callable[[Mapping[str, np.ndarray]], np.ndarray]


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """Classification: SavedModel and TFLite forms of one model scored on the same examples.

    Attributes:
        examples: Examples scored.
        saved_model_accuracy: Accuracy of the SavedModel signature, in [0, 1].
        tflite_accuracy: Accuracy of the TFLite model, in [0, 1].
        max_abs_probability_diff: Largest absolute difference of any class probability.
        saved_model_size_bytes: Total size of the SavedModel directory.
        tflite_size_bytes: Size of the TFLite flatbuffer.
        saved_model_latency_p50_ms: Median single-example SavedModel call.
        saved_model_latency_p99_ms: 99th percentile single-example SavedModel call.
        tflite_latency_p50_ms: Median single-example TFLite call.
        tflite_latency_p99_ms: 99th percentile single-example TFLite call.
    """

    examples: int
    saved_model_accuracy: float
    tflite_accuracy: float
    max_abs_probability_diff: float
    saved_model_size_bytes: int
    tflite_size_bytes: int
    saved_model_latency_p50_ms: float
    saved_model_latency_p99_ms: float
    tflite_latency_p50_ms: float
    tflite_latency_p99_ms: float

    task = features.CLASSIFICATION

    @property
    def accuracy_drop(self) -> float:
        """SavedModel accuracy minus TFLite accuracy (negative if TFLite did better)."""
        return self.saved_model_accuracy - self.tflite_accuracy

    def within_tolerance(self, tolerance: float) -> bool:
        """Whether the accuracy drop is at most ``tolerance`` (accuracy points, 0.01 = 1%)."""
        return self.accuracy_drop <= tolerance

    def as_properties(self, prefix: str = "tflite") -> dict[str, float | int]:
        """Flat name -> number, ready to be ML Metadata custom properties.

        With another ``prefix`` (``micro``), the TFLite figures and the comparison are
        named ``<prefix>_...`` and the SavedModel's own figures are left out.
        """
        return _properties(self, {"accuracy_drop": self.accuracy_drop}, prefix)


@dataclasses.dataclass(frozen=True)
class RegressionParityReport:
    """Regression: SavedModel and TFLite forms of one model scored on the same examples.

    Attributes:
        examples: Examples scored (those with a label count towards the MAEs).
        saved_model_mae: Mean absolute error of the SavedModel, in label units.
        tflite_mae: Mean absolute error of the TFLite model, in label units.
        max_abs_prediction_diff: Largest absolute difference of the two predictions, in
            label units.
        saved_model_size_bytes, tflite_size_bytes, *_latency_*_ms: As in ``ParityReport``.
    """

    examples: int
    saved_model_mae: float
    tflite_mae: float
    max_abs_prediction_diff: float
    saved_model_size_bytes: int
    tflite_size_bytes: int
    saved_model_latency_p50_ms: float
    saved_model_latency_p99_ms: float
    tflite_latency_p50_ms: float
    tflite_latency_p99_ms: float

    task = features.REGRESSION

    @property
    def mae_increase(self) -> float:
        """TFLite MAE minus SavedModel MAE, in label units (negative if TFLite did better)."""
        return self.tflite_mae - self.saved_model_mae

    @property
    def relative_mae_increase(self) -> float:
        """``mae_increase`` as a fraction of the SavedModel's MAE (inf if that MAE is 0)."""
        if self.saved_model_mae == 0:
            return 0.0 if self.mae_increase <= 0 else float("inf")
        return self.mae_increase / self.saved_model_mae

    def within_tolerance(self, tolerance: float) -> bool:
        """Whether the MAE increase is at most ``tolerance`` x the SavedModel's MAE."""
        return self.mae_increase <= tolerance * self.saved_model_mae

    def as_properties(self, prefix: str = "tflite") -> dict[str, float | int]:
        """Flat name -> number, as ``ParityReport.as_properties``."""
        derived = {
            "mae_increase": self.mae_increase,
            "relative_mae_increase": self.relative_mae_increase,
        }
        return _properties(self, derived, prefix)


def _properties(report: Any, derived: dict[str, float], prefix: str) -> dict[str, float | int]:
    properties = {**dataclasses.asdict(report), **derived}
    if prefix == "tflite":
        return properties
    renamed = {}
    for name, value in properties.items():
        if name.startswith("saved_model_") or name == "examples":
            continue
        renamed[
            name.replace("tflite_", f"{prefix}_", 1)
            if name.startswith("tflite_")
            else f"{prefix}_{name}"
        ] = value
    return renamed


def signature_task(saved_model_dir: str, signature_key: str = export.RAW_SIGNATURE) -> str:
    """The task a serving signature answers, read off its outputs.

    Returns:
        ``classification`` when it has ``probabilities``, ``regression`` when it has
        ``predictions``.

    Raises:
        ValueError: It has neither (or both), or no such signature.
    """
    signatures = storage.load_saved_model(saved_model_dir).signatures
    if signature_key not in signatures:
        raise ValueError(f"{saved_model_dir}: no signature {signature_key!r}")
    outputs = set(signatures[signature_key].structured_outputs)
    tasks = [task for task, name in _OUTPUT_BY_TASK.items() if name in outputs]
    if len(tasks) != 1:
        raise ValueError(
            f"{signature_key} outputs {sorted(outputs)}: expected one of"
            f" {export.PROBABILITIES!r} (classification) or {export.PREDICTIONS!r} (regression)"
        )
    return tasks[0]


def check_parity(
    saved_model_dir: str,
    tflite_path: str,
    dense_inputs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    signature_key: str = export.RAW_SIGNATURE,
    latency_examples: int = 200,
    task: str | None = None,
) -> ParityReport | RegressionParityReport:
    """Scores the SavedModel signature and its TFLite conversion on the same examples.

    Both score the whole batch in one call (TFLite falls back to one example at a
    time if its model cannot be resized). Latencies are of single-example calls after
    a warm-up, cycling through the examples.

    Args:
        saved_model_dir: The SavedModel that was converted.
        tflite_path: The TFLite flatbuffer (local path or ``tf.io.gfile`` URI).
        dense_inputs: Signature input name -> [n] array.
        labels: [n] int class ids (classification; -1, unknown, counts as wrong) or float
            label values (regression; NaN, missing, is left out of the MAEs).
        signature_key: Signature of the SavedModel (and of the TFLite model).
        latency_examples: Timed calls per form.
        task: ``classification`` or ``regression``; None: read off the signature's outputs.

    Returns:
        ``ParityReport`` (classification) or ``RegressionParityReport``.

    Raises:
        ValueError: ``labels`` and ``dense_inputs`` differ in length; no labelled example
            (regression); the task cannot be told from the signature.
    """
    task = task or signature_task(saved_model_dir, signature_key)
    output = _output_name(task)
    flatbuffer = read_bytes(tflite_path)
    runner = tf.lite.Interpreter(model_content=flatbuffer).get_signature_runner(signature_key)

    def call_tflite(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return runner(**inputs)[output]

    return compare_forms(
        task,
        saved_model_predictor(saved_model_dir, task, signature_key),
        _batch_or_singles(call_tflite),
        dense_inputs,
        labels,
        sizes=(directory_size(saved_model_dir), len(flatbuffer)),
        latency_examples=latency_examples,
    )


def check_micro_parity(
    saved_model_dir: str,
    micro_model_path: str,
    preprocessing: Mapping[str, Any],
    dense_inputs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    signature_key: str = export.RAW_SIGNATURE,
    latency_examples: int = 200,
) -> ParityReport | RegressionParityReport:
    """Scores the micro model the way a device runs it against the SavedModel.

    Each raw example is preprocessed by ``preprocessing.json`` alone, quantized to int8,
    run through the int8 model in the TFLite interpreter and its output dequantized
    (``device.micro_predictor``); the "tflite" figures of the report are the micro model's,
    latencies included (preprocessing and quantization counted in).

    Args:
        saved_model_dir: The Trainer's SavedModel with its ``signature_key`` signature.
        micro_model_path: The micro flatbuffer.
        preprocessing: The parsed ``preprocessing.json`` (its ``output.task`` decides the
            task).
        dense_inputs, labels, signature_key, latency_examples: As for ``check_parity``.

    Returns:
        As ``check_parity``; name its figures with ``as_properties("micro")``.
    """
    task = preprocessing["output"]["task"]
    flatbuffer = read_bytes(micro_model_path)
    return compare_forms(
        task,
        saved_model_predictor(saved_model_dir, task, signature_key),
        device.micro_predictor(flatbuffer, preprocessing),
        dense_inputs,
        labels,
        sizes=(directory_size(saved_model_dir), len(flatbuffer)),
        latency_examples=latency_examples,
    )


def saved_model_predictor(
    saved_model_dir: str, task: str, signature_key: str = export.RAW_SIGNATURE
) -> Predict:
    """Dense inputs -> the signature's ``probabilities`` [n, k] or ``predictions`` [n]."""
    serve = storage.load_saved_model(saved_model_dir).signatures[signature_key]
    output = _output_name(task)

    def predict(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return serve(**{name: tf.constant(v) for name, v in inputs.items()})[output].numpy()

    return predict


def _output_name(task: str) -> str:
    try:
        return _OUTPUT_BY_TASK[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; expected one of {features.TASKS}") from None


def compare_forms(
    task: str,
    saved_model: Predict,
    converted: Predict,
    dense_inputs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    sizes: tuple[int, int],
    latency_examples: int,
) -> ParityReport | RegressionParityReport:
    singles = single_examples(dense_inputs)
    labels = np.asarray(labels)
    if len(labels) != len(singles):
        raise ValueError(f"{len(labels)} labels for {len(singles)} examples")
    saved_outputs = saved_model(dense_inputs)
    converted_outputs = converted(dense_inputs)
    saved_p50, saved_p99 = latency_ms(saved_model, singles, latency_examples)
    converted_p50, converted_p99 = latency_ms(converted, singles, latency_examples)
    footprint = {
        "saved_model_size_bytes": sizes[0],
        "tflite_size_bytes": sizes[1],
        "saved_model_latency_p50_ms": saved_p50,
        "saved_model_latency_p99_ms": saved_p99,
        "tflite_latency_p50_ms": converted_p50,
        "tflite_latency_p99_ms": converted_p99,
    }
    largest_diff = float(np.max(np.abs(saved_outputs - converted_outputs)))
    if task == features.REGRESSION:
        return RegressionParityReport(
            examples=len(singles),
            saved_model_mae=_mae(saved_outputs, labels),
            tflite_mae=_mae(converted_outputs, labels),
            max_abs_prediction_diff=largest_diff,
            **footprint,
        )
    return ParityReport(
        examples=len(singles),
        saved_model_accuracy=_accuracy(saved_outputs, labels),
        tflite_accuracy=_accuracy(converted_outputs, labels),
        max_abs_probability_diff=largest_diff,
        **footprint,
    )


def single_examples(batch: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """A batch of named [n] arrays -> n dicts, each array keeping a batch dimension of 1.

    Raises:
        ValueError: The arrays differ in length.
    """
    sizes = {len(values) for values in batch.values()}
    if len(sizes) != 1:
        raise ValueError(f"inputs differ in batch size: {sorted(sizes)}")
    (size,) = sizes
    return [{name: values[i : i + 1] for name, values in batch.items()} for i in range(size)]


def _batch_or_singles(call: Predict) -> Predict:
    """``call`` on the whole batch, else one example at a time.

    The batch call comes first on purpose: TFLite sizes some unranked tensors of the
    Transform graph wrongly when the very first call has batch size 1, and a larger
    first call sets them right for the single-example calls that follow.
    """

    def predict(batch: Mapping[str, np.ndarray]) -> np.ndarray:
        try:
            return call(batch)
        except (RuntimeError, ValueError):
            return np.concatenate([call(inputs) for inputs in single_examples(batch)])

    return predict


def _accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def _mae(predictions: np.ndarray, labels: np.ndarray) -> float:
    labels = labels.astype(np.float64).reshape(-1)
    known = np.isfinite(labels)
    if not known.any():
        raise ValueError("no example has a label: cannot compute a mean absolute error")
    return float(np.mean(np.abs(predictions.reshape(-1)[known] - labels[known])))


def latency_ms(call: Predict, singles: list[dict], count: int) -> tuple[float, float]:
    """p50 and p99 of ``count`` timed single-example calls (milliseconds), after a warm-up,
    cycling through ``singles``."""
    for inputs in itertools.islice(itertools.cycle(singles), _WARMUP_CALLS):
        call(inputs)
    timings = []
    for inputs in itertools.islice(itertools.cycle(singles), count):
        start = time.perf_counter()
        call(inputs)
        timings.append((time.perf_counter() - start) * 1000.0)
    p50, p99 = np.percentile(timings, [50, 99])
    return float(p50), float(p99)
