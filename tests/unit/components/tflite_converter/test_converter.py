"""``converter.py`` on tiny models built here: every quantization mode, parity, the micro build.

Also the TFLiteConverter component, and both on TensorFlow's in-process ``ram://``
filesystem, standing in for the ``gs://`` a Kubeflow pipeline root lives on.
"""

import dataclasses
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils
from tfx.types import standard_artifacts

from components import custom_config as config_keys
from components import features
from components.tflite_converter import converter
from components.tflite_converter.component import TFLITE_FILE, TFLiteConverter
from components.trainer import export
from components.trainer.hparams import HyperParameters
from components.trainer.model import build_model
from components.transform.preprocessing import preprocessing_fn

TINY_INPUTS = ("a", "b")
# Largest |TFLite - Keras| probability each mode may show on the tiny model.
TOLERANCE = {"none": 1e-5, "dynamic": 0.05, "float16": 5e-3, "int8": 0.1}

LABEL_CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
RAW_FEATURE_SPEC = {
    "bill_length_mm": tf.io.VarLenFeature(tf.float32),
    "bill_depth_mm": tf.io.VarLenFeature(tf.float32),
    "flipper_length_mm": tf.io.VarLenFeature(tf.int64),
    "body_mass_g": tf.io.VarLenFeature(tf.int64),
    "sex": tf.io.VarLenFeature(tf.string),
    "island": tf.io.FixedLenFeature([1], tf.string),
    "species": tf.io.FixedLenFeature([1], tf.string),
}
# bill_length, bill_depth, flipper, body_mass, sex, island, species; None is missing.
ROWS = [
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


# --- Parity -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def parity(tiny, conversions):
    return converter.check_parity(
        tiny.saved_model_dir,
        conversions["none"].path,
        tiny.inputs,
        tiny.labels,
        latency_examples=50,
    )


def test_parity_of_the_unquantized_model_is_exact(tiny, parity):
    assert parity.examples == len(tiny.labels)
    assert 0.0 <= parity.saved_model_accuracy <= 1.0
    assert parity.tflite_accuracy == parity.saved_model_accuracy
    assert parity.accuracy_drop == 0.0 and parity.within_tolerance(0.0)
    assert parity.max_abs_probability_diff < 1e-5


def test_parity_accuracy_is_measured_against_the_labels(tiny, parity):
    expected = np.mean(tiny.keras_probabilities.argmax(1) == tiny.labels)
    assert parity.saved_model_accuracy == pytest.approx(expected)
    assert parity.saved_model_accuracy > 0.8  # the tiny model did learn


def test_parity_sizes_and_latencies_are_sane(tiny, conversions, parity):
    assert parity.tflite_size_bytes == conversions["none"].size_bytes
    assert parity.saved_model_size_bytes == converter.directory_size(tiny.saved_model_dir)
    assert parity.saved_model_size_bytes > parity.tflite_size_bytes > 0
    for form in ("saved_model", "tflite"):
        p50 = getattr(parity, f"{form}_latency_p50_ms")
        p99 = getattr(parity, f"{form}_latency_p99_ms")
        assert p99 >= p50 > 0


def test_parity_as_properties_is_flat_and_numeric(parity):
    properties = parity.as_properties()
    assert properties["accuracy_drop"] == parity.accuracy_drop
    assert properties["tflite_latency_p99_ms"] == parity.tflite_latency_p99_ms
    assert {f.name for f in dataclasses.fields(parity)} < set(properties)
    assert all(isinstance(v, (int, float)) for v in properties.values())


def test_parity_labels_must_match_the_examples(tiny, conversions):
    with pytest.raises(ValueError, match="labels"):
        converter.check_parity(
            tiny.saved_model_dir, conversions["none"].path, tiny.inputs, tiny.labels[:3]
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
def test_within_tolerance_compares_the_accuracy_drop(saved, tflite, tolerance, within):
    report = converter.ParityReport(10, saved, tflite, 0.0, 1, 1, 1.0, 1.0, 1.0, 1.0)
    assert report.accuracy_drop == pytest.approx(saved - tflite)
    assert report.within_tolerance(tolerance) is within


# --- Raw tf.Examples -> dense inputs -------------------------------------------------------


def _example(row):
    *numeric, sex, island, species = row
    example = tf.train.Example()
    fields = example.features.feature
    for key, value in zip(features.NUMERIC_FEATURE_KEYS, numeric, strict=True):
        if isinstance(value, int):
            fields[key].int64_list.value.append(value)
        elif value is not None:
            fields[key].float_list.value.append(value)
    if sex is not None:
        fields["sex"].bytes_list.value.append(sex.encode())
    fields["island"].bytes_list.value.append(island.encode())
    fields[features.LABEL_KEY].bytes_list.value.append(species.encode())
    return example.SerializeToString()


def test_dense_inputs_parse_any_numeric_type_and_mark_missing():
    dense = converter.dense_inputs_from_examples([_example(ROWS[0]), _example(ROWS[2])])
    assert set(dense) == set(features.FEATURE_KEYS)
    np.testing.assert_allclose(dense["bill_length_mm"], [39.1, np.nan])
    np.testing.assert_array_equal(dense["flipper_length_mm"], [181.0, np.nan])
    assert dense["body_mass_g"].dtype == np.float32
    assert dense["sex"].tolist() == [b"male", b""]
    assert dense["island"].tolist() == [b"Torgersen", b"Biscoe"]


def test_dense_inputs_reject_more_than_one_value():
    example = tf.train.Example()
    example.features.feature["body_mass_g"].int64_list.value.extend([1, 2])
    with pytest.raises(ValueError, match="body_mass_g"):
        converter.dense_inputs_from_examples([example.SerializeToString()])


def test_label_ids_follow_the_classes_and_unknown_is_minus_one():
    rows = [ROWS[0], ROWS[5], (*ROWS[0][:-1], "Emperor")]
    labels = converter.label_ids_from_examples([_example(r) for r in rows], LABEL_CLASSES)
    assert labels.tolist() == [0, 2, -1]


def test_single_examples_keep_a_batch_dimension_of_one(tiny):
    singles = converter.single_examples(tiny.inputs)
    assert len(singles) == len(tiny.labels)
    assert all(v.shape == (1,) for v in singles[0].values())
    np.testing.assert_array_equal(singles[3]["b"], tiny.inputs["b"][3:4])
    with pytest.raises(ValueError, match="batch size"):
        converter.single_examples({"a": np.zeros(2), "b": np.zeros(3)})


# --- Microcontroller build -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Micro:
    result: converter.MicroResult
    keras_model: tf.keras.Model
    tft_output: tft.TFTransformOutput
    transformed: dict
    dense: dict
    model_dir: str
    transform_dir: str


def _instance(row):
    *numeric, sex, island, species = row
    instance = {
        key: [] if value is None else [value]
        for key, value in zip(features.NUMERIC_FEATURE_KEYS, numeric, strict=True)
    }
    instance["sex"] = [] if sex is None else [sex.encode()]
    instance["island"] = [island.encode()]
    instance["species"] = [species.encode()]
    return instance


def _write_transform_output(transform_dir, temp_dir):
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(RAW_FEATURE_SPEC)
    )
    fn = functools.partial(
        preprocessing_fn, custom_config={config_keys.LABEL_CLASSES: LABEL_CLASSES}
    )
    with (
        beam.Pipeline(runner="DirectRunner") as pipeline,
        tft_beam.Context(temp_dir=str(temp_dir)),
    ):
        raw = pipeline | beam.Create([_instance(r) for r in ROWS])
        transform_fn = (raw, metadata) | tft_beam.AnalyzeDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(transform_dir))
    # As the Transform component does: raw metadata beside the transform graph.
    metadata_io.write_metadata(
        metadata, str(transform_dir / tft.TFTransformOutput.RAW_METADATA_DIR)
    )


