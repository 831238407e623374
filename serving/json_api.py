"""TF Serving's JSON mapping: request bodies to input arrays, outputs to response bodies.

Follows https://www.tensorflow.org/tfx/serving/api_rest. A value for a float input is a
JSON number (``NaN``, ``Infinity`` and ``-Infinity`` included, as in TF Serving); for an
integer input a whole number; for a bool input ``true``/``false``; for a string input a
JSON string or ``{"b64": "<base64>"}`` (bytes, such as a serialized tf.Example). A
missing key or ``null`` is a missing value for float (NaN) and string ("") inputs, the
contract of this project's ``serving_raw`` signature; other inputs need a value.

Floats go out with the shortest decimal that reads back as the same float32, as TF
Serving writes them; a string output whose name ends in ``_bytes`` goes out as
``{"b64": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import numpy as np

from components.serving_pusher.smoke_test import describe_error
from serving.errors import ApiError
from serving.signatures import BOOL, FLOAT, INT, STRING, Classification, Signature

_MISSING = object()
_B64 = "b64"
_BYTES_SUFFIX = "_bytes"
PREDICT_KEYS = ("signature_name", "instances", "inputs")
CLASSIFY_REGRESS_KEYS = ("signature_name", "context", "examples")


# ---------------------------------------------------------------------------- requests


def parse_request(body: bytes, allowed: tuple[str, ...]) -> dict:
    """The request's JSON object; ApiError(400) if it is not one or has unknown keys."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"invalid JSON: {describe_error(error)}") from error
    if not isinstance(request, dict):
        raise ApiError(400, f"request must be a JSON object with keys among {list(allowed)}")
    extra = sorted(set(request) - set(allowed))
    if extra:
        raise ApiError(400, f"unsupported request keys {extra}: accepted are {list(allowed)}")
    name = request.get("signature_name")
    if name is not None and not isinstance(name, str):
        raise ApiError(400, '"signature_name" must be a string')
    return request


def batch_size(count: int, field: str, max_instances: int) -> int:
    """``count`` if it is an allowed batch size; ApiError 400 if empty, 413 if too many."""
    if count == 0:
        raise ApiError(400, f'"{field}" must be a non-empty list')
    if count > max_instances:
        raise ApiError(413, f"{count} instances; at most {max_instances} per request")
    return count


def columns_from_rows(
    rows: Any, field: str, signature: Signature, hint: str, max_instances: int
) -> dict[str, np.ndarray]:
    """Row format (``instances``, or ``examples`` fed to named inputs): one array per input.

    Each row is an object of input values, or, when the signature has a single input,
    that input's value itself (TF Serving's shorthand: ``{"instances": ["a", "b"]}``).
    """
    if not isinstance(rows, list) or not rows:
        raise ApiError(400, f'"{field}" must be a non-empty list')
    batch_size(len(rows), field, max_instances)
    named = _is_object(rows[0])
    if not named and len(signature.inputs) > 1:
        raise ApiError(
            400,
            f"{field} is a plain list of values, but signature {signature.name!r} has "
            f"{len(signature.inputs)} inputs: each {field} item must be a JSON object "
            f"of input values{hint}",
        )
    columns: dict[str, list] = {key: [] for key in signature.inputs}
    for index, row in enumerate(rows):
        where = f"{field}[{index}]"
        if _is_object(row) != named:
            shape = "a JSON object of input values" if named else "a value, not an object"
            raise ApiError(400, f"{where} must be {shape}, as {field}[0] is")
        if not named:
            ((key, info),) = signature.inputs.items()
            columns[key].append(_value(row, info.kind, info.dtype, where))
            continue
        _check_keys(row, signature, where, hint)
        for key, info in signature.inputs.items():
            columns[key].append(
                _value(row.get(key, _MISSING), info.kind, info.dtype, f"{where}.{key}")
            )
    return _arrays(columns, signature)


def columns_from_inputs(
    inputs: Any, signature: Signature, hint: str, max_instances: int
) -> dict[str, np.ndarray]:
    """Columnar format (``inputs``): an object of lists, or a list for a single input."""
    if not _is_object(inputs):
        if len(signature.inputs) > 1:
            raise ApiError(
                400,
                f'"inputs" is a plain list, but signature {signature.name!r} has '
                f"{len(signature.inputs)} inputs: give an object of one list per input{hint}",
            )
        inputs = {next(iter(signature.inputs)): inputs}
    _check_keys(inputs, signature, "inputs", hint)
    if not inputs:
        raise ApiError(400, f'"inputs" names none of the inputs {sorted(signature.inputs)}')
    lengths = {}
    for key, values in inputs.items():
        if not isinstance(values, list):
            raise ApiError(400, f"inputs.{key} must be a list with one value per example")
        lengths[key] = len(values)
    if len(set(lengths.values())) > 1:
        raise ApiError(
            400, f"inputs have different lengths {lengths}; give one value per example each"
        )
    rows = batch_size(next(iter(lengths.values())), "inputs", max_instances)
    columns = {}
    for key, info in signature.inputs.items():
        values = inputs.get(key, [_MISSING] * rows)
        columns[key] = [
            _value(v, info.kind, info.dtype, f"inputs.{key}[{i}]") for i, v in enumerate(values)
        ]
    return _arrays(columns, signature)


