"""TFLite forms of an image model: the Keras model alone, over decoded pixels.

A phone or a microcontroller decodes, resizes and scales a picture itself (camera frames
never arrive as PNG bytes), so these forms take float32 pixels [1, height, width,
channels] in [0, 1], or their int8 quantization, and leave the Transform graph behind;
``preprocessing.json`` states the steps (``features.image.preprocessing_rule``). The
phone form is ``none``/``dynamic``/``float16``/``int8`` (int8: weights and activations,
calibrated on train images, float in and out); the micro form is int8 in and out,
builtins only, with a C array and an arena estimate.

Parity runs the device path for every eval image: the image module's own decode (the
Transform step), quantization where the model is int8, one interpreter call, and
dequantization; its latencies include that preprocessing.
"""

import dataclasses
import json
import posixpath
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from components import features
from components.features import image
from components.tflite_converter import parity
from components.tflite_converter.c_array import write_c_array
from components.tflite_converter.device import quantization_params
from components.tflite_converter.micro import (
    MICRO_HEADER_FILE,
    MICRO_PREPROCESSING_FILE,
    MICRO_SOURCE_FILE,
)
from components.tflite_converter.storage import directory_size, read_bytes, write_bytes

PixelBatches = Callable[[], Iterable[np.ndarray]]


@dataclasses.dataclass(frozen=True)
class ImageForm:
    """A written image TFLite model.

    Attributes:
        path: The flatbuffer.
        size_bytes: Its size.
        quantization: ``none``, ``dynamic``, ``float16`` or ``int8``.
        int8_io: Whether input and output are int8 (the micro form).
        arena_bytes: Estimated TFLite Micro tensor arena: the peak of the activation
            bytes live at once over the ops in execution order (a planner that reuses
            memory perfectly needs this much; TFLite Micro's greedy planner a little more).
    """

    path: str
    size_bytes: int
    quantization: str
    int8_io: bool
    arena_bytes: int


def image_feature(spec: features.FeatureSpec) -> features.Feature | None:
    """The spec's image feature when it is the only feature; None when there is none.

    Raises:
        ValueError: An image feature beside other features (no TFLite form for that).
    """
    images = spec.of_type(image.TYPE)
    if not images:
        return None
    if len(spec.features) > 1:
        raise ValueError(
            f"features.{images[0].name}: the TFLite forms take an image model with no other "
            "feature; set tflite.enabled: false or drop the other features"
        )
    return images[0]


