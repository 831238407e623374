"""The microcontroller form: the Keras model alone, builtins only, full int8.

The Transform graph stays behind: a device z-scores numbers and one-hot encodes
categories itself, following ``preprocessing.json`` (written by ``device.py``), and feeds
the model one int8 vector laid out as ``MicroResult.input_columns``. Works for any model
``components.trainer.model.build_model`` builds over numeric (optionally ``log``) and
one-hot categorical features, for either task; bucketized numbers, embedded categories and
text are refused with a ``ValueError`` naming the feature.
"""

import dataclasses
import json
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.features.layers import OneHot
from components.tflite_converter.c_array import write_c_array
from components.tflite_converter.device import (
    MicroInputBlock,
    dequantize_micro_output,
    micro_predictor,
    micro_preprocessing,
    micro_vector_from_dense,
    numeric_statistics,
    quantize_micro_input,
    read_preprocessing,
)
from components.tflite_converter.storage import write_bytes

__all__ = [
    "MICRO_HEADER_FILE",
    "MICRO_MODEL_FILE",
    "MICRO_PREPROCESSING_FILE",
    "MICRO_SOURCE_FILE",
    "MicroInputBlock",
    "MicroResult",
    "check_micro_support",
    "convert_micro",
    "dequantize_micro_output",
    "micro_input_layout",
    "micro_input_vector",
    "micro_predictor",
    "micro_preprocessing",
    "micro_vector_from_dense",
    "micro_vector_model",
    "numeric_statistics",
    "quantize_micro_input",
    "read_preprocessing",
]

MICRO_MODEL_FILE = "model.tflite"
MICRO_SOURCE_FILE = "model_data.cc"
MICRO_HEADER_FILE = "model_data.h"
MICRO_PREPROCESSING_FILE = "preprocessing.json"

TransformedBatches = Callable[[], Iterable[Mapping[str, np.ndarray]]]


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


def check_micro_support(spec: features.FeatureSpec) -> None:
    """Raises ValueError naming the first feature a device could not preprocess itself.

    Supported: numeric features (z-score, ``log`` allowed) and categorical features
    without ``embedding_dim``. A categorical feature whose vocabulary outgrows one-hot is
    only found out on the model (``micro_input_layout``).
    """
    for feature in spec.features:
        reason = None
        if feature.type == "numeric" and feature.option("bucketize"):
            reason = "a bucketized numeric feature (its quantile boundaries are not exported)"
        elif feature.type == "categorical" and feature.option("embedding_dim"):
            reason = "an embedded categorical feature (embedding_dim is set; one-hot only)"
        elif feature.type not in ("numeric", "categorical"):
            reason = f"a {feature.type} feature (numeric and one-hot categorical only)"
        if reason:
            raise ValueError(f"features.{feature.name}: the micro model cannot take {reason}")


def convert_micro(
    saved_model_dir: str,
    transform_output_dir: str,
    output_dir: str,
    representative_transformed: TransformedBatches,
    spec: features.FeatureSpec,
) -> MicroResult:
    """Builds the microcontroller form and writes it with its C array and preprocessing spec.

    Args:
        saved_model_dir: The Trainer's SavedModel (a tf-keras model).
        transform_output_dir: The Transform output the model was trained on.
        output_dir: Where ``model.tflite``, ``model_data.cc``/``.h`` and
            ``preprocessing.json`` are written; created if needed.
        representative_transformed: Returns batches of transformed features (the
            ``features.transformed_name`` keys), to calibrate int8 ranges on.
        spec: The feature spec the model was trained from: its task decides the output
            section of ``preprocessing.json`` (class names or the label's name).

    Returns:
        The written paths, the flatbuffer size and the input column names.

    Raises:
        ValueError: A feature the micro model cannot take (see ``check_micro_support``
            and ``micro_input_layout``), named in the message.
    """
    check_micro_support(spec)
    model = tf.keras.models.load_model(saved_model_dir)
    tft_output = tft.TFTransformOutput(transform_output_dir)
    layout = micro_input_layout(model, spec)
    flatbuffer = _convert_vector_model(
        micro_vector_model(model),
        lambda: (micro_input_vector(batch, layout) for batch in representative_transformed()),
    )
    paths = [
        posixpath.join(output_dir, name)
        for name in (MICRO_MODEL_FILE, MICRO_SOURCE_FILE, MICRO_HEADER_FILE)
    ]
    preprocessing_path = posixpath.join(output_dir, MICRO_PREPROCESSING_FILE)
    size = write_bytes(paths[0], flatbuffer)
    write_c_array(flatbuffer, paths[1], paths[2])
    preprocessing = micro_preprocessing(layout, tft_output, flatbuffer, spec)
    write_bytes(preprocessing_path, (json.dumps(preprocessing, indent=2) + "\n").encode())
    return MicroResult(
        model_path=paths[0],
        source_path=paths[1],
        header_path=paths[2],
        preprocessing_path=preprocessing_path,
        size_bytes=size,
        input_columns=tuple(preprocessing["input"]["columns"]),
    )


