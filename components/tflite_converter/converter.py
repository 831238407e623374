"""TFLite conversion, parity checks and a microcontroller build of the trained model.

Plain functions with no TFX types: ``component.py`` wraps them for the pipeline.

Two targets:

* ``convert_saved_model``: the Trainer's dense ``serving_raw`` signature, Transform graph
  included, for a phone or server TFLite runtime (TF Select ops if the graph needs them).
* ``convert_micro``: the Keras model alone, builtins only and fully int8, fed one float
  vector of z-scores and one-hot columns; the preprocessing a device must do itself is
  written to ``preprocessing.json`` and the model to a C array.

Every path may be a local one or a URI ``tf.io.gfile`` knows (``gs://`` on Kubeflow):
inputs are read and outputs written through it, and the TFLite converter, which wants
a local SavedModel, is given a local copy.
"""

import dataclasses
import itertools
import json
import math
import os
import pickle
import posixpath
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow.core.protobuf import saved_model_pb2

# tf.lite has no public name for the converter's error; this is where TF 2.x defines it.
from tensorflow.lite.python.convert_phase import ConverterError
from tensorflow.lite.python.metrics import converter_error_data_pb2

from components import features, keras_mode
from components.trainer import export
from components.trainer.model import OneHot

QUANTIZATION_MODES = ("none", "dynamic", "float16", "int8")

MICRO_MODEL_FILE = "model.tflite"
MICRO_SOURCE_FILE = "model_data.cc"
MICRO_HEADER_FILE = "model_data.h"
MICRO_PREPROCESSING_FILE = "preprocessing.json"
MICRO_ARRAY_NAME = "g_model_data"
# TFLite Micro wants the flatbuffer 16-byte aligned.
_C_ARRAY_ALIGNMENT = 16
_C_BYTES_PER_LINE = 12

_NEEDS_FLEX_OPS = converter_error_data_pb2.ConverterErrorData.ERROR_NEEDS_FLEX_OPS
_WARMUP_CALLS = 10
_SAVED_MODEL_PB = "saved_model.pb"
_EXIT_NEEDS_SELECT_TF_OPS = 3
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
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


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """SavedModel and TFLite forms of one model scored on the same examples.

    Attributes:
        examples: Examples scored.
        saved_model_accuracy: Accuracy of the SavedModel signature.
        tflite_accuracy: Accuracy of the TFLite model.
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

    @property
    def accuracy_drop(self) -> float:
        """SavedModel accuracy minus TFLite accuracy (negative if TFLite did better)."""
        return self.saved_model_accuracy - self.tflite_accuracy

    def within_tolerance(self, tolerance: float) -> bool:
        """Whether the accuracy drop is at most ``tolerance``."""
        return self.accuracy_drop <= tolerance

    def as_properties(self) -> dict[str, float | int]:
        """Flat name -> number, ready to be ML Metadata custom properties."""
        return {**dataclasses.asdict(self), "accuracy_drop": self.accuracy_drop}


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


@dataclasses.dataclass(frozen=True)
class MicroResult:
    """What ``convert_micro`` wrote.

    Attributes:
        model_path: The full-int8, builtins-only TFLite flatbuffer.
        source_path: ``model_data.cc``: the flatbuffer as a C array.
        header_path: ``model_data.h``: its extern declarations.
        preprocessing_path: ``preprocessing.json``: what a device must do to raw values.
        size_bytes: Size of the flatbuffer.
        input_columns: Name of each input vector column, in order.
    """

    model_path: str
    source_path: str
    header_path: str
    preprocessing_path: str
    size_bytes: int
    input_columns: tuple[str, ...]


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
    size = _write_bytes(output_path, flatbuffer)
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
    proto.ParseFromString(_read_bytes(posixpath.join(saved_model_dir, _SAVED_MODEL_PB)))
    copy = Path(scratch_dir) / "saved_model"
    rewritten = sum(_inline_asset_reads(graph, copy) for graph in proto.meta_graphs)
    if not rewritten and not _is_uri(saved_model_dir):
        return saved_model_dir
    copy_tree(saved_model_dir, str(copy))
    if rewritten:
        _write_bytes(str(copy / _SAVED_MODEL_PB), proto.SerializeToString())
    return str(copy)


def _is_uri(path: str) -> bool:
    return bool(_URI.match(path))


def copy_tree(source: str, destination: str) -> None:
    """Copies a directory tree through ``tf.io.gfile``; either side may be a URI."""
    for directory, _, files in tf.io.gfile.walk(source):
        # Object stores may list a directory as "name/"; strip to one relative form.
        relative = directory[len(source.rstrip("/")) :].strip("/")
        target = posixpath.join(destination, relative) if relative else destination
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(
                posixpath.join(directory, name), posixpath.join(target, name), overwrite=True
            )


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


def single_examples(batch: Mapping[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """A batch of named arrays -> one dict per example, each array keeping a batch dim of 1."""
    sizes = {len(values) for values in batch.values()}
    if len(sizes) != 1:
        raise ValueError(f"inputs differ in batch size: {sorted(sizes)}")
    (size,) = sizes
    return [{name: values[i : i + 1] for name, values in batch.items()} for i in range(size)]


def _write_bytes(path: str, data: bytes) -> int:
    """Writes ``data`` through ``tf.io.gfile``, parent directories created; returns its size."""
    parent = posixpath.dirname(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(data)
    return len(data)


def _read_bytes(path: str) -> bytes:
    with tf.io.gfile.GFile(path, "rb") as handle:
        return handle.read()


def raw_input_dtypes(
    saved_model_dir: str, signature_key: str = export.RAW_SIGNATURE
) -> dict[str, tf.DType]:
    """Input name -> dtype of the SavedModel's dense per-feature signature."""
    signature = tf.saved_model.load(saved_model_dir).signatures[signature_key]
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
    transform = tf.saved_model.load(saved_model_dir).signatures[export.TRANSFORM_SIGNATURE]
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


