"""The micro build (``micro.py``) per task, its scoring and gate, and the TFLiteConverter component.

Models are trained and exported as the Trainer does (``conftest.py``); the micro models
run in the real TFLite interpreter with int8 input and output.
"""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from penguins_spec import CATEGORICAL, NUMERIC, SPEC
from tfx.types import standard_artifacts
from trained_models import (
    PENGUIN_COLUMNS,
    PENGUIN_ROWS,
    PENGUINS_RAW_SPEC,
    REGRESSION_SPEC,
    SYNTHETIC_COLUMNS,
    SYNTHETIC_RAW_SPEC,
    serialize,
    synthetic_rows,
)

from components import features
from components.tflite_converter import converter, micro
from components.tflite_converter.component import MICRO_DIR, TFLITE_FILE, TFLiteConverter
from components.trainer import export
from components.trainer.hparams import HyperParameters
from components.trainer.model import build_model

MICRO_FILES = sorted(
    [
        converter.MICRO_MODEL_FILE,
        converter.MICRO_SOURCE_FILE,
        converter.MICRO_HEADER_FILE,
        converter.MICRO_PREPROCESSING_FILE,
    ]
)


def _build_micro(trained, out):
    return converter.convert_micro(
        trained.saved_model_dir,
        trained.transform_dir,
        str(out),
        lambda: [trained.transformed],
        spec=trained.spec,
    )


@pytest.fixture(scope="module")
def penguins_micro(penguins, tmp_path_factory):
    return _build_micro(penguins, tmp_path_factory.mktemp("penguins_micro"))


@pytest.fixture(scope="module")
def regression_micro(regression, tmp_path_factory):
    return _build_micro(regression, tmp_path_factory.mktemp("regression_micro"))


def _preprocessing(result):
    return converter.read_preprocessing(result.preprocessing_path)


def _saved_model_outputs(trained, name):
    serve = tf.saved_model.load(trained.saved_model_dir).signatures[export.RAW_SIGNATURE]
    return serve(**{k: tf.constant(v) for k, v in trained.eval_dense.items()})[name].numpy()


# --- The classifier's micro model -----------------------------------------------------------


def test_micro_model_is_full_int8_and_builtins_only(penguins_micro):
    interpreter = tf.lite.Interpreter(model_path=penguins_micro.model_path)
    (model_input,) = interpreter.get_input_details()
    (model_output,) = interpreter.get_output_details()
    assert model_input["dtype"] == np.int8 and model_output["dtype"] == np.int8
    assert model_input["shape"].tolist() == [1, len(penguins_micro.input_columns)]
    assert model_output["shape"].tolist() == [1, len(SPEC.label.classes)]
    assert {np.dtype(d["dtype"]) for d in interpreter.get_tensor_details()} <= {
        np.dtype("int8"),
        np.dtype("int32"),
    }
    with open(penguins_micro.model_path, "rb") as f:
        assert b"Flex" not in f.read()
    assert sorted(os.listdir(os.path.dirname(penguins_micro.model_path))) == MICRO_FILES


def test_micro_input_layout_is_z_scores_then_one_hot_vocabularies(penguins, penguins_micro):
    vocabularies = {
        key: [
            t.decode()
            for t in penguins.tft_output.vocabulary_by_name(features.vocabulary_name(key))
        ]
        for key in CATEGORICAL
    }
    expected = list(NUMERIC)
    for key in CATEGORICAL:
        expected += [f"{key}={token}" for token in vocabularies[key]] + [f"{key}=<oov-0>"]
    assert list(penguins_micro.input_columns) == expected
    assert _preprocessing(penguins_micro)["input"]["columns"] == expected


def test_micro_outputs_match_the_keras_model(penguins, penguins_micro):
    model = penguins.keras_model
    keras = model.predict(
        {name: penguins.transformed[name] for name in model.input_names}, verbose=0
    )
    predict = converter.micro_predictor(
        _read(penguins_micro.model_path), _preprocessing(penguins_micro)
    )
    probabilities = predict(penguins.eval_dense)  # the eval rows are the train rows here
    assert probabilities.shape == keras.shape
    np.testing.assert_allclose(probabilities, keras, atol=0.1)


