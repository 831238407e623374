"""A small REST server speaking TF Serving's REST API, for models pushed by ServingPusher.

Every directory ``<serving_root>/<name>/`` holding numeric version directories with a
SavedModel is a model. Requests and responses follow TF Serving's REST API
(https://www.tensorflow.org/tfx/serving/api_rest), so a TF Serving client works
unchanged against either server:

- ``GET /v1/models/{name}[/versions/{version}]``: ``{"model_version_status": [...]}``.
- ``GET /v1/models/{name}[/versions/{version}]/metadata``: the signatures, as TF Serving's
  ``GetModelMetadataResponse``.
- ``POST /v1/models/{name}[/versions/{version}]:predict``: ``{"signature_name": ...,
  "instances": [...]}`` (row format, answered with ``predictions``) or ``{"inputs":
  {...}}`` (columnar format, answered with ``outputs``). Without ``signature_name`` the
  ``serving_default`` signature answers, as in TF Serving; this project's takes serialized
  tf.Examples (``{"b64": ...}``), its ``serving_raw`` one JSON value per raw feature.
- ``POST ...:classify`` and ``...:regress``: ``{"signature_name": ..., "context": {...},
  "examples": [{feature: value}, ...]}``, answered with ``results``. Which signature can
  classify or regress is read from its outputs (see ``serving/signatures.py``). A
  signature of serialized tf.Examples gets the examples as tf.Examples, as in TF
  Serving; one of named feature inputs (``serving_raw``, an image model's included) gets
  the values themselves, ``{"b64": ...}`` as bytes, as ``:predict`` does.

How JSON maps to tensors is in ``serving/json_api.py``; which versions are on disk and
loaded, and how a new push replaces the served one without restart, in
``serving/repository.py``. Errors are ``{"error": "<one line>"}``: 400 for a malformed
request (an unknown signature included, naming the served ones), 413 for a body over
``max_body_bytes`` or more than ``max_instances`` examples, 404 for an unknown model,
version or route, 503 when no version of a model can be loaded.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from components.serving_pusher.smoke_test import describe_error
from serving import feedback as feedback_lib
from serving import json_api
from serving.errors import ApiError, ModelLoadError
from serving.feedback import FeedbackStore
from serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from serving.metrics import METRICS_PATH, ServingMetrics
from serving.repository import MODEL_NAME_PATTERN, VERSION_PATTERN, ModelRepository, Servable
from serving.request_log import LoggedRequest, LogOptions, RequestLogger
from serving.signatures import Signature

VERBS = ("predict", "classify", "regress")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER = "X-Request-Id"
FEEDBACK_VERB = ":feedback"
_logger = logging.getLogger(__name__)

__all__ = ["ApiError", "ModelLoadError", "create_app", "run_server"]


# ---------------------------------------------------------------------------- requests


def predict(servable: Servable, body: bytes, max_instances: int, seen: dict | None = None) -> dict:
    """A ``:predict`` response: row format in, ``predictions`` out; columnar, ``outputs``.

    ``seen``, when given, receives the signature's ``inputs`` and ``outputs`` arrays and
    whether it ``takes_examples`` (for the request log and the metrics).
    """
    request = json_api.parse_request(body, json_api.PREDICT_KEYS)
    signature = servable.signature(request.get("signature_name"))
    if "instances" in request and "inputs" in request:
        raise ApiError(400, 'give either "instances" (row format) or "inputs" (columnar), not both')
    if "instances" in request:
        hint = _hint(servable, signature, request["instances"])
        columns = json_api.columns_from_rows(
            request["instances"], "instances", signature, hint, max_instances
        )
        outputs = _call(signature, columns, seen, takes_examples=signature.takes_examples)
        return json_api.row_response(outputs)
    if "inputs" in request:
        inputs = request["inputs"]
        hint = _hint(servable, signature, [inputs])
        columns = json_api.columns_from_inputs(inputs, signature, hint, max_instances)
        outputs = _call(signature, columns, seen, takes_examples=signature.takes_examples)
        return json_api.columnar_response(outputs)
    raise ApiError(400, 'request must have "instances" (row format) or "inputs" (columnar)')


def classify(servable: Servable, body: bytes, max_instances: int, seen: dict | None = None) -> dict:
    """A ``:classify`` response: ``results``, one list of [label, score] per example."""
    request = json_api.parse_request(body, json_api.CLASSIFY_REGRESS_KEYS)
    signature = servable.signature(request.get("signature_name"))
    head = signature.classification
    if head is None:
        raise ApiError(
            400,
            f"signature {signature.name!r} does not classify: it has no [batch, classes] float "
            f"output named 'scores' or 'probabilities' (outputs: {sorted(signature.outputs)})",
        )
    outputs = _run_examples(servable, signature, request, max_instances, seen)
    return json_api.classify_response(outputs, head)


def regress(servable: Servable, body: bytes, max_instances: int, seen: dict | None = None) -> dict:
    """A ``:regress`` response: ``results``, one value per example."""
    request = json_api.parse_request(body, json_api.CLASSIFY_REGRESS_KEYS)
    signature = servable.signature(request.get("signature_name"))
    output = signature.regression_output()
    outputs = _run_examples(servable, signature, request, max_instances, seen)
    return json_api.regress_response(outputs, output)


def _run_examples(
    servable: Servable,
    signature: Signature,
    request: dict,
    max_instances: int,
    seen: dict | None = None,
) -> dict[str, np.ndarray]:
    """Classify/regress input: tf.Examples for a signature that takes them, as TF Serving
    feeds them; for a signature of named feature inputs, the features themselves, a
    ``{"b64": ...}`` value as bytes (as for ``:predict``).

    A signature of one string input takes tf.Examples unless the examples name that
    input: an image model's ``serving_raw`` takes ``{"image": {"b64": ...}}`` as the
    image's bytes, not as a tf.Example holding them.
    """
    examples = json_api.merged_examples(request, max_instances)
    if signature.takes_examples and not _names_inputs(examples, signature):
        serialized = json_api.serialized_examples(examples)
        return _call(
            signature, {next(iter(signature.inputs)): serialized}, seen, takes_examples=True
        )
    hint = _hint(servable, signature, examples)
    columns = json_api.columns_from_rows(examples, "examples", signature, hint, max_instances)
    return _call(signature, columns, seen, takes_examples=False)


def _names_inputs(examples: list[dict], signature: Signature) -> bool:
    """Whether the examples give values of the signature's inputs, and nothing else."""
    keys = set().union(*examples)
    return bool(keys) and keys <= set(signature.inputs)