@pytest.fixture(scope="module")
def micro(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("micro")
    _write_transform_output(tmp / "transform", tmp / "temp")
    tft_output = tft.TFTransformOutput(str(tmp / "transform"))
    serialized = [_example(row) for row in ROWS]
    parsed = tf.io.parse_example(serialized, tft_output.raw_feature_spec())
    transformed = {k: v.numpy() for k, v in tft_output.transform_features_layer()(parsed).items()}
    tf.keras.utils.set_random_seed(0)
    sizes = {
        key: tft_output.vocabulary_size_by_name(features.vocabulary_name(key))
        + features.OOV_BUCKETS
        for key in features.CATEGORICAL_FEATURE_KEYS
    }
    model = build_model(HyperParameters(hidden_units=(8,)), sizes, len(LABEL_CLASSES))
    labels = transformed[features.transformed_name(features.LABEL_KEY)]
    model.fit({name: transformed[name] for name in model.input_names}, labels, epochs=30, verbose=0)
    model.save(str(tmp / "model"), save_format="tf")
    result = converter.convert_micro(
        str(tmp / "model"),
        str(tmp / "transform"),
        str(tmp / "out"),
        lambda: [transformed],
        label_classes=LABEL_CLASSES,
    )
    dense = converter.dense_inputs_from_examples(serialized)
    return Micro(
        result, model, tft_output, transformed, dense, str(tmp / "model"), str(tmp / "transform")
    )


def _preprocessing(micro):
    with open(micro.result.preprocessing_path) as f:
        return json.load(f)


def test_micro_model_is_full_int8_and_builtins_only(micro):
    interpreter = tf.lite.Interpreter(model_path=micro.result.model_path)
    (model_input,) = interpreter.get_input_details()
    (model_output,) = interpreter.get_output_details()
    assert model_input["dtype"] == np.int8 and model_output["dtype"] == np.int8
    assert model_input["shape"].tolist() == [1, len(micro.result.input_columns)]
    assert model_output["shape"].tolist() == [1, len(LABEL_CLASSES)]
    assert {np.dtype(d["dtype"]) for d in interpreter.get_tensor_details()} <= {
        np.dtype("int8"),
        np.dtype("int32"),
    }
    with open(micro.result.model_path, "rb") as f:
        assert b"Flex" not in f.read()


def test_micro_input_layout_is_z_scores_then_one_hot_vocabularies(micro):
    vocabularies = {
        key: [
            t.decode() for t in micro.tft_output.vocabulary_by_name(features.vocabulary_name(key))
        ]
        for key in features.CATEGORICAL_FEATURE_KEYS
    }
    expected = list(features.NUMERIC_FEATURE_KEYS)
    for key in features.CATEGORICAL_FEATURE_KEYS:
        expected += [f"{key}={token}" for token in vocabularies[key]] + [f"{key}=<oov-0>"]
    assert list(micro.result.input_columns) == expected
    assert _preprocessing(micro)["input"]["columns"] == expected


def test_micro_outputs_match_the_keras_model(micro):
    preprocessing = _preprocessing(micro)
    keras = micro.keras_model.predict(
        {name: micro.transformed[name] for name in micro.keras_model.input_names}, verbose=0
    )
    interpreter = tf.lite.Interpreter(model_path=micro.result.model_path)
    interpreter.allocate_tensors()
    (model_input,) = interpreter.get_input_details()
    (model_output,) = interpreter.get_output_details()
    vectors = converter.micro_input_vector(
        micro.transformed, converter.micro_input_layout(micro.keras_model)
    )
    outputs = []
    for row in converter.quantize_micro_input(vectors, preprocessing):
        interpreter.set_tensor(model_input["index"], row[None, :])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(model_output["index"])[0])
    probabilities = converter.dequantize_micro_output(np.array(outputs), preprocessing)
    np.testing.assert_allclose(probabilities, keras, atol=0.1)