def test_preprocessing_json_numeric_statistics_are_the_training_ones(penguins_micro):
    numeric = _preprocessing(penguins_micro)["numeric"]
    for i, key in enumerate(NUMERIC):
        column = np.array([np.nan if r[i] is None else r[i] for r in PENGUIN_ROWS], np.float64)
        assert numeric[key]["log"] is False
        assert numeric[key]["mean"] == pytest.approx(np.nanmean(column), rel=1e-6)
        assert numeric[key]["std"] == pytest.approx(np.nanstd(column), rel=1e-5)
        assert numeric[key]["missing_z"] == pytest.approx(0.0, abs=1e-6)


def test_preprocessing_json_missing_categories(penguins_micro):
    categorical = _preprocessing(penguins_micro)["categorical"]
    sex = categorical["sex"]
    # sex may be absent: it becomes the missing token, a vocabulary entry of its own.
    assert sex["missing_token"] == features.MISSING_CATEGORY
    assert sex["missing_id"] == sex["vocabulary"].index(features.MISSING_CATEGORY)
    # island is required by the schema: an empty value is simply out of vocabulary.
    island = categorical["island"]
    assert island["missing_id"] == len(island["vocabulary"])
    assert island["oov_buckets"] == features.OOV_BUCKETS


def test_preprocessing_json_reproduces_the_transform_graph(penguins, penguins_micro):
    from_json = converter.micro_vector_from_dense(
        penguins.eval_dense, _preprocessing(penguins_micro)
    )
    from_graph = converter.micro_input_vector(
        penguins.transformed, converter.micro_input_layout(penguins.keras_model, SPEC)
    )
    np.testing.assert_allclose(from_json, from_graph, atol=1e-5)


def test_preprocessing_json_output_names_the_classes(penguins_micro):
    output = _preprocessing(penguins_micro)["output"]
    assert output["task"] == features.CLASSIFICATION
    assert output["classes"] == list(SPEC.label.classes)
    assert output["length"] == 3 and output["dtype"] == "int8"


def test_the_micro_classifier_is_scored_through_the_device_path(penguins, penguins_micro):
    report = converter.check_micro_parity(
        penguins.saved_model_dir,
        penguins_micro.model_path,
        _preprocessing(penguins_micro),
        penguins.eval_dense,
        penguins.eval_labels,
        latency_examples=10,
    )
    assert isinstance(report, converter.ParityReport)
    assert report.tflite_size_bytes == penguins_micro.size_bytes
    saved = _saved_model_outputs(penguins, export.PROBABILITIES)
    assert report.saved_model_accuracy == pytest.approx(
        np.mean(saved.argmax(1) == penguins.eval_labels)
    )
    assert 0 < report.max_abs_probability_diff < 0.1  # int8 is not exact, but close
    assert report.within_tolerance(0.1)
    properties = report.as_properties("micro")
    assert properties["micro_accuracy"] == report.tflite_accuracy
    assert properties["micro_size_bytes"] == penguins_micro.size_bytes


# --- The regression's micro model ---------------------------------------------------------


def test_regression_micro_output_is_one_int8_value_dequantized_in_label_units(
    regression, regression_micro
):
    interpreter = tf.lite.Interpreter(model_path=regression_micro.model_path)
    (model_output,) = interpreter.get_output_details()
    assert model_output["dtype"] == np.int8 and model_output["shape"].tolist() == [1]
    output = _preprocessing(regression_micro)["output"]
    assert output["task"] == features.REGRESSION and output["label"] == "price"
    assert output["length"] == 1 and "classes" not in output

    predictions = converter.micro_predictor(
        _read(regression_micro.model_path), _preprocessing(regression_micro)
    )(regression.eval_dense)
    saved = _saved_model_outputs(regression, export.PREDICTIONS)
    assert predictions.shape == saved.shape == (100,) and predictions.dtype == np.float32
    # Within a few int8 steps of the output scale (prices around 150, ~1 per step).
    np.testing.assert_allclose(predictions, saved, atol=4 * output["scale"])


