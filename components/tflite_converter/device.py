"""The device side of the micro model: ``preprocessing.json`` and a reference device path.

``micro_preprocessing`` writes down what a device must do to raw values before the int8
model (z-scores with the training statistics, read off the Transform graph; one-hot
vocabulary ids; int8 quantization) and to its output after (dequantization to
probabilities or to a value in the label's units). ``micro_vector_from_dense``,
``quantize_micro_input``, ``dequantize_micro_output`` and ``micro_predictor`` do exactly
that in NumPy and the TFLite interpreter, from ``preprocessing.json`` alone: the
reference device code is checked against, and the path the micro model is scored by.
"""

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.tflite_converter.storage import read_bytes


@dataclasses.dataclass(frozen=True)
class MicroInputBlock:
    """One feature's columns in the microcontroller model's input vector.

    Attributes:
        key: Raw feature key.
        width: 1 for a numeric z-score, else the one-hot width (vocabulary + OOV buckets).
        categorical: Whether the columns are a one-hot vocabulary id.
    """

    key: str
    width: int
    categorical: bool


def micro_vector_from_dense(
    dense: Mapping[str, np.ndarray], preprocessing: Mapping[str, Any]
) -> np.ndarray:
    """What a device computes: ``serving_raw``-style inputs -> the float input vector.

    A reference for device code, following ``preprocessing.json`` only.

    Args:
        dense: Raw feature key -> [n] array (float with NaN for missing numbers, bytes or
            str with "" for missing categories).
        preprocessing: The parsed ``preprocessing.json``.

    Returns:
        float32 [n, input length], before int8 quantization.
    """
    size = len(next(iter(dense.values())))
    vector = np.zeros((size, preprocessing["input"]["length"]), np.float32)
    for key, rule in preprocessing["numeric"].items():
        x = np.asarray(dense[key], np.float64)
        if rule.get("log"):
            x = np.log1p(np.maximum(x, 0.0))
        z = np.where(np.isnan(x), rule["missing_z"], (x - rule["mean"]) / rule["std"])
        vector[:, rule["offset"]] = z
    for key, rule in preprocessing["categorical"].items():
        if rule["oov_buckets"] != 1:
            raise ValueError(f"{key}: only one OOV bucket can be computed without hashing")
        ids = {token: i for i, token in enumerate(rule["vocabulary"])}
        for row, value in enumerate(dense[key]):
            token = value.decode() if isinstance(value, bytes) else str(value)
            index = rule["missing_id"] if token == "" else ids.get(token, len(ids))
            vector[row, rule["offset"] + index] = 1.0
    return vector


def quantize_micro_input(vector: np.ndarray, preprocessing: Mapping[str, Any]) -> np.ndarray:
    """Float input vector [n, columns] -> the int8 tensor the micro model takes."""
    spec = preprocessing["input"]
    q = np.round(vector / spec["scale"]) + spec["zero_point"]
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize_micro_output(output: np.ndarray, preprocessing: Mapping[str, Any]) -> np.ndarray:
    """The micro model's int8 output -> float32 probabilities, or predictions in label units."""
    spec = preprocessing["output"]
    return (output.astype(np.float32) - spec["zero_point"]) * spec["scale"]


def micro_predictor(
    flatbuffer: bytes, preprocessing: Mapping[str, Any]
) -> Callable[[Mapping[str, np.ndarray]], np.ndarray]:
    """The whole device path as one function: raw dense inputs -> dequantized outputs.

    Each example goes through ``micro_vector_from_dense``, ``quantize_micro_input``, one
    call of the int8 model in the TFLite interpreter, and ``dequantize_micro_output``.

    Args:
        flatbuffer: The micro model.
        preprocessing: Its parsed ``preprocessing.json``.

    Returns:
        A function of n raw examples (key -> [n] array) giving float32 [n, classes]
        probabilities (classification) or [n] predictions in label units (regression).
    """
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    (model_input,) = interpreter.get_input_details()
    (model_output,) = interpreter.get_output_details()
    regression = preprocessing["output"].get("task") == features.REGRESSION

    def predict(dense: Mapping[str, np.ndarray]) -> np.ndarray:
        rows = quantize_micro_input(micro_vector_from_dense(dense, preprocessing), preprocessing)
        outputs = []
        for row in rows:
            interpreter.set_tensor(model_input["index"], row[None, :])
            interpreter.invoke()
            outputs.append(interpreter.get_tensor(model_output["index"])[0])
        values = dequantize_micro_output(np.array(outputs), preprocessing)
        return values.reshape(-1) if regression else values

    return predict


