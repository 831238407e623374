"""``runner.py predict --image FILE``: one picture through the served SavedModel, locally.

The model is the highest version under the model's serving directory, called through its
``serving_raw`` signature with the file's encoded bytes, the same path a REST ``predict``
with ``{"b64": ...}`` takes.
"""

import dataclasses
from pathlib import Path

import numpy as np

from components.features import image
from components.serving_pusher import pusher
from components.trainer import export


class PredictError(ValueError):
    """Nothing to predict with, or the file is no image the model can read (one line)."""


@dataclasses.dataclass(frozen=True)
class ImagePrediction:
    """A classifier's answer for one image.

    Attributes:
        version: The served version that answered.
        ranked: (class name, probability in [0, 1]) pairs, most probable first.
    """

    version: int
    ranked: tuple[tuple[str, float], ...]


def predict_image(
    model_base_path: Path, feature_name: str, classes: tuple[str, ...], image_file: Path
) -> ImagePrediction:
    """Classifies ``image_file`` with the latest served version.

    Args:
        model_base_path: ``<serving_root>/<model_name>``.
        feature_name: The image feature's name (the signature's input).
        classes: The label's classes, in class-id order.
        image_file: A PNG, JPEG, GIF or BMP file.

    Raises:
        PredictError: No served version, or the bytes are no decodable image.
        OSError: The file cannot be read.
    """
    import tensorflow as tf

    data = image_file.read_bytes()
    kind = image.image_format(data)
    if kind is None:
        raise PredictError(f"{image_file}: not an image (no PNG, JPEG, GIF or BMP signature)")
    versions = pusher.served_versions(model_base_path) if model_base_path.is_dir() else []
    if not versions:
        raise PredictError(
            f"nothing served in {model_base_path}: no run has pushed a blessed model yet"
        )
    version = max(versions)
    serve = tf.saved_model.load(str(model_base_path / str(version))).signatures[
        export.RAW_SIGNATURE
    ]
    try:
        outputs = serve(**{feature_name: tf.constant([data])})
    except tf.errors.InvalidArgumentError:
        raise PredictError(f"{image_file}: a {kind.upper()} file that does not decode") from None
    probabilities = outputs[export.PROBABILITIES].numpy()[0]
    order = np.argsort(-probabilities)
    return ImagePrediction(version, tuple((classes[i], float(probabilities[i])) for i in order))
