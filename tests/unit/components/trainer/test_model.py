"""The pure model builder, typed hyperparameters and how tuned values are applied."""

import dataclasses

import keras_tuner
import numpy as np
import pytest
import tensorflow as tf
from penguins_spec import CATEGORICAL, NUMERIC, SPEC

from components import features, keras_mode
from components.trainer import tuner
from components.trainer.hparams import HyperParameters
from components.trainer.model import OneHot, build_model

VOCABULARY_SIZES = {"island": 4, "sex": 3}
NUM_CLASSES = 3
BATCH = 5


def small_batch(batch: int = BATCH) -> dict[str, tf.Tensor]:
    rng = np.random.default_rng(0)
    inputs = {
        features.transformed_name(k): tf.constant(rng.normal(size=batch), tf.float32)
        for k in NUMERIC
    }
    for key in CATEGORICAL:
        ids = rng.integers(0, VOCABULARY_SIZES[key], size=batch)
        inputs[features.transformed_name(key)] = tf.constant(ids, tf.int64)
    return inputs


def with_classes(num_classes: int) -> features.FeatureSpec:
    classes = tuple(f"class{i}" for i in range(num_classes))
    return dataclasses.replace(SPEC, label=features.Label(SPEC.label.name, classes))


def layers_of(model: tf.keras.Model, kind: type) -> list:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_tests_run_in_legacy_keras_mode():
    keras_mode.require_legacy_keras()


@pytest.mark.parametrize("hidden_units", [(4,), (16, 8), (8, 6, 4)])
def test_output_is_one_probability_row_per_example(hidden_units):
    model = build_model(
        HyperParameters(hidden_units=hidden_units), with_classes(NUM_CLASSES), VOCABULARY_SIZES
    )
    probabilities = model(small_batch(), training=False).numpy()
    assert probabilities.shape == (BATCH, NUM_CLASSES)
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_inputs_are_keyed_by_transformed_names():
    model = build_model(HyperParameters(), with_classes(NUM_CLASSES), VOCABULARY_SIZES)
    expected = {features.transformed_name(k) for k in SPEC.feature_names}
    assert set(model.input_names) == expected


@pytest.mark.parametrize("num_classes", [2, 5])
def test_output_width_follows_num_classes(num_classes):
    model = build_model(HyperParameters(), with_classes(num_classes), VOCABULARY_SIZES)
    assert model(small_batch(), training=False).shape == (BATCH, num_classes)


@pytest.mark.parametrize("hidden_units", [(4,), (16, 8), (8, 6, 4)])
def test_dense_layers_match_hidden_units(hidden_units):
    model = build_model(
        HyperParameters(hidden_units=hidden_units), with_classes(NUM_CLASSES), VOCABULARY_SIZES
    )
    widths = [layer.units for layer in layers_of(model, tf.keras.layers.Dense)]
    assert widths == [*hidden_units, NUM_CLASSES]


@pytest.mark.parametrize(("dropout", "expected"), [(0.0, 0), (0.25, 2)])
def test_dropout_layers_only_when_dropout_positive(dropout, expected):
    hparams = HyperParameters(hidden_units=(8, 4), dropout=dropout)
    dropouts = layers_of(
        build_model(hparams, with_classes(NUM_CLASSES), VOCABULARY_SIZES), tf.keras.layers.Dropout
    )
    assert len(dropouts) == expected
    assert all(layer.rate == dropout for layer in dropouts)


def test_one_hot_width_follows_vocabulary_sizes():
    model = build_model(HyperParameters(), with_classes(NUM_CLASSES), VOCABULARY_SIZES)
    widths = sorted(layer.num_tokens for layer in layers_of(model, OneHot))
    assert widths == sorted(VOCABULARY_SIZES.values())


def test_compiled_with_the_learning_rate():
    model = build_model(
        HyperParameters(learning_rate=0.03), with_classes(NUM_CLASSES), VOCABULARY_SIZES
    )
    assert float(model.optimizer.learning_rate) == pytest.approx(0.03)
    assert isinstance(model.loss, tf.keras.losses.SparseCategoricalCrossentropy)


def test_hyperparameters_round_trip():
    hparams = HyperParameters(
        hidden_units=(32, 16, 8),
        learning_rate=0.001,
        dropout=0.2,
        batch_size=64,
        epochs=5,
        early_stopping_patience=2,
        reduce_lr_patience=1,
    )
    values = hparams.to_dict()
    assert values["hidden_units"] == [32, 16, 8]
    assert HyperParameters.from_dict(values) == hparams
    assert HyperParameters.from_dict({}) == HyperParameters()


def test_hyperparameters_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        HyperParameters().dropout = 0.5  # type: ignore[misc]


