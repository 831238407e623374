"""Class folders of image files -> tf.Examples, one per file. No TFX imports.

The root holds one folder per class (``<root>/<class>/<file>``); the folder's name is the
label. Each file becomes one example with its bytes and what decoding it tells
(``components/image_example_gen/keys.py`` lists the keys). Decoding uses
``tf.io.decode_image``, so PNG, JPEG, GIF (first frame) and BMP are read.

A file the pipeline cannot use never fails the Beam pipeline: it becomes an example with
an ``image_error`` value ``<file_name>: <problem>`` (and height, width and channels 0 when
it does not decode), which StatisticsGen counts and the DataGate reports by name. Names
starting with ``.`` (``.DS_Store``, ``.git/``) are skipped, as are files directly in the
root (they have no class folder).
"""

import dataclasses
import os
import re
from collections.abc import Iterator, Sequence

import apache_beam as beam
import tensorflow as tf

from components.features import image
from components.image_example_gen import keys

# What marks the end of a whole file of the format: a file that lacks it was cut short.
_END_MARKERS = {"png": b"IEND\xaeB`\x82", "jpeg": b"\xff\xd9"}
_TF_NOISE = re.compile(r"^\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\].*$")


class ImageFolderError(ValueError):
    """The root holds no file to read; the message is one line naming it."""


@dataclasses.dataclass(frozen=True)
class ImageFile:
    """One entry of a class folder.

    Attributes:
        path: Its full path or URI, as ``tf.io.gfile`` reads it.
        file_name: Its path relative to the root, ``/``-separated (``3/0042.png``).
        label: The class folder's name.
    """

    path: str
    file_name: str
    label: str


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What a file's bytes say: format, decoded shape (0s if undecodable), any problem."""

    format: str
    height: int = 0
    width: int = 0
    channels: int = 0
    problem: str | None = None


def list_image_files(root: str, pattern: str = keys.FILE_PATTERN) -> list[ImageFile]:
    """The entries of the class folders under ``root`` matching ``pattern``, sorted by name.

    Args:
        root: The image folder: a local path or any ``tf.io.gfile`` URI.
        pattern: Glob relative to ``root``; the first path part is the class folder.

    Raises:
        ImageFolderError: Nothing matches.
    """
    base = root.rstrip("/")
    found = []
    for path in tf.io.gfile.glob(f"{base}/{pattern}"):
        file_name = path[len(base) + 1 :].replace(os.sep, "/")
        parts = file_name.split("/")
        if len(parts) < 2 or any(part.startswith(".") for part in parts):
            continue
        found.append(ImageFile(path=path, file_name=file_name, label=parts[0]))
    if not found:
        raise ImageFolderError(
            f"no file in a class folder under {root} (expected {root}/<class>/<image file>)"
        )
    return sorted(found, key=lambda f: f.file_name)


def sniff_format(data: bytes) -> str:
    """``png``, ``jpeg``, ``gif`` or ``bmp`` from the leading bytes; ``unknown`` otherwise."""
    return image.image_format(data) or keys.UNKNOWN_FORMAT


def inspect_image(data: bytes, accepted_formats: Sequence[str]) -> ImageInfo:
    """Decodes ``data`` for its shape and says what, if anything, makes it unusable.

    Args:
        data: A file's bytes.
        accepted_formats: Formats the pipeline takes (names as in ``keys.FORMATS``);
            another decodable format is a problem too.

    Returns:
        The format and shape; ``problem`` is one line without the file name, or None.
    """
    image_format = sniff_format(data)
    if not data:
        return ImageInfo(format=image_format, problem="empty file")
    if image_format == keys.UNKNOWN_FORMAT:
        return ImageInfo(
            format=image_format, problem="not an image (no PNG, JPEG, GIF or BMP signature)"
        )
    try:
        shape = tf.io.decode_image(data, channels=0, expand_animations=False).shape
    except tf.errors.OpError as err:
        detail = _TF_NOISE.sub("", " ".join(err.message.split()))
        end = _END_MARKERS.get(image_format)
        if end is not None and not data.rstrip(b"\x00").endswith(end):
            problem = f"truncated {image_format.upper()} (no end marker): {detail}"
        else:
            problem = f"{image_format.upper()} that cannot be decoded: {detail}"
        return ImageInfo(format=image_format, problem=problem)
    height, width, channels = (int(n) for n in shape)
    problem = None
    if image_format not in accepted_formats:
        problem = (
            f"{image_format} image, not one of the accepted formats {', '.join(accepted_formats)}"
        )
    return ImageInfo(image_format, height, width, channels, problem)


