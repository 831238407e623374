"""Image features: encoded bytes decoded, made uniform and scaled in Transform; a small CNN
or a Keras application backbone (transfer learning) as the encoder.

Raw value: the encoded file (PNG, JPEG, GIF or BMP bytes), one per example, as the image
ExampleGen writes it. Transform decodes it to ``channels`` (1: grayscale, 3: RGB; a
grayscale file is repeated to RGB, an RGB one averaged to gray as ``tf.image`` does),
resizes it to ``height`` x ``width`` (bilinear, aspect ratio not kept) and scales pixels
to [0, 1]: float32 [batch, height, width, channels]. A missing image is all zeros.

Serving input: the encoded bytes (string; ``{"b64": ...}`` over REST). TFLite and
microcontroller models take the decoded, resized, scaled pixels instead; the device does
those three steps itself (``preprocessing_rule``).
"""

from collections.abc import Mapping
from typing import Any

from components.features import tensors
from components.features.lazy import tf
from components.features.spec import Feature, transformed_name

TYPE = "image"
BACKBONES = ("cnn", "mobilenet_v2")
# height, width, channels: the uniform size images are made.
# model: ``cnn`` (three conv blocks, trained from scratch) or ``mobilenet_v2`` (Keras
#   application, input scaled to [-1, 1]; ``alpha`` is its width multiplier).
# weights: a Keras weights file for the backbone (``save_weights`` .h5 of the same
#   application, alpha and input size, without its top); "" starts from random weights.
# fine_tune_layers: layers at the top of the backbone unfrozen in the fine-tuning phase.
# flip, rotation, zoom: training-only augmentation (horizontal flip; rotation as a
#   fraction of a full turn; zoom as a fraction of the size); 0/false is off.
OPTIONS: Mapping[str, Any] = {
    "height": 224,
    "width": 224,
    "channels": 3,
    "model": "cnn",
    "alpha": 1.0,
    "weights": "",
    "fine_tune_layers": 30,
    "flip": True,
    "rotation": 0.0,
    "zoom": 0.0,
}
_MOBILENET_MIN_SIZE = 32
_CNN_FILTERS = (16, 32, 64)
_DOWNLOAD_WORDS = ("imagenet",)


def check_options(options: Mapping[str, Any]) -> None:
    """Raises ValueError naming the option when a value is out of range or needs a download."""
    for name in ("height", "width"):
        if options[name] < 1:
            raise ValueError(f"{name}: must be >= 1, got {options[name]}")
    if options["channels"] not in (1, 3):
        raise ValueError(f"channels: 1 (grayscale) or 3 (RGB), got {options['channels']}")
    if options["model"] not in BACKBONES:
        raise ValueError(f"model: one of {', '.join(BACKBONES)}, got {options['model']!r}")
    if options["model"] == "mobilenet_v2" and min(options["height"], options["width"]) < 32:
        raise ValueError(
            f"height, width: mobilenet_v2 needs at least {_MOBILENET_MIN_SIZE} pixels, "
            f"got {options['height']}x{options['width']}"
        )
    if options["weights"] and options["model"] == "cnn":
        raise ValueError("weights: the cnn model trains from scratch; weights need a backbone")
    if options["weights"] in _DOWNLOAD_WORDS:
        raise ValueError(
            f"weights: {options['weights']!r} would download the weights, and nothing downloads "
            "at run time; download the application's no-top .h5 file once (e.g. "
            "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5 from the Keras "
            "applications release) and give its path"
        )
    if not 0 <= options["rotation"] <= 0.5 or not 0 <= options["zoom"] < 1:
        raise ValueError("rotation: in [0, 0.5] (of a turn); zoom: in [0, 1)")
    if options["alpha"] <= 0 or options["fine_tune_layers"] < 0:
        raise ValueError("alpha: must be > 0; fine_tune_layers: must be >= 0")


def image_shape(feature: Feature) -> tuple[int, int, int]:
    """(height, width, channels) of the transformed image."""
    return feature.option("height"), feature.option("width"), feature.option("channels")


def decode(encoded: Any, shape: tuple[int, int, int]) -> Any:
    """[batch] encoded images -> float32 [batch, height, width, channels] in [0, 1].

    An empty string (no image) gives zeros. Raises InvalidArgumentError at run time
    for bytes that are no image (the DataGate stops such files before Transform).
    """
    height, width, channels = shape

    def one(data: Any) -> Any:
        def decoded() -> Any:
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
            image = tf.image.convert_image_dtype(image, tf.float32)
            return tf.image.resize(image, [height, width])

        return tf.cond(
            tf.strings.length(data) > 0, decoded, lambda: tf.zeros([height, width, channels])
        )

    images = tf.map_fn(one, encoded, fn_output_signature=tf.TensorSpec(shape, tf.float32))
    return tf.reshape(tf.clip_by_value(images, 0.0, 1.0), [-1, height, width, channels])