def test_unknown_hyperparameter_rejected():
    values = {**HyperParameters().to_dict(), "momentum": 0.9}
    with pytest.raises(ValueError, match="momentum"):
        HyperParameters.from_dict(values)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("hidden_units", []),
        ("hidden_units", [8, 0]),
        ("learning_rate", 0.0),
        ("learning_rate", 1.5),
        ("dropout", -0.1),
        ("dropout", 1.0),
        ("batch_size", 0),
        ("epochs", 0),
        ("early_stopping_patience", 0),
        ("reduce_lr_patience", -1),
    ],
)
def test_invalid_hyperparameter_rejected(name, value):
    with pytest.raises(ValueError, match=f"^{name}: "):
        HyperParameters.from_dict({name: value})


def test_search_space_choices():
    space = tuner.search_space([8, 16, 32], [0.001, 0.01])
    units = space.space[[hp.name for hp in space.space].index(tuner.UNITS)]
    rates = space.space[[hp.name for hp in space.space].index(tuner.LEARNING_RATE)]
    assert list(units.values) == [8, 16, 32]
    assert list(rates.values) == [0.001, 0.01]
    assert space.values == {tuner.UNITS: 8, tuner.LEARNING_RATE: 0.001}


def test_apply_tuned_values_dict():
    base = HyperParameters(dropout=0.1, batch_size=16)
    tuned = tuner.apply_tuned(base, {tuner.UNITS: 32, tuner.LEARNING_RATE: 0.03})
    assert tuned == dataclasses.replace(base, hidden_units=(32, 16), learning_rate=0.03)


def test_apply_tuned_keras_tuner_config():
    space = tuner.search_space([8, 16, 32], [0.001, 0.01, 0.03])
    space.values[tuner.UNITS] = 16
    space.values[tuner.LEARNING_RATE] = 0.01
    config = space.get_config()
    assert set(config) >= {"space", "values"}
    tuned = tuner.apply_tuned(HyperParameters(), config)
    assert tuned.hidden_units == (16, 8)
    assert tuned.learning_rate == 0.01


def test_apply_tuned_keeps_a_second_layer_for_the_narrowest_width():
    tuned = tuner.apply_tuned(HyperParameters(), {tuner.UNITS: 1, tuner.LEARNING_RATE: 0.1})
    assert tuned.hidden_units == (1, 1)


def test_tuned_hyperparameters_build_a_model():
    space = tuner.search_space([8, 16], [0.01])
    hparams = tuner.apply_tuned(
        HyperParameters(), keras_tuner.HyperParameters.from_config(space.get_config()).values
    )
    model = build_model(hparams, with_classes(NUM_CLASSES), VOCABULARY_SIZES)
    widths = [layer.units for layer in layers_of(model, tf.keras.layers.Dense)]
    assert widths == [8, 4, NUM_CLASSES]


def test_one_hot_gives_one_row_per_example_even_from_a_scalar():
    # Converted to TFLite, a vocabulary lookup of a one-example batch can arrive as a scalar.
    assert OneHot(3)(tf.constant(1, tf.int64)).shape == (1, 3)
    assert OneHot(3)(tf.constant([0, 2], tf.int64)).numpy().tolist() == [[1, 0, 0], [0, 0, 1]]


def test_binary_head_is_one_sigmoid_unit_given_as_two_probabilities():
    model = build_model(HyperParameters(), with_classes(2), VOCABULARY_SIZES)
    assert model.layers[-1].__class__.__name__ == "BinaryProbabilities"
    probabilities = model(small_batch(), training=False).numpy()
    assert probabilities.shape == (BATCH, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)


def test_regression_head_is_linear_in_label_units():
    spec = dataclasses.replace(SPEC, task=features.REGRESSION, label=features.Label("year"))
    model = build_model(HyperParameters(), spec, VOCABULARY_SIZES, label_mean_std=(4200.0, 800.0))
    values = model(small_batch(), training=False).numpy()
    assert values.shape == (BATCH,)
    # An untrained model predicts near the label's mean, in the label's units.
    assert np.all(np.abs(values - 4200.0) < 5 * 800.0)
    assert model.loss.__class__.__name__ == "MeanSquaredError"


def test_text_and_large_categorical_features_are_embedded():
    spec = features.FeatureSpec(
        task=features.CLASSIFICATION,
        label=features.Label("label", ("0", "1")),
        features=(
            features.make_feature("review", {"type": "text", "sequence_length": 6}),
            features.make_feature("zip", "categorical"),
        ),
    )
    model = build_model(HyperParameters(), spec, {"review": 50, "zip": 500})
    embeddings = layers_of(model, tf.keras.layers.Embedding)
    assert sorted(e.input_dim for e in embeddings) == [50, 500]
    ids = tf.constant([[3, 4, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]], tf.int64)
    out = model({"review_xf": ids, "zip_xf": tf.constant([7, 499], tf.int64)}, training=False)
    assert out.shape == (2, 2)
