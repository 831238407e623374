"""Image TFLite forms: the Keras model over pixels, phone and micro, scored the device way."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components import features
from components.features import image as image_type
from components.tflite_converter import image_forms
from components.trainer.hparams import HyperParameters
from components.trainer.model import build_model

CLASSES = ("bar", "dot")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A CNN that tells a vertical bar from a dot on 8x8 grayscale PNGs, saved as the
    Trainer saves it (a tf-keras SavedModel with ``serving_raw``), its PNGs and labels."""
    feature = features.make_feature(
        "image", {"type": "image", "height": 8, "width": 8, "channels": 1, "flip": False}
    )
    spec = features.FeatureSpec("classification", features.Label("label", CLASSES), (feature,))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 64)
    pixels = np.zeros((64, 8, 8, 1), np.uint8)
    for i, label in enumerate(labels):
        column = rng.integers(1, 7)
        if label == 0:
            pixels[i, :, column] = 255
        else:
            pixels[i, 3:5, column] = 255
    encoded = np.array([tf.io.encode_png(p).numpy() for p in pixels], dtype=object)
    model = build_model(HyperParameters(hidden_units=(8,), learning_rate=0.03), spec, {})
    model.fit({"image_xf": pixels / 255.0}, labels, epochs=30, verbose=0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image")])
    def serve_raw(image):  # as the Trainer exports it: encoded bytes in, Transform inside
        return {"probabilities": model({"image_xf": image_type.decode(image, (8, 8, 1))})}

    path = tmp_path_factory.mktemp("model") / "saved"
    model.save(str(path), save_format="tf", signatures={"serving_raw": serve_raw})
    return str(path), feature, spec, encoded, labels


def test_image_feature_is_the_only_feature_or_refused():
    image = features.make_feature("photo", "image")
    size = features.make_feature("size", "numeric")
    label = features.Label("label", CLASSES)
    assert image_forms.image_feature(features.FeatureSpec("classification", label, (size,))) is None
    assert (
        image_forms.image_feature(features.FeatureSpec("classification", label, (image,))) == image
    )
    with pytest.raises(ValueError, match="features.photo: the TFLite forms take an image model"):
        image_forms.image_feature(features.FeatureSpec("classification", label, (image, size)))


@pytest.mark.parametrize("quantization", ["none", "float16", "int8"])
def test_phone_forms_answer_like_the_keras_model(trained, tmp_path, quantization):
    saved, feature, _, encoded, labels = trained
    pixels = image_forms.pixels(encoded, feature)
    form = image_forms.convert_image_model(
        saved, str(tmp_path / "m.tflite"), feature, quantization, lambda: [pixels]
    )
    predict = image_forms.image_predictor(
        (tmp_path / "m.tflite").read_bytes(), feature, "classification"
    )
    keras = tf.keras.models.load_model(saved).predict({"image_xf": pixels}, verbose=0)
    assert form.size_bytes == (tmp_path / "m.tflite").stat().st_size and not form.int8_io
    np.testing.assert_allclose(predict({"image": encoded}), keras, atol=0.05)


def test_micro_form_is_int8_in_and_out_with_its_files_and_arena(trained, tmp_path):
    saved, feature, spec, encoded, labels = trained
    pixels = image_forms.pixels(encoded, feature)
    form = image_forms.convert_image_model(
        saved, str(tmp_path / "model.tflite"), feature, "int8", lambda: [pixels], int8_io=True
    )
    paths = image_forms.write_micro_files(form, str(tmp_path), feature, spec)
    details = tf.lite.Interpreter(model_path=form.path).get_input_details()[0]
    assert details["dtype"] == np.int8 and list(details["shape"]) == [1, 8, 8, 1]
    document = json.loads(Path(paths["preprocessing"]).read_text())
    assert document["output"]["classes"] == list(CLASSES)
    assert document["image"]["resize"] == {"height": 8, "width": 8, "method": "bilinear"}
    assert document["arena_bytes_estimate"] == form.arena_bytes
    # The input (64 int8) and the first conv's output (8x8x16 int8) live at once at least.
    assert 8 * 8 * 16 <= form.arena_bytes < 64 * 1024
    assert Path(paths["source"]).read_text().count("0x") >= form.size_bytes
    report = image_forms.check_image_parity(
        saved, form.path, feature, encoded, labels, "classification", latency_examples=5
    )
    assert report.examples == 64 and report.accuracy_drop <= 0.05
    assert report.saved_model_accuracy > 0.9


def test_int8_needs_representative_images_and_int8_io_needs_int8(trained, tmp_path):
    saved, feature, *_ = trained
    with pytest.raises(ValueError, match="representative images"):
        image_forms.convert_image_model(saved, str(tmp_path / "a"), feature, "int8")
    with pytest.raises(ValueError, match="int8 input and output need"):
        image_forms.convert_image_model(
            saved, str(tmp_path / "b"), feature, "float16", lambda: [], int8_io=True
        )