# ---------------------------------------------------------------------------- preprocessing.json


def micro_preprocessing(
    layout: Sequence[MicroInputBlock],
    tft_output: tft.TFTransformOutput,
    flatbuffer: bytes,
    spec: features.FeatureSpec,
) -> dict[str, Any]:
    """What a device does to raw values before, and to the output after, the int8 model.

    Numeric statistics are read off the Transform graph itself (see
    ``numeric_statistics``), so they are the ones the model was trained with; the
    id a missing category gets is probed the same way.

    Args:
        layout: From ``micro_input_layout``.
        tft_output: The Transform output the model was trained on.
        flatbuffer: The micro model, for its int8 input and output quantization.
        spec: The feature spec: ``log`` options, the task and the label.

    Returns:
        The content of ``preprocessing.json``.
    """
    columns, numeric, categorical, offset = [], {}, {}, 0
    for block in layout:
        if block.categorical:
            rule = _categorical_rule(block, offset, tft_output)
            categorical[block.key] = rule
            columns += [f"{block.key}={token}" for token in rule["tokens"]]
            del rule["tokens"]
        else:
            log = bool(spec.feature(block.key).option("log"))
            numeric[block.key] = _numeric_rule(block.key, offset, tft_output, log)
            columns.append(block.key)
        offset += block.width
    input_details, output_details = _io_details(flatbuffer)
    if spec.is_regression:
        output = {"task": spec.task, "label": spec.label.name}
        rule = "y = (q - zero_point) * scale, in the label's units"
    else:
        output = {"task": spec.task, "classes": list(spec.label.classes)}
        rule = "p = (q - zero_point) * scale"
    return {
        "numeric": numeric,
        "categorical": categorical,
        "input": {
            "columns": columns,
            "length": len(columns),
            **quantization_params(input_details),
            "rule": "q = clamp(round(x / scale) + zero_point, -128, 127)",
        },
        "output": {
            **output,
            "length": int(np.prod(output_details["shape"][1:], dtype=np.int64)),
            **quantization_params(output_details),
            "rule": rule,
        },
    }


def read_preprocessing(path: str) -> dict[str, Any]:
    """The parsed ``preprocessing.json`` at ``path`` (local or a ``tf.io.gfile`` URI)."""
    return json.loads(read_bytes(path))


def _numeric_rule(
    key: str, offset: int, tft_output: tft.TFTransformOutput, log: bool
) -> dict[str, Any]:
    mean, std = numeric_statistics(tft_output, key, log=log)
    shape = "x' = log1p(max(x, 0)); z = (x' - mean) / std" if log else "z = (x - mean) / std"
    return {
        "offset": offset,
        "log": log,
        "mean": mean,
        "std": std,
        "missing_z": float(_probe(tft_output, key, [None])[0]),
        "rule": f"{shape}; a missing value gives missing_z (the training mean)",
    }


def _categorical_rule(
    block: MicroInputBlock, offset: int, tft_output: tft.TFTransformOutput
) -> dict[str, Any]:
    vocabulary = _vocabulary(block.key, tft_output)
    oov = block.width - len(vocabulary)
    if oov != features.OOV_BUCKETS:
        raise ValueError(
            f"{block.key}: one-hot width {block.width} is not vocabulary {len(vocabulary)}"
            f" + {features.OOV_BUCKETS} OOV bucket(s)"
        )
    return {
        "offset": offset,
        "width": block.width,
        "vocabulary": vocabulary,
        "oov_buckets": features.OOV_BUCKETS,
        "missing_token": features.MISSING_CATEGORY,
        "missing_id": int(_probe(tft_output, block.key, [None])[0]),
        "rule": (
            "id = index of the value in vocabulary, else len(vocabulary) (OOV); a missing"
            " value gives missing_id; column offset + id is 1, the rest of the block 0"
        ),
        "tokens": vocabulary + [f"<oov-{i}>" for i in range(oov)],
    }


def _vocabulary(key: str, tft_output: tft.TFTransformOutput) -> list[str]:
    return [
        token.decode() if isinstance(token, bytes) else str(token)
        for token in tft_output.vocabulary_by_name(features.vocabulary_name(key))
    ]