def test_log_scaled_numbers_are_in_preprocessing_json(regression, regression_micro):
    preprocessing = _preprocessing(regression_micro)
    count = preprocessing["numeric"]["count"]
    assert count["log"] is True and "log1p" in count["rule"]
    counts = np.array([row[1] for row in synthetic_rows(400, seed=0)], np.float64)
    assert count["mean"] == pytest.approx(np.log1p(counts).mean(), rel=1e-4)
    assert count["std"] == pytest.approx(np.log1p(counts).std(), rel=1e-3)
    eval_transformed = converter.transformed_features(
        regression.saved_model_dir, regression.eval_serialized
    )
    from_json = converter.micro_vector_from_dense(regression.eval_dense, preprocessing)
    from_graph = converter.micro_input_vector(
        eval_transformed, converter.micro_input_layout(regression.keras_model, REGRESSION_SPEC)
    )
    np.testing.assert_allclose(from_json, from_graph, atol=1e-4)


def test_the_micro_regression_is_scored_and_gated_on_its_mae(regression, regression_micro):
    report = converter.check_micro_parity(
        regression.saved_model_dir,
        regression_micro.model_path,
        _preprocessing(regression_micro),
        regression.eval_dense,
        regression.eval_labels,
        latency_examples=10,
    )
    assert isinstance(report, converter.RegressionParityReport)
    saved = _saved_model_outputs(regression, export.PREDICTIONS)
    assert report.saved_model_mae == pytest.approx(
        np.mean(np.abs(saved - regression.eval_labels)), rel=1e-5
    )
    assert abs(report.mae_increase) < 0.05 * report.saved_model_mae
    assert report.max_abs_prediction_diff < 4 * _preprocessing(regression_micro)["output"]["scale"]
    properties = report.as_properties("micro")
    assert {"micro_mae", "micro_mae_increase", "micro_max_abs_prediction_diff"} <= set(properties)


def test_binary_micro_gives_two_probabilities(binary, tmp_path):
    result = _build_micro(binary, tmp_path)
    preprocessing = _preprocessing(result)
    assert preprocessing["output"]["classes"] == ["no", "yes"]
    report = converter.check_micro_parity(
        binary.saved_model_dir,
        result.model_path,
        preprocessing,
        binary.eval_dense,
        binary.eval_labels,
        latency_examples=5,
    )
    assert report.max_abs_probability_diff < 0.1
    assert report.within_tolerance(0.05)
    probabilities = converter.micro_predictor(_read(result.model_path), preprocessing)(
        binary.eval_dense
    )
    assert probabilities.shape == (100, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.02)


# --- What the micro model refuses --------------------------------------------------------------


def _spec(*declared):
    return features.FeatureSpec(
        task=features.REGRESSION,
        label=features.Label("y"),
        features=tuple(features.make_feature(name, kind) for name, kind in declared),
    )


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"type": "numeric", "bucketize": 4}, "features.odd: .*bucketized"),
        ({"type": "categorical", "embedding_dim": 3}, "features.odd: .*embedded"),
        ({"type": "text", "sequence_length": 4}, "features.odd: .*text"),
    ],
)
def test_unsupported_features_are_refused_by_name(declared, message):
    spec = _spec(("fine", "numeric"), ("odd", declared))
    with pytest.raises(ValueError, match=message):
        converter.check_micro_support(spec)
    converter.check_micro_support(_spec(("fine", "numeric"), ("colour", "categorical")))


def test_a_categorical_embedded_for_its_vocabulary_size_is_refused_by_name():
    spec = _spec(("fine", "numeric"), ("zip", "categorical"))
    model = build_model(HyperParameters(hidden_units=(4,)), spec, {"zip": 500})
    with pytest.raises(ValueError, match="features.zip: .*embedded"):
        converter.micro_input_layout(model, spec)


def test_a_bucketized_number_is_refused_on_the_model_too():
    spec = _spec(("fine", "numeric"), ("hour", {"type": "numeric", "bucketize": 4}))
    model = build_model(HyperParameters(hidden_units=(4,)), spec, {"hour": 4})
    with pytest.raises(ValueError, match="features.hour: .*one-hot numeric"):
        converter.micro_input_layout(model, spec)


def test_a_one_feature_model_has_a_one_block_layout():
    spec = _spec(("only", "numeric"))
    model = build_model(HyperParameters(hidden_units=(4,)), spec, {})
    assert converter.micro_input_layout(model, spec) == (micro.MicroInputBlock("only", 1, False),)
    values = np.linspace(-2, 2, 5, dtype=np.float32)
    vector_model = converter.micro_vector_model(model)
    np.testing.assert_allclose(
        vector_model(values[:, None]).numpy(), model({"only_xf": values}).numpy(), rtol=1e-6
    )


