"""Pushes SavedModels into a TF Serving model directory, atomically and with history.

Layout under ``model_base_path`` (what TF Serving and ``serving/repository.py`` read)::

    <model_base_path>/<version>/saved_model.pb   # one numeric directory per served version
    <model_base_path>/rolled_back/<version>/     # versions taken out of service by rollback()
    <model_base_path>/push_history.jsonl         # one JSON object per push, rollback, retirement
    <model_base_path>/owner.json                 # the pipeline that owns this model name
    <model_base_path>/.tmp-<name>.<pid>.<ticks>@<host>   # a copy in progress, and its owner
    <model_base_path>-tflite/<version>/          # TFLite files published with a version
    <model_base_path>-tflite/rolled_back/<version>/

TF Serving only loads directories whose names are integers, so a copy becomes visible
the moment it is renamed to ``<version>``, complete. The first push that names its
pipeline writes ``owner.json``; a push from another pipeline into the same model name is
refused (``ModelOwnershipError``), so two pipelines never replace each other's model.
Version numbers only grow: a number once pushed is never given out again, even after it
was rolled back or retired.

Sources (the SavedModel, TFLite files) are read through ``tf.io.gfile``, so they may live
on any filesystem it knows (``gs://`` on Kubeflow, local). The serving root must be a
POSIX path: the atomic rename, ``fsync`` and ``fcntl`` lock need a real filesystem, and
TF Serving watches one (a volume mounted into the pusher's container).
A copy in progress is a hidden ``.tmp-*`` directory named after the process that owns it.
A push killed mid-copy leaves one behind; the next push removes it once its owner is gone
(or, when the owner is on another host, once it is older than that push's lock), and never
touches one whose owner still runs.
This module has no TFX imports; ``component.py`` is the thin TFX shim around it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import posixpath
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from components import process_owner

HISTORY_FILE = "push_history.jsonl"
OWNER_FILE = "owner.json"
ROLLED_BACK_DIR = "rolled_back"
MODELS_CONFIG_FILE = "models.config"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
_LOCK_FILE = ".push.lock"
_TMP_PREFIX = ".tmp-"
# .tmp-<name>.<pid>.<start ticks>@<host>; earlier pushers wrote .tmp-<name>-<pid>.
_STAGING_NAME = re.compile(
    r"\.tmp-.*\.(?P<pid>[0-9]+)\.(?P<ticks>[0-9]+)@(?P<host>[A-Za-z0-9._-]+)"
)
_VERSION_NAME = re.compile(r"[0-9]+")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_TFLITE_SUFFIX = "-tflite"


class ModelOwnershipError(ValueError):
    """A pipeline tried to push into a model name another pipeline owns."""


class RollbackError(ValueError):
    """A rollback was asked for that cannot be done (nothing earlier, unknown version)."""


class PushResult(NamedTuple):
    """Outcome of ``push_model``: the version now holding the model and where it lives.

    ``stale_staging`` are the leftover staging copies of dead pushes it removed.
    """

    version: int
    path: Path
    already_served: bool
    stale_staging: tuple[str, ...] = ()


class RollbackResult(NamedTuple):
    """Outcome of ``rollback``: the highest version before and after, and what moved aside.

    ``moved`` are the SavedModel versions moved to ``rolled_back/``, ``tflite_moved``
    those of them whose TFLite files moved to ``<model>-tflite/rolled_back/``.
    """

    from_version: int
    to_version: int
    moved: tuple[int, ...] = ()
    tflite_moved: tuple[int, ...] = ()


# ---------------------------------------------------------------------------- paths


def _is_uri(path: str | os.PathLike) -> bool:
    return bool(_URI.match(os.fspath(path)))


def serving_path(path: str | os.PathLike) -> Path:
    """``path`` (the serving root or a directory in it) as a local Path.

    Raises:
        ValueError: ``path`` is a URI. TF Serving watches a filesystem and a push is an
            atomic rename under a file lock, so the serving root must be a mounted
            POSIX path; checked before ``Path`` would fold ``gs://b`` into ``gs:/b``.
    """
    if _is_uri(path):
        raise ValueError(
            f"serving_root must be a mounted POSIX path, not a URI: {os.fspath(path)!r}"
        )
    return Path(path)


def tflite_base_path(model_base_path: str | os.PathLike) -> Path:
    """``<serving_root>/<model_name>-tflite``, where each version's TFLite files go."""
    base = serving_path(model_base_path)
    return base.with_name(base.name + _TFLITE_SUFFIX)


