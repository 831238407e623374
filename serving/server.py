"""A small REST server speaking TF Serving's predict API, for models pushed by ServingPusher.

Every directory ``<serving_root>/<name>/`` holding numeric version directories with a
SavedModel is a model. Its ``serving_raw`` signature (one rank-1 tensor per raw feature)
is fed from JSON, so no tf.Example has to be built by the client.

Routes (as in TF Serving's REST API):

- ``GET /v1/models/{name}`` and ``GET /v1/models/{name}/versions/{version}``::

      {"model_version_status": [{"version": "3", "state": "AVAILABLE",
                                 "status": {"error_code": "OK", "error_message": ""}}]}

- ``POST /v1/models/{name}:predict`` (the highest version) and
  ``POST /v1/models/{name}/versions/{version}:predict``. Request::

      {"instances": [{"bill_length_mm": 39.1, "island": "Torgersen", "sex": null}, ...]}

  A numeric input takes a JSON number (missing key or ``null``: NaN); a string input
  takes a JSON string (missing key or ``null``: ""). Response, one entry per instance::

      {"predictions": [{"probabilities": [0.97, 0.02, 0.01], "class_id": 0,
                        "class": "Adelie"}, ...]}

Errors are ``{"error": "<one line>"}``: 400 for a malformed request, 413 for a body over
``max_body_bytes`` or more than ``max_instances`` instances, 404 for an unknown model,
version or route, 503 when no version of a model can be loaded.

At startup the highest version of each model is loaded. A newly pushed version is picked
up without restart: each request lists the model's directory (a few system calls). The
new version loads in the background while the previous one keeps serving, as TF Serving
does; a version whose directory disappears (rollback, retention) stops being served at
once. ``serving_root`` may be empty or absent at startup.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from components.serving_pusher.pusher import SAVED_MODEL_FILES, describe_error

SIGNATURE = "serving_raw"
OUTPUTS = ("probabilities", "class_ids", "classes")
NUMBER = "number"
STRING = "string"
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VERSION = re.compile(r"[0-9]{1,18}")
_logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A request that gets an error response: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ModelLoadError(RuntimeError):
    """A version directory whose SavedModel cannot be served."""


# ---------------------------------------------------------------------------- one version


@dataclasses.dataclass(frozen=True)
class VersionDir:
    """A numeric version directory with a SavedModel; ``identity`` tells a re-push apart."""

    version: int
    path: Path
    identity: int


@dataclasses.dataclass(frozen=True)
class Servable:
    """One loaded version: its ``serving_raw`` function and the kind of each input."""

    version: int
    identity: int
    input_kinds: dict[str, str]
    input_dtypes: dict[str, Any]
    function: Any
    loaded: Any  # holds the variables the function reads

    def predict(self, columns: dict[str, np.ndarray]) -> list[dict]:
        """Runs the signature on dense columns; returns one prediction dict per row."""
        import tensorflow as tf

        tensors = {key: tf.constant(columns[key], self.input_dtypes[key]) for key in columns}
        outputs = self.function(**tensors)
        probabilities = outputs["probabilities"].numpy()
        class_ids = outputs["class_ids"].numpy()
        classes = outputs["classes"].numpy()
        rows = len(next(iter(columns.values())))
        if probabilities.shape[0] != rows or not np.isfinite(probabilities).all():
            raise ApiError(500, f"model version {self.version} returned invalid probabilities")
        return [
            {
                "probabilities": probabilities[i].tolist(),
                "class_id": int(class_ids[i]),
                "class": classes[i].decode("utf-8", "replace"),
            }
            for i in range(rows)
        ]


def load_servable(directory: VersionDir) -> Servable:
    """Loads a version's ``serving_raw`` signature; raises ModelLoadError if it is unusable."""
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(directory.path))
    except Exception as error:  # TF raises many types for a bad SavedModel
        raise ModelLoadError(f"cannot load {directory.path}: {describe_error(error)}") from error
    if SIGNATURE not in loaded.signatures:
        raise ModelLoadError(f"{directory.path} has no {SIGNATURE!r} signature")
    function = loaded.signatures[SIGNATURE]
    missing = [key for key in OUTPUTS if key not in function.structured_outputs]
    if missing:
        raise ModelLoadError(f"{SIGNATURE} in {directory.path} lacks outputs {missing}")
    specs = function.structured_input_signature[1]
    kinds = {key: _input_kind(tf, key, spec) for key, spec in specs.items()}
    servable = Servable(
        version=directory.version,
        identity=directory.identity,
        input_kinds=kinds,
        input_dtypes={key: spec.dtype for key, spec in specs.items()},
        function=function,
        loaded=loaded,
    )
    _warm_up(servable, directory)
    return servable