def _io_details(flatbuffer: bytes) -> tuple[dict, dict]:
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    return interpreter.get_input_details()[0], interpreter.get_output_details()[0]


def quantization_params(details: Mapping[str, Any]) -> dict[str, Any]:
    """A TFLite tensor's dtype, scale and zero point, as ``preprocessing.json`` states them."""
    scale, zero_point = details["quantization"]
    return {
        "dtype": np.dtype(details["dtype"]).name,
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


# ---------------------------------------------------------------------------- statistics


def numeric_statistics(
    tft_output: tft.TFTransformOutput, key: str, log: bool = False
) -> tuple[float, float]:
    """Mean and std the Transform graph z-scores ``key`` with, read off the graph.

    z is linear in x (or in x' = log1p(max(x, 0)) with ``log``), so two probes give both:
    a rough pair, then a precise pair about one std either side of the rough mean (probes
    far from the mean lose float32 digits). A third probe checks the line.

    Args:
        tft_output: The Transform output.
        key: A numeric raw feature key.
        log: Whether the feature's ``log`` option is set; mean and std are then of x'.

    Returns:
        (mean, std), std being 1 where the training variance was 0 (tf.Transform then
        only centres).

    Raises:
        ValueError: The transformed ``key`` is not linear in x (or x'), naming ``key``.
    """
    mean, std = _line_through(tft_output, key, 0.0, 1.0, log)
    # At least 1 apart, so that rounding to an integer feature's type keeps them apart.
    spread = max(abs(std), 1.0)
    mean, std = _line_through(tft_output, key, mean - spread, mean + spread, log)
    (check,) = _raw_points(tft_output, key, [mean + 3 * std], log)
    (z_check,) = _probe(tft_output, key, [check])
    if not math.isclose(z_check, (_scaled(check, log) - mean) / std, rel_tol=1e-4, abs_tol=1e-4):
        raise ValueError(f"{key}: the Transform output is not linear in the raw value")
    return float(mean), float(std)


def _line_through(
    tft_output: tft.TFTransformOutput, key: str, low: float, high: float, log: bool
) -> tuple[float, float]:
    """(mean, std) of the z-score through the transformed values near ``low`` and ``high``.

    ``low`` and ``high`` are on the scale z is linear in; they are moved to raw values
    the feature's type holds exactly.
    """
    raw = _raw_points(tft_output, key, [low, high], log)
    z_low, z_high = _probe(tft_output, key, raw)
    low, high = (_scaled(x, log) for x in raw)
    if z_high == z_low or high == low:
        raise ValueError(f"{key}: the Transform output does not change with the raw value")
    std = (high - low) / (z_high - z_low)
    return low - z_low * std, std


def _scaled(raw: float, log: bool) -> float:
    return math.log1p(max(raw, 0.0)) if log else raw


def _raw_points(
    tft_output: tft.TFTransformOutput, key: str, points: Sequence[float], log: bool
) -> list[float]:
    """Raw values near ``points`` (on z's linear scale), exactly representable in the type."""
    if log:
        points = [math.expm1(max(p, 0.0)) for p in points]
    if tft_output.raw_feature_spec()[key].dtype.is_integer:
        return [float(round(p)) for p in points]
    return [float(np.float32(p)) for p in points]


def _probe(
    tft_output: tft.TFTransformOutput, key: str, values: Sequence[float | str | None]
) -> np.ndarray:
    """Transformed ``key`` for each raw value (None: absent) through the Transform layer.

    Every other feature is absent, or empty if the raw spec requires it.
    """
    spec = tft_output.raw_feature_spec()
    records = [_probe_example(spec, key, value).SerializeToString() for value in values]
    transformed = tft_output.transform_features_layer()(tf.io.parse_example(records, spec))
    return transformed[features.transformed_name(key)].numpy().astype(np.float64)


def _probe_example(spec: Mapping[str, Any], key: str, value: Any) -> tf.train.Example:
    example = tf.train.Example()
    for name, feature_spec in spec.items():
        present = value if name == key else None
        if present is None and isinstance(feature_spec, tf.io.FixedLenFeature):
            present = "" if feature_spec.dtype == tf.string else 0
        if present is None:
            continue
        feature = example.features.feature[name]
        if feature_spec.dtype == tf.string:
            feature.bytes_list.value.append(str(present).encode())
        elif feature_spec.dtype.is_integer:
            feature.int64_list.value.append(int(present))
        else:
            feature.float_list.value.append(float(present))
    return example