def source_files(directory: str | os.PathLike) -> list[str]:
    """Every file under ``directory`` (read through ``tf.io.gfile``), relative to it.

    Paths use ``/`` and are sorted part by part, as ``pathlib`` sorts, so the order does
    not depend on where the directory lives. Empty when ``directory`` does not exist.
    """
    return _walk_source(os.fspath(directory))[1]


def _walk_source(root: str) -> tuple[list[str], list[str]]:
    """Relative sub-directories and files under ``root``, through ``tf.io.gfile``."""
    directories, files = [], []
    for current, _, names in _tf().io.gfile.walk(root):
        # Object stores may list a directory as "name/"; strip to one relative form.
        relative = current[len(root.rstrip("/")) :].strip("/")
        if relative:
            directories.append(relative)
        files += [posixpath.join(relative, name) for name in names]
    return sorted(directories, key=_parts), sorted(files, key=_parts)


def _parts(relative: str) -> list[str]:
    return relative.split("/")


def _tf() -> Any:
    # Imported on first use so that rollback, history and versions work without TensorFlow.
    import tensorflow as tf

    return tf


def _source_has_saved_model(directory: str) -> bool:
    gfile = _tf().io.gfile
    return any(gfile.exists(posixpath.join(directory, name)) for name in SAVED_MODEL_FILES)


def _is_source_file(path: str) -> bool:
    gfile = _tf().io.gfile
    return gfile.exists(path) and not gfile.isdir(path)


def _read_source(path: str) -> bytes:
    with _tf().io.gfile.GFile(path, "rb") as handle:
        return handle.read()


def _copy_source_file(source: str, destination: Path) -> None:
    """Copies one gfile file to a local path; a failure is an OSError, as for a local copy."""
    tf = _tf()
    try:
        tf.io.gfile.copy(source, str(destination), overwrite=True)
    except tf.errors.OpError as error:
        raise OSError(f"cannot copy {source}: {error.message}") from error


def _copy_source_tree(source: str, destination: Path) -> None:
    """Copies a gfile directory tree into a new local directory."""
    directories, files = _walk_source(source)
    destination.mkdir()
    for relative in directories:
        (destination / relative).mkdir(parents=True, exist_ok=True)
    for relative in files:
        _copy_source_file(posixpath.join(source, relative), destination / relative)


# ---------------------------------------------------------------------------- versions


def served_versions(model_base_path: str | os.PathLike) -> list[int]:
    """Numeric version directories holding a SavedModel, ascending."""
    return sorted(version for version, _ in _version_dirs(serving_path(model_base_path)))


def history(model_base_path: str | os.PathLike) -> list[dict]:
    """Every recorded push, rollback and retirement, oldest first.

    A line cut short by a crash mid-write is skipped; every complete line is kept.
    """
    path = serving_path(model_base_path) / HISTORY_FILE
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records


def next_version(model_base_path: str | os.PathLike) -> int:
    """One more than any version ever used here (served, rolled back or retired); 1 at first."""
    base = serving_path(model_base_path)
    used = [version for version, _ in _version_dirs(base, require_model=False)]
    used += [version for version, _ in _version_dirs(base / ROLLED_BACK_DIR, require_model=False)]
    used += _recorded_versions(history(base))
    return max(used, default=0) + 1


def _recorded_versions(records: list[dict]) -> list[int]:
    versions = []
    for record in records:
        for key in ("version", "from_version", "to_version"):
            if isinstance(record.get(key), int):
                versions.append(record[key])
        versions += [v for v in record.get("versions", []) if isinstance(v, int)]
    return versions


def _version_dirs(directory: Path, require_model: bool = True) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = []
    for entry in os.scandir(directory):
        if not (_VERSION_NAME.fullmatch(entry.name) and entry.is_dir()):
            continue
        path = Path(entry.path)
        if not require_model or _has_saved_model(path):
            found.append((int(entry.name), path))
    return found