def check_parity(
    saved_model_dir: str,
    tflite_path: str,
    dense_inputs: Mapping[str, np.ndarray],
    labels: np.ndarray,
    signature_key: str = export.RAW_SIGNATURE,
    latency_examples: int = 200,
) -> ParityReport:
    """Scores the SavedModel signature and its TFLite conversion on the same examples.

    Both score the whole batch in one call (TFLite falls back to one example at a
    time if its model cannot be resized). Latencies are of single-example calls after
    a warm-up, cycling through the examples.

    Args:
        saved_model_dir: The SavedModel that was converted.
        tflite_path: The TFLite flatbuffer.
        dense_inputs: Signature input name -> array with a leading batch dimension.
        labels: Integer class ids, one per example.
        signature_key: Signature of the SavedModel (and of the TFLite model).
        latency_examples: Timed calls per form.

    Returns:
        Accuracies, the largest probability difference, sizes and latencies.
    """
    singles = single_examples(dense_inputs)
    labels = np.asarray(labels)
    if len(labels) != len(singles):
        raise ValueError(f"{len(labels)} labels for {len(singles)} examples")
    serve = tf.saved_model.load(saved_model_dir).signatures[signature_key]
    flatbuffer = _read_bytes(tflite_path)
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    runner = interpreter.get_signature_runner(signature_key)

    def call_saved_model(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return serve(**{name: tf.constant(v) for name, v in inputs.items()})[
            export.PROBABILITIES
        ].numpy()

    def call_tflite(inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        return runner(**inputs)[export.PROBABILITIES]

    saved_probabilities = call_saved_model(dense_inputs)
    tflite_probabilities = _tflite_probabilities(call_tflite, dense_inputs, singles)
    saved_p50, saved_p99 = _latency_ms(call_saved_model, singles, latency_examples)
    tflite_p50, tflite_p99 = _latency_ms(call_tflite, singles, latency_examples)
    return ParityReport(
        examples=len(singles),
        saved_model_accuracy=_accuracy(saved_probabilities, labels),
        tflite_accuracy=_accuracy(tflite_probabilities, labels),
        max_abs_probability_diff=float(np.max(np.abs(saved_probabilities - tflite_probabilities))),
        saved_model_size_bytes=directory_size(saved_model_dir),
        tflite_size_bytes=len(flatbuffer),
        saved_model_latency_p50_ms=saved_p50,
        saved_model_latency_p99_ms=saved_p99,
        tflite_latency_p50_ms=tflite_p50,
        tflite_latency_p99_ms=tflite_p99,
    )


def _tflite_probabilities(
    call: Callable[[Mapping[str, np.ndarray]], np.ndarray],
    batch: Mapping[str, np.ndarray],
    singles: list[dict[str, np.ndarray]],
) -> np.ndarray:
    """The whole batch in one call, else one example at a time.

    The batch call comes first on purpose: TFLite sizes some unranked tensors of the
    Transform graph wrongly when the very first call has batch size 1, and a larger
    first call sets them right for the single-example calls that follow.
    """
    try:
        return call(batch)
    except (RuntimeError, ValueError):
        return np.concatenate([call(inputs) for inputs in singles])


def _accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probabilities, axis=1) == labels))


