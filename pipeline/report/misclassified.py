"""The report's grid of misclassified test images (image classifiers only).

The test split is scored again with the run's SavedModel (``serving_default`` on the raw
examples, the Transform graph inside), because TFMA keeps no per-example predictions.
Thumbnails are the files' own bytes as ``data:`` URIs, so the page stays self-contained.
"""

import dataclasses
import posixpath
from collections.abc import Iterator, Sequence

from components.examples_io import read_serialized_examples
from components.features import image
from components.features.spec import FeatureSpec
from components.trainer import export

# The model's SavedModel inside a Trainer model artifact (TFX's path_utils layout).
_SERVING_DIR = "Format-Serving"
_BATCH = 64


@dataclasses.dataclass(frozen=True)
class Misclassified:
    """One test image the model got wrong.

    Attributes:
        thumbnail: ``data:image/<format>;base64,...`` of the original file.
        file_name: Its path under the data directory ("" when the example has none).
        true_class: The label.
        predicted_class: The model's most probable class.
        probability: The model's probability for ``predicted_class``, in [0, 1].
    """

    thumbnail: str
    file_name: str
    true_class: str
    predicted_class: str
    probability: float


@dataclasses.dataclass(frozen=True)
class MisclassifiedGrid:
    """Up to ``limit`` misclassified images among the ``scanned`` test examples."""

    images: tuple[Misclassified, ...]
    scanned: int
    wrong: int


def misclassified_images(
    spec: FeatureSpec,
    model_uri: str,
    examples_uri: str,
    split: str = "test",
    limit: int = 24,
    scan: int = 1000,
) -> MisclassifiedGrid | None:
    """The misclassified images of ``split``, or None when the spec has no image feature.

    Args:
        spec: The feature spec (its image feature and label).
        model_uri: The Trainer's model artifact.
        examples_uri: The ExampleGen's examples artifact.
        split: The split to score.
        limit: At most this many thumbnails.
        scan: At most this many examples scored.
    """
    images = spec.of_type(image.TYPE)
    if not images or spec.is_regression:
        return None
    import tensorflow as tf

    serve = tf.saved_model.load(posixpath.join(model_uri, _SERVING_DIR)).signatures[
        export.SERVING_SIGNATURE
    ]
    records = read_serialized_examples(examples_uri, split, scan)
    wrong, found = 0, []
    for batch in _batches(records, _BATCH):
        outputs = serve(examples=tf.constant(batch))
        predicted = outputs[export.CLASS_IDS].numpy()
        probabilities = outputs[export.PROBABILITIES].numpy()
        for record, class_id, row in zip(batch, predicted, probabilities, strict=True):
            example = tf.train.Example.FromString(record).features.feature
            truth = _text(example, spec.label.name)
            guess = spec.label.classes[int(class_id)]
            if truth == guess:
                continue
            wrong += 1
            if len(found) < limit:
                found.append(
                    Misclassified(
                        thumbnail=image.thumbnail_uri(_bytes(example, images[0].name)),
                        file_name=_text(example, "file_name"),
                        true_class=truth,
                        predicted_class=guess,
                        probability=float(row[int(class_id)]),
                    )
                )
    return MisclassifiedGrid(tuple(found), scanned=len(records), wrong=wrong)


def _batches(records: Sequence[bytes], size: int) -> Iterator[list[bytes]]:
    for start in range(0, len(records), size):
        yield list(records[start : start + size])


def _bytes(feature_map, key: str) -> bytes:
    if key not in feature_map or not feature_map[key].bytes_list.value:
        return b""
    return feature_map[key].bytes_list.value[0]


def _text(feature_map, key: str) -> str:
    if key in feature_map and feature_map[key].int64_list.value:
        return str(feature_map[key].int64_list.value[0])
    return _bytes(feature_map, key).decode("utf-8", "replace")
