"""Reading and writing through ``tf.io.gfile``: local paths and URIs (``gs://``, ``ram://``)."""

import os
import posixpath
import re

import tensorflow as tf

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
# The last SavedModel loaded, keyed by its directory and the stat of these files in it.
_MODEL_FILES = ("saved_model.pb", "variables/variables.index")
_last_loaded: tuple[tuple, object] | None = None


def is_uri(path: str) -> bool:
    """Whether ``path`` is a URI (``scheme://...``) rather than a local path."""
    return bool(_URI.match(path))


def load_saved_model(saved_model_dir: str):
    """``tf.saved_model.load(saved_model_dir)``, loaded once for consecutive calls.

    The converter reads one SavedModel's signatures several times (input dtypes, task,
    Transform graph, parity); each load costs about 2 s. The last model loaded is kept
    (one slot, so memory does not grow) and is reloaded when its ``saved_model.pb`` or
    variables index changes (size and modification time; nanoseconds on a local disk), so a
    directory written over is read anew.

    Raises:
        OSError: No SavedModel at ``saved_model_dir`` (TensorFlow's own error).
    """
    global _last_loaded
    key = (saved_model_dir, *(_stamp(posixpath.join(saved_model_dir, f)) for f in _MODEL_FILES))
    if _last_loaded is None or _last_loaded[0] != key:
        _last_loaded = (key, tf.saved_model.load(saved_model_dir))
    return _last_loaded[1]


def _stamp(path: str) -> tuple[int, int]:
    if not tf.io.gfile.exists(path):
        return -1, -1
    if is_uri(path):
        stat = tf.io.gfile.stat(path)
        return stat.length, stat.mtime_nsec
    # TensorFlow's local stat rounds the time to whole seconds; os.stat does not.
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def write_bytes(path: str, data: bytes) -> int:
    """Writes ``data`` to ``path``, parent directories created; returns its size in bytes."""
    parent = posixpath.dirname(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    with tf.io.gfile.GFile(path, "wb") as handle:
        handle.write(data)
    return len(data)


def read_bytes(path: str) -> bytes:
    """The whole content of ``path``."""
    with tf.io.gfile.GFile(path, "rb") as handle:
        return handle.read()


def copy_tree(source: str, destination: str) -> None:
    """Copies a directory tree; either side may be a URI."""
    for directory, _, files in tf.io.gfile.walk(source):
        # Object stores may list a directory as "name/"; strip to one relative form.
        relative = directory[len(source.rstrip("/")) :].strip("/")
        target = posixpath.join(destination, relative) if relative else destination
        tf.io.gfile.makedirs(target)
        for name in files:
            tf.io.gfile.copy(
                posixpath.join(directory, name), posixpath.join(target, name), overwrite=True
            )


def directory_size(path: str) -> int:
    """Total bytes of the files under ``path``."""
    return sum(
        tf.io.gfile.stat(posixpath.join(directory, name)).length
        for directory, _, files in tf.io.gfile.walk(path)
        for name in files
    )