def _warm_up(servable: Servable, directory: VersionDir) -> None:
    """Predicts one all-missing row: warms the function up and refuses a model that fails."""
    try:
        servable.predict(dense_columns([{}], servable.input_kinds))
    except Exception as error:  # whatever breaks here would break every request
        reason = error.message if isinstance(error, ApiError) else describe_error(error)
        raise ModelLoadError(f"{directory.path} fails a warm-up prediction: {reason}") from error


def _input_kind(tf: Any, key: str, spec: Any) -> str:
    if spec.shape.rank != 1:
        raise ModelLoadError(f"input {key!r} has shape {spec.shape}; only rank-1 is served")
    if spec.dtype.is_floating:
        return NUMBER
    if spec.dtype == tf.string:
        return STRING
    raise ModelLoadError(f"input {key!r} has dtype {spec.dtype.name}; only float/string served")


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
        found = _scan_versions(self._root / name) if _MODEL_NAME.fullmatch(name) else []
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
            if entry.is_dir() and _MODEL_NAME.fullmatch(entry.name):
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
        if _VERSION.fullmatch(entry.name) and entry.is_dir():
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


# ---------------------------------------------------------------------------- request parsing


def parse_instances(body: bytes, max_instances: int) -> list:
    """The ``instances`` list of a predict request; ApiError(400/413) if malformed."""
    try:
        request = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"invalid JSON: {describe_error(error)}") from error
    if not isinstance(request, dict) or "instances" not in request:
        raise ApiError(400, 'request must be a JSON object with an "instances" list')
    extra = sorted(set(request) - {"instances"})
    if extra:
        raise ApiError(400, f'unsupported request keys {extra}: only "instances" is accepted')
    instances = request["instances"]
    if not isinstance(instances, list) or not instances:
        raise ApiError(400, '"instances" must be a non-empty list')
    if len(instances) > max_instances:
        raise ApiError(413, f"{len(instances)} instances; at most {max_instances} per request")
    return instances


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def dense_columns(instances: list, input_kinds: dict[str, str]) -> dict[str, np.ndarray]:
    """One array per signature input from JSON instances; ApiError(400) on a bad value.

    A numeric input becomes float32 (NaN if missing or null), a string input an object
    array of str ("" if missing or null).
    """
    columns: dict[str, list] = {key: [] for key in input_kinds}
    for index, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise ApiError(400, f"instances[{index}] must be a JSON object of feature values")
        unknown = sorted(set(instance) - set(input_kinds))
        if unknown:
            raise ApiError(
                400,
                f"instances[{index}]: unknown feature {unknown[0]!r}; "
                f"expected some of {sorted(input_kinds)}",
            )
        for key, kind in input_kinds.items():
            columns[key].append(_value(instance.get(key), kind, f"instances[{index}].{key}"))
    return {
        key: np.array(values, dtype=np.float32 if input_kinds[key] == NUMBER else object)
        for key, values in columns.items()
    }


def _value(value: Any, kind: str, where: str) -> float | str:
    if kind == NUMBER:
        if value is None:
            return float("nan")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ApiError(400, f"{where} must be a number or null, got {_json_type(value)}")
        if not abs(value) <= _FLOAT32_MAX:
            raise ApiError(400, f"{where} is outside the float32 range")
        return float(value)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"{where} must be a string or null, got {_json_type(value)}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as error:  # a lone surrogate such as "\ud800"
            raise ApiError(400, f"{where} is not valid Unicode") from error
    return value


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    return names.get(type(value), "object")