# ---------------------------------------------------------------------------- the Keras model


def micro_input_layout(
    model: tf.keras.Model, spec: features.FeatureSpec | None = None
) -> tuple[MicroInputBlock, ...]:
    """The blocks of the vector the model's encoders build, in the order it concatenates them.

    Read off the model rather than assumed: each block is one model input through its
    encoder, a ``Reshape`` of a numeric z-score or a ``OneHot`` of a vocabulary id (as
    ``build_model`` builds them); a one-feature model has no ``Concatenate``.

    Args:
        model: The Keras model over transformed features.
        spec: The feature spec, to tell a bucketized number (refused) from a category.

    Returns:
        One block per feature, in input-vector order.

    Raises:
        ValueError: An encoder the micro model cannot take (embedding, bucketized number,
            text), naming the feature; or a model not shaped that way.
    """
    _, parts = _vector(model)
    producers = {id(_output_of(layer)): layer for layer in model.layers}
    blocks = []
    for tensor in parts:
        chain = _chain_to_input(tensor, producers)
        key = features.raw_name(chain[-1].name)
        encoder = chain[:-1]
        feature = _spec_feature(spec, key)
        if len(encoder) == 1 and isinstance(encoder[0], OneHot | tf.keras.layers.CategoryEncoding):
            if feature is not None and feature.type != "categorical":
                raise ValueError(
                    f"features.{key}: the micro model cannot take a one-hot {feature.type}"
                    " feature (bucketized numbers are not supported)"
                )
            blocks.append(MicroInputBlock(key, int(encoder[0].num_tokens), True))
        elif (
            len(encoder) == 1
            and isinstance(encoder[0], tf.keras.layers.Reshape)
            and tensor.shape[-1] == 1
        ):
            blocks.append(MicroInputBlock(key, 1, False))
        elif any(isinstance(layer, tf.keras.layers.Embedding) for layer in encoder):
            raise ValueError(
                f"features.{key}: the micro model cannot take an embedded feature (its"
                f" vocabulary is over {features.type_module('categorical').ONE_HOT_MAX}"
                " ids or embedding_dim is set; one-hot only)"
            )
        else:
            names = [layer.name for layer in encoder]
            raise ValueError(f"features.{key}: cannot place encoder {names} in the micro input")
    return tuple(blocks)


def micro_vector_model(model: tf.keras.Model) -> tf.keras.Model:
    """The part of ``model`` after its encoders, fed the concatenated vector.

    The encoding layers stay behind; the layers after them are shared, so the weights
    are the trained ones.

    Args:
        model: The Keras model over transformed features.

    Returns:
        A model from a float [batch, columns] vector to the same outputs: probabilities
        [batch, classes] or predictions [batch].

    Raises:
        ValueError: The layers after the encoders are not a single chain.
    """
    start, _ = _vector(model)
    vector = tf.keras.Input(shape=(start.shape[-1],), name="features")
    tensor, outputs = start, vector
    while tensor is not model.output:
        consumers = [layer for layer in model.layers if _input_of(layer) is tensor]
        if len(consumers) != 1:
            raise ValueError("the model is not one chain of layers after its encoders")
        outputs = consumers[0](outputs)
        tensor = consumers[0].output
    return tf.keras.Model(vector, outputs)


def _vector(model: tf.keras.Model) -> tuple[Any, list[Any]]:
    """The encoded feature vector and the per-feature tensors it is made of."""
    concatenates = [
        layer for layer in model.layers if isinstance(layer, tf.keras.layers.Concatenate)
    ]
    if len(concatenates) == 1:
        return concatenates[0].output, list(concatenates[0].input)
    if concatenates:
        raise ValueError(f"expected one Concatenate layer, found {len(concatenates)}")
    first_dense = next(
        (layer for layer in model.layers if isinstance(layer, tf.keras.layers.Dense)), None
    )
    if first_dense is None:
        raise ValueError("the model has neither a Concatenate nor a Dense layer")
    return first_dense.input, [first_dense.input]


def _chain_to_input(tensor: Any, producers: Mapping[int, Any]) -> list[Any]:
    """Layers from the one producing ``tensor`` back to (and including) its InputLayer."""
    layer = producers[id(tensor)]
    chain = [layer]
    while not isinstance(layer, tf.keras.layers.InputLayer):
        source = _input_of(layer)
        if isinstance(source, list | tuple) or id(source) not in producers:
            raise ValueError(f"cannot trace layer {layer.name!r} back to one model input")
        layer = producers[id(source)]
        chain.append(layer)
    return chain


def _spec_feature(spec: features.FeatureSpec | None, key: str) -> features.Feature | None:
    if spec is None:
        return None
    try:
        return spec.feature(key)
    except KeyError:
        raise ValueError(f"the model input {key!r} is not a feature of the spec") from None


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


# ---------------------------------------------------------------------------- input vectors


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

    Raises:
        ValueError: A vocabulary id outside its block's width.
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