def _call(
    signature: Signature,
    inputs: dict[str, np.ndarray],
    seen: dict | None,
    *,
    takes_examples: bool,
) -> dict[str, np.ndarray]:
    """Runs the signature; records in ``seen``, when given, its inputs and outputs and
    whether the inputs are serialized tf.Examples (``takes_examples``)."""
    outputs = signature.run(inputs)
    if seen is not None:
        seen.update(inputs=inputs, outputs=outputs, takes_examples=takes_examples)
    return outputs


def _hint(servable: Servable, signature: Signature, rows: Any) -> str:
    """For the first key of ``rows`` the signature lacks, which signature takes it."""
    if isinstance(rows, list):
        for row in rows:
            if isinstance(row, dict):
                for key in row:
                    if key not in signature.inputs:
                        return servable.hint(signature, key)
    return ""


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


def _request_id(request: Request) -> str:
    """The client's ``X-Request-Id`` when it is a sane token, else a new random one."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _split_verb(text: str) -> tuple[str, str]:
    head, sep, verb = text.rpartition(":")
    if not sep or verb not in VERBS:
        raise ApiError(404, f"unsupported route {text!r}: the verbs are {[':' + v for v in VERBS]}")
    return head, verb


def _parse_version(text: str) -> int:
    if not VERSION_PATTERN.fullmatch(text):
        raise ApiError(404, f"no version {text!r}: versions are integers")
    return int(text)


# ---------------------------------------------------------------------------- the app


def create_app(
    serving_root: Path,
    max_body_bytes: int = 1_000_000,
    max_instances: int = 1000,
    log_options: LogOptions | None = None,
    metrics_enabled: bool = True,
) -> FastAPI:
    """The REST app serving every model under ``serving_root`` (see the module docstring).

    Besides TF Serving's routes it serves Prometheus metrics at
    ``GET /monitoring/prometheus/metrics`` (``serving/metrics.py``), answers every
    inference request with an ``X-Request-Id`` header (the client's own, when it sent
    one), and, with ``log_options``, logs a sample of the requests
    (``serving/request_log.py``) and takes true labels at
    ``POST /v1/models/{name}:feedback`` (``serving/feedback.py``).

    Args:
        serving_root: Directory with one ``<name>/<version>/saved_model.pb`` tree per model.
        max_body_bytes: Larger request bodies get 413.
        max_instances: Requests with more instances (or examples) get 413.
        log_options: Request log and feedback settings; None logs nothing.
        metrics_enabled: False serves no metrics and counts nothing (to measure their cost).

    Returns:
        A FastAPI app; run it with uvicorn (``run_server``).
    """
    repository = ModelRepository(serving_root)
    metrics = ServingMetrics() if metrics_enabled else None
    logger = RequestLogger(log_options, metrics) if log_options else None
    feedback = FeedbackStore(log_options.root) if log_options else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Import TensorFlow and load models before accepting requests, not on the first one.
        await run_in_threadpool(repository.preload)
        yield
        if logger is not None:
            await run_in_threadpool(logger.close)

    app = FastAPI(
        title="model server", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    _add_error_handlers(app)

    handlers = {"predict": predict, "classify": classify, "regress": regress}

    def answer(name: str, version: int | None, verb: str, body: bytes, seen: dict) -> bytes:
        servable = repository.servable(name, version)
        seen["version"] = servable.version
        return json_api.render(handlers[verb](servable, body, max_instances, seen))

    async def respond(request: Request, name: str, version: int | None, verb: str) -> Response:
        request_id = _request_id(request)
        arrived, started = time.time(), time.perf_counter()
        seen: dict = {"version": version}
        status = 500
        try:
            body = await read_body(request, max_body_bytes)
            content = await run_in_threadpool(answer, name, version, verb, body, seen)
            status = 200
        except ApiError as error:
            status = error.status
            raise
        finally:
            seconds = time.perf_counter() - started
            if metrics is not None:
                metrics.observe(name, seen["version"], verb, status, seconds, seen.get("outputs"))
            if logger is not None and logger.sampled():
                logger.submit(
                    LoggedRequest(
                        model=name,
                        version=seen["version"],
                        verb=verb,
                        status=status,
                        time=arrived,
                        latency_ms=seconds * 1000.0,
                        request_id=request_id,
                        inputs=seen.get("inputs") if status == 200 else None,
                        takes_examples=seen.get("takes_examples", False),
                        outputs=seen.get("outputs") if status == 200 else None,
                    )
                )
        return Response(
            content, media_type="application/json", headers={REQUEST_ID_HEADER: request_id}
        )

    async def take_feedback(request: Request, name: str) -> JSONResponse:
        if feedback is None:
            raise ApiError(404, "feedback needs request logging (runner.py serve logs by default)")
        labels = feedback_lib.parse_feedback(await read_body(request, max_body_bytes))
        if not MODEL_NAME_PATTERN.fullmatch(name):
            raise ApiError(404, f"model {name!r} not found")
        count = await run_in_threadpool(feedback.add, name, labels)
        return JSONResponse({"labels_recorded": count})

    if metrics is not None:

        @app.get(METRICS_PATH)
        async def prometheus_metrics() -> Response:
            return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)

    def metadata(name: str, version: int | None) -> dict:
        servable = repository.servable(name, version)
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(servable.version)},
            "metadata": {"signature_def": {"signature_def": servable.metadata}},
        }

    @app.get("/v1/models/{name}")
    async def model_status(name: str) -> JSONResponse:
        entries = await run_in_threadpool(repository.status, name, None)
        return JSONResponse({"model_version_status": entries})

    @app.get("/v1/models/{name}/versions/{version}")
    async def version_status(name: str, version: str) -> JSONResponse:
        entries = await run_in_threadpool(repository.status, name, _parse_version(version))
        return JSONResponse({"model_version_status": entries})

    @app.get("/v1/models/{name}/metadata")
    async def model_metadata(name: str) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(metadata, name, None))

    @app.get("/v1/models/{name}/versions/{version}/metadata")
    async def version_metadata(name: str, version: str) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(metadata, name, _parse_version(version)))

    @app.post("/v1/models/{name_and_verb}")
    async def post_latest(name_and_verb: str, request: Request) -> Response:
        if name_and_verb.endswith(FEEDBACK_VERB):
            return await take_feedback(request, name_and_verb[: -len(FEEDBACK_VERB)])
        name, verb = _split_verb(name_and_verb)
        return await respond(request, name, None, verb)

    @app.post("/v1/models/{name}/versions/{version_and_verb}")
    async def post_version(name: str, version_and_verb: str, request: Request) -> Response:
        version, verb = _split_verb(version_and_verb)
        return await respond(request, name, _parse_version(version), verb)

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
    serving_root: Path,
    host: str = "127.0.0.1",
    port: int = 8501,
    access_log: bool = False,
    log_options: LogOptions | None = None,
) -> None:
    """Serves ``create_app(serving_root, log_options=...)`` with uvicorn until interrupted.

    Args:
        serving_root: Directory with one ``<name>/<version>/saved_model.pb`` tree per model.
        host: Interface to listen on; loopback by default.
        port: TCP port; 8501 is TF Serving's REST port.
        access_log: Log every request (off by default, as in TF Serving: it costs latency).
        log_options: Request log and feedback settings; None logs nothing.
    """
    app = create_app(serving_root, log_options=log_options)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)