async def read_body(request: Request, max_body_bytes: int) -> bytes:
    """The request body; ApiError(413) as soon as it is known to exceed ``max_body_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "invalid Content-Length header")
        if int(declared) > max_body_bytes:
            raise ApiError(413, f"body of {declared} bytes exceeds {max_body_bytes}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise ApiError(413, f"body exceeds {max_body_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _split_verb(text: str) -> tuple[str, str]:
    head, sep, verb = text.rpartition(":")
    if not sep or verb != "predict":
        raise ApiError(404, f"unsupported route {text!r}: only ':predict' is served")
    return head, verb


def _parse_version(text: str) -> int:
    if not _VERSION.fullmatch(text):
        raise ApiError(404, f"no version {text!r}: versions are integers")
    return int(text)


# ---------------------------------------------------------------------------- the app


def create_app(
    serving_root: Path, max_body_bytes: int = 1_000_000, max_instances: int = 1000
) -> FastAPI:
    """The REST app serving every model under ``serving_root`` (see the module docstring).

    Args:
        serving_root: Directory with one ``<name>/<version>/saved_model.pb`` tree per model.
        max_body_bytes: Larger request bodies get 413.
        max_instances: Requests with more instances get 413.

    Returns:
        A FastAPI app; run it with uvicorn (``run_server``).
    """
    repository = ModelRepository(serving_root)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Import TensorFlow and load models before accepting requests, not on the first one.
        await run_in_threadpool(repository.preload)
        yield

    app = FastAPI(
        title="model server", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    _add_error_handlers(app)

    def predict(name: str, version: int | None, body: bytes) -> dict:
        servable = repository.servable(name, version)
        instances = parse_instances(body, max_instances)
        columns = dense_columns(instances, servable.input_kinds)
        return {"predictions": servable.predict(columns)}

    async def respond_predict(request: Request, name: str, version: int | None) -> JSONResponse:
        body = await read_body(request, max_body_bytes)
        return JSONResponse(await run_in_threadpool(predict, name, version, body))

    @app.get("/v1/models/{name}")
    async def model_status(name: str) -> JSONResponse:
        entries = await run_in_threadpool(repository.status, name, None)
        return JSONResponse({"model_version_status": entries})

    @app.get("/v1/models/{name}/versions/{version}")
    async def version_status(name: str, version: str) -> JSONResponse:
        entries = await run_in_threadpool(repository.status, name, _parse_version(version))
        return JSONResponse({"model_version_status": entries})

    @app.post("/v1/models/{name_and_verb}")
    async def predict_latest(name_and_verb: str, request: Request) -> JSONResponse:
        name, _ = _split_verb(name_and_verb)
        return await respond_predict(request, name, None)

    @app.post("/v1/models/{name}/versions/{version_and_verb}")
    async def predict_version(name: str, version_and_verb: str, request: Request) -> JSONResponse:
        version, _ = _split_verb(version_and_verb)
        return await respond_predict(request, name, _parse_version(version))

    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status)

    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code)

    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        _logger.exception("request failed")
        return JSONResponse({"error": f"internal error: {describe_error(error)}"}, status_code=500)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def run_server(
    serving_root: Path, host: str = "127.0.0.1", port: int = 8501, access_log: bool = False
) -> None:
    """Serves ``create_app(serving_root)`` with uvicorn until interrupted.

    Args:
        serving_root: Directory with one ``<name>/<version>/saved_model.pb`` tree per model.
        host: Interface to listen on; loopback by default.
        port: TCP port; 8501 is TF Serving's REST port.
        access_log: Log every request (off by default, as in TF Serving: it costs latency).
    """
    uvicorn.run(
        create_app(serving_root), host=host, port=port, log_level="info", access_log=access_log
    )