# --- The C array ------------------------------------------------------------------------------

MAIN_CC = """
#include <cstdio>
#include "model_data.h"

int main() {
  std::printf("%u %c%c%c%c\\n", g_model_data_len, g_model_data[4], g_model_data[5],
              g_model_data[6], g_model_data[7]);
  return 0;
}
"""


def test_c_array_compiles_and_holds_the_model(penguins_micro, tmp_path):
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++ on this machine")
    (tmp_path / "main.cc").write_text(MAIN_CC)
    source_dir = os.path.dirname(penguins_micro.header_path)
    for name, source in (("main.o", tmp_path / "main.cc"), ("data.o", penguins_micro.source_path)):
        subprocess.run(
            [compiler, "-std=c++17", "-Wall", "-Werror", "-I", source_dir, "-c", str(source)]
            + ["-o", str(tmp_path / name)],
            check=True,
        )
    binary = tmp_path / "print_length"
    subprocess.run(
        [compiler, str(tmp_path / "main.o"), str(tmp_path / "data.o"), "-o", str(binary)],
        check=True,
    )
    output = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    assert output.split() == [str(penguins_micro.size_bytes), "TFL3"]


def test_c_array_layout(tmp_path):
    converter.write_c_array(bytes(range(14)), str(tmp_path / "d.cc"), str(tmp_path / "d.h"), "g_x")
    header = (tmp_path / "d.h").read_text()
    source = (tmp_path / "d.cc").read_text()
    assert "#ifndef D_H_" in header and "#define D_H_" in header
    assert "extern const unsigned char g_x[];" in header
    assert "extern const unsigned int g_x_len;" in header
    assert '#include "d.h"' in source
    assert "alignas(16) const unsigned char g_x[] = {" in source
    assert "0x00, 0x01" in source and "0x0d," in source
    assert "const unsigned int g_x_len = 14;" in source
    with pytest.raises(ValueError, match="empty"):
        converter.write_c_array(b"", str(tmp_path / "e.cc"), str(tmp_path / "e.h"))


def test_c_array_is_written_to_a_remote_filesystem(tmp_path, ram):
    converter.write_c_array(b"TFL3", f"{ram}/c/d.cc", f"{ram}/c/d.h", "g_x")
    converter.write_c_array(b"TFL3", str(tmp_path / "d.cc"), str(tmp_path / "d.h"), "g_x")
    assert _read(f"{ram}/c/d.cc") == (tmp_path / "d.cc").read_bytes()
    assert _read(f"{ram}/c/d.h") == (tmp_path / "d.h").read_bytes()


# --- The TFLiteConverter component ---------------------------------------------------------------


def _read(path):
    with tf.io.gfile.GFile(path, "rb") as handle:
        return handle.read()


def _artifact(kind, uri):
    instance = kind()
    instance.uri = uri
    return instance


def _write_examples(examples_uri, split, records):
    tf.io.gfile.makedirs(f"{examples_uri}/Split-{split}")
    path = f"{examples_uri}/Split-{split}/data_tfrecord-00000-of-00001.gz"
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for record in records:
            writer.write(record)


def _run_component(root, trained, train_records, eval_records, **parameters):
    """Copies the trained model's artifacts under ``root`` and runs the component there."""
    converter.copy_tree(trained.saved_model_dir, f"{root}/model/Format-Serving")
    converter.copy_tree(trained.transform_dir, f"{root}/transform")
    _write_examples(f"{root}/examples", "train", train_records)
    _write_examples(f"{root}/examples", "eval", eval_records)
    tflite_model = _artifact(standard_artifacts.Model, f"{root}/tflite")
    TFLiteConverter.test_call(
        model=_artifact(standard_artifacts.Model, f"{root}/model"),
        examples=_artifact(standard_artifacts.Examples, f"{root}/examples"),
        transform_graph=_artifact(standard_artifacts.TransformGraph, f"{root}/transform"),
        tflite_model=tflite_model,
        **{"feature_spec": json.dumps(trained.spec.to_dict()), **parameters},
    )
    return tflite_model


