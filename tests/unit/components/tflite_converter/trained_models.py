"""Real models for the converter's tests, one per task, trained as the Trainer trains them.

``train_and_export`` runs ``preprocessing_fn`` through tf.Transform's Beam API on a few hundred
in-memory rows, builds the model with ``build_model`` from a ``FeatureSpec``, fits it and
exports it with ``export_serving_model``: Transform graph inside, ``serving_raw`` included.
The fixtures in ``conftest.py`` build one per task.
"""

import dataclasses
import functools
import math

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from components import custom_config as config_keys
from components import features
from components.tflite_converter import converter
from components.trainer import data, export
from components.trainer.hparams import HyperParameters
from components.trainer.model import build_model
from components.transform.preprocessing import preprocessing_fn

# --- Penguins: ten rows with every kind of missing value --------------------------------

PENGUINS_RAW_SPEC = {
    "bill_length_mm": tf.io.VarLenFeature(tf.float32),
    "bill_depth_mm": tf.io.VarLenFeature(tf.float32),
    "flipper_length_mm": tf.io.VarLenFeature(tf.int64),
    "body_mass_g": tf.io.VarLenFeature(tf.int64),
    "sex": tf.io.VarLenFeature(tf.string),
    "island": tf.io.FixedLenFeature([1], tf.string),
    "species": tf.io.FixedLenFeature([1], tf.string),
}
PENGUIN_COLUMNS = (
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "island",
    "species",
)
# None is missing.
PENGUIN_ROWS = [
    (39.1, 18.7, 181, 3750, "male", "Torgersen", "Adelie"),
    (39.5, 17.4, 186, 3800, "female", "Torgersen", "Adelie"),
    (None, None, None, None, None, "Biscoe", "Adelie"),
    (46.5, 17.9, 192, 3500, "female", "Dream", "Chinstrap"),
    (50.0, 19.5, 196, 3900, "male", "Dream", "Chinstrap"),
    (46.1, 13.2, 211, 4500, "male", "Biscoe", "Gentoo"),
    (50.0, None, 230, 5700, "male", "Biscoe", "Gentoo"),
    (48.7, 14.1, 210, None, None, "Biscoe", "Gentoo"),
    (None, 15.0, None, 5400, None, "Biscoe", "Gentoo"),
    (45.2, 16.4, 223, 5950, "male", "Dream", "Gentoo"),
]

# --- Synthetic rows for regression and binary classification ----------------------------

SYNTHETIC_RAW_SPEC = {
    "size": tf.io.VarLenFeature(tf.float32),
    "count": tf.io.FixedLenFeature([1], tf.int64),
    "colour": tf.io.VarLenFeature(tf.string),
    "price": tf.io.FixedLenFeature([1], tf.float32),
    "sold": tf.io.FixedLenFeature([1], tf.string),
}
SYNTHETIC_COLUMNS = ("size", "count", "colour", "price", "sold")
COLOUR_EFFECT = {"red": 20.0, "green": 0.0, "blue": -25.0}

REGRESSION_SPEC = features.FeatureSpec(
    task=features.REGRESSION,
    label=features.Label("price"),
    features=(
        features.make_feature("size", "numeric"),
        features.make_feature("count", {"type": "numeric", "log": True}),
        features.make_feature("colour", "categorical"),
    ),
)
BINARY_SPEC = features.FeatureSpec(
    task=features.CLASSIFICATION,
    label=features.Label("sold", ("no", "yes")),
    features=(
        features.make_feature("size", "numeric"),
        features.make_feature("colour", "categorical"),
    ),
)