def merged_examples(request: dict, max_instances: int) -> list[dict]:
    """The ``examples`` of a classify/regress request with ``context`` merged into each."""
    context = request.get("context", {})
    if not isinstance(context, dict):
        raise ApiError(400, '"context" must be a JSON object of feature values')
    examples = request.get("examples")
    if not isinstance(examples, list) or not examples:
        raise ApiError(400, 'request must have "examples": a non-empty list of feature objects')
    batch_size(len(examples), "examples", max_instances)
    merged = []
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            raise ApiError(400, f"examples[{index}] must be a JSON object of feature values")
        shared = sorted(set(example) & set(context))
        if shared:
            raise ApiError(
                400, f"examples[{index}] repeats context feature {shared[0]!r}: give it once"
            )
        merged.append({**context, **example})
    return merged


def serialized_examples(examples: list[dict]) -> np.ndarray:
    """tf.Examples built as TF Serving builds them from JSON, serialized.

    A whole number becomes an int64 feature, a decimal one a float feature, true/false
    int64 1/0, a string or ``{"b64": ...}`` a bytes feature, a list a feature of several
    values; ``null`` leaves the feature out (TF Serving refuses it).
    """
    from tensorflow.core.example import example_pb2

    serialized = []
    for index, features in enumerate(examples):
        example = example_pb2.Example()
        for name, content in features.items():
            if content is None:
                continue
            where = f"examples[{index}].{name}"
            values = content if isinstance(content, list) else [content]
            _fill_feature(example.features.feature[name], values, where)
        serialized.append(example.SerializeToString())
    return np.array(serialized, dtype=object)


def _fill_feature(feature: Any, values: list, where: str) -> None:
    kinds = [_feature_kind(value, f"{where}[{i}]") for i, value in enumerate(values)]
    if not kinds:
        return
    if set(kinds) <= {"int64", "float"} and "float" in kinds:
        for value in values:
            feature.float_list.value.append(_float32(value, where))
    elif set(kinds) == {"int64"}:
        for value in values:
            if not -(2**63) <= value < 2**63:
                raise ApiError(400, f"{where} is outside the int64 range")
            feature.int64_list.value.append(int(value))
    elif set(kinds) == {"bytes"}:
        for i, value in enumerate(values):
            feature.bytes_list.value.append(_bytes(value, f"{where}[{i}]"))
    else:
        raise ApiError(400, f"{where} mixes strings and numbers; a feature has one type")


def _feature_kind(value: Any, where: str) -> str:
    if isinstance(value, (bool, int)):
        return "int64"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str) or _is_b64(value):
        return "bytes"
    expected = 'a number, string, {"b64": ...} or a list of them'
    raise ApiError(400, f"{where} must be {expected}, got {_json_type(value)}")


def _check_keys(row: dict, signature: Signature, where: str, hint: str) -> None:
    unknown = sorted(set(row) - set(signature.inputs))
    if unknown:
        raise ApiError(
            400,
            f"{where}: unknown input {unknown[0]!r} of signature {signature.name!r}; "
            f"its inputs are {sorted(signature.inputs)}{hint}",
        )


def _arrays(columns: dict[str, list], signature: Signature) -> dict[str, np.ndarray]:
    arrays = {}
    for key, values in columns.items():
        info = signature.inputs[key]
        dtype = object if info.kind == STRING else info.dtype.as_numpy_dtype
        arrays[key] = np.array(values, dtype=dtype)
    return arrays


def _value(value: Any, kind: str, dtype: Any, where: str) -> Any:
    if value is _MISSING or value is None:
        if kind == FLOAT:
            return float("nan")
        if kind == STRING:
            return b""
        raise ApiError(400, f"{where} is missing: a {dtype.name} input has no missing value")
    if kind == FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError(400, f"{where} must be a number or null, got {_json_type(value)}")
        if math.isfinite(value) and not abs(value) <= float(np.finfo(dtype.as_numpy_dtype).max):
            raise ApiError(400, f"{where} is outside the {dtype.name} range")
        return float(value)
    if kind == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(400, f"{where} must be a whole number, got {_json_type(value)}")
        limits = np.iinfo(dtype.as_numpy_dtype)
        if not limits.min <= value <= limits.max:
            raise ApiError(400, f"{where} is outside the {dtype.name} range")
        return value
    if kind == BOOL:
        if not isinstance(value, bool):
            raise ApiError(400, f"{where} must be true or false, got {_json_type(value)}")
        return value
    return _bytes(value, where)