def transform(raw: Any, feature: Feature) -> Any:
    """Raw bytes (dense or sparse) -> float32 pixels [batch, height, width, channels]."""
    return decode(tensors.fill_missing(raw, ""), image_shape(feature))


def vocabulary_size(feature: Feature, tft_output: Any) -> int:
    return 0


def model_input(feature: Feature) -> Any:
    return tf.keras.Input(
        shape=image_shape(feature), name=transformed_name(feature.name), dtype=tf.float32
    )


def backbone_name(feature: Feature) -> str:
    """Name of the backbone layer inside the model (found again for fine-tuning)."""
    return f"{feature.name}_backbone"


def encode(model_input: Any, feature: Feature, vocabulary_size: int) -> Any:
    """[batch, height, width, channels] pixels -> [batch, width] image embedding.

    Augmentation layers come first and act in training only. ``mobilenet_v2`` runs its
    backbone in inference mode (batch-norm statistics stay as loaded, as the Keras
    transfer-learning guide does) and starts frozen; ``run_fn`` unfreezes its top layers
    for the fine-tuning phase.

    Raises:
        ValueError: The weights file does not fit the backbone (the message names it).
    """
    pixels = _augment(model_input, feature)
    if feature.option("model") == "cnn":
        return _cnn(pixels, feature)
    backbone = mobilenet_v2_backbone(feature)
    scaled = tf.keras.layers.Rescaling(2.0, offset=-1.0)(pixels)
    if feature.option("channels") == 1:
        scaled = tf.keras.layers.Concatenate()([scaled, scaled, scaled])
    return backbone(scaled, training=False)


def mobilenet_v2_backbone(feature: Feature) -> Any:
    """A MobileNetV2 without its top, average-pooled, frozen, weights from ``weights``."""
    height, width, _ = image_shape(feature)
    backbone = tf.keras.applications.MobileNetV2(
        input_shape=(height, width, 3),
        alpha=feature.option("alpha"),
        include_top=False,
        weights=None,
        pooling="avg",
    )
    backbone._name = backbone_name(feature)
    if feature.option("weights"):
        try:
            backbone.load_weights(feature.option("weights"))
        except (ValueError, OSError) as err:
            raise ValueError(
                f"features.{feature.name}.weights: {feature.option('weights')} does not fit a "
                f"MobileNetV2 (alpha {feature.option('alpha')}, {height}x{width}x3, no top): "
                f"{str(err).splitlines()[0]}"
            ) from None
    backbone.trainable = False
    return backbone


def _cnn(pixels: Any, feature: Feature) -> Any:
    hidden = pixels
    for filters in _CNN_FILTERS:
        hidden = tf.keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(hidden)
        if min(hidden.shape[1], hidden.shape[2]) >= 2:
            hidden = tf.keras.layers.MaxPooling2D()(hidden)
    return tf.keras.layers.GlobalAveragePooling2D()(hidden)


def _augment(pixels: Any, feature: Feature) -> Any:
    if feature.option("flip"):
        pixels = tf.keras.layers.RandomFlip("horizontal")(pixels)
    if feature.option("rotation"):
        pixels = tf.keras.layers.RandomRotation(feature.option("rotation"))(pixels)
    if feature.option("zoom"):
        pixels = tf.keras.layers.RandomZoom(feature.option("zoom"))(pixels)
    return pixels


def serving_spec(feature: Feature) -> Any:
    return tf.TensorSpec([None], tf.string, name=feature.name)


def missing_value() -> str:
    """The dense serving input's value for "missing"."""
    return ""


def preprocessing_rule(feature: Feature) -> dict[str, Any]:
    """What a device does to a raw image before the TFLite model, as ``preprocessing.json``
    states it: decode, convert channels, resize (bilinear) and scale to [0, 1]."""
    height, width, channels = image_shape(feature)
    return {
        "type": TYPE,
        "input": feature.name,
        "decode": "png, jpeg, gif or bmp to uint8",
        "channels": channels,
        "resize": {"height": height, "width": width, "method": "bilinear"},
        "scale": "pixel / 255",
        "layout": "NHWC float32 in [0, 1] (int8 models: quantized with the input's scale and "
        "zero point)",
    }


# The leading bytes (signature) of each format tf.io.decode_image reads.
SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)


def image_format(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``gif`` or ``bmp`` by the file's signature; None otherwise."""
    return next((name for signature, name in SIGNATURES if data.startswith(signature)), None)


def thumbnail_uri(data: bytes) -> str:
    """The report view of an image value: the encoded file as a ``data:`` URI (the browser
    scales it); "" for bytes that are no known image format."""
    import base64

    kind = image_format(data)
    if kind is None:
        return ""
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"
