"""The tf.Example keys and image formats of ImageExampleGen. Imports nothing heavy.

Every example holds, for one file under a class folder ``<root>/<class>/<file>``:

- ``image`` (bytes): the file's bytes, as stored (not decoded).
- ``label`` (bytes): the class folder's name.
- ``height``, ``width``, ``channels`` (int64): the decoded image's shape; 0 when the file
  cannot be decoded.
- ``format`` (bytes): ``png``, ``jpeg``, ``gif`` or ``bmp`` from the file's leading bytes
  (its signature, not its extension); ``unknown`` for anything else.
- ``file_name`` (bytes): the path relative to the root, ``/``-separated: ``3/0042.png``.
  The splits hash it, so a file keeps its split when others are added.
- ``image_error`` (bytes): present only on a file the pipeline cannot use, as one line
  ``<file_name>: <problem>`` (undecodable, truncated, not an image, a format outside the
  accepted ones, a folder inside a class folder).

``image`` and ``label`` are the defaults of the component's ``image_key`` and ``label_key``.
"""

IMAGE = "image"
LABEL = "label"
HEIGHT = "height"
WIDTH = "width"
CHANNELS = "channels"
FORMAT = "format"
FILE_NAME = "file_name"
IMAGE_ERROR = "image_error"

# Formats tf.io.decode_image reads, by the name the ``format`` feature holds.
FORMATS = ("png", "jpeg", "gif", "bmp")
UNKNOWN_FORMAT = "unknown"
DEFAULT_FORMATS = ("png", "jpeg")

# The files ExampleGen reads (and TFX fingerprints), relative to the root: class folders' entries.
FILE_PATTERN = "*/*"


def example_keys(image_key: str = IMAGE, label_key: str = LABEL) -> tuple[str, ...]:
    """Every key an example may hold, ``image_error`` last (it is present only on bad files)."""
    return (image_key, label_key, HEIGHT, WIDTH, CHANNELS, FORMAT, FILE_NAME, IMAGE_ERROR)
