"""Filesystem errors as one line for the command line, and checks that find them early.

``describe`` turns an ``OSError`` into ``<path>: <problem>`` and, when a file sits where a
directory is needed, names that file. The ``check_*`` functions raise such an error before
a command sets out, instead of letting a wrong path pass for "nothing there yet".
"""

import errno
import os
import stat
from pathlib import Path


def describe(error: OSError) -> str:
    """One line naming the path(s) and the problem, e.g.

    ``/w/runs: Not a directory (/w is a regular file, not a directory)``.
    """
    problem = error.strerror or str(error) or type(error).__name__
    if error.filename is None:
        return problem
    paths = os.fsdecode(error.filename)
    if error.filename2 is not None:
        paths += f" -> {os.fsdecode(error.filename2)}"
    line = f"{paths}: {problem}"
    target = Path(os.fsdecode(error.filename))
    blocker = blocking_file(target)
    if (
        blocker is None
        and error.errno in (errno.EEXIST, errno.ENOTDIR)
        and _is_non_directory(target)
    ):
        blocker = target
    if blocker is not None:
        line += f" ({blocker} is {_kind(blocker)}, not a directory)"
    return line


def blocking_file(path: Path) -> Path | None:
    """The first existing ancestor of ``path`` that is not a directory, if any."""
    for ancestor in reversed(path.parents):
        try:
            mode = ancestor.stat().st_mode
        except OSError:
            return None  # missing (or unreadable): nothing further down exists either
        if not stat.S_ISDIR(mode):
            return ancestor
    return None


def check_directory(path: Path) -> None:
    """Checks that ``path`` is a directory or could be created as one.

    Missing is fine (nothing was written there yet); a file in its place, or on its way,
    is not.

    Raises:
        NotADirectoryError: ``path`` or one of its ancestors exists and is not a directory.
    """
    _check_ancestors(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))


def check_file(path: Path) -> None:
    """Checks that ``path`` is a regular file or could be created as one.

    Raises:
        NotADirectoryError: One of its ancestors exists and is not a directory.
        IsADirectoryError: ``path`` is a directory.
    """
    _check_ancestors(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))


def check_listable(directory: Path) -> None:
    """Checks that ``directory`` and the directories right in it can be listed.

    Raises:
        OSError: One of them cannot be listed (``PermissionError`` naming it, for example).
    """
    for entry in os.scandir(directory):
        if entry.is_dir():
            os.listdir(entry.path)


def _check_ancestors(path: Path) -> None:
    if blocking_file(path) is not None:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))


def _is_non_directory(path: Path) -> bool:
    return os.path.lexists(path) and not path.is_dir()


def _kind(path: Path) -> str:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return "something else"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "a special file"
