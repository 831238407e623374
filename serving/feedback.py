"""True labels attached to logged requests: ``POST /v1/models/{name}:feedback`` and CSV files.

Labels are appended, one JSON object per line, to ``<log root>/<model>/feedback.jsonl``:
``{"request_id": str, "instance": int, "label": str | float, "time": Unix seconds}``. A
later label for the same request and instance replaces an earlier one when read.

The request body is ``{"request_id": "...", "label": value}`` for a request of one
instance, or ``{"request_id": "...", "labels": [value, ...]}`` with one label per
instance, in the request's order. A label is a string (a class) or a number.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from pathlib import Path
from typing import Any

from serving.errors import ApiError
from serving.json_api import parse_request

FEEDBACK_FILE = "feedback.jsonl"
FEEDBACK_KEYS = ("request_id", "label", "labels")
# CSV columns of ``runner.py monitor --labels FILE``; ``instance`` is optional (default 0).
CSV_COLUMNS = ("request_id", "label")


class FeedbackError(ValueError):
    """A labels file that cannot be read; the message names the line."""


class FeedbackStore:
    """Appends labels under a log root; thread-safe within one process."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    def add(self, model: str, labels: list[tuple[str, int, Any]]) -> int:
        """Appends (request id, instance, label) triples; returns how many."""
        now = time.time()
        lines = "".join(
            json.dumps({"request_id": r, "instance": i, "label": label, "time": now}) + "\n"
            for r, i, label in labels
        )
        directory = self.root / model
        with self._lock:
            directory.mkdir(parents=True, exist_ok=True)
            with (directory / FEEDBACK_FILE).open("a", encoding="utf-8") as f:
                f.write(lines)
        return len(labels)


def parse_feedback(body: bytes) -> list[tuple[str, int, Any]]:
    """The (request id, instance, label) triples of a feedback request; ApiError(400) if bad."""
    request = parse_request(body, FEEDBACK_KEYS)
    request_id = request.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        raise ApiError(400, '"request_id" must be the non-empty X-Request-Id of a request')
    if ("label" in request) == ("labels" in request):
        raise ApiError(400, 'give either "label" (one instance) or "labels" (one per instance)')
    labels = request["labels"] if "labels" in request else [request["label"]]
    if not isinstance(labels, list) or not labels:
        raise ApiError(400, '"labels" must be a non-empty list, one label per instance')
    for index, label in enumerate(labels):
        if isinstance(label, bool) or not isinstance(label, str | int | float):
            raise ApiError(400, f"labels[{index}] must be a string or a number")
    return [(request_id, index, label) for index, label in enumerate(labels)]


def read_feedback(directory: Path) -> dict[tuple[str, int], Any]:
    """(request id, instance) -> label from a model's ``feedback.jsonl``; the latest wins.

    A line cut short (a server stopped mid-write) is skipped.
    """
    path = Path(directory) / FEEDBACK_FILE
    found: dict[tuple[str, int], Any] = {}
    if not path.is_file():
        return found
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                entry = json.loads(line)
                found[(entry["request_id"], int(entry["instance"]))] = entry["label"]
            except (ValueError, KeyError, TypeError):
                continue
    return found


def read_labels_csv(path: Path) -> list[tuple[str, int, Any]]:
    """(request id, instance, label) rows of a CSV with ``request_id,label[,instance]``.

    Raises:
        FeedbackError: A column is missing or an instance is not a whole number.
    """
    with Path(path).open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise FeedbackError(f"{path}: no column {missing[0]!r} (needs request_id,label)")
        rows = []
        for number, row in enumerate(reader, start=2):
            instance = (row.get("instance") or "0").strip()
            if not instance.isdigit():
                raise FeedbackError(f"{path}:{number}: instance must be a whole number")
            rows.append((row["request_id"].strip(), int(instance), row["label"].strip()))
    return rows