def _latency_ms(
    call: Callable[[Mapping[str, np.ndarray]], Any], singles: list[dict], count: int
) -> tuple[float, float]:
    """p50 and p99 of ``count`` timed single-example calls, after a warm-up."""
    for inputs in itertools.islice(itertools.cycle(singles), _WARMUP_CALLS):
        call(inputs)
    timings = []
    for inputs in itertools.islice(itertools.cycle(singles), count):
        start = time.perf_counter()
        call(inputs)
        timings.append((time.perf_counter() - start) * 1000.0)
    p50, p99 = np.percentile(timings, [50, 99])
    return float(p50), float(p99)


def directory_size(path: str) -> int:
    """Total bytes of the files under ``path`` (a local path or a ``tf.io.gfile`` URI)."""
    return sum(
        tf.io.gfile.stat(posixpath.join(directory, name)).length
        for directory, _, files in tf.io.gfile.walk(path)
        for name in files
    )


def convert_micro(
    saved_model_dir: str,
    transform_output_dir: str,
    output_dir: str,
    representative_transformed: InputBatches,
    label_classes: Sequence[str] = (),
) -> MicroResult:
    """Builds the microcontroller form: the Keras model alone, full int8, builtins only.

    The Transform graph stays behind: the device z-scores numbers and one-hot encodes
    categories itself, following ``preprocessing.json``, and feeds the model one int8
    vector laid out as ``MicroResult.input_columns``.

    Args:
        saved_model_dir: The Trainer's SavedModel (a tf-keras model).
        transform_output_dir: The Transform output the model was trained on.
        output_dir: Where ``model.tflite``, ``model_data.cc``/``.h`` and
            ``preprocessing.json`` are written; created if needed.
        representative_transformed: Returns batches of transformed features (the
            ``features.transformed_name`` keys), to calibrate int8 ranges on.
        label_classes: Class names in output order, recorded in ``preprocessing.json``.

    Returns:
        The written paths, the flatbuffer size and the input column names.
    """
    model = tf.keras.models.load_model(saved_model_dir)
    tft_output = tft.TFTransformOutput(transform_output_dir)
    layout = micro_input_layout(model)
    columns = _column_names(layout, tft_output)
    flatbuffer = _convert_vector_model(
        micro_vector_model(model),
        lambda: (micro_input_vector(batch, layout) for batch in representative_transformed()),
    )
    model_path, source_path, header_path, preprocessing_path = (
        posixpath.join(output_dir, name)
        for name in (
            MICRO_MODEL_FILE,
            MICRO_SOURCE_FILE,
            MICRO_HEADER_FILE,
            MICRO_PREPROCESSING_FILE,
        )
    )
    size = _write_bytes(model_path, flatbuffer)
    write_c_array(flatbuffer, source_path, header_path)
    preprocessing = micro_preprocessing(layout, tft_output, flatbuffer, label_classes)
    _write_bytes(preprocessing_path, (json.dumps(preprocessing, indent=2) + "\n").encode())
    return MicroResult(
        model_path=model_path,
        source_path=source_path,
        header_path=header_path,
        preprocessing_path=preprocessing_path,
        size_bytes=size,
        input_columns=tuple(columns),
    )