def directory_digest(directory: str | os.PathLike) -> str:
    """SHA-256 over every file's relative path and bytes: a ``source_id`` for ``push_model``.

    Read through ``tf.io.gfile``: the same content gives the same digest wherever it lives.
    """
    root = os.fspath(directory)
    gfile = _tf().io.gfile
    digest = hashlib.sha256()
    for relative in source_files(root):
        digest.update(relative.encode() + b"\0")
        with gfile.GFile(posixpath.join(root, relative), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _has_saved_model(directory: Path) -> bool:
    return any((directory / name).is_file() for name in SAVED_MODEL_FILES)


# ---------------------------------------------------------------------------- push


def push_model(
    source_dir: str | os.PathLike,
    model_base_path: str | os.PathLike,
    version: int | None = None,
    source_id: str | None = None,
    pipeline_name: str | None = None,
) -> PushResult:
    """Copies a SavedModel to ``<model_base_path>/<version>`` atomically.

    The copy goes to a hidden sibling directory first, is flushed to disk, then renamed
    into place, so a reader sees either no version directory or a complete one.

    Args:
        source_dir: The SavedModel directory to push: a local path or any URI
            ``tf.io.gfile`` reads (``gs://`` on Kubeflow).
        model_base_path: The model's directory in the serving root (created if missing),
            a POSIX path.
        version: The version to use; by default ``next_version(model_base_path)``.
        source_id: What identifies the model (fingerprint, ML Metadata artifact id). If the
            version now served (the highest) was pushed with the same id, nothing is copied.
            An older or rolled-back version with that id does not count: serving the model
            again needs a new, higher version.

        pipeline_name: The pushing pipeline. The first push naming one claims the model
            name for it (``owner.json``); later pushes must name the same pipeline.
            None: no ownership check (a push by hand).

    Returns:
        The version, its directory and whether it was already served.

    Raises:
        ModelOwnershipError: Another pipeline owns the model name (see ``check_owner``).
        FileNotFoundError: ``source_dir`` holds no SavedModel.
        FileExistsError: ``version`` was given and has been used before.
        OSError: The copy failed; nothing numeric was left behind.
        ValueError: ``model_base_path`` is a URI.
    """
    source = os.fspath(source_dir)
    base = serving_path(model_base_path)
    if not _source_has_saved_model(source):
        raise FileNotFoundError(f"no saved_model.pb in {source}")
    base.mkdir(parents=True, exist_ok=True)
    with _locked(base) as locked_at:
        stale = tuple(
            removed
            for directory in (base, tflite_base_path(base))
            for removed in remove_stale_staging(directory, older_than=locked_at)
        )
        if pipeline_name is not None:
            _claim(base, pipeline_name)
        served = _served_with_source_id(base, source_id)
        if served is not None:
            return PushResult(served, base / str(served), already_served=True, stale_staging=stale)
        version = _checked_version(base, version)
        destination = base / str(version)
        _atomic_copytree(source, destination)
        record = {"event": "push", "version": version, "source_id": source_id, "source": source}
        if pipeline_name is not None:
            record["pipeline"] = pipeline_name
        _append_history(base, record)
    return PushResult(version, destination, already_served=False, stale_staging=stale)


def model_owner(model_base_path: str | os.PathLike) -> str | None:
    """The pipeline that owns the model name (from ``owner.json``); None if unclaimed.

    Raises:
        ModelOwnershipError: ``owner.json`` exists but cannot be read.
    """
    path = serving_path(model_base_path) / OWNER_FILE
    if not path.exists():
        return None
    try:
        owner = json.loads(path.read_text(encoding="utf-8"))["pipeline"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelOwnershipError(f"cannot read the model's owner from {path}: {error}") from None
    if not isinstance(owner, str) or not owner:
        raise ModelOwnershipError(f"cannot read the model's owner from {path}: {owner!r}")
    return owner


def check_owner(model_base_path: str | os.PathLike, pipeline_name: str) -> None:
    """Returns if ``pipeline_name`` may push into the model name: unclaimed or its own.

    Raises:
        ModelOwnershipError: Another pipeline owns it; one line naming both pipelines and
            the config key ``pusher.model_name``.
    """
    base = serving_path(model_base_path)
    owner = model_owner(base)
    if owner is not None and owner != pipeline_name:
        raise ModelOwnershipError(
            f"serving model {base.name!r} ({base}) belongs to pipeline {owner!r}; pipeline"
            f" {pipeline_name!r} may not push into it: give {pipeline_name!r} a"
            " pusher.model_name of its own in its config"
        )


def _claim(base: Path, pipeline_name: str) -> None:
    """Checks ownership and records ``pipeline_name`` as the owner of an unclaimed name.

    A model directory pushed to before owners were recorded is claimed by the first
    pipeline that pushes to it with its name. Call holding the model's lock.
    """
    if not pipeline_name:
        raise ValueError("pipeline_name must not be empty")
    check_owner(base, pipeline_name)
    path = base / OWNER_FILE
    if path.exists():
        return
    staging = base / staging_name(OWNER_FILE)
    content = {"pipeline": pipeline_name, "since": time.time()}
    staging.write_text(json.dumps(content, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(staging, path)


def remove_stale_staging(directory: str | os.PathLike, older_than: float) -> list[str]:
    """Removes the ``.tmp-*`` staging copies in ``directory`` that no live process owns.

    A copy whose owner ran on this host is stale when that process is gone (a pid the
    kernel has since given to another process does not count as the owner). A copy whose
    owner's liveness cannot be checked (another host, an older name without one) is stale
    when it was last modified before ``older_than``: call this holding the model's lock,
    with the time it was taken, and such a copy belongs to a push that no longer holds it.

    Args:
        directory: A model's directory in the serving root, or its TFLite directory.
        older_than: Seconds since the epoch; see above.

    Returns:
        The names removed, sorted.

    Raises:
        OSError: A stale copy could not be removed.
    """
    path = serving_path(directory)
    if not path.is_dir():
        return []
    removed = []
    for entry in os.scandir(path):
        if entry.name.startswith(_TMP_PREFIX) and _is_stale(entry, older_than):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(entry.name)
    return sorted(removed)


def _is_stale(entry: os.DirEntry, older_than: float) -> bool:
    owner = _STAGING_NAME.fullmatch(entry.name)
    if owner is not None and owner["host"] == process_owner.host_name():
        ticks = int(owner["ticks"]) or None
        return not process_owner.pid_alive(int(owner["pid"]), ticks)
    try:
        return entry.stat(follow_symlinks=False).st_mtime < older_than
    except FileNotFoundError:
        return False  # renamed into place or removed by its owner meanwhile


def _served_with_source_id(base: Path, source_id: str | None) -> int | None:
    """The highest version (the one TF Serving serves) if it was pushed from ``source_id``."""
    versions = served_versions(base)
    if source_id is None or not versions:
        return None
    latest = versions[-1]
    pushed_from_source = any(
        record.get("event") == "push"
        and record.get("version") == latest
        and record.get("source_id") == source_id
        for record in history(base)
    )
    return latest if pushed_from_source else None


def _checked_version(base: Path, version: int | None) -> int:
    if version is None:
        return next_version(base)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ValueError(f"version must be a non-negative integer, got {version!r}")
    used = {v for v, _ in _version_dirs(base, require_model=False)}
    used |= {v for v, _ in _version_dirs(base / ROLLED_BACK_DIR, require_model=False)}
    used |= set(_recorded_versions(history(base)))
    if version in used:
        raise FileExistsError(f"version {version} was already used in {base}")
    return version


def _atomic_copytree(source: str, destination: Path) -> None:
    _stage_and_rename(destination, lambda staging: _copy_source_tree(source, staging))


def _stage_and_rename(destination: Path, fill: Callable[[Path], object]) -> None:
    """Lets ``fill`` build a hidden sibling directory, flushes it, then renames it into place.

    A reader sees no ``destination`` or a complete one; on failure nothing is left behind.
    """
    staging = destination.parent / staging_name(destination.name)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        fill(staging)
        _fsync_tree(staging)
        os.rename(staging, destination)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _fsync_directory(destination.parent)


def staging_name(label: str) -> str:
    """The hidden name this process stages ``label`` under: ``.tmp-<label>.<pid>.<ticks>@<host>``.

    It names the owner, so that a later push can tell a dead push's leftover from a live
    copy (see ``remove_stale_staging``).
    """
    me = process_owner.current()
    return f"{_TMP_PREFIX}{label}.{me.pid}.{me.start_ticks or 0}@{me.host}"


def _fsync_tree(root: Path) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(directory, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_directory(Path(directory))


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _locked(base: Path) -> Iterator[float]:
    """Serialises pushes, rollbacks and retention on one model across processes.

    Yields the time (seconds since the epoch) the lock was taken.
    """
    with open(base / _LOCK_FILE, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield time.time()
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _append_history(base: Path, record: dict) -> None:
    line = json.dumps({**record, "time": time.time()}, sort_keys=True) + "\n"
    with open(base / HISTORY_FILE, "a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


# ---------------------------------------------------------------------------- retention


def apply_retention(model_base_path: str | os.PathLike, keep: int) -> list[int]:
    """Deletes the oldest numeric version directories so that at most ``keep`` remain.

    Each version is first renamed to a hidden name, so TF Serving never sees a
    half-deleted version. The TFLite files of a removed version go with it.

    Args:
        model_base_path: The model's directory in the serving root.
        keep: How many of the newest versions to keep; at least 1.

    Returns:
        The removed versions, ascending.
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
    base = serving_path(model_base_path)
    if not base.is_dir():
        return []
    with _locked(base):
        doomed = sorted(_version_dirs(base, require_model=False))[:-keep]
        tflite = dict(_version_dirs(tflite_base_path(base), require_model=False))
        for version, path in doomed:
            if version in tflite:
                _remove_hidden(tflite[version], f"retired-{version}")
            _remove_hidden(path, f"retired-{version}")
        removed = [version for version, _ in doomed]
        if removed:
            _append_history(base, {"event": "retire", "versions": removed})
    return removed


def _remove_hidden(path: Path, label: str) -> None:
    hidden = path.with_name(staging_name(label))
    os.rename(path, hidden)
    shutil.rmtree(hidden)


# ---------------------------------------------------------------------------- rollback


def rollback(model_base_path: str | os.PathLike, to_version: int | None = None) -> RollbackResult:
    """Takes the highest version(s) out of service so an earlier one is served again.

    Versions above the target move to ``<model_base_path>/rolled_back/<version>``
    (lowest first, so the version served changes once, from the highest to the target).
    Their TFLite files move the same way, to ``<model>-tflite/rolled_back/<version>``,
    and first, so the TFLite directory never offers a version that is not served.

    Args:
        model_base_path: The model's directory in the serving root.
        to_version: The version to serve afterwards; by default the one below the highest.

    Returns:
        The highest version before and after, and the versions moved aside.

    Raises:
        RollbackError: Nothing is served, nothing earlier exists, or ``to_version`` is
            not a served version below the highest.
        ValueError: ``model_base_path`` is a URI.
    """
    base = serving_path(model_base_path)
    if not base.is_dir():
        raise RollbackError(f"nothing to roll back: {base} does not exist")
    with _locked(base):
        versions = served_versions(base)
        target = _rollback_target(base, versions, to_version)
        current = versions[-1]
        moved = [version for version in versions if version > target]
        tflite_moved = _move_aside(tflite_base_path(base), moved)
        _move_aside(base, moved)
        _append_history(
            base,
            {
                "event": "rollback",
                "from_version": current,
                "to_version": target,
                "versions": moved,
                "tflite_versions": tflite_moved,
            },
        )
    return RollbackResult(current, target, tuple(moved), tuple(tflite_moved))


def _move_aside(directory: Path, versions: list[int]) -> list[int]:
    """Moves the ``<directory>/<version>`` that exist into ``<directory>/rolled_back/``."""
    present = [version for version in versions if (directory / str(version)).is_dir()]
    if not present:
        return []
    aside = directory / ROLLED_BACK_DIR
    aside.mkdir(exist_ok=True)
    for version in present:
        os.rename(directory / str(version), _free_path(aside / str(version)))
    _fsync_directory(directory)
    return present


def _rollback_target(base: Path, versions: list[int], to_version: int | None) -> int:
    if not versions:
        raise RollbackError(f"nothing to roll back: no served version in {base}")
    current = versions[-1]
    if to_version is None:
        if len(versions) < 2:
            raise RollbackError(
                f"cannot roll back: version {current} is the only one served in {base}"
            )
        return versions[-2]
    if to_version not in versions:
        raise RollbackError(
            f"cannot roll back to version {to_version}: not served in {base} (served: {versions})"
        )
    if to_version == current:
        raise RollbackError(f"cannot roll back to version {to_version}: it is already the highest")
    return to_version


def _free_path(path: Path) -> Path:
    candidate, suffix = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{suffix}")
        suffix += 1
    return candidate


# ---------------------------------------------------------------------------- config, files


def write_models_config(serving_root: str | os.PathLike, model_names: list[str]) -> Path:
    """Writes ``<serving_root>/models.config`` for ``tensorflow_model_server --model_config_file``.

    Args:
        serving_root: The directory holding one sub-directory per model.
        model_names: The models to serve; each ``base_path`` is ``<serving_root>/<name>``.

    Returns:
        The path of the written file (replaced atomically).

    Raises:
        ValueError: A model name is empty, repeated or unsafe, or ``serving_root`` is a URI.
    """
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    _check_model_names(model_names)
    root = serving_path(serving_root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    config = model_server_config_pb2.ModelServerConfig()
    for name in model_names:
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = str(root / name)
        entry.model_platform = "tensorflow"
    path = root / MODELS_CONFIG_FILE
    staging = root / staging_name(MODELS_CONFIG_FILE)
    staging.write_text(text_format.MessageToString(config), encoding="utf-8")
    os.replace(staging, path)
    return path


def _check_model_names(model_names: list[str]) -> None:
    if not model_names:
        raise ValueError("model_names is empty")
    if len(set(model_names)) != len(model_names):
        raise ValueError(f"model_names has duplicates: {model_names}")
    for name in model_names:
        if not _MODEL_NAME.fullmatch(name):
            raise ValueError(f"invalid model name {name!r}: use letters, digits, '.', '_', '-'")


def publish_files(files: list[str | os.PathLike], destination_dir: str | os.PathLike) -> Path:
    """Copies a few files into a new ``destination_dir`` atomically.

    Used for ``<serving_root>/<model_name>-tflite/<version>/``: the directory appears
    complete or not at all.

    Args:
        files: The files to copy, local paths or ``tf.io.gfile`` URIs; their names must
            differ.
        destination_dir: The directory to create, a POSIX path.

    Returns:
        ``destination_dir``.

    Raises:
        FileNotFoundError: A file is missing.
        FileExistsError: ``destination_dir`` exists with other files (the same files
            are accepted: publishing is idempotent).
        ValueError: Two files share a name, ``files`` is empty, or ``destination_dir``
            is a URI.
    """
    sources = [os.fspath(file) for file in files]
    names = [posixpath.basename(source) for source in sources]
    if not sources or len(set(names)) != len(names):
        raise ValueError(f"need one or more files with distinct names, got {names}")
    destination = serving_path(destination_dir)
    missing = [source for source in sources if not _is_source_file(source)]
    if missing:
        raise FileNotFoundError(f"cannot publish missing files: {missing}")
    if destination.exists():
        if _holds_exactly(destination, sources):
            return destination  # a re-run publishing the same files: nothing to do
        raise FileExistsError(f"{destination} already exists with other content")
    destination.parent.mkdir(parents=True, exist_ok=True)
    _stage_and_rename(destination, lambda staging: _copy_files(sources, staging))
    return destination


def publish_tflite(
    model_base_path: str | os.PathLike, version: int, files: list[str | os.PathLike]
) -> Path:
    """Publishes a served version's TFLite files to ``<model>-tflite/<version>/``.

    Under the model's lock and only while ``version`` is served, so that a rollback
    running at the same time cannot leave TFLite files for a version it took back.

    Args:
        model_base_path: The model's directory in the serving root.
        version: The served version the files belong to.
        files: As for ``publish_files``.

    Returns:
        The directory the files are in.

    Raises:
        FileNotFoundError: ``version`` is not served (any more), or a file is missing.
        FileExistsError, ValueError: As ``publish_files`` raises them.
    """
    base = serving_path(model_base_path)
    with _locked(base):
        if version not in served_versions(base):
            raise FileNotFoundError(
                f"version {version} is not served in {base}: TFLite not published"
            )
        return publish_files(files, tflite_base_path(base) / str(version))


def _copy_files(sources: list[str], directory: Path) -> None:
    directory.mkdir()
    for source in sources:
        _copy_source_file(source, directory / posixpath.basename(source))


def _holds_exactly(directory: Path, sources: list[str]) -> bool:
    present = sorted(p.name for p in directory.iterdir())
    if present != sorted(posixpath.basename(source) for source in sources):
        return False
    return all(
        _read_source(source) == (directory / posixpath.basename(source)).read_bytes()
        for source in sources
    )
