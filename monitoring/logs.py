"""The server's request logs read back: records, windows and the labels attached to them.

The log format is ``serving/request_log.py``'s: one tf.Example per instance of a sampled
request, input features under their own names and the request's facts under ``__`` names.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from serving import request_log
from serving.feedback import read_feedback

_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class MonitorError(ValueError):
    """Nothing to monitor, or an option that cannot be used; one line for the user."""


@dataclasses.dataclass(frozen=True)
class Record:
    """One logged instance.

    Attributes:
        features: Input feature -> its values (floats, ints or bytes); absent when missing.
        outputs: Output name -> its values for the instance.
        label: The true label attached by feedback, or None.
    """

    request_id: str
    instance: int
    time: float
    latency_ms: float
    version: int
    verb: str
    status: int
    features: dict[str, list]
    outputs: dict[str, list]
    label: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclasses.dataclass(frozen=True)
class Windows:
    """The records monitored and the ones just before them (the drift baseline)."""

    current: list[Record]
    previous: list[Record]
    description: str


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d`` (or a sum like ``1h30m``) in seconds.

    Raises:
        MonitorError: Not such a duration.
    """
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise MonitorError(f"--since: expected a duration such as 30m, 2h or 1d, got {text!r}")
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def log_files(directory: Path) -> list[Path]:
    """The model's log files, oldest first (their names start with their UTC time)."""
    return sorted(Path(directory).glob(request_log.FILE_PATTERN))


def read_records(directory: Path, labels: dict[tuple[str, int], Any] | None = None) -> list[Record]:
    """Every logged instance under ``directory``, by arrival time (then log order), labels
    attached.

    ``labels`` defaults to the directory's feedback file. A file cut short (a server
    stopped mid-write) yields the records before the cut.
    """
    import tensorflow as tf
    from tensorflow.core.example import example_pb2

    if labels is None:
        labels = read_feedback(directory)
    records = []
    for path in log_files(directory):
        try:
            for raw in tf.compat.v1.io.tf_record_iterator(str(path)):
                records.append(_record(example_pb2.Example.FromString(raw), labels))
        except tf.errors.DataLossError:
            continue
    records.sort(key=lambda r: r.time)  # stable: file order within a microsecond
    return records


def _record(example: Any, labels: dict[tuple[str, int], Any]) -> Record:
    features, outputs, meta = {}, {}, {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        values = list(getattr(feature, kind).value) if kind else []
        if name.startswith(request_log.OUTPUT_PREFIX):
            outputs[name[len(request_log.OUTPUT_PREFIX) :]] = values
        elif name.startswith(request_log.META_PREFIX):
            meta[name] = values[0] if values else None
        elif values:
            features[name] = values
    request_id = (meta.get(request_log.REQUEST_ID) or b"").decode()
    instance = int(meta.get(request_log.INSTANCE) or 0)
    return Record(
        request_id=request_id,
        instance=instance,
        time=int(meta.get(request_log.TIME) or 0) / 1e6,
        latency_ms=float(meta.get(request_log.LATENCY_MS) or 0.0),
        version=int(meta.get(request_log.MODEL_VERSION) or -1),
        verb=(meta.get(request_log.VERB) or b"").decode(),
        status=int(meta.get(request_log.STATUS) or 0),
        features=features,
        outputs=outputs,
        label=labels.get((request_id, instance)),
    )


def select_windows(
    records: list[Record], window: int | None = None, since: float | None = None, now=None
) -> Windows:
    """The newest ``window`` requests, or those of the last ``since`` seconds, and as many
    (or as long) just before them.

    Raises:
        MonitorError: No logged request falls in the window.
    """
    if since is not None:
        import time

        end = time.time() if now is None else now
        current = [r for r in records if r.time >= end - since]
        previous = [r for r in records if end - 2 * since <= r.time < end - since]
        description = f"requests of the last {_seconds_text(since)}"
    else:
        count = window or 1
        ids = list(dict.fromkeys(r.request_id for r in records))
        chosen, before = set(ids[-count:]), set(ids[-2 * count : -count] if count else [])
        current = [r for r in records if r.request_id in chosen]
        previous = [r for r in records if r.request_id in before]
        description = f"the newest {len(chosen)} logged requests"
    if not current:
        raise MonitorError(f"no logged request in the window ({description})")
    return Windows(current=current, previous=previous, description=description)


def _seconds_text(seconds: float) -> str:
    for unit in ("d", "h", "m"):
        if seconds >= _SECONDS[unit] and seconds % _SECONDS[unit] == 0:
            return f"{int(seconds // _SECONDS[unit])}{unit}"
    return f"{seconds:g}s"
