"""Reading and writing through ``tf.io.gfile``: local paths and URIs (``gs://``, ``ram://``)."""

import posixpath
import re

import tensorflow as tf

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(path: str) -> bool:
    """Whether ``path`` is a URI (``scheme://...``) rather than a local path."""
    return bool(_URI.match(path))


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
