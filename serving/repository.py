"""The model repository behind the REST server: versions on disk, loaded and served.

Every directory ``<serving_root>/<name>/`` holding numeric version directories with a
SavedModel is a model. At startup the highest version of each model is loaded. A newly
pushed version is picked up without restart: each request lists the model's directory
(a few system calls). The new version loads in the background while the previous one
keeps serving, as TF Serving does; a version whose directory disappears (rollback,
retention) stops being served at once. ``serving_root`` may be empty or absent at startup.

A loaded version (``Servable``) holds the signatures it serves over REST
(``serving/signatures.py``); one whose ``serving_raw`` signature fails a warm-up
prediction is not served.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from components.serving_pusher.pusher import SAVED_MODEL_FILES
from components.serving_pusher.smoke_test import describe_error
from serving import json_api
from serving.errors import ApiError, ModelLoadError
from serving.signatures import FLOAT, STRING, NotServed, Signature, describe, signature_def_metadata

DEFAULT_SIGNATURE = "serving_default"  # tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
# Warmed up at load (one all-missing row); a version whose raw signature fails is not served.
RAW_SIGNATURE = "serving_raw"
# A model's directory name and a version's, on disk and in the REST routes alike.
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
VERSION_PATTERN = re.compile(r"[0-9]{1,18}")
_logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- one version


@dataclasses.dataclass(frozen=True)
class VersionDir:
    """A numeric version directory with a SavedModel; ``identity`` tells a re-push apart."""

    version: int
    path: Path
    identity: int


@dataclasses.dataclass(frozen=True)
class Servable:
    """One loaded version: the signatures it serves over REST and its metadata."""

    version: int
    identity: int
    signatures: dict[str, Signature]
    not_served: dict[str, str]  # signature name -> why REST does not serve it
    metadata: dict  # TF Serving's signature_def map, for /metadata
    loaded: Any  # holds the variables the signatures read

    def signature(self, name: str | None) -> Signature:
        """The named signature (``serving_default`` if none); ApiError(400) if not served."""
        key = name or DEFAULT_SIGNATURE
        found = self.signatures.get(key)
        if found is None:
            why = f" ({self.not_served[key]})" if key in self.not_served else ""
            raise ApiError(
                400,
                f"model version {self.version} serves no signature {key!r}{why}; "
                f"served signatures: {sorted(self.signatures)}",
            )
        return found

    def hint(self, signature: Signature, key: str) -> str:
        """Names the signatures that do take input ``key``, for an error about it."""
        others = sorted(n for n, s in self.signatures.items() if key in s.inputs)
        if not others or signature.name in others:
            return ""
        return f'; signature {others[0]!r} takes it: send "signature_name": "{others[0]}"'


def load_servable(directory: VersionDir) -> Servable:
    """Loads a version's signatures; raises ModelLoadError if it is unusable."""
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(directory.path))
        metadata = signature_def_metadata(directory.path)
    except Exception as error:  # TF raises many types for a bad SavedModel
        raise ModelLoadError(f"cannot load {directory.path}: {describe_error(error)}") from error
    signatures, not_served = {}, {}
    for name, function in loaded.signatures.items():
        try:
            signatures[name] = describe(name, function)
        except NotServed as reason:
            not_served[name] = str(reason)
    if not signatures:
        raise ModelLoadError(
            f"{directory.path} has no signature servable over REST: {sorted(not_served.values())}"
        )
    servable = Servable(
        version=directory.version,
        identity=directory.identity,
        signatures=signatures,
        not_served=not_served,
        metadata=metadata,
        loaded=loaded,
    )
    _warm_up(servable, directory)
    return servable


def _warm_up(servable: Servable, directory: VersionDir) -> None:
    """Runs the raw signature on one all-missing row: warms it up, refuses a model that fails."""
    raw = servable.signatures.get(RAW_SIGNATURE)
    if raw is None or any(info.kind not in (FLOAT, STRING) for info in raw.inputs.values()):
        return
    try:
        outputs = raw.run(json_api.columns_from_rows([{}], "instances", raw, "", 1))
        broken = [k for k, v in outputs.items() if v.dtype.kind == "f" and not np.isfinite(v).all()]
        if broken:
            raise ApiError(500, f"outputs {broken} are not finite")
    except Exception as error:  # whatever breaks here would break every request
        reason = error.message if isinstance(error, ApiError) else describe_error(error)
        raise ModelLoadError(
            f"{directory.path}: {RAW_SIGNATURE} fails a warm-up prediction: {reason}"
        ) from error


# ---------------------------------------------------------------------------- versions on disk