def micro_input_layout(model: tf.keras.Model) -> tuple[MicroInputBlock, ...]:
    """The blocks of the vector the model's ``Concatenate`` layer builds, in its order.

    Read off the model rather than assumed: each input of that layer comes from one
    model input, a ``Reshape`` of a numeric z-score or a ``OneHot`` encoding
    of a vocabulary id (as ``components.trainer.model.build_model`` builds them).

    Args:
        model: The Keras model over transformed features.

    Returns:
        One block per feature, in input-vector order.

    Raises:
        ValueError: The model is not shaped that way.
    """
    concatenate = _only_layer(model, tf.keras.layers.Concatenate)
    producers = {id(_output_of(layer)): layer for layer in model.layers}
    blocks = []
    for tensor in concatenate.input:
        layer = producers[id(tensor)]
        key = _raw_key(layer.input.name)
        if isinstance(layer, OneHot | tf.keras.layers.CategoryEncoding):
            blocks.append(MicroInputBlock(key, int(layer.num_tokens), True))
        elif isinstance(layer, tf.keras.layers.Reshape) and tensor.shape[-1] == 1:
            blocks.append(MicroInputBlock(key, 1, False))
        else:
            raise ValueError(f"cannot place layer {layer.name!r} in the micro input vector")
    return tuple(blocks)


def _only_layer(model: tf.keras.Model, layer_type: type) -> tf.keras.layers.Layer:
    found = [layer for layer in model.layers if isinstance(layer, layer_type)]
    if len(found) != 1:
        raise ValueError(f"expected one {layer_type.__name__} layer, found {len(found)}")
    return found[0]


def _output_of(layer: tf.keras.layers.Layer) -> Any:
    """The layer's output in the model graph; None for a layer outside it."""
    try:
        return layer.output
    except AttributeError:
        return None


def _input_of(layer: tf.keras.layers.Layer) -> Any:
    try:
        return layer.input
    except AttributeError:
        return None


def _raw_key(transformed: str) -> str:
    return features.raw_name(transformed)


def micro_vector_model(model: tf.keras.Model) -> tf.keras.Model:
    """The part of ``model`` after its ``Concatenate``, fed the concatenated vector.

    The encoding layers stay behind (``CategoryEncoding`` has no TFLite builtin); the
    layers after it are shared, so the weights are the trained ones.

    Args:
        model: The Keras model over transformed features.

    Returns:
        A model from a float [batch, columns] vector to the same outputs.

    Raises:
        ValueError: The layers after ``Concatenate`` are not a single chain.
    """
    concatenate = _only_layer(model, tf.keras.layers.Concatenate)
    vector = tf.keras.Input(shape=(concatenate.output.shape[-1],), name="features")
    tensor, outputs = concatenate.output, vector
    while tensor is not model.output:
        consumers = [layer for layer in model.layers if _input_of(layer) is tensor]
        if len(consumers) != 1:
            raise ValueError(f"the model is not one chain of layers after {concatenate.name!r}")
        outputs = consumers[0](outputs)
        tensor = consumers[0].output
    return tf.keras.Model(vector, outputs)


def micro_input_vector(
    transformed: Mapping[str, np.ndarray], layout: Sequence[MicroInputBlock]
) -> np.ndarray:
    """Transformed features -> the float micro input vector, as the model's encoders would.

    Args:
        transformed: ``features.transformed_name`` keys -> z-scores or vocabulary ids;
            other keys (the label) are ignored.
        layout: From ``micro_input_layout``.

    Returns:
        float32 [batch, columns].
    """
    columns = []
    for block in layout:
        values = np.asarray(transformed[features.transformed_name(block.key)]).reshape(-1)
        if not block.categorical:
            columns.append(values.astype(np.float32)[:, None])
            continue
        if values.size and (values.min() < 0 or values.max() >= block.width):
            raise ValueError(f"{block.key}: ids outside [0, {block.width})")
        columns.append(np.eye(block.width, dtype=np.float32)[values.astype(np.int64)])
    return np.concatenate(columns, axis=1)


def micro_vector_from_dense(
    dense: Mapping[str, np.ndarray], preprocessing: Mapping[str, Any]
) -> np.ndarray:
    """What a device computes: ``serving_raw``-style inputs -> the float input vector.

    A reference for device code, following ``preprocessing.json`` only.

    Args:
        dense: Raw feature key -> array (float with NaN for missing numbers, bytes or
            str with "" for missing categories).
        preprocessing: The parsed ``preprocessing.json``.

    Returns:
        float32 [batch, input length], before int8 quantization.
    """
    size = len(next(iter(dense.values())))
    vector = np.zeros((size, preprocessing["input"]["length"]), np.float32)
    for key, rule in preprocessing["numeric"].items():
        x = np.asarray(dense[key], np.float64)
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
    """Float input vector -> the int8 tensor the micro model takes."""
    spec = preprocessing["input"]
    q = np.round(vector / spec["scale"]) + spec["zero_point"]
    return np.clip(q, -128, 127).astype(np.int8)


