"""How numbers read in the report; each function is also a Jinja filter of the same name."""

import datetime
import math
from collections.abc import Callable
from typing import Any

MISSING = "–"  # no value: not computed, or not reached
UNDEFINED = "n/a"  # computed but undefined, e.g. the recall of a class absent from the split


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _absent(value: Any) -> str:
    """What stands in for a value that is not a finite number: NaN and inf are undefined."""
    if isinstance(value, float) and not math.isfinite(value):
        return UNDEFINED
    return MISSING


def number(value: Any) -> str:
    """Three significant digits, whole numbers from 1000 on: ``44.1``, ``0.0475``, ``4248``.

    No thousands separators, so that years read as years.
    """
    if not _is_number(value):
        return _absent(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.3g}"


def distance(value: Any) -> str:
    """A skew or drift distance, four decimals so it reads against a 0.1 threshold: ``0.1003``."""
    return f"{value:.4f}" if _is_number(value) else _absent(value)


def metric(value: Any) -> str:
    """A metric in [0, 1] and similar, three decimals: ``0.987``."""
    return f"{value:.3f}" if _is_number(value) else _absent(value)


def class_metric(value: Any) -> str:
    """A per-class metric, where None means undefined on the split: ``0.987`` or ``n/a``.

    Precision is undefined for a class never predicted, recall and AUC for a class with
    no examples in the split (``tfma_metrics`` turns TFMA's NaN and 0.0 into None).
    """
    return UNDEFINED if value is None else metric(value)


def error(value: Any) -> str:
    """A regression error in label units, four significant digits: ``41.23``, ``2901``.

    Whole numbers from 1000 on, never exponents: an MSE reads ``12345``.
    """
    if not _is_number(value):
        return _absent(value)
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def signed_error(value: Any) -> str:
    """A change of an error with its sign: ``+1.234``, ``-12.5``."""
    if not _is_number(value):
        return _absent(value)
    return f"{value:+.0f}" if abs(value) >= 1000 else f"{value:+.4g}"


def signed(value: Any) -> str:
    """A difference with its sign, three decimals: ``+0.013``, ``-0.010``."""
    return f"{value:+.3f}" if _is_number(value) else _absent(value)


def relative(fraction: Any) -> str:
    """A relative change with its sign: ``0.029`` -> ``+2.9%``."""
    return f"{fraction:+.1%}" if _is_number(fraction) else _absent(fraction)


def percent(fraction: Any, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.034`` -> ``3.4 %``."""
    return f"{fraction * 100:.{digits}f} %" if _is_number(fraction) else _absent(fraction)


def size(num_bytes: Any) -> str:
    """Bytes in binary units: ``27052`` -> ``26.4 KiB``."""
    if not _is_number(num_bytes):
        return _absent(num_bytes)
    for unit in ("bytes", "KiB", "MiB"):
        if abs(num_bytes) < 1024 or unit == "MiB":
            return f"{int(num_bytes)} bytes" if unit == "bytes" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return MISSING  # unreachable


def milliseconds(value: Any) -> str:
    """A latency: ``0.4509`` -> ``0.451 ms``."""
    return f"{value:.3g} ms" if _is_number(value) else _absent(value)


def seconds(value: Any) -> str:
    """A duration: ``6.46`` -> ``6.5 s``, ``64.2`` -> ``1 min 04 s``."""
    if not _is_number(value):
        return _absent(value)
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s"


def timestamp(value: datetime.datetime | None) -> str:
    """Local time with its zone: ``2026-11-22 03:08:05 UTC``."""
    if value is None:
        return MISSING
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def yes_no(value: bool | None) -> str:
    """``yes``, ``no``, or the missing mark for None."""
    return MISSING if value is None else ("yes" if value else "no")


FILTERS: dict[str, Callable[..., str]] = {
    "number": number,
    "metric": metric,
    "class_metric": class_metric,
    "distance": distance,
    "signed": signed,
    "error": error,
    "signed_error": signed_error,
    "relative": relative,
    "percent": percent,
    "size": size,
    "milliseconds": milliseconds,
    "seconds": seconds,
    "timestamp": timestamp,
    "yes_no": yes_no,
}