class ModelRepository:
    """The models under a serving root, their versions on disk and the loaded ones.

    Thread-safe: ``_lock`` guards the dicts; each version has its own load lock so a
    slow load blocks only requests that need that version.
    """

    def __init__(self, serving_root: Path):
        self._root = Path(serving_root).resolve()
        self._lock = threading.Lock()
        self._servables: dict[tuple[str, int], Servable] = {}
        self._failures: dict[tuple[str, int], tuple[int, str]] = {}
        self._load_locks: dict[tuple[str, int], threading.Lock] = {}
        self._loading: set[tuple[str, int]] = set()

    def version_dirs(self, name: str) -> list[VersionDir]:
        """The model's servable version directories, ascending; 404 if there are none."""
        found = _scan_versions(self._root / name) if MODEL_NAME_PATTERN.fullmatch(name) else []
        if not found:
            raise ApiError(404, f"model {name!r} not found (no servable versions)")
        self._forget_missing(name, found)
        return found

    def servable(self, name: str, version: int | None) -> Servable:
        """The loaded version to predict with: ``version`` or the highest loadable one."""
        dirs = self.version_dirs(name)
        if version is None:
            return self._latest(name, dirs)
        directory = _find_version(name, dirs, version)
        try:
            return self._load(name, directory)
        except ModelLoadError as error:
            raise ApiError(503, str(error)) from error

    def status(self, name: str, version: int | None) -> list[dict]:
        """TF Serving's ``model_version_status`` list, newest first."""
        dirs = self.version_dirs(name)
        if version is not None:
            directory = _find_version(name, dirs, version)
            try:
                self._load(name, directory)
            except ModelLoadError as error:
                return [_status_entry(version, "END", str(error))]
            return [_status_entry(version, "AVAILABLE")]
        try:
            served = self._latest(name, dirs).version
        except ApiError:
            served = None
        shown = [d for d in reversed(dirs) if served is None or d.version >= served]
        return [self._entry(name, d) for d in shown]

    def preload(self) -> None:
        """Loads the highest version of every model now on disk, so requests start warm."""
        if not self._root.is_dir():
            return
        for entry in sorted(os.scandir(self._root), key=lambda e: e.name):
            if entry.is_dir() and MODEL_NAME_PATTERN.fullmatch(entry.name):
                try:
                    served = self.servable(entry.name, None)
                except ApiError as error:  # not a model, or none of its versions loads
                    _logger.info("not preloading %s: %s", entry.name, error.message)
                    continue
                _logger.info("model %s serving version %d", entry.name, served.version)

    def _entry(self, name: str, directory: VersionDir) -> dict:
        if self._ready(name, directory) is not None:
            return _status_entry(directory.version, "AVAILABLE")
        failure = self._failure(name, directory)
        if failure is not None:
            return _status_entry(directory.version, "END", failure)
        return _status_entry(directory.version, "LOADING")

    def _latest(self, name: str, dirs: list[VersionDir]) -> Servable:
        candidates = [d for d in dirs if self._failure(name, d) is None]
        if not candidates:
            reason = self._failure(name, dirs[-1])
            raise ApiError(503, f"no version of model {name!r} can be served: {reason}")
        newest = candidates[-1]
        ready = self._ready(name, newest)
        if ready is not None:
            return ready
        fallback = next(
            (s for d in reversed(candidates[:-1]) if (s := self._ready(name, d)) is not None), None
        )
        if fallback is not None:
            self._load_in_background(name, newest)
            return fallback
        try:
            return self._load(name, newest)
        except ModelLoadError:
            return self._latest(name, dirs)  # ``newest`` is now a failure; try the next one

    def _ready(self, name: str, directory: VersionDir) -> Servable | None:
        with self._lock:
            servable = self._servables.get((name, directory.version))
        return servable if servable and servable.identity == directory.identity else None

    def _failure(self, name: str, directory: VersionDir) -> str | None:
        """Why this version failed to load, or None if it has not failed."""
        with self._lock:
            failure = self._failures.get((name, directory.version))
        return failure[1] if failure and failure[0] == directory.identity else None

    def _load(self, name: str, directory: VersionDir) -> Servable:
        key = (name, directory.version)
        with self._lock:
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            ready = self._ready(name, directory)
            if ready is not None:
                return ready
            failure = self._failure(name, directory)
            if failure is not None:
                raise ModelLoadError(failure)
            try:
                servable = load_servable(directory)
            except ModelLoadError as error:
                with self._lock:
                    self._failures[key] = (directory.identity, str(error))
                raise
            with self._lock:
                self._servables[key] = servable
                self._failures.pop(key, None)
            _logger.info("model %s version %d loaded", name, directory.version)
            return servable

    def _load_in_background(self, name: str, directory: VersionDir) -> None:
        key = (name, directory.version)
        with self._lock:
            if key in self._loading:
                return
            self._loading.add(key)

        def run() -> None:
            try:
                self._load(name, directory)
            except ModelLoadError as error:  # recorded in _failures; the old version serves on
                _logger.warning("model %s version %d not served: %s", name, key[1], error)
            finally:
                with self._lock:
                    self._loading.discard(key)

        threading.Thread(target=run, name=f"load-{name}-{key[1]}", daemon=True).start()

    def _forget_missing(self, name: str, dirs: list[VersionDir]) -> None:
        present = {(d.version, d.identity) for d in dirs}
        with self._lock:
            for store in (self._servables, self._failures):
                for key in [k for k in store if k[0] == name]:
                    value = store[key]
                    identity = value.identity if isinstance(value, Servable) else value[0]
                    if (key[1], identity) not in present:
                        del store[key]
            numbers = {d.version for d in dirs}
            for key in [k for k in self._load_locks if k[0] == name and k[1] not in numbers]:
                del self._load_locks[key]


def _scan_versions(base: Path) -> list[VersionDir]:
    try:
        entries = list(os.scandir(base))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = []
    for entry in entries:
        if VERSION_PATTERN.fullmatch(entry.name) and entry.is_dir():
            path = Path(entry.path)
            if any((path / name).is_file() for name in SAVED_MODEL_FILES):
                found.append(VersionDir(int(entry.name), path, entry.inode()))
    return sorted(found, key=lambda d: d.version)


def _find_version(name: str, dirs: list[VersionDir], version: int) -> VersionDir:
    for directory in dirs:
        if directory.version == version:
            return directory
    raise ApiError(404, f"model {name!r} has no version {version}")


def _status_entry(version: int, state: str, error: str = "") -> dict:
    code = "UNKNOWN" if error else "OK"
    return {
        "version": str(version),
        "state": state,
        "status": {"error_code": code, "error_message": error},
    }
