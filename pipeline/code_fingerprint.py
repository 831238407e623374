"""A digest of source code: the ``.py`` files at some paths, by name and content.

Free of TFX, TensorFlow and Beam: the up-to-date check (``pipeline/up_to_date.py``)
digests ``components/`` and ``pipeline/`` before they are imported, and
``pipeline/pipeline.py`` keys TFX's cache with digests of parts of ``components/``.
"""

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path


def python_files(root: Path, relative_paths: Iterable[str]) -> Iterator[Path]:
    """The ``.py`` files at ``relative_paths`` under ``root``, in a stable order.

    Args:
        root: The directory the paths are relative to.
        relative_paths: Each a file (taken as it is) or a directory (its ``.py`` files at
            any depth, sorted; compiled files in ``__pycache__`` are not ``.py``).
    """
    for relative in relative_paths:
        start = root / relative
        yield from sorted([start] if start.is_file() else start.rglob("*.py"))


def digest(root: Path, relative_paths: Iterable[str]) -> str:
    """SHA-256 hex digest over each file of ``python_files``: its path relative to
    ``root`` (POSIX form), then its bytes. Editing, adding, removing or renaming a file
    changes it.

    Raises:
        OSError: A file cannot be read.
    """
    sha256 = hashlib.sha256()
    for path in python_files(root, relative_paths):
        sha256.update(path.relative_to(root).as_posix().encode())
        sha256.update(path.read_bytes())
    return sha256.hexdigest()