def test_preprocessing_json_numeric_statistics_are_the_training_ones(micro):
    numeric = _preprocessing(micro)["numeric"]
    for i, key in enumerate(features.NUMERIC_FEATURE_KEYS):
        column = np.array([np.nan if r[i] is None else r[i] for r in ROWS], np.float64)
        filled = np.where(np.isnan(column), np.nanmean(column), column)
        assert numeric[key]["mean"] == pytest.approx(filled.mean(), rel=1e-6)
        assert numeric[key]["std"] == pytest.approx(filled.std(), rel=1e-5)
        assert numeric[key]["missing_z"] == pytest.approx(0.0, abs=1e-6)


def test_preprocessing_json_missing_categories(micro):
    categorical = _preprocessing(micro)["categorical"]
    sex = categorical["sex"]
    # sex may be absent: it becomes the missing token, a vocabulary entry of its own.
    assert sex["missing_token"] == features.MISSING_CATEGORY
    assert sex["missing_id"] == sex["vocabulary"].index(features.MISSING_CATEGORY)
    # island is required by the schema: an empty value is simply out of vocabulary.
    island = categorical["island"]
    assert island["missing_id"] == len(island["vocabulary"])
    assert island["oov_buckets"] == features.OOV_BUCKETS


def test_preprocessing_json_reproduces_the_transform_graph(micro):
    from_json = converter.micro_vector_from_dense(micro.dense, _preprocessing(micro))
    from_graph = converter.micro_input_vector(
        micro.transformed, converter.micro_input_layout(micro.keras_model)
    )
    np.testing.assert_allclose(from_json, from_graph, atol=1e-5)