def test_component_reads_and_writes_artifacts_on_a_remote_filesystem(penguins, penguins_micro, ram):
    records = [serialize(row, PENGUIN_COLUMNS, PENGUINS_RAW_SPEC) for row in PENGUIN_ROWS]
    tflite_model = _run_component(
        ram, penguins, records, records, quantization="dynamic", accuracy_tolerance=0.01, micro=True
    )

    assert _read(f"{ram}/tflite/{TFLITE_FILE}")[4:8] == b"TFL3"
    assert tflite_model.get_string_custom_property("task") == features.CLASSIFICATION
    assert tflite_model.get_int_custom_property("examples") == len(PENGUIN_ROWS)
    assert tflite_model.get_int_custom_property("tflite_blessed") == 1
    assert tflite_model.get_int_custom_property("requires_select_tf_ops") == 1
    assert sorted(tf.io.gfile.listdir(f"{ram}/tflite/{MICRO_DIR}")) == MICRO_FILES
    micro_model = _read(f"{ram}/tflite/micro/{converter.MICRO_MODEL_FILE}")
    assert tflite_model.get_int_custom_property("micro_size_bytes") == len(micro_model)
    # The micro model is scored too, and gated by the same tolerance.
    micro_accuracy = tflite_model.get_float_custom_property("micro_accuracy")
    saved_accuracy = tflite_model.get_float_custom_property("saved_model_accuracy")
    assert tflite_model.get_int_custom_property("micro_blessed") == int(
        saved_accuracy - micro_accuracy <= 0.01
    )
    assert tflite_model.get_float_custom_property("micro_accuracy_drop") == pytest.approx(
        saved_accuracy - micro_accuracy
    )
    preprocessing = json.loads(_read(f"{ram}/tflite/micro/{converter.MICRO_PREPROCESSING_FILE}"))
    assert preprocessing["input"]["columns"] == list(penguins_micro.input_columns)


def test_component_scores_parity_on_a_bounded_sample_of_the_eval_split(penguins, tmp_path):
    """A large eval split is scored on ``parity_examples`` of its examples, not read whole."""
    records = [serialize(row, PENGUIN_COLUMNS, PENGUINS_RAW_SPEC) for row in PENGUIN_ROWS]
    eval_records = records * 40
    tflite_model = _run_component(
        str(tmp_path), penguins, records, eval_records, quantization="none", parity_examples=25
    )

    assert len(eval_records) > 25
    assert tflite_model.get_int_custom_property("examples") == 25
    assert tflite_model.get_int_custom_property("tflite_blessed") == 1


def test_component_scores_a_regression_model_by_its_errors(regression, tmp_path):
    train = [serialize(r, SYNTHETIC_COLUMNS, SYNTHETIC_RAW_SPEC) for r in synthetic_rows(50, 0)]
    tflite_model = _run_component(
        str(tmp_path),
        regression,
        train,
        regression.eval_serialized,
        quantization="none",
        accuracy_tolerance=0.01,
        micro=True,
    )

    properties = {
        name: tflite_model.get_custom_property(name)
        for name in tflite_model.mlmd_artifact.custom_properties
    }
    assert tflite_model.get_string_custom_property("task") == features.REGRESSION
    assert "tflite_accuracy" not in properties and "micro_accuracy" not in properties
    saved_mae = tflite_model.get_float_custom_property("saved_model_mae")
    assert tflite_model.get_float_custom_property("tflite_mae") == pytest.approx(
        saved_mae, rel=1e-5
    )
    assert tflite_model.get_float_custom_property("max_abs_prediction_diff") < 1e-3
    assert tflite_model.get_int_custom_property("tflite_blessed") == 1
    micro_mae = tflite_model.get_float_custom_property("micro_mae")
    assert tflite_model.get_int_custom_property("micro_blessed") == int(
        micro_mae - saved_mae <= 0.01 * saved_mae
    )
    assert sorted(os.listdir(tmp_path / "tflite" / MICRO_DIR)) == MICRO_FILES


def test_component_refuses_a_spec_whose_task_is_not_the_models(regression, tmp_path):
    wrong = features.FeatureSpec(
        task=features.CLASSIFICATION,
        label=features.Label("price", ("cheap", "dear")),
        features=REGRESSION_SPEC.features,
    )
    records = regression.eval_serialized[:5]
    with pytest.raises(ValueError, match="task: the feature spec says 'classification'"):
        _run_component(
            str(tmp_path),
            type(regression)(**{**regression.__dict__, "spec": wrong}),
            records,
            records,
        )
