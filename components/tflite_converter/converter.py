"""TFLite conversion of the Trainer's dense serving signature, and the inputs it takes.

Plain functions with no TFX types: ``component.py`` wraps them for the pipeline. The
concerns live in modules of their own, re-exported here so that ``converter.<name>``
keeps working:

* this module, ``convert_saved_model``: the ``serving_raw`` signature, Transform graph
  included, for a phone or server TFLite runtime (TF Select ops if the graph needs them);
  and raw tf.Examples -> the dense inputs that signature takes.
* ``parity.py``: both forms scored on the same examples, per task (``check_parity``,
  ``check_micro_parity``).
* ``micro.py``: the Keras model alone, builtins only and fully int8, fed one float
  vector of z-scores and one-hot columns; ``device.py`` writes the preprocessing a device
  must do itself to ``preprocessing.json`` and runs that path for reference, and
  ``c_array.py`` writes the model as a C array.

Every path may be a local one or a URI ``tf.io.gfile`` knows (``gs://`` on Kubeflow):
inputs are read and outputs written through it, and the TFLite converter, which wants
a local SavedModel, is given a local copy.
"""

import dataclasses
import math
import os
import pickle
import posixpath
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

# tf.lite has no public name for the converter's error; this is where TF 2.x defines it.
from tensorflow.lite.python.convert_phase import ConverterError
from tensorflow.lite.python.metrics import converter_error_data_pb2

from components import keras_mode
from components.tflite_converter import storage
from components.tflite_converter.c_array import MICRO_ARRAY_NAME, write_c_array
from components.tflite_converter.micro import (
    MICRO_HEADER_FILE,
    MICRO_MODEL_FILE,
    MICRO_PREPROCESSING_FILE,
    MICRO_SOURCE_FILE,
    MicroInputBlock,
    MicroResult,
    check_micro_support,
    convert_micro,
    dequantize_micro_output,
    micro_input_layout,
    micro_input_vector,
    micro_predictor,
    micro_preprocessing,
    micro_vector_from_dense,
    micro_vector_model,
    numeric_statistics,
    quantize_micro_input,
    read_preprocessing,
)
from components.tflite_converter.parity import (
    ParityReport,
    RegressionParityReport,
    check_micro_parity,
    check_parity,
    signature_task,
    single_examples,
)
from components.tflite_converter.storage import (
    copy_tree,
    directory_size,
    is_uri,
    read_bytes,
    write_bytes,
)
from components.trainer import export

__all__ = [
    "MICRO_ARRAY_NAME",
    "MICRO_HEADER_FILE",
    "MICRO_MODEL_FILE",
    "MICRO_PREPROCESSING_FILE",
    "MICRO_SOURCE_FILE",
    "QUANTIZATION_MODES",
    "ConversionResult",
    "MicroInputBlock",
    "MicroResult",
    "ParityReport",
    "RegressionParityReport",
    "check_micro_parity",
    "check_micro_support",
    "check_parity",
    "convert_micro",
    "convert_saved_model",
    "copy_tree",
    "dense_inputs_from_examples",
    "dequantize_micro_output",
    "directory_size",
    "label_ids_from_examples",
    "micro_input_layout",
    "micro_input_vector",
    "micro_predictor",
    "micro_preprocessing",
    "micro_vector_from_dense",
    "micro_vector_model",
    "numeric_statistics",
    "quantize_micro_input",
    "raw_input_dtypes",
    "read_preprocessing",
    "serve_conversion_request",
    "signature_task",
    "single_examples",
    "transformed_features",
    "write_c_array",
]

QUANTIZATION_MODES = ("none", "dynamic", "float16", "int8")

_NEEDS_FLEX_OPS = converter_error_data_pb2.ConverterErrorData.ERROR_NEEDS_FLEX_OPS
_SAVED_MODEL_PB = "saved_model.pb"
_EXIT_NEEDS_SELECT_TF_OPS = 3
_CHILD_CODE = (
    "import sys\n"
    "from components.tflite_converter import converter\n"
    "sys.exit(converter.serve_conversion_request(sys.argv[1], sys.argv[2]))\n"
)

