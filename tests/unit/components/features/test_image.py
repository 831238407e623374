"""The image feature type: Transform step, encoders, transfer learning, training options."""

import numpy as np
import pytest
import tensorflow as tf

from components import features
from components.features import image
from components.trainer import run
from components.trainer.hparams import HyperParameters
from components.trainer.model import build_model, image_backbone, unfreeze_top

CLASSES = ("a", "b", "c")


def image_feature(**options) -> features.Feature:
    return features.make_feature(
        "picture", {"type": "image", "height": 32, "width": 32, "channels": 3, **options}
    )


def spec_of(feature: features.Feature) -> features.FeatureSpec:
    return features.FeatureSpec("classification", features.Label("label", CLASSES), (feature,))


def png(pixels: np.ndarray) -> bytes:
    return tf.io.encode_png(tf.constant(pixels, tf.uint8)).numpy()


@pytest.fixture(scope="module")
def backbone_weights(tmp_path_factory) -> str:
    """A test-sized MobileNetV2 (alpha 0.35, 32x32 RGB, no top) with weights of its own:
    each variable moved off its initial value by seeded noise (a training step's effect,
    without compiling MobileNetV2's gradient, which takes minutes here), then saved."""
    backbone = tf.keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None, pooling="avg"
    )
    rng = np.random.default_rng(0)
    backbone.set_weights(
        [w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in backbone.get_weights()]
    )
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2_0.35_32_no_top.h5"
    backbone.save_weights(str(path))
    return str(path)


def test_transform_decodes_resizes_and_scales_png_and_jpeg():
    gray = np.full((8, 8, 1), 255, np.uint8)
    color = np.zeros((20, 10, 3), np.uint8)
    color[..., 0] = 255
    jpeg = tf.io.encode_jpeg(tf.constant(color), quality=100).numpy()
    feature = image_feature(height=16, width=16, channels=3)
    out = image.transform(tf.constant([png(gray), jpeg, b""]), feature).numpy()
    assert out.shape == (3, 16, 16, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], 1.0)  # white gray repeated to RGB
    assert out[1, ..., 0].mean() > 0.95 and out[1, ..., 1:].mean() < 0.05  # red stays red
    assert not out[2].any()  # no image: zeros


def test_transform_takes_sparse_input_and_converts_rgb_to_gray():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 200
    sparse = tf.sparse.from_dense(tf.constant([[png(rgb)]]))
    out = image.transform(sparse, image_feature(height=4, width=4, channels=1)).numpy()
    assert out.shape == (1, 4, 4, 1)
    expected = tf.image.rgb_to_grayscale(tf.constant(rgb / 255.0, tf.float32)).numpy()
    np.testing.assert_allclose(out[0], expected, atol=1 / 255)


def test_undecodable_bytes_fail_in_transform():
    with pytest.raises(tf.errors.InvalidArgumentError):
        image.transform(tf.constant([b"not an image"]), image_feature())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"weights": "imagenet", "model": "mobilenet_v2"}, "weights: 'imagenet' would download"),
        ({"model": "mobilenet_v2", "height": 16}, "mobilenet_v2 needs at least 32 pixels"),
        ({"weights": "w.h5"}, "weights: the cnn model trains from scratch"),
        ({"channels": 2}, "channels: 1 (grayscale) or 3 (RGB)"),
        ({"model": "resnet"}, "model: one of cnn, mobilenet_v2"),
    ],
)
def test_options_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        image_feature(**options)


def test_cnn_classifier_learns_a_trivial_image_task():
    feature = image_feature(height=8, width=8, channels=1, flip=False)
    model = build_model(
        HyperParameters(hidden_units=(16,), learning_rate=0.03), spec_of(feature), {}
    )
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 48)
    pixels = np.zeros((48, 8, 8, 1), np.float32)
    for i, label in enumerate(labels):
        pixels[i, :, label * 2 : label * 2 + 2] = 1.0  # a vertical bar per class
    model.fit({"picture_xf": pixels}, labels, epochs=25, batch_size=16, verbose=0)
    predicted = model.predict({"picture_xf": pixels}, verbose=0).argmax(axis=1)
    assert (predicted == labels).mean() > 0.9
    assert image_backbone(model, spec_of(feature)) is None


def test_mobilenet_backbone_loads_the_weights_file_and_starts_frozen(backbone_weights):
    feature = image_feature(model="mobilenet_v2", alpha=0.35, weights=backbone_weights)
    model = build_model(HyperParameters(hidden_units=(8,)), spec_of(feature), {})
    backbone = image_backbone(model, spec_of(feature))
    saved = tf.keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None, pooling="avg"
    )
    saved.load_weights(backbone_weights)
    for loaded, expected in zip(backbone.weights, saved.weights, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), expected.numpy())
    assert not backbone.trainable
    head_only = {id(w) for w in model.trainable_weights}
    assert not head_only & {id(w) for w in backbone.weights}


def test_fine_tuning_unfreezes_only_the_top_layers_without_batch_norm(backbone_weights):
    feature = image_feature(model="mobilenet_v2", alpha=0.35, weights=backbone_weights)
    model = build_model(HyperParameters(hidden_units=(8,)), spec_of(feature), {})
    backbone = image_backbone(model, spec_of(feature))
    unfrozen = unfreeze_top(backbone, 10)
    top = backbone.layers[-10:]
    assert unfrozen == sum(
        not isinstance(layer, tf.keras.layers.BatchNormalization) for layer in top
    )
    assert not any(layer.trainable for layer in backbone.layers[:-10])


def test_a_weights_file_of_another_shape_is_named_in_one_line(backbone_weights):
    feature = image_feature(model="mobilenet_v2", alpha=0.5, weights=backbone_weights)
    with pytest.raises(ValueError, match=r"picture\.weights: .* does not fit a MobileNetV2"):
        build_model(HyperParameters(hidden_units=(8,)), spec_of(feature), {})


def test_mixed_precision_trains_with_float32_outputs():
    feature = image_feature(height=8, width=8, channels=1)
    run.set_precision_policy(True)
    try:
        model = build_model(HyperParameters(hidden_units=(8,)), spec_of(feature), {})
        assert model.layers[-2].compute_dtype == "float16"
        model.fit({"picture_xf": np.random.rand(8, 8, 8, 1)}, np.arange(8) % 3, epochs=1, verbose=0)
        assert model.output.dtype == tf.float32
    finally:
        run.set_precision_policy(False)


def test_mirrored_strategy_builds_and_trains_on_one_cpu():
    feature = image_feature(height=8, width=8, channels=1)
    strategy = run.distribution_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    with strategy.scope():
        model = build_model(HyperParameters(hidden_units=(8,)), spec_of(feature), {})
    history = model.fit(
        {"picture_xf": np.random.rand(16, 8, 8, 1)}, np.arange(16) % 3, epochs=2, verbose=0
    )
    assert len(history.history["loss"]) == 2
    with pytest.raises(ValueError, match="distribution: none or mirrored"):
        run.distribution_strategy("tpu")


def test_thumbnail_is_the_file_itself_as_a_data_uri():
    data = png(np.zeros((2, 2, 1), np.uint8))
    uri = image.thumbnail_uri(data)
    assert uri.startswith("data:image/png;base64,")
    assert image.thumbnail_uri(b"plain text") == ""