def synthetic_rows(n: int, seed: int) -> list[tuple]:
    """(size, count, colour, price, sold): price in currency units, ~N(150, 35)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        size = float(rng.normal(10.0, 3.0))
        count = int(rng.integers(0, 400))
        colour = str(rng.choice(list(COLOUR_EFFECT)))
        price = 40.0 + 8.0 * size + 6.0 * math.log1p(count) + COLOUR_EFFECT[colour]
        price += float(rng.normal(0.0, 3.0))
        rows.append(
            (
                None if rng.random() < 0.05 else size,
                count,
                None if rng.random() < 0.05 else colour,
                price,
                "yes" if price > 150.0 else "no",
            )
        )
    return rows


# --- tf.Examples, Transform, training, export -------------------------------------------


def serialize(row: tuple, columns: tuple[str, ...], raw_spec: dict) -> bytes:
    """One row as a serialized tf.Example; None values are left out."""
    example = tf.train.Example()
    for key, value in zip(columns, row, strict=True):
        if value is None:
            continue
        field = example.features.feature[key]
        if raw_spec[key].dtype == tf.string:
            field.bytes_list.value.append(value.encode())
        elif raw_spec[key].dtype.is_integer:
            field.int64_list.value.append(value)
        else:
            field.float_list.value.append(value)
    return example.SerializeToString()


def _instance(row: tuple, columns: tuple[str, ...], raw_spec: dict) -> dict:
    instance = {}
    for key, value in zip(columns, row, strict=True):
        if value is not None and raw_spec[key].dtype == tf.string:
            value = value.encode()
        instance[key] = [] if value is None else [value]
    return instance


def write_transform_output(transform_dir, temp_dir, spec, raw_spec, rows, columns) -> None:
    """Analyzes ``rows`` with ``preprocessing_fn``, as the Transform component does."""
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    fn = functools.partial(
        preprocessing_fn, custom_config={config_keys.FEATURE_SPEC: spec.to_dict()}
    )
    with (
        beam.Pipeline(runner="DirectRunner") as pipeline,
        tft_beam.Context(temp_dir=str(temp_dir)),
    ):
        raw = pipeline | beam.Create([_instance(r, columns, raw_spec) for r in rows])
        transform_fn = (raw, metadata) | tft_beam.AnalyzeDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(transform_dir))
    # As the Transform component does: raw metadata beside the transform graph.
    metadata_io.write_metadata(
        metadata, str(transform_dir / tft.TFTransformOutput.RAW_METADATA_DIR)
    )


@dataclasses.dataclass(frozen=True)
class Trained:
    """A model trained and exported as the Trainer does, with its data."""

    spec: features.FeatureSpec
    saved_model_dir: str
    transform_dir: str
    tft_output: tft.TFTransformOutput
    keras_model: tf.keras.Model
    serialized: list  # train rows, serialized tf.Examples
    transformed: dict  # transformed features of ``serialized``, label included
    eval_serialized: list
    eval_dense: dict  # serving_raw inputs of ``eval_serialized``
    eval_labels: np.ndarray  # transformed labels of ``eval_serialized``


def train_and_export(tmp, spec, raw_spec, columns, rows, eval_rows, hidden=(16, 8), epochs=60):
    write_transform_output(tmp / "transform", tmp / "temp", spec, raw_spec, rows, columns)
    tft_output = tft.TFTransformOutput(str(tmp / "transform"))
    serialized = [serialize(r, columns, raw_spec) for r in rows]
    transform = tft_output.transform_features_layer()
    parsed = tf.io.parse_example(serialized, tft_output.raw_feature_spec())
    transformed = {k: v.numpy() for k, v in transform(parsed).items()}
    labels = transformed[features.transformed_name(spec.label.name)]
    mean_std = (float(labels.mean()), float(labels.std())) if spec.is_regression else (0.0, 1.0)
    tf.keras.utils.set_random_seed(0)
    model = build_model(
        HyperParameters(hidden_units=hidden, learning_rate=0.01),
        spec,
        data.vocabulary_sizes(tft_output, spec),
        mean_std,
    )
    model.fit(
        {name: transformed[name] for name in model.input_names},
        labels,
        epochs=epochs,
        batch_size=32,
        verbose=0,
    )
    saved_model_dir = str(tmp / "model" / "Format-Serving")
    export.export_serving_model(model, tft_output, spec, saved_model_dir)
    eval_serialized = [serialize(r, columns, raw_spec) for r in eval_rows]
    eval_labels = converter.transformed_features(saved_model_dir, eval_serialized)[
        features.transformed_name(spec.label.name)
    ]
    dtypes = converter.raw_input_dtypes(saved_model_dir)
    return Trained(
        spec=spec,
        saved_model_dir=saved_model_dir,
        transform_dir=str(tmp / "transform"),
        tft_output=tft_output,
        keras_model=model,
        serialized=serialized,
        transformed=transformed,
        eval_serialized=eval_serialized,
        eval_dense=converter.dense_inputs_from_examples(eval_serialized, dtypes),
        eval_labels=eval_labels,
    )
