"""Tiny SavedModels for the REST server's tests, requests to them and the answers expected.

Every expected value comes from calling the SavedModel's own signature here, with inputs
built by this file (tf.Examples by hand), never through the server's code.
"""

import base64
import math
from pathlib import Path

import numpy as np
import tensorflow as tf

# The tiny models' own raw features, kinds as in this project's serving_raw signature;
# in tf.Examples the two counts are int64 features, as in the penguins schema.
FLOATS = ("bill_length_mm", "bill_depth_mm")
INTS = ("flipper_length_mm", "body_mass_g")
STRINGS = ("island", "sex")
CLASSES = ("Adelie", "Chinstrap", "Gentoo")
BUCKETS = 4
INSTANCES = [
    {
        "bill_length_mm": 39.1,
        "bill_depth_mm": 18.7,
        "flipper_length_mm": 181,
        "body_mass_g": 3750,
        "island": "Torgersen",
        "sex": "male",
    },
    {"bill_length_mm": 46.5, "flipper_length_mm": 217, "island": "Biscoe", "sex": None},
    {"body_mass_g": None, "island": ""},
    {},
]
IMAGE = "image"  # the tiny image models' one raw feature: a PNG's bytes
IMAGE_PIXELS = 4  # they see it resized to 2 x 2 grey pixels


class TinyModel(tf.Module):
    """``serving_raw`` (one tensor per feature) and ``serving_default`` (serialized
    tf.Examples) over the same function, as the Trainer exports them.

    ``task`` is "classify" (probabilities, class_ids, classes), "labelled" (the same plus
    ``all_classes``, every class's label) or "regress" (one ``predictions`` value).
    """

    def __init__(self, seed: int, task: str = "classify", broken: bool = False):
        super().__init__()
        self.task, self.broken = task, broken
        width = 2 * len(FLOATS + INTS) + BUCKETS * len(STRINGS)
        columns = 1 if task == "regress" else len(CLASSES)
        weights = np.random.default_rng(seed).normal(size=(width, columns))
        self.weights = tf.Variable(weights.astype(np.float32))
        raw_spec = {k: tf.TensorSpec([None], tf.float32, name=k) for k in FLOATS + INTS}
        raw_spec.update({k: tf.TensorSpec([None], tf.string, name=k) for k in STRINGS})
        self.serve_raw = tf.function(self._serve, input_signature=[raw_spec])
        examples = tf.TensorSpec([None], tf.string, name="examples")
        self.serve_examples = tf.function(self._parse, input_signature=[examples])

    def _parse(self, examples):
        spec = {k: tf.io.FixedLenFeature([], tf.float32, float("nan")) for k in FLOATS}
        spec.update({k: tf.io.FixedLenFeature([], tf.int64, -1) for k in INTS})
        spec.update({k: tf.io.FixedLenFeature([], tf.string, "") for k in STRINGS})
        parsed = tf.io.parse_example(examples, spec)
        for key in INTS:  # -1 marks a missing count
            value = tf.cast(parsed[key], tf.float32)
            parsed[key] = tf.where(parsed[key] < 0, float("nan"), value)
        return self._serve(parsed)

    def _serve(self, dense):
        numbers = [tf.where(tf.math.is_nan(dense[k]), 0.0, dense[k]) / 100.0 for k in FLOATS + INTS]
        # Missing (NaN) is an input of its own, so a server sending 0 for "missing" is caught.
        missing = [tf.cast(tf.math.is_nan(dense[k]), tf.float32) for k in FLOATS + INTS]
        categories = [
            tf.one_hot(tf.strings.to_hash_bucket_fast(dense[k], BUCKETS), BUCKETS) for k in STRINGS
        ]
        inputs = tf.concat(
            [tf.stack(numbers, axis=1), tf.stack(missing, axis=1), *categories], axis=1
        )
        logits = inputs @ self.weights
        if self.broken:
            logits = logits * float("nan")
        return _head(logits, self.task)


def _head(logits: tf.Tensor, task: str) -> dict[str, tf.Tensor]:
    """The Trainer's outputs of ``task`` (see TinyModel) from [batch, classes] logits."""
    if task == "regress":
        return {"predictions": logits[:, 0] * 1000.0}
    probabilities = tf.nn.softmax(logits)
    class_ids = tf.argmax(probabilities, axis=1)
    outputs = {
        "probabilities": probabilities,
        "class_ids": class_ids,
        "classes": tf.gather(tf.constant(CLASSES), class_ids),
    }
    if task == "labelled":
        outputs["all_classes"] = tf.broadcast_to(tf.constant(CLASSES), tf.shape(probabilities))
    return outputs