InputBatches = Callable[[], Iterable[Mapping[str, np.ndarray]]]


@dataclasses.dataclass(frozen=True)
class ConversionResult:
    """A written TFLite model.

    Attributes:
        path: Where the flatbuffer was written.
        size_bytes: Its size.
        quantization: One of ``QUANTIZATION_MODES``.
        requires_select_tf_ops: Whether the runtime needs the TF Select (Flex) delegate.
    """

    path: str
    size_bytes: int
    quantization: str
    requires_select_tf_ops: bool


def convert_saved_model(
    saved_model_dir: str,
    output_path: str,
    quantization: str,
    representative_inputs: InputBatches | None = None,
    signature_key: str = export.RAW_SIGNATURE,
) -> ConversionResult:
    """Converts one SavedModel signature to a TFLite flatbuffer.

    Builtin ops are tried first; only if the graph needs ops outside them is the
    conversion repeated with TF Select ops allowed.

    Args:
        saved_model_dir: The SavedModel to convert, a local path or a ``tf.io.gfile`` URI.
        output_path: Where to write the flatbuffer (a local path or a URI); parent
            directories are created.
        quantization: ``none``; ``dynamic`` (int8 weights); ``float16`` (float16
            weights); ``int8`` (weights and activations, calibrated on
            ``representative_inputs``, float where an op has no int8 kernel).
        representative_inputs: Returns batches of signature inputs (name -> array);
            needed for ``int8`` only.
        signature_key: The signature to convert.

    Returns:
        Where the model went, its size and whether it needs TF Select ops.

    Raises:
        ValueError: Unknown ``quantization``, or ``int8`` without representative inputs.
        RuntimeError: The converter crashed (``int8`` conversion runs in a child
            process for that reason).
    """
    _check_quantization(quantization, representative_inputs)
    calibration = _as_one_batch(representative_inputs()) if quantization == "int8" else None
    with tempfile.TemporaryDirectory() as tmp:
        source = _with_constant_asset_paths(saved_model_dir, tmp)
        request = _Conversion(source, signature_key, quantization, calibration)
        flatbuffer = _try_convert(request)
        select_tf_ops = flatbuffer is None
        if select_tf_ops:
            flatbuffer = _try_convert(dataclasses.replace(request, select_tf_ops=True))
    if flatbuffer is None:
        raise ValueError(f"{saved_model_dir}: needs ops that neither TFLite nor TF Select has")
    size = write_bytes(output_path, flatbuffer)
    return ConversionResult(output_path, size, quantization, select_tf_ops)


def _with_constant_asset_paths(saved_model_dir: str, scratch_dir: str) -> str:
    """A local SavedModel whose vocabulary tables TFLite can initialize: a copy if needed.

    A SavedModel that re-saves a loaded one (the Trainer's, which carries the loaded
    Transform graph) reads each asset path from a variable assigned from a placeholder.
    The TFLite converter turns a text-file table initializer into constants only when
    the path is a constant; otherwise the table is silently left empty and every lookup
    fails at run time ("hashtable need to be initialized before using"). So each read of
    such a variable becomes a constant holding the asset's path in the copy.

    A SavedModel behind a URI is always copied: an int8 conversion runs in a child
    process, and a conversion may read the model twice (builtins, then TF Select).

    Returns:
        ``saved_model_dir`` itself when it is local and no asset path is read from a
        variable, else the path of the (rewritten) local copy under ``scratch_dir``.
    """
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(read_bytes(posixpath.join(saved_model_dir, _SAVED_MODEL_PB)))
    copy = Path(scratch_dir) / "saved_model"
    rewritten = sum(_inline_asset_reads(graph, copy) for graph in proto.meta_graphs)
    if not rewritten and not is_uri(saved_model_dir):
        return saved_model_dir
    copy_tree(saved_model_dir, str(copy))
    if rewritten:
        write_bytes(str(copy / _SAVED_MODEL_PB), proto.SerializeToString())
    return str(copy)