def dequantize_micro_output(output: np.ndarray, preprocessing: Mapping[str, Any]) -> np.ndarray:
    """The micro model's int8 output -> class probabilities."""
    spec = preprocessing["output"]
    return (output.astype(np.float32) - spec["zero_point"]) * spec["scale"]


def _convert_vector_model(
    model: tf.keras.Model, representative_vectors: Callable[[], Iterable[np.ndarray]]
) -> bytes:
    width = model.inputs[0].shape[-1]
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, width], tf.float32, name="features")
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    converter.representative_dataset = lambda: (
        [row[None, :]] for vectors in representative_vectors() for row in vectors
    )
    return converter.convert()


def _column_names(
    layout: Sequence[MicroInputBlock], tft_output: tft.TFTransformOutput
) -> list[str]:
    names = []
    for block in layout:
        if block.categorical:
            names.extend(f"{block.key}={token}" for token in _one_hot_tokens(block, tft_output))
        else:
            names.append(block.key)
    return names


def _vocabulary(key: str, tft_output: tft.TFTransformOutput) -> list[str]:
    return [
        token.decode() if isinstance(token, bytes) else str(token)
        for token in tft_output.vocabulary_by_name(features.vocabulary_name(key))
    ]


def _one_hot_tokens(block: MicroInputBlock, tft_output: tft.TFTransformOutput) -> list[str]:
    vocabulary = _vocabulary(block.key, tft_output)
    oov = block.width - len(vocabulary)
    if oov != features.OOV_BUCKETS:
        raise ValueError(
            f"{block.key}: one-hot width {block.width} is not vocabulary {len(vocabulary)}"
            f" + {features.OOV_BUCKETS} OOV bucket(s)"
        )
    return vocabulary + [f"<oov-{i}>" for i in range(oov)]


def micro_preprocessing(
    layout: Sequence[MicroInputBlock],
    tft_output: tft.TFTransformOutput,
    flatbuffer: bytes,
    label_classes: Sequence[str] = (),
) -> dict[str, Any]:
    """What a device does to raw values before, and to the output after, the int8 model.

    Numeric statistics are read off the Transform graph itself (see
    ``numeric_statistics``), so they are the ones the model was trained with; the
    id a missing category gets is probed the same way.

    Args:
        layout: From ``micro_input_layout``.
        tft_output: The Transform output the model was trained on.
        flatbuffer: The micro model, for its int8 input and output quantization.
        label_classes: Class names in output order.

    Returns:
        The content of ``preprocessing.json``.
    """
    columns = _column_names(layout, tft_output)
    numeric, categorical, offset = {}, {}, 0
    for block in layout:
        if block.categorical:
            categorical[block.key] = _categorical_rule(block, offset, tft_output)
        else:
            numeric[block.key] = _numeric_rule(block.key, offset, tft_output)
        offset += block.width
    input_details, output_details = _io_details(flatbuffer)
    return {
        "numeric": numeric,
        "categorical": categorical,
        "input": {
            "columns": columns,
            "length": len(columns),
            **_quantization(input_details),
            "rule": "q = clamp(round(x / scale) + zero_point, -128, 127)",
        },
        "output": {
            "classes": list(label_classes),
            "length": int(output_details["shape"][-1]),
            **_quantization(output_details),
            "rule": "p = (q - zero_point) * scale",
        },
    }


def _numeric_rule(key: str, offset: int, tft_output: tft.TFTransformOutput) -> dict[str, Any]:
    mean, std = numeric_statistics(tft_output, key)
    return {
        "offset": offset,
        "mean": mean,
        "std": std,
        "missing_z": float(_probe(tft_output, key, [None])[0]),
        "rule": "z = (x - mean) / std; a missing value gives missing_z (the training mean)",
    }


def _categorical_rule(
    block: MicroInputBlock, offset: int, tft_output: tft.TFTransformOutput
) -> dict[str, Any]:
    vocabulary = _vocabulary(block.key, tft_output)
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
    }


def _io_details(flatbuffer: bytes) -> tuple[dict, dict]:
    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    return interpreter.get_input_details()[0], interpreter.get_output_details()[0]