def save_tiny_model(directory: Path, seed: int, task: str = "classify", broken=False) -> Path:
    module = TinyModel(seed, task, broken)
    signatures = {"serving_default": module.serve_examples, "serving_raw": module.serve_raw}
    tf.saved_model.save(module, str(directory), signatures=signatures)
    return directory


class TinyImageModel(tf.Module):
    """An image model as the Trainer exports one: ``serving_raw`` takes one input, the
    encoded image's bytes (``IMAGE``); ``serving_default`` serialized tf.Examples holding
    them as a bytes feature. ``task`` is "classify" or "regress", as for TinyModel.
    """

    def __init__(self, seed: int, task: str = "classify"):
        super().__init__()
        self.task = task
        columns = 1 if task == "regress" else len(CLASSES)
        weights = np.random.default_rng(seed).normal(size=(IMAGE_PIXELS, columns))
        self.weights = tf.Variable(weights.astype(np.float32))
        raw_spec = {IMAGE: tf.TensorSpec([None], tf.string, name=IMAGE)}
        self.serve_raw = tf.function(self._serve, input_signature=[raw_spec])
        examples = tf.TensorSpec([None], tf.string, name="examples")
        self.serve_examples = tf.function(self._parse, input_signature=[examples])

    def _parse(self, examples):
        spec = {IMAGE: tf.io.FixedLenFeature([], tf.string, "")}
        return self._serve(tf.io.parse_example(examples, spec))

    def _serve(self, raw):
        side = int(IMAGE_PIXELS**0.5)

        def pixels(data):
            def decoded():
                image = tf.image.convert_image_dtype(tf.io.decode_png(data, 1), tf.float32)
                return tf.image.resize(image, [side, side])

            # "" (missing) is a black image, as components/features/image.py decodes it;
            # other bytes that are no PNG fail, as a real image model's do.
            return tf.cond(tf.strings.length(data) > 0, decoded, lambda: tf.zeros([side, side, 1]))

        shape = tf.TensorSpec([side, side, 1], tf.float32)
        images = tf.map_fn(pixels, raw[IMAGE], fn_output_signature=shape)
        return _head(tf.reshape(images, [-1, IMAGE_PIXELS]) @ self.weights, self.task)


def save_tiny_image_model(directory: Path, seed: int, task: str = "classify") -> Path:
    module = TinyImageModel(seed, task)
    signatures = {"serving_default": module.serve_examples, "serving_raw": module.serve_raw}
    tf.saved_model.save(module, str(directory), signatures=signatures)
    return directory


def png(seed: int, height: int = 5, width: int = 7) -> bytes:
    """A grey PNG of random pixels."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 1), dtype=np.uint8)
    return tf.io.encode_png(pixels).numpy()


# ---------------------------------------------------------------------------- expected values


def call_saved_model(model_dir: Path, signature: str, **inputs) -> dict[str, np.ndarray]:
    """The SavedModel's own outputs, loaded and called here."""
    function = tf.saved_model.load(str(model_dir)).signatures[signature]
    return {key: value.numpy() for key, value in function(**inputs).items()}


def raw_tensors(rows: list[dict]) -> dict[str, tf.Tensor]:
    """serving_raw's inputs: NaN or "" where a row lacks a value."""
    tensors = {}
    for key in FLOATS + INTS:
        values = [math.nan if row.get(key) is None else row[key] for row in rows]
        tensors[key] = tf.constant(values, tf.float32)
    for key in STRINGS:
        tensors[key] = tf.constant([row.get(key) or "" for row in rows], tf.string)
    return tensors


def serialized_example(row: dict) -> bytes:
    """A tf.Example of a row, built by hand: float, int64 or bytes feature per key."""
    feature = {}
    for key, value in row.items():
        if value is None:
            continue
        if key in FLOATS:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif key in INTS:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def image_example(data: bytes) -> bytes:
    """A tf.Example holding an image's bytes, built by hand."""
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
    return tf.train.Example(
        features=tf.train.Features(feature={IMAGE: feature})
    ).SerializeToString()


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def expected_rows(outputs: dict[str, np.ndarray]) -> list[dict]:
    """TF Serving's row format of several outputs: one object per example."""
    rows = len(next(iter(outputs.values())))
    return [{key: as_json(value[i]) for key, value in outputs.items()} for i in range(rows)]


def as_json(value):
    if isinstance(value, np.ndarray):
        return [as_json(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    return value.item()


def same(got, want) -> bool:
    """Equal JSON, floats compared as the float32 values they stand for."""
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and set(got) == set(want)
            and all(same(got[k], want[k]) for k in want)
        )
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(same(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, float):
        return isinstance(got, (int, float)) and np.float32(got) == np.float32(want)
    return got == want


# ---------------------------------------------------------------------------- requests


def raw(rows: list[dict]) -> dict:
    """A row-format predict request to serving_raw."""
    return {"signature_name": "serving_raw", "instances": rows}