def _inline_asset_reads(meta_graph: Any, saved_model_dir: Path) -> int:
    """Replaces reads of asset-path variables with constants; returns how many."""
    asset_files = {
        asset.tensor_info.name.split(":")[0]: asset.filename for asset in meta_graph.asset_file_def
    }
    nodes = meta_graph.graph_def.node
    variable_files = {
        node.input[0]: asset_files[node.input[1]]
        for node in nodes
        if node.op == "AssignVariableOp" and node.input[1] in asset_files
    }
    count = 0
    for node in nodes:
        if node.op == "ReadVariableOp" and node.input[0] in variable_files:
            path = saved_model_dir.resolve() / "assets" / variable_files[node.input[0]]
            name = node.name
            node.Clear()
            node.name, node.op = name, "Const"
            node.attr["dtype"].type = tf.string.as_datatype_enum
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(str(path).encode()))
            count += 1
    return count


def _check_quantization(quantization: str, representative_inputs: InputBatches | None) -> None:
    if quantization not in QUANTIZATION_MODES:
        raise ValueError(
            f"unknown quantization {quantization!r}; expected one of {QUANTIZATION_MODES}"
        )
    if quantization == "int8" and representative_inputs is None:
        raise ValueError("quantization 'int8' needs representative_inputs to calibrate on")


@dataclasses.dataclass(frozen=True)
class _Conversion:
    """One TFLite conversion of a SavedModel signature; pickled for the child process."""

    saved_model_dir: str
    signature_key: str
    quantization: str
    calibration: dict[str, np.ndarray] | None
    select_tf_ops: bool = False


def _try_convert(request: _Conversion) -> bytes | None:
    """The flatbuffer, or None if the graph needs ops outside the allowed op sets."""
    if request.quantization == "int8":
        return _convert_in_subprocess(request)
    try:
        return _convert(request)
    except ConverterError as error:
        if _needs_select_tf_ops(error):
            return None
        raise


def _convert(request: _Conversion) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(
        request.saved_model_dir, signature_keys=[request.signature_key]
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS] + (
        [tf.lite.OpsSet.SELECT_TF_OPS] if request.select_tf_ops else []
    )
    if request.quantization != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if request.quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if request.quantization == "int8":
        converter.representative_dataset = lambda: iter([request.calibration])
    return converter.convert()