def _quantization(details: Mapping[str, Any]) -> dict[str, Any]:
    scale, zero_point = details["quantization"]
    return {
        "dtype": np.dtype(details["dtype"]).name,
        "scale": float(scale),
        "zero_point": int(zero_point),
    }


def numeric_statistics(tft_output: tft.TFTransformOutput, key: str) -> tuple[float, float]:
    """Mean and std the Transform graph z-scores ``key`` with, read off the graph.

    z(x) = (x - mean) / std is linear, so two probes give both: a rough pair at 0 and 1,
    then a precise pair about one std either side of the rough mean (probes far from the
    mean lose float32 digits). A third probe checks that the transform is linear.

    Args:
        tft_output: The Transform output.
        key: A numeric raw feature key.

    Returns:
        (mean, std), std being 1 where the training variance was 0 (tf.Transform then
        only centres).

    Raises:
        ValueError: The transformed ``key`` is not linear in the raw value.
    """
    mean, std = _line_through(tft_output, key, 0.0, 1.0)
    # At least 1 apart, so that rounding to an integer feature's type keeps them apart.
    spread = max(abs(std), 1.0)
    low, high = _probe_points(tft_output, key, [mean - spread, mean + spread])
    mean, std = _line_through(tft_output, key, low, high)
    (check,) = _probe_points(tft_output, key, [mean + 3 * std])
    (z_check,) = _probe(tft_output, key, [check])
    if not math.isclose(z_check, (check - mean) / std, rel_tol=1e-4, abs_tol=1e-4):
        raise ValueError(f"{key}: the Transform output is not linear in the raw value")
    return float(mean), float(std)


def _line_through(
    tft_output: tft.TFTransformOutput, key: str, low: float, high: float
) -> tuple[float, float]:
    """(mean, std) of the z-score through the transformed values at ``low`` and ``high``."""
    z_low, z_high = _probe(tft_output, key, [low, high])
    if z_high == z_low:
        raise ValueError(f"{key}: the Transform output does not change with the raw value")
    std = (high - low) / (z_high - z_low)
    return low - z_low * std, std


def _probe_points(
    tft_output: tft.TFTransformOutput, key: str, points: Sequence[float]
) -> list[float]:
    """``points`` made exactly representable in the raw feature's type."""
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


def write_c_array(
    data: bytes, source_path: str, header_path: str, array_name: str = MICRO_ARRAY_NAME
) -> None:
    """Writes ``data`` as a C++ array, as ``xxd -i`` would, plus a header declaring it.

    The source defines ``const unsigned char <array_name>[]`` (16-byte aligned, as
    TFLite Micro wants a model) and ``const unsigned int <array_name>_len``; the header
    declares both ``extern``, inside an include guard named after the header file.

    Args:
        data: The bytes, e.g. a TFLite flatbuffer.
        source_path: The ``.cc`` file to write (a local path or a ``tf.io.gfile`` URI).
        header_path: The ``.h`` file to write; the source includes it by file name.
        array_name: C identifier of the array.

    Raises:
        ValueError: ``data`` is empty (C++ has no zero-length arrays).
    """
    if not data:
        raise ValueError("cannot write an empty C array")
    header_name = posixpath.basename(header_path)
    guard = "".join(c if c.isalnum() else "_" for c in header_name.upper()) + "_"
    header = (
        f"// Generated by components/tflite_converter/converter.py. Do not edit.\n"
        f"#ifndef {guard}\n#define {guard}\n\n"
        f"extern const unsigned char {array_name}[];\n"
        f"extern const unsigned int {array_name}_len;\n\n"
        f"#endif  // {guard}\n"
    )
    _write_bytes(header_path, header.encode())
    lines = [
        "  " + ", ".join(f"0x{byte:02x}" for byte in data[i : i + _C_BYTES_PER_LINE]) + ","
        for i in range(0, len(data), _C_BYTES_PER_LINE)
    ]
    source = (
        f"// Generated by components/tflite_converter/converter.py. Do not edit.\n"
        f'#include "{header_name}"\n\n'
        f"alignas({_C_ARRAY_ALIGNMENT}) const unsigned char {array_name}[] = {{\n"
        + "\n".join(lines)
        + f"\n}};\nconst unsigned int {array_name}_len = {len(data)};\n"
    )
    _write_bytes(source_path, source.encode())
