"""Tiny SavedModels with the Trainer's serving signatures over the penguins features."""

from pathlib import Path

import numpy as np
import tensorflow as tf
from penguins_spec import CATEGORICAL, NUMERIC, SPEC

from components.trainer import export

CLASSES = ("Adelie", "Chinstrap", "Gentoo")
BUCKETS = 4


class TinyModel(tf.Module):
    """A serving_raw-like signature over the penguins features; ``broken`` spoils its output.

    ``task`` "classification" returns probabilities, class ids and classes; "regression"
    one float ``predictions`` value per example.
    """

    def __init__(self, seed: int, broken: str | None = None, task: str = "classification"):
        super().__init__()
        width = len(NUMERIC) + BUCKETS * len(CATEGORICAL)
        columns = 1 if task == "regression" else len(CLASSES)
        weights = np.random.default_rng(seed).normal(size=(width, columns))
        self.weights = tf.Variable(weights.astype(np.float32))
        self.broken = broken
        self.task = task
        self.serve_raw = tf.function(
            self._serve, input_signature=[export.dense_input_signature(SPEC)]
        )

    def _serve(self, dense):
        numbers = [tf.where(tf.math.is_nan(dense[k]), 0.0, dense[k]) / 100.0 for k in NUMERIC]
        categories = [
            tf.one_hot(tf.strings.to_hash_bucket_fast(dense[k], BUCKETS), BUCKETS)
            for k in CATEGORICAL
        ]
        inputs = tf.concat([tf.stack(numbers, axis=1), *categories], axis=1)
        if self.task == "regression":
            predictions = tf.reshape(inputs @ self.weights, [-1]) * 10.0 + 4000.0
            if self.broken == "nan":
                predictions = predictions * float("nan")
            elif self.broken == "shape":
                predictions = tf.reshape(predictions, [-1, 1])
            return {"predictions": predictions}
        probabilities = tf.nn.softmax(inputs @ self.weights)
        class_ids = tf.argmax(probabilities, axis=1)
        if self.broken == "nan":
            probabilities = probabilities * float("nan")
        elif self.broken == "shape":
            probabilities = probabilities[:, :1]
        return {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "classes": tf.gather(tf.constant(CLASSES), class_ids),
        }


class ExamplesModel(TinyModel):
    """TinyModel with a ``serving_default`` over serialized tf.Examples, as the Trainer's."""

    def __init__(self, seed: int, task: str = "classification"):
        super().__init__(seed, task=task)
        examples = tf.TensorSpec([None], tf.string, name="examples")
        self.serve_examples = tf.function(self._parse, input_signature=[examples])

    def _parse(self, examples):
        spec = {
            key: tf.io.FixedLenFeature([], tf.float32, default_value=float("nan"))
            for key in NUMERIC
        }
        for key in CATEGORICAL:
            spec[key] = tf.io.FixedLenFeature([], tf.string, default_value="")
        return self._serve(tf.io.parse_example(examples, spec))


def save_tiny_model(
    directory: Path, seed: int = 0, broken: str | None = None, task: str = "classification"
) -> Path:
    module = TinyModel(seed, broken, task)
    tf.saved_model.save(module, str(directory), signatures={"serving_raw": module.serve_raw})
    return directory


def save_examples_model(directory: str, seed: int = 0, task: str = "classification") -> str:
    module = ExamplesModel(seed, task)
    signatures = {"serving_default": module.serve_examples, "serving_raw": module.serve_raw}
    tf.saved_model.save(module, directory, signatures=signatures)
    return directory


def smoke_inputs(n: int = 4) -> dict[str, np.ndarray]:
    numbers = np.linspace(1.0, 50.0, n).astype(np.float32)
    inputs = {k: numbers.copy() for k in NUMERIC}
    inputs["body_mass_g"][0] = np.nan
    for key in CATEGORICAL:
        inputs[key] = np.array(["a", "", "b", "c"][:n] + ["d"] * max(0, n - 4), dtype=object)
    return inputs
