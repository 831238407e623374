"""Strict JSON: the one way this project writes JSON.

Python's ``json.dumps`` writes ``NaN``, ``Infinity`` and ``-Infinity`` by default, which
is not JSON (RFC 8259): ``jq``, browsers' ``JSON.parse`` and most other readers reject
the whole document. Here a non-finite float means "undefined" (a precision with no
predicted positives, an AUC of a class absent from the split) and is written as
``null``; anything else ``json`` cannot encode is still an error.
"""

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` itself, except that a NaN or infinite float becomes None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def sanitize(value: Any) -> Any:
    """A copy of ``value`` with every non-finite float, at any depth, replaced by None.

    Dataclass instances become dicts (as ``dataclasses.asdict`` makes them); tuples
    become lists, as ``json`` writes them anyway.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {key: sanitize(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(item) for item in value]
    return finite_or_none(value)


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` with NaN/inf written as ``null`` and ``allow_nan=False`` enforced.

    Args:
        value: Anything ``json`` encodes, dataclass instances included.
        **kwargs: Passed to ``json.dumps`` (``indent``, ``sort_keys``, ...).
    """
    return json.dumps(sanitize(value), allow_nan=False, **kwargs)