def _convert_in_subprocess(request: _Conversion) -> bytes | None:
    """``_convert`` in a child process, so that a converter crash is an exception.

    TF 2.16's int8 quantizer segfaults on some graphs (a Keras ``CategoryEncoding``
    layer is one trigger), which would otherwise take the whole pipeline step down.
    The child is this interpreter running this module, so ``components`` must be
    importable (it is installed with the project).
    """
    with tempfile.TemporaryDirectory() as tmp:
        request_path, output = Path(tmp) / "request.pickle", Path(tmp) / "model.tflite"
        request_path.write_bytes(pickle.dumps(request))
        child = subprocess.run(
            [sys.executable, "-c", _CHILD_CODE, str(request_path), str(output)],
            env={**os.environ, **keras_mode.ENVIRONMENT},
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode == _EXIT_NEEDS_SELECT_TF_OPS:
            return None
        if child.returncode != 0:
            how = (
                f"was killed by signal {-child.returncode}"
                if child.returncode < 0
                else f"failed (exit code {child.returncode})"
            )
            raise RuntimeError(
                f"the TFLite converter ({request.quantization}) {how}:\n{child.stderr[-3000:]}"
            )
        return output.read_bytes()


def serve_conversion_request(request_path: str, output_path: str) -> int:
    """Child-process side of ``_convert_in_subprocess``; returns the exit code."""
    request = pickle.loads(Path(request_path).read_bytes())
    try:
        flatbuffer = _convert(request)
    except ConverterError as error:
        if _needs_select_tf_ops(error):
            return _EXIT_NEEDS_SELECT_TF_OPS
        raise
    Path(output_path).write_bytes(flatbuffer)
    return 0


def _needs_select_tf_ops(error: ConverterError) -> bool:
    if any(data.error_code == _NEEDS_FLEX_OPS for data in error.errors):
        return True
    return "TF Select ops" in str(error)


def _as_one_batch(batches: Iterable[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """All batches concatenated into one.

    The calibrator wants one input shape throughout, and TFLite mis-sizes some unranked
    tensors of the Transform graph when its first call has batch size 1.
    """
    batches = list(batches)
    if not batches:
        raise ValueError("representative_inputs gave no data")
    return {name: np.concatenate([batch[name] for batch in batches]) for name in batches[0]}


def raw_input_dtypes(
    saved_model_dir: str, signature_key: str = export.RAW_SIGNATURE
) -> dict[str, tf.DType]:
    """Input name -> dtype of the SavedModel's dense per-feature signature."""
    signature = storage.load_saved_model(saved_model_dir).signatures[signature_key]
    return {name: spec.dtype for name, spec in signature.structured_input_signature[1].items()}


def dense_inputs_from_examples(
    serialized: Sequence[bytes], input_dtypes: Mapping[str, tf.DType]
) -> dict[str, np.ndarray]:
    """Serialized raw tf.Examples -> the dense per-feature arrays ``serving_raw`` takes.

    A float input becomes float32 whatever type the example stores it as, NaN when
    absent; a string input becomes bytes (object array; numbers by their decimal text),
    b"" when absent.

    Args:
        serialized: Serialized tf.Example protos with at most one value per feature.
        input_dtypes: The signature's inputs (``raw_input_dtypes``).

    Returns:
        Feature key -> array of shape [len(serialized)].
    """
    parsed = [tf.train.Example.FromString(record).features.feature for record in serialized]
    dense = {}
    for key, dtype in input_dtypes.items():
        values = [_single_value(feature_map, key) for feature_map in parsed]
        if dtype == tf.string:
            dense[key] = np.array([_as_bytes(v) for v in values], dtype=object)
        else:
            dense[key] = np.array([math.nan if v is None else float(v) for v in values], np.float32)
    return dense


def transformed_features(
    saved_model_dir: str, serialized: Sequence[bytes]
) -> dict[str, np.ndarray]:
    """Transformed features, label included, as the model's own Transform graph computes them."""
    transform = storage.load_saved_model(saved_model_dir).signatures[export.TRANSFORM_SIGNATURE]
    outputs = transform(examples=tf.constant(list(serialized)))
    return {name: tensor.numpy() for name, tensor in outputs.items()}


def label_ids_from_examples(
    serialized: Sequence[bytes], label_key: str, label_classes: Sequence[str]
) -> np.ndarray:
    """Each example's ``label_key`` as its index in ``label_classes``; -1 if absent or unknown."""
    ids = {name: i for i, name in enumerate(label_classes)}
    labels = []
    for record in serialized:
        value = _single_value(tf.train.Example.FromString(record).features.feature, label_key)
        labels.append(-1 if value is None else ids.get(_as_bytes(value).decode(), -1))
    return np.array(labels, dtype=np.int64)


def _single_value(feature_map: Mapping[str, tf.train.Feature], key: str) -> Any:
    if key not in feature_map:
        return None
    kind = feature_map[key].WhichOneof("kind")
    values = list(getattr(feature_map[key], kind).value) if kind else []
    if len(values) > 1:
        raise ValueError(f"{key}: expected at most one value, got {len(values)}")
    return values[0] if values else None


def _as_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else str(value).encode()
