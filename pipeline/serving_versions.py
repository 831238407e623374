"""``runner.py versions``: the served versions of a model and its push/rollback history.

``push_history.jsonl`` keeps seconds since the epoch (machine-readable, unchanged); on
screen each time is ISO-8601 in the machine's local time zone, with its UTC offset.
"""

import datetime
from pathlib import Path

from components.serving_pusher import pusher
from pipeline import os_errors

_TIME_WIDTH = len("2026-11-22T03:10:35+01:00")
_EVENT_WIDTH = 9


def iso_time(epoch_seconds: float) -> str:
    """Seconds since the epoch as local ISO-8601 with its UTC offset, to the second.

    ``1764386400.5`` -> ``2025-11-29T04:20:00+01:00`` (on a machine at UTC+1).
    """
    moment = datetime.datetime.fromtimestamp(epoch_seconds, tz=datetime.timezone.utc)
    return moment.astimezone().isoformat(timespec="seconds")


def format_versions(model_name: str, model_dir: Path) -> str:
    """What is served from ``model_dir`` and its history, oldest first.

    Raises:
        NotADirectoryError: ``model_dir`` or a directory on its way is a file.
        OSError: The directory or the history cannot be read.
    """
    os_errors.check_directory(model_dir)
    served = pusher.served_versions(model_dir)
    lines = [
        f"{model_name} in {model_dir}",
        f"served     {', '.join(map(str, served)) or 'none'}",
        f"current    {served[-1] if served else 'none'}",
    ]
    records = pusher.history(model_dir)
    if records:
        lines.append(f"{'time (local)':<{_TIME_WIDTH}}  {'event':<{_EVENT_WIDTH}} details")
    for record in records:
        details = ", ".join(f"{k}={v}" for k, v in record.items() if k not in ("event", "time"))
        lines.append(
            f"{_record_time(record):<{_TIME_WIDTH}}  "
            f"{record.get('event', ''):<{_EVENT_WIDTH}} {details}"
        )
    return "\n".join(lines)


def _record_time(record: dict) -> str:
    value = record.get("time")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    try:
        return iso_time(value)
    except (OverflowError, OSError, ValueError):  # a number no clock can show
        return str(value)