def _bytes(value: Any, where: str) -> bytes:
    if _is_b64(value):
        try:
            return base64.b64decode(value[_B64], validate=True)
        except (binascii.Error, ValueError) as error:
            raise ApiError(400, f"{where}: unable to base64 decode") from error
    if not isinstance(value, str):
        raise ApiError(
            400, f'{where} must be a string, {{"b64": ...}} or null, got {_json_type(value)}'
        )
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as error:  # a lone surrogate such as "\ud800"
        raise ApiError(400, f"{where} is not valid Unicode") from error


def _float32(value: float, where: str) -> float:
    if math.isfinite(value) and not abs(value) <= float(np.finfo(np.float32).max):
        raise ApiError(400, f"{where} cannot be a float feature without loss of precision")
    return float(value)


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_B64), str)


def _is_object(value: Any) -> bool:
    """A JSON object of named values; ``{"b64": ...}`` is a single value, as in TF Serving."""
    return isinstance(value, dict) and not _is_b64(value)


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    return names.get(type(value), "object")


# ---------------------------------------------------------------------------- responses


def row_response(outputs: dict[str, np.ndarray]) -> dict:
    """``{"predictions": ...}``: one value per example for a single output, else one object."""
    values = {key: _jsonable(key, array) for key, array in outputs.items()}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    rows = len(next(iter(outputs.values())))
    return {"predictions": [{key: values[key][i] for key in sorted(values)} for i in range(rows)]}


def columnar_response(outputs: dict[str, np.ndarray]) -> dict:
    """``{"outputs": ...}``: the single output's values, else an object of them."""
    values = {key: _jsonable(key, outputs[key]) for key in sorted(outputs)}
    return {"outputs": next(iter(values.values())) if len(values) == 1 else values}


def classify_response(outputs: dict[str, np.ndarray], head: Classification) -> dict:
    """``{"results": [[[label, score], ...], ...]}``: every class's score, per example."""
    scores = _floats(outputs[head.scores])
    rows, classes = outputs[head.scores].shape
    if head.per_class_labels is not None:
        labels = _jsonable(head.per_class_labels, outputs[head.per_class_labels])
        if np.shape(outputs[head.per_class_labels]) != (rows, classes):
            raise ApiError(
                500, f"{head.per_class_labels!r} does not match {head.scores!r} in shape"
            )
    else:
        labels = [[""] * classes for _ in range(rows)]
        if head.predicted_label is not None:
            names = _jsonable(head.predicted_label, outputs[head.predicted_label])
            if head.predicted_id is not None:
                predicted = outputs[head.predicted_id]
            else:
                predicted = np.argmax(outputs[head.scores], axis=1)
            for row, column in enumerate(predicted):
                if 0 <= column < classes:
                    labels[row][column] = names[row]
    return {
        "results": [
            [[label, score] for label, score in zip(labels[i], scores[i], strict=True)]
            for i in range(rows)
        ]
    }


def regress_response(outputs: dict[str, np.ndarray], name: str) -> dict:
    """``{"results": [value, ...]}``: the regression output, one value per example."""
    values = outputs[name]
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ApiError(
            500, f"output {name!r} has shape {list(values.shape)}, not one value per example"
        )
    return {"results": _floats(values)}


def render(content: dict) -> bytes:
    """JSON bytes; NaN and Infinity as TF Serving writes them."""
    return json.dumps(content, allow_nan=True, separators=(",", ":")).encode()


def _jsonable(name: str, array: np.ndarray) -> Any:
    if array.dtype.kind == "f":
        return _floats(array)
    if array.dtype.kind in "OSU":
        as_bytes = name.endswith(_BYTES_SUFFIX)
        return _map_nested(array.tolist(), lambda v: _string_out(v, as_bytes))
    return array.tolist()


def _floats(array: np.ndarray) -> Any:
    """Floats as the shortest decimal of their own precision (0.97, not 0.9700000286)."""
    if array.dtype.itemsize >= 8:
        return array.tolist()
    return array.astype(str).astype(np.float64).tolist()


def _string_out(value: Any, as_bytes: bool) -> Any:
    raw = value if isinstance(value, bytes) else str(value).encode()
    if as_bytes:
        return {_B64: base64.b64encode(raw).decode("ascii")}
    return raw.decode("utf-8", "replace")


def _map_nested(value: Any, function: Any) -> Any:
    if isinstance(value, list):
        return [_map_nested(item, function) for item in value]
    return function(value)