def convert_image_model(
    saved_model_dir: str,
    output_path: str,
    feature: features.Feature,
    quantization: str,
    representative_pixels: PixelBatches | None = None,
    int8_io: bool = False,
) -> ImageForm:
    """Converts the SavedModel's Keras model over pixels to a TFLite flatbuffer.

    Args:
        saved_model_dir: The Trainer's SavedModel (a tf-keras model).
        output_path: Where the flatbuffer goes (local path or ``tf.io.gfile`` URI).
        feature: The image feature (its size and channels shape the input).
        quantization: ``none``, ``dynamic``, ``float16`` or ``int8``.
        representative_pixels: Batches of float32 [n, height, width, channels] train
            images in [0, 1] to calibrate on; needed for ``int8``.
        int8_io: int8 input and output, builtins only (the micro form; needs ``int8``).

    Raises:
        ValueError: ``int8`` without representative images; ``int8_io`` without ``int8``.
    """
    if quantization == "int8" and representative_pixels is None:
        raise ValueError("quantization 'int8' needs representative images to calibrate on")
    if int8_io and quantization != "int8":
        raise ValueError("int8 input and output need quantization 'int8'")
    model = tf.keras.models.load_model(saved_model_dir)
    (input_name,) = model.input_names
    function = tf.function(lambda x: model({input_name: x}, training=False)).get_concrete_function(
        tf.TensorSpec([1, *image.image_shape(feature)], tf.float32, name=feature.name)
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    if quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        converter.representative_dataset = lambda: (
            [row[None].astype(np.float32)] for batch in representative_pixels() for row in batch
        )
    if int8_io:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    flatbuffer = converter.convert()
    size = write_bytes(output_path, flatbuffer)
    return ImageForm(output_path, size, quantization, int8_io, arena_bytes(flatbuffer))


def pixels(encoded: np.ndarray, feature: features.Feature) -> np.ndarray:
    """[n] encoded images -> float32 [n, height, width, channels], as Transform makes them."""
    return image.decode(tf.constant(list(encoded), tf.string), image.image_shape(feature)).numpy()


def image_predictor(flatbuffer: bytes, feature: features.Feature, task: str) -> parity.Predict:
    """The device path as one function: ``{feature.name: [n] encoded images}`` ->
    float32 [n, classes] probabilities (or [n] predictions), one interpreter call each."""
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    (model_input,) = interpreter.get_input_details()
    (model_output,) = interpreter.get_output_details()

    def predict(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        outputs = []
        for row in pixels(inputs[feature.name], feature):
            interpreter.set_tensor(model_input["index"], _quantize(row[None], model_input))
            interpreter.invoke()
            outputs.append(_dequantize(interpreter.get_tensor(model_output["index"]), model_output))
        values = np.concatenate(outputs).astype(np.float32)
        return values.reshape(-1) if task == features.REGRESSION else values

    return predict


def check_image_parity(
    saved_model_dir: str,
    tflite_path: str,
    feature: features.Feature,
    encoded: np.ndarray,
    labels: np.ndarray,
    task: str,
    latency_examples: int = 200,
) -> parity.ParityReport | parity.RegressionParityReport:
    """Scores the SavedModel (``serving_raw`` on the encoded bytes) and the image TFLite
    form (device path) on the same images; see ``parity.check_parity`` for the figures."""
    flatbuffer = read_bytes(tflite_path)
    return parity.compare_forms(
        task,
        parity.saved_model_predictor(saved_model_dir, task),
        image_predictor(flatbuffer, feature, task),
        {feature.name: np.asarray(encoded, dtype=object)},
        labels,
        sizes=(directory_size(saved_model_dir), len(flatbuffer)),
        latency_examples=latency_examples,
    )


def write_micro_files(
    form: ImageForm, output_dir: str, feature: features.Feature, spec: features.FeatureSpec
) -> dict[str, str]:
    """Writes the micro form's C array, header and ``preprocessing.json`` next to it.

    Returns:
        File role (``source``, ``header``, ``preprocessing``) -> path.
    """
    flatbuffer = read_bytes(form.path)
    paths = {
        "source": posixpath.join(output_dir, MICRO_SOURCE_FILE),
        "header": posixpath.join(output_dir, MICRO_HEADER_FILE),
        "preprocessing": posixpath.join(output_dir, MICRO_PREPROCESSING_FILE),
    }
    write_c_array(flatbuffer, paths["source"], paths["header"])
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    input_details = interpreter.get_input_details()[0]
    output_details = interpreter.get_output_details()[0]
    output = (
        {"task": spec.task, "label": spec.label.name}
        if spec.is_regression
        else {"task": spec.task, "classes": list(spec.label.classes)}
    )
    document = {
        "image": image.preprocessing_rule(feature),
        "input": {
            "shape": [int(d) for d in input_details["shape"]],
            **quantization_params(input_details),
            "rule": "q = clamp(round(x / scale) + zero_point, -128, 127)",
        },
        "output": {
            **output,
            **quantization_params(output_details),
            "rule": "(q - zero_point) * scale",
        },
        "arena_bytes_estimate": form.arena_bytes,
    }
    write_bytes(paths["preprocessing"], (json.dumps(document, indent=2) + "\n").encode())
    return paths


def arena_bytes(flatbuffer: bytes) -> int:
    """Peak bytes of activation tensors live at once, ops in execution order.

    A tensor is live from the op that writes it (or the start, for the model input) to
    the last op that reads it (or the end, for the model output); tensors with data in
    the flatbuffer (weights) live there, not in the arena.
    """
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # noqa: SLF001 - the only listing of the op order
    constant = _constant_tensors(interpreter, details)
    first, last = {}, {}
    for position, op in enumerate(ops):
        for index in [*op["inputs"], *op["outputs"]]:
            if index < 0 or index in constant:
                continue
            first.setdefault(index, position)
            last[index] = position
    for index in interpreter.get_input_details():
        first[index["index"]] = 0
    for index in interpreter.get_output_details():
        last[index["index"]] = len(ops)
    peak = 0
    for position in range(len(ops) + 1):
        live = sum(
            _nbytes(details[i]) for i in first if first[i] <= position <= last.get(i, position)
        )
        peak = max(peak, live)
    return int(peak)


def _constant_tensors(interpreter: Any, details: Mapping[int, Any]) -> set[int]:
    """Tensors whose data is in the flatbuffer (weights, biases, constant shapes)."""
    interpreter.allocate_tensors()
    written = {i for op in interpreter._get_ops_details() for i in op["outputs"]}  # noqa: SLF001
    inputs = {d["index"] for d in interpreter.get_input_details()}
    return {i for i in details if i not in written and i not in inputs}


def _nbytes(detail: Mapping[str, Any]) -> int:
    return int(np.prod(detail["shape"], dtype=np.int64)) * np.dtype(detail["dtype"]).itemsize


def _quantize(values: np.ndarray, details: Mapping[str, Any]) -> np.ndarray:
    if details["dtype"] != np.int8:
        return values.astype(details["dtype"])
    scale, zero_point = details["quantization"]
    return np.clip(np.round(values / scale) + zero_point, -128, 127).astype(np.int8)


def _dequantize(values: np.ndarray, details: Mapping[str, Any]) -> np.ndarray:
    if details["dtype"] != np.int8:
        return values.astype(np.float32)
    scale, zero_point = details["quantization"]
    return (values.astype(np.float32) - zero_point) * scale
