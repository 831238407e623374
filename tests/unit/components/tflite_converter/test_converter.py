"""``converter.py`` and ``parity.py``: every quantization mode on a tiny model, parity per task
on models trained and exported as the Trainer does (multi-class, binary, regression), raw
tf.Examples to dense inputs, and artifacts on TensorFlow's in-process ``ram://`` filesystem,
standing in for the ``gs://`` a Kubeflow pipeline root lives on.

The micro build and the TFLiteConverter component are in ``test_micro.py``.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from penguins_spec import CLASSES, LABEL
from trained_models import PENGUIN_COLUMNS, PENGUIN_ROWS, PENGUINS_RAW_SPEC, serialize

from components import features
from components.tflite_converter import converter, parity
from components.trainer import export

TINY_INPUTS = ("a", "b")
# Largest |TFLite - Keras| probability each mode may show on the tiny model.
TOLERANCE = {"none": 1e-5, "dynamic": 0.05, "float16": 5e-3, "int8": 0.1}


# --- A tiny float model with a dense two-input signature -------------------------------


def _tiny_data(size, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(size, 2)).astype(np.float32)
    labels = np.digitize(x[:, 0] + 0.5 * x[:, 1], [-0.5, 0.5])
    return {"a": x[:, 0], "b": x[:, 1]}, labels


@dataclasses.dataclass(frozen=True)
class Tiny:
    saved_model_dir: str
    inputs: dict
    labels: np.ndarray
    keras_probabilities: np.ndarray


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    inputs = {name: tf.keras.Input(shape=(), name=name) for name in TINY_INPUTS}
    hidden = tf.keras.layers.Concatenate()(
        [tf.keras.layers.Reshape((1,))(inputs[name]) for name in TINY_INPUTS]
    )
    # 64x32 weights: over the 1024 elements below which dynamic range quantization
    # leaves a tensor in float.
    for units in (64, 32):
        hidden = tf.keras.layers.Dense(units, activation="relu")(hidden)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="softmax")(hidden))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    train, train_labels = _tiny_data(512, seed=0)
    model.fit(train, train_labels, epochs=10, batch_size=64, verbose=0)

    signature = {name: tf.TensorSpec([None], tf.float32, name=name) for name in TINY_INPUTS}

    @tf.function(input_signature=[signature])
    def serve(dense):
        return {export.PROBABILITIES: model(dense, training=False)}

    path = str(tmp_path_factory.mktemp("tiny") / "saved_model")
    model.save(path, save_format="tf", signatures={export.RAW_SIGNATURE: serve})
    test, labels = _tiny_data(64, seed=1)
    return Tiny(path, test, labels, model.predict(test, verbose=0))


@pytest.fixture(scope="module")
def conversions(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("tflite")
    calibration, _ = _tiny_data(128, seed=2)
    return {
        mode: converter.convert_saved_model(
            tiny.saved_model_dir,
            str(out / mode / "model.tflite"),
            mode,
            representative_inputs=lambda: [calibration],
        )
        for mode in converter.QUANTIZATION_MODES
    }


def _read(path):
    with tf.io.gfile.GFile(path, "rb") as handle:
        return handle.read()


def _run_tflite(path, inputs):
    interpreter = tf.lite.Interpreter(model_content=_read(path))
    runner = interpreter.get_signature_runner(export.RAW_SIGNATURE)
    return runner(**inputs)[export.PROBABILITIES]


def _tensor_dtypes(path):
    return [np.dtype(d["dtype"]) for d in tf.lite.Interpreter(model_path=path).get_tensor_details()]


@pytest.mark.parametrize("mode", converter.QUANTIZATION_MODES)
def test_each_mode_converts_builtins_only_and_writes_the_file(conversions, mode):
    result = conversions[mode]
    flatbuffer = Path(result.path).read_bytes()
    assert flatbuffer[4:8] == b"TFL3"
    assert result.size_bytes == len(flatbuffer)
    assert result.quantization == mode
    assert result.requires_select_tf_ops is False


@pytest.mark.parametrize("mode", converter.QUANTIZATION_MODES)
def test_each_mode_stays_within_its_tolerance_of_keras(tiny, conversions, mode):
    probabilities = _run_tflite(conversions[mode].path, tiny.inputs)
    np.testing.assert_allclose(probabilities, tiny.keras_probabilities, atol=TOLERANCE[mode])
    agreement = np.mean(probabilities.argmax(1) == tiny.keras_probabilities.argmax(1))
    assert agreement >= 0.95


def test_none_keeps_every_tensor_float32_or_int32(conversions):
    assert set(_tensor_dtypes(conversions["none"].path)) <= {np.dtype("float32"), np.dtype("int32")}


def test_dynamic_stores_the_large_weights_as_int8(conversions):
    assert np.dtype("int8") in _tensor_dtypes(conversions["dynamic"].path)
    assert conversions["dynamic"].size_bytes < conversions["none"].size_bytes


def test_float16_stores_weights_as_float16(conversions):
    assert np.dtype("float16") in _tensor_dtypes(conversions["float16"].path)
    assert conversions["float16"].size_bytes < conversions["none"].size_bytes


def test_int8_quantizes_activations_too(conversions):
    dtypes = _tensor_dtypes(conversions["int8"].path)
    # Weights and activations of all three Dense layers, not just a few weights.
    assert dtypes.count(np.dtype("int8")) >= 10
    assert np.dtype("float16") not in dtypes


def test_unknown_mode_is_named_in_the_error(tiny, tmp_path):
    with pytest.raises(ValueError, match="'int4'"):
        converter.convert_saved_model(tiny.saved_model_dir, str(tmp_path / "m.tflite"), "int4")
    assert not (tmp_path / "m.tflite").exists()


def test_int8_without_representative_inputs_is_an_error(tiny, tmp_path):
    with pytest.raises(ValueError, match="representative"):
        converter.convert_saved_model(tiny.saved_model_dir, str(tmp_path / "m.tflite"), "int8")


def test_parent_directories_are_created(tiny, tmp_path):
    path = tmp_path / "a" / "b" / "model.tflite"
    result = converter.convert_saved_model(tiny.saved_model_dir, str(path), "none")
    assert result.path == str(path) and path.stat().st_size == result.size_bytes


# --- A vocabulary table from a re-saved asset, as the Trainer's model carries -------------


@pytest.fixture(scope="module")
def vocabulary_model(tmp_path_factory):
    """A SavedModel re-saving a loaded table: its asset path is read from a variable."""
    tmp = tmp_path_factory.mktemp("vocab")
    vocabulary = tmp / "island_vocab"
    vocabulary.write_text("Biscoe\nDream\nTorgersen\n")

    class Lookup(tf.Module):
        def __init__(self):
            super().__init__()
            self.table = tf.lookup.StaticVocabularyTable(
                tf.lookup.TextFileInitializer(
                    str(vocabulary),
                    tf.string,
                    tf.lookup.TextFileIndex.WHOLE_LINE,
                    tf.int64,
                    tf.lookup.TextFileIndex.LINE_NUMBER,
                ),
                num_oov_buckets=1,
            )

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, values):
            return self.table.lookup(values)

    tf.saved_model.save(Lookup(), str(tmp / "lookup"))

    class Serving(tf.Module):
        def __init__(self):
            super().__init__()
            self.lookup = tf.saved_model.load(str(tmp / "lookup"))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="island")])
        def serve(self, island):
            return {export.PROBABILITIES: tf.one_hot(self.lookup(island), 4)}

    serving = Serving()
    path = str(tmp / "serving")
    tf.saved_model.save(serving, path, signatures={export.RAW_SIGNATURE: serving.serve})
    return path


def test_vocabulary_tables_from_assets_work_and_hashing_needs_select_ops(
    vocabulary_model, tmp_path
):
    result = converter.convert_saved_model(vocabulary_model, str(tmp_path / "m.tflite"), "none")
    assert result.requires_select_tf_ops is True  # OOV hashing is a TF op
    islands = np.array([b"Dream", b"Torgersen", b"Emperor", b"Biscoe"], dtype=object)
    probabilities = _run_tflite(result.path, {"island": islands})
    assert probabilities.argmax(1).tolist() == [1, 2, 3, 0]


# --- Parity: the tiny classifier -----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_parity(tiny, conversions):
    return converter.check_parity(
        tiny.saved_model_dir,
        conversions["none"].path,
        tiny.inputs,
        tiny.labels,
        latency_examples=50,
    )


def test_parity_of_the_unquantized_model_is_exact(tiny, tiny_parity):
    assert isinstance(tiny_parity, converter.ParityReport)
    assert tiny_parity.examples == len(tiny.labels)
    assert 0.0 <= tiny_parity.saved_model_accuracy <= 1.0
    assert tiny_parity.tflite_accuracy == tiny_parity.saved_model_accuracy
    assert tiny_parity.accuracy_drop == 0.0 and tiny_parity.within_tolerance(0.0)
    assert tiny_parity.max_abs_probability_diff < 1e-5


def test_parity_accuracy_is_measured_against_the_labels(tiny, tiny_parity):
    expected = np.mean(tiny.keras_probabilities.argmax(1) == tiny.labels)
    assert tiny_parity.saved_model_accuracy == pytest.approx(expected)
    assert tiny_parity.saved_model_accuracy > 0.8  # the tiny model did learn


def test_parity_sizes_and_latencies_are_sane(tiny, conversions, tiny_parity):
    assert tiny_parity.tflite_size_bytes == conversions["none"].size_bytes
    assert tiny_parity.saved_model_size_bytes == converter.directory_size(tiny.saved_model_dir)
    assert tiny_parity.saved_model_size_bytes > tiny_parity.tflite_size_bytes > 0
    for form in ("saved_model", "tflite"):
        p50 = getattr(tiny_parity, f"{form}_latency_p50_ms")
        p99 = getattr(tiny_parity, f"{form}_latency_p99_ms")
        assert p99 >= p50 > 0


def test_parity_as_properties_is_flat_and_numeric(tiny_parity):
    properties = tiny_parity.as_properties()
    assert properties["accuracy_drop"] == tiny_parity.accuracy_drop
    assert properties["tflite_latency_p99_ms"] == tiny_parity.tflite_latency_p99_ms
    assert {f.name for f in dataclasses.fields(tiny_parity)} < set(properties)
    assert all(isinstance(v, (int, float)) for v in properties.values())


def test_parity_labels_must_match_the_examples(tiny, conversions):
    with pytest.raises(ValueError, match="labels"):
        converter.check_parity(
            tiny.saved_model_dir, conversions["none"].path, tiny.inputs, tiny.labels[:3]
        )


def test_the_task_is_read_off_the_signature_outputs(tiny, regression, tmp_path):
    assert converter.signature_task(tiny.saved_model_dir) == features.CLASSIFICATION
    assert converter.signature_task(regression.saved_model_dir) == features.REGRESSION

    class Neither(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="a")])
        def serve(self, a):
            return {"scores": a}

    module = Neither()
    tf.saved_model.save(module, str(tmp_path), signatures={export.RAW_SIGNATURE: module.serve})
    with pytest.raises(ValueError, match="'probabilities'.*'predictions'"):
        converter.signature_task(str(tmp_path))
    with pytest.raises(ValueError, match="no signature 'serving_default'"):
        converter.signature_task(str(tmp_path), export.SERVING_SIGNATURE)


def _classification_report(saved, tflite):
    return converter.ParityReport(
        examples=10,
        saved_model_accuracy=saved,
        tflite_accuracy=tflite,
        max_abs_probability_diff=0.0,
        saved_model_size_bytes=1,
        tflite_size_bytes=1,
        saved_model_latency_p50_ms=1.0,
        saved_model_latency_p99_ms=1.0,
        tflite_latency_p50_ms=1.0,
        tflite_latency_p99_ms=1.0,
    )


def _regression_report(saved_mae, tflite_mae):
    return converter.RegressionParityReport(
        examples=10,
        saved_model_mae=saved_mae,
        tflite_mae=tflite_mae,
        max_abs_prediction_diff=abs(tflite_mae - saved_mae),
        saved_model_size_bytes=1,
        tflite_size_bytes=1,
        saved_model_latency_p50_ms=1.0,
        saved_model_latency_p99_ms=1.0,
        tflite_latency_p50_ms=1.0,
        tflite_latency_p99_ms=1.0,
    )


@pytest.mark.parametrize(
    ("saved", "tflite", "tolerance", "within"),
    [
        (0.9, 0.9, 0.0, True),
        (0.9, 0.88, 0.01, False),
        (0.9, 0.895, 0.01, True),
        (0.8, 0.9, 0, True),
    ],
)
def test_classification_gate_compares_the_accuracy_drop(saved, tflite, tolerance, within):
    report = _classification_report(saved, tflite)
    assert report.accuracy_drop == pytest.approx(saved - tflite)
    assert report.within_tolerance(tolerance) is within


@pytest.mark.parametrize(
    ("saved_mae", "tflite_mae", "tolerance", "within"),
    [
        (10.0, 10.0, 0.0, True),
        (10.0, 10.09, 0.01, True),  # 0.9% worse: within one percent
        (10.0, 10.11, 0.01, False),  # 1.1% worse
        (1000.0, 1009.0, 0.01, True),  # the tolerance scales with the MAE ...
        (0.5, 1.4, 0.01, False),  # ... so an absolute 0.9 is too much for a small one
        (10.0, 9.0, 0.0, True),  # better is always fine
        (0.0, 0.0, 0.0, True),
    ],
)
def test_regression_gate_is_relative_to_the_saved_model_mae(
    saved_mae, tflite_mae, tolerance, within
):
    report = _regression_report(saved_mae, tflite_mae)
    assert report.mae_increase == pytest.approx(tflite_mae - saved_mae)
    assert report.within_tolerance(tolerance) is within


def test_micro_properties_are_prefixed_and_leave_the_saved_model_out():
    classification = _classification_report(0.9, 0.85).as_properties("micro")
    assert classification == {
        "micro_accuracy": 0.85,
        "micro_max_abs_probability_diff": 0.0,
        "micro_size_bytes": 1,
        "micro_latency_p50_ms": 1.0,
        "micro_latency_p99_ms": 1.0,
        "micro_accuracy_drop": pytest.approx(0.05),
    }
    regression = _regression_report(10.0, 10.5).as_properties("micro")
    assert regression["micro_mae"] == 10.5
    assert regression["micro_mae_increase"] == pytest.approx(0.5)
    assert regression["micro_relative_mae_increase"] == pytest.approx(0.05)
    assert regression["micro_max_abs_prediction_diff"] == pytest.approx(0.5)
    assert not any(name.startswith("saved_model") for name in regression)


# --- Parity: models trained and exported as the Trainer does ------------------------------


@pytest.fixture(scope="module")
def regression_parity(regression, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("regression_tflite") / "tflite")
    result = converter.convert_saved_model(regression.saved_model_dir, path, "none")
    report = converter.check_parity(
        regression.saved_model_dir,
        result.path,
        regression.eval_dense,
        regression.eval_labels,
        latency_examples=20,
    )
    return result, report


def test_regression_conversion_matches_the_saved_model(regression, regression_parity):
    result, report = regression_parity
    assert isinstance(report, converter.RegressionParityReport)
    assert result.requires_select_tf_ops  # the vocabulary lookup's OOV hashing
    assert report.examples == len(regression.eval_labels) == 100
    # Predictions are in the label's units (prices around 150): equal to float32 precision.
    assert report.max_abs_prediction_diff < 1e-3
    assert report.tflite_mae == pytest.approx(report.saved_model_mae, rel=1e-5)
    assert report.within_tolerance(1e-4)
    assert report.tflite_size_bytes == result.size_bytes


def test_regression_mae_is_measured_against_the_labels_in_label_units(
    regression, regression_parity
):
    _, report = regression_parity
    serve = tf.saved_model.load(regression.saved_model_dir).signatures[export.RAW_SIGNATURE]
    predictions = serve(**{k: tf.constant(v) for k, v in regression.eval_dense.items()})[
        export.PREDICTIONS
    ].numpy()
    assert predictions.shape == (100,) and predictions.dtype == np.float32
    assert report.saved_model_mae == pytest.approx(
        np.mean(np.abs(predictions - regression.eval_labels)), rel=1e-5
    )
    # The model learnt: its MAE is well under the labels' own spread (~35).
    assert report.saved_model_mae < 0.3 * np.std(regression.eval_labels)


def test_regression_properties_name_the_errors(regression_parity):
    properties = regression_parity[1].as_properties()
    assert {"saved_model_mae", "tflite_mae", "max_abs_prediction_diff", "mae_increase"} <= set(
        properties
    )
    assert "tflite_accuracy" not in properties
    assert all(isinstance(v, (int, float)) for v in properties.values())


def test_a_missing_regression_label_is_left_out_of_the_errors(regression, regression_parity):
    result, report = regression_parity
    labels = regression.eval_labels.copy()
    labels[:50] = np.nan
    half = converter.check_parity(
        regression.saved_model_dir,
        result.path,
        regression.eval_dense,
        labels,
        latency_examples=5,
        task=features.REGRESSION,
    )
    assert half.examples == 100
    assert np.isfinite(half.saved_model_mae) and half.tflite_mae == pytest.approx(
        half.saved_model_mae, rel=1e-5
    )
    with pytest.raises(ValueError, match="no example has a label"):
        converter.check_parity(
            regression.saved_model_dir,
            result.path,
            regression.eval_dense,
            np.full(100, np.nan, np.float32),
            latency_examples=5,
        )


def test_binary_classification_converts_with_two_probability_columns(binary, tmp_path):
    result = converter.convert_saved_model(
        binary.saved_model_dir, str(tmp_path / "tflite"), "dynamic"
    )
    report = converter.check_parity(
        binary.saved_model_dir,
        result.path,
        binary.eval_dense,
        binary.eval_labels,
        latency_examples=5,
    )
    assert isinstance(report, converter.ParityReport)
    assert report.saved_model_accuracy > 0.8
    assert report.tflite_accuracy == report.saved_model_accuracy
    assert report.max_abs_probability_diff < 1e-4
    interpreter = tf.lite.Interpreter(model_path=result.path)
    runner = interpreter.get_signature_runner(export.RAW_SIGNATURE)
    probabilities = runner(**binary.eval_dense)[export.PROBABILITIES]
    assert probabilities.shape == (100, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


# --- Raw tf.Examples -> dense inputs -------------------------------------------------------

PENGUIN_DTYPES = {
    **{name: tf.float32 for name in PENGUIN_COLUMNS[:4]},
    "sex": tf.string,
    "island": tf.string,
}


def _example(row):
    return serialize(row, PENGUIN_COLUMNS, PENGUINS_RAW_SPEC)


def test_dense_inputs_parse_any_numeric_type_and_mark_missing():
    dense = converter.dense_inputs_from_examples(
        [_example(PENGUIN_ROWS[0]), _example(PENGUIN_ROWS[2])], PENGUIN_DTYPES
    )
    assert set(dense) == set(PENGUIN_DTYPES)
    np.testing.assert_allclose(dense["bill_length_mm"], [39.1, np.nan])
    np.testing.assert_array_equal(dense["flipper_length_mm"], [181.0, np.nan])
    assert dense["body_mass_g"].dtype == np.float32
    assert dense["sex"].tolist() == [b"male", b""]
    assert dense["island"].tolist() == [b"Torgersen", b"Biscoe"]


def test_dense_inputs_follow_the_saved_model_signature(penguins):
    dtypes = converter.raw_input_dtypes(penguins.saved_model_dir)
    assert dtypes == PENGUIN_DTYPES


def test_dense_inputs_reject_more_than_one_value():
    example = tf.train.Example()
    example.features.feature["body_mass_g"].int64_list.value.extend([1, 2])
    with pytest.raises(ValueError, match="body_mass_g"):
        converter.dense_inputs_from_examples([example.SerializeToString()], PENGUIN_DTYPES)


def test_label_ids_follow_the_classes_and_unknown_is_minus_one():
    rows = [PENGUIN_ROWS[0], PENGUIN_ROWS[5], (*PENGUIN_ROWS[0][:-1], "Emperor")]
    labels = converter.label_ids_from_examples([_example(r) for r in rows], LABEL, CLASSES)
    assert labels.tolist() == [0, 2, -1]


def test_single_examples_keep_a_batch_dimension_of_one(tiny):
    singles = converter.single_examples(tiny.inputs)
    assert len(singles) == len(tiny.labels)
    assert all(v.shape == (1,) for v in singles[0].values())
    np.testing.assert_array_equal(singles[3]["b"], tiny.inputs["b"][3:4])
    with pytest.raises(ValueError, match="batch size"):
        converter.single_examples({"a": np.zeros(2), "b": np.zeros(3)})


# --- Artifacts on a remote filesystem (ram://) ----------------------------------------------


def test_a_remote_saved_model_converts_to_a_remote_file_and_passes_parity(tiny, ram):
    source, output = f"{ram}/model", f"{ram}/tflite/Format-Serving/tflite"
    converter.copy_tree(tiny.saved_model_dir, source)

    result = converter.convert_saved_model(source, output, "none")
    report = converter.check_parity(source, output, tiny.inputs, tiny.labels, latency_examples=10)

    assert result.path == output
    assert _read(output)[4:8] == b"TFL3" and result.size_bytes == len(_read(output))
    assert report.tflite_accuracy == report.saved_model_accuracy > 0.8
    assert report.max_abs_probability_diff < 1e-5
    assert report.tflite_size_bytes == result.size_bytes
    assert report.saved_model_size_bytes == converter.directory_size(tiny.saved_model_dir)


def test_vocabulary_tables_of_a_remote_saved_model_work(vocabulary_model, ram):
    source = f"{ram}/model"
    converter.copy_tree(vocabulary_model, source)

    result = converter.convert_saved_model(source, f"{ram}/m.tflite", "none")

    islands = np.array([b"Dream", b"Torgersen", b"Emperor", b"Biscoe"], dtype=object)
    probabilities = _run_tflite(result.path, {"island": islands})
    assert probabilities.argmax(1).tolist() == [1, 2, 3, 0]


def test_parity_module_names_stay_importable_from_converter():
    assert converter.check_parity is parity.check_parity
    assert converter.ParityReport is parity.ParityReport