MAIN_CC = """
#include <cstdio>
#include "model_data.h"

int main() {
  std::printf("%u %c%c%c%c\\n", g_model_data_len, g_model_data[4], g_model_data[5],
              g_model_data[6], g_model_data[7]);
  return 0;
}
"""


def test_c_array_compiles_and_holds_the_model(micro, tmp_path):
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++ on this machine")
    (tmp_path / "main.cc").write_text(MAIN_CC)
    source_dir = os.path.dirname(micro.result.header_path)
    for name, source in (("main.o", tmp_path / "main.cc"), ("data.o", micro.result.source_path)):
        subprocess.run(
            [
                compiler,
                "-std=c++17",
                "-Wall",
                "-Werror",
                "-I",
                source_dir,
                "-c",
                str(source),
                "-o",
                str(tmp_path / name),
            ],
            check=True,
        )
    binary = tmp_path / "print_length"
    subprocess.run(
        [compiler, str(tmp_path / "main.o"), str(tmp_path / "data.o"), "-o", str(binary)],
        check=True,
    )
    output = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    assert output.split() == [str(micro.result.size_bytes), "TFL3"]


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


def test_c_array_is_written_to_a_remote_filesystem(tmp_path, ram):
    converter.write_c_array(b"TFL3", f"{ram}/c/d.cc", f"{ram}/c/d.h", "g_x")
    converter.write_c_array(b"TFL3", str(tmp_path / "d.cc"), str(tmp_path / "d.h"), "g_x")
    assert _read(f"{ram}/c/d.cc") == (tmp_path / "d.cc").read_bytes()
    assert _read(f"{ram}/c/d.h") == (tmp_path / "d.h").read_bytes()


def _artifact(kind, uri):
    instance = kind()
    instance.uri = uri
    return instance


def _write_examples(examples_uri, split, rows):
    tf.io.gfile.makedirs(f"{examples_uri}/Split-{split}")
    path = f"{examples_uri}/Split-{split}/data_tfrecord-00000-of-00001.gz"
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in rows:
            writer.write(_example(row))


@pytest.fixture(scope="module")
def trainer_model(micro, tmp_path_factory):
    """The micro fixture's model, exported as the Trainer does: Transform graph inside."""
    model = tf.keras.models.load_model(micro.model_dir)
    path = str(tmp_path_factory.mktemp("trainer") / "Format-Serving")
    export.export_serving_model(model, micro.tft_output, LABEL_CLASSES, path)
    return path


def test_component_reads_and_writes_artifacts_on_a_remote_filesystem(micro, trainer_model, ram):
    converter.copy_tree(trainer_model, f"{ram}/model/Format-Serving")
    converter.copy_tree(micro.transform_dir, f"{ram}/transform")
    _write_examples(f"{ram}/examples", "train", ROWS)
    _write_examples(f"{ram}/examples", "eval", ROWS)
    tflite_model = _artifact(standard_artifacts.Model, f"{ram}/tflite")

    TFLiteConverter.test_call(
        model=_artifact(standard_artifacts.Model, f"{ram}/model"),
        examples=_artifact(standard_artifacts.Examples, f"{ram}/examples"),
        transform_graph=_artifact(standard_artifacts.TransformGraph, f"{ram}/transform"),
        tflite_model=tflite_model,
        quantization="dynamic",
        accuracy_tolerance=0.01,
        micro=True,
        representative_examples=100,
    )

    assert _read(f"{ram}/tflite/{TFLITE_FILE}")[4:8] == b"TFL3"
    assert tflite_model.get_int_custom_property("examples") == len(ROWS)
    assert tflite_model.get_int_custom_property("tflite_blessed") == 1
    assert tflite_model.get_int_custom_property("requires_select_tf_ops") == 1
    assert sorted(tf.io.gfile.listdir(f"{ram}/tflite/micro")) == sorted(
        [
            converter.MICRO_MODEL_FILE,
            converter.MICRO_SOURCE_FILE,
            converter.MICRO_HEADER_FILE,
            converter.MICRO_PREPROCESSING_FILE,
        ]
    )
    micro_model = _read(f"{ram}/tflite/micro/{converter.MICRO_MODEL_FILE}")
    assert tflite_model.get_int_custom_property("micro_size_bytes") == len(micro_model)
    preprocessing = json.loads(_read(f"{ram}/tflite/micro/{converter.MICRO_PREPROCESSING_FILE}"))
    assert preprocessing["input"]["columns"] == list(micro.result.input_columns)
