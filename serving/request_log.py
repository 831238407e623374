"""Request logging as TF Serving's logging config does it: a sample of the inference requests.

A sampled request becomes one tf.Example per instance, appended to TFRecord files under
``<log root>/<model>/requests-<UTC time>-<pid>-<n>.tfrecord``; a file is closed and the next
one started once it passes ``max_file_bytes``. Each tf.Example holds the instance's input
features under their own names (a missing value is an absent feature, as in the CSV
ExampleGen's examples) and, under names starting with ``__``:

- ``__request_id`` (bytes), ``__instance`` (int64: the instance's position in the request),
- ``__time_micros`` (int64: Unix microseconds when the request arrived; a float32 would
  round it to minutes), ``__latency_ms`` (float),
- ``__model_version`` (int64, -1 when no version was reached), ``__verb`` (bytes),
  ``__status`` (int64: the HTTP status code),
- ``__output/<name>`` (the output's values for the instance, flattened).

A request answered with an error is logged as one record without inputs or outputs, so
error rates can be read from the logs. Logging never delays or fails a request: the
request thread only puts the record on a bounded queue (a full queue drops it); a
writer thread builds and writes the examples, and a failed write (full disk, missing
permission) drops the record. Both drops are counted in the server's metrics.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import os
import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np

from serving.metrics import ServingMetrics

REQUEST_ID = "__request_id"
INSTANCE = "__instance"
TIME = "__time_micros"
LATENCY_MS = "__latency_ms"
MODEL_VERSION = "__model_version"
VERB = "__verb"
STATUS = "__status"
OUTPUT_PREFIX = "__output/"
META_PREFIX = "__"
FILE_PATTERN = "requests-*.tfrecord"
_BATCH = 256  # records written between flushes
_logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LogOptions:
    """Where and how much to log.

    Attributes:
        root: Log root; each model logs under ``root/<model>/``.
        sample_rate: Share of requests logged, in [0, 1]; exactly every 1/rate-th request.
        max_file_bytes: Size past which a log file is closed and the next one started.
        queue_size: Records that may wait for the writer; more are dropped.
    """

    root: Path
    sample_rate: float = 1.0
    max_file_bytes: int = 16_000_000
    queue_size: int = 10_000


@dataclasses.dataclass(frozen=True)
class LoggedRequest:
    """One answered request as the server hands it to the logger.

    Attributes:
        inputs: The signature's input arrays, one row per instance (None after an error).
        takes_examples: ``inputs`` is a single array of serialized tf.Examples.
        outputs: The signature's output arrays, one row per instance (None after an error).
    """

    model: str
    version: int | None
    verb: str
    status: int
    time: float
    latency_ms: float
    request_id: str
    inputs: dict[str, np.ndarray] | None = None
    takes_examples: bool = False
    outputs: dict[str, np.ndarray] | None = None


class RequestLogger:
    """Samples requests and writes them from a background thread (see the module docstring)."""

    def __init__(self, options: LogOptions, metrics: ServingMetrics | None = None):
        self.options = options
        self._metrics = metrics
        self._queue: queue.Queue[LoggedRequest | None] = queue.Queue(options.queue_size)
        self._lock = threading.Lock()
        self._seen = 0
        self._files: dict[str, _File] = {}
        self._thread: threading.Thread | None = None

    def sampled(self) -> bool:
        """Whether the next request is logged: the n-th is when floor(n * rate) grows."""
        with self._lock:
            before = math.floor(self._seen * self.options.sample_rate)
            self._seen += 1
            return math.floor(self._seen * self.options.sample_rate) > before

    def submit(self, request: LoggedRequest) -> None:
        """Queues a sampled request for writing; never blocks (a full queue drops it)."""
        self._start()
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            self._dropped(request.model, "queue_full")

    def close(self, timeout: float = 300.0) -> None:
        """Writes what is queued, then closes the files (the server's shutdown)."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while batch[-1] is not None and len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for request in batch:
                if request is not None:
                    self._write(request)
            self._flush()
            if batch[-1] is None:
                for model in list(self._files):
                    self._close(model)
                return

    def _write(self, request: LoggedRequest) -> None:
        try:
            records = to_examples(request)
            target = self._file(request.model)
            for record in records:
                target.write(record)
            if target.size >= self.options.max_file_bytes:
                self._close(request.model)
        except Exception as error:  # noqa: BLE001 - any failure drops the record, counted
            _logger.warning("request log record dropped: %s", error)
            self._dropped(request.model, "write_error")
            self._close(request.model)
            return
        if self._metrics is not None:
            self._metrics.log_records.labels(request.model).inc()

    def _file(self, model: str) -> _File:
        current = self._files.get(model)
        if current is None:
            directory = self.options.root / model
            directory.mkdir(parents=True, exist_ok=True)
            current = self._files[model] = _File(directory)
        return current

    def _flush(self) -> None:
        for model, current in list(self._files.items()):
            try:
                current.flush()
            except Exception as error:  # noqa: BLE001 - as in _write
                _logger.warning("request log flush failed: %s", error)
                self._dropped(model, "write_error")
                self._close(model)

    def _close(self, model: str) -> None:
        current = self._files.pop(model, None)
        if current is not None:
            try:
                current.close()
            except Exception as error:  # noqa: BLE001 - the file is given up either way
                _logger.warning("request log close failed: %s", error)

    def _dropped(self, model: str, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.log_dropped.labels(model, reason).inc()


class _File:
    """One open log file and the bytes written to it."""

    _counter = 0
    _counter_lock = threading.Lock()

    def __init__(self, directory: Path):
        import tensorflow as tf

        with _File._counter_lock:
            _File._counter += 1
            number = _File._counter
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%f")
        self.path = directory / f"requests-{stamp}-{os.getpid()}-{number:06d}.tfrecord"
        self._writer = tf.io.TFRecordWriter(str(self.path))
        self.size = 0

    def write(self, record: bytes) -> None:
        self._writer.write(record)
        self.size += len(record) + 16  # TFRecord framing: length, two CRCs

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


def to_examples(request: LoggedRequest) -> list[bytes]:
    """The serialized tf.Examples of a logged request, one per instance (see module doc)."""
    from tensorflow.core.example import example_pb2

    rows = _input_rows(request) if request.inputs is not None else [None]
    records = []
    for index, features in enumerate(rows):
        example = example_pb2.Example()
        if features is not None:
            example.CopyFrom(features)
        feature = example.features.feature
        feature[REQUEST_ID].bytes_list.value.append(request.request_id.encode())
        feature[INSTANCE].int64_list.value.append(index)
        feature[TIME].int64_list.value.append(round(request.time * 1e6))
        feature[LATENCY_MS].float_list.value.append(request.latency_ms)
        version = -1 if request.version is None else request.version
        feature[MODEL_VERSION].int64_list.value.append(version)
        feature[VERB].bytes_list.value.append(request.verb.encode())
        feature[STATUS].int64_list.value.append(request.status)
        for name, array in (request.outputs or {}).items():
            if index < len(array):
                _fill(feature[OUTPUT_PREFIX + name], np.asarray(array[index]).reshape(-1))
        records.append(example.SerializeToString())
    return records


def _input_rows(request: LoggedRequest) -> list[Any]:
    from tensorflow.core.example import example_pb2

    inputs = request.inputs or {}
    if request.takes_examples:
        (serialized,) = inputs.values()
        return [example_pb2.Example.FromString(bytes(s)) for s in serialized.tolist()]
    count = len(next(iter(inputs.values()))) if inputs else 0
    rows = [example_pb2.Example() for _ in range(count)]
    for name, array in inputs.items():
        for row, value in zip(rows, array.tolist(), strict=True):
            if value is None or value == b"" or (isinstance(value, float) and math.isnan(value)):
                continue  # the server's "missing": NaN for a number, "" for a string
            _fill(row.features.feature[name], np.asarray([value]))
    return rows


def _fill(feature: Any, values: np.ndarray) -> None:
    """Values into a tf.Example feature of the matching kind."""
    if values.dtype.kind == "f":
        feature.float_list.value.extend(values.astype(np.float64).tolist())
    elif values.dtype.kind in "iub":
        feature.int64_list.value.extend(int(v) for v in values.tolist())
    else:
        feature.bytes_list.value.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in values.tolist()
        )