def to_example(
    file: ImageFile,
    data: bytes,
    info: ImageInfo,
    image_key: str = keys.IMAGE,
    label_key: str = keys.LABEL,
) -> tf.train.Example:
    """One file as a tf.Example (``keys.py`` lists the features)."""
    example = tf.train.Example()
    feature = example.features.feature
    feature[image_key].bytes_list.value.append(data)
    feature[label_key].bytes_list.value.append(file.label.encode())
    feature[keys.HEIGHT].int64_list.value.append(info.height)
    feature[keys.WIDTH].int64_list.value.append(info.width)
    feature[keys.CHANNELS].int64_list.value.append(info.channels)
    feature[keys.FORMAT].bytes_list.value.append(info.format.encode())
    feature[keys.FILE_NAME].bytes_list.value.append(file.file_name.encode())
    if info.problem is not None:
        line = f"{file.file_name}: {info.problem}"
        feature[keys.IMAGE_ERROR].bytes_list.value.append(line.encode())
    return example


def read_example(
    file: ImageFile,
    accepted_formats: Sequence[str],
    image_key: str = keys.IMAGE,
    label_key: str = keys.LABEL,
) -> tf.train.Example:
    """Reads and inspects one file; a folder or an unreadable file is an ``image_error``."""
    if tf.io.gfile.isdir(file.path):
        info = ImageInfo(
            format=keys.UNKNOWN_FORMAT,
            problem="a folder inside a class folder (images must sit directly in it)",
        )
        return to_example(file, b"", info, image_key, label_key)
    try:
        with tf.io.gfile.GFile(file.path, "rb") as stream:
            data = stream.read()
    except (OSError, tf.errors.OpError) as err:
        reason = getattr(err, "message", None) or getattr(err, "strerror", None) or str(err)
        info = ImageInfo(format=keys.UNKNOWN_FORMAT, problem=f"cannot be read: {reason}")
        return to_example(file, b"", info, image_key, label_key)
    return to_example(file, data, inspect_image(data, accepted_formats), image_key, label_key)


class _ReadExample(beam.DoFn):
    def __init__(self, accepted_formats: Sequence[str], image_key: str, label_key: str):
        self._formats = tuple(accepted_formats)
        self._image_key = image_key
        self._label_key = label_key

    def process(self, file: ImageFile) -> Iterator[tf.train.Example]:
        yield read_example(file, self._formats, self._image_key, self._label_key)


class ImagesToExamples(beam.PTransform):
    """Reads the class folders under ``root`` into one PCollection of tf.Examples.

    The files are listed when the pipeline is built, so an empty root fails before Beam
    runs (ImageFolderError); no file fails the pipeline once it runs.
    """

    def __init__(
        self,
        root: str,
        accepted_formats: Sequence[str] = keys.DEFAULT_FORMATS,
        image_key: str = keys.IMAGE,
        label_key: str = keys.LABEL,
        pattern: str = keys.FILE_PATTERN,
    ):
        super().__init__()
        unknown = sorted(set(accepted_formats) - set(keys.FORMATS))
        if unknown or not accepted_formats:
            raise ImageFolderError(
                f"image formats must be some of {', '.join(keys.FORMATS)}, got "
                f"{', '.join(accepted_formats) or 'none'}"
            )
        others = set(keys.example_keys()) - {keys.IMAGE, keys.LABEL}
        if image_key == label_key or {image_key, label_key} & others:
            raise ImageFolderError(f"image key {image_key!r} and label key {label_key!r} clash")
        self._files = list_image_files(root, pattern)
        self._formats = tuple(accepted_formats)
        self._image_key = image_key
        self._label_key = label_key

    @property
    def files(self) -> list[ImageFile]:
        return list(self._files)

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        return (
            pipeline
            | "ImageFiles" >> beam.Create(self._files)
            | "Spread" >> beam.Reshuffle()
            | "ReadImages"
            >> beam.ParDo(_ReadExample(self._formats, self._image_key, self._label_key))
        )
