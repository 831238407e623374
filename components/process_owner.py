"""Who a process is, and whether it is still alive: the owner of a run or a staging copy.

A process is named by host, pid and, on Linux, its start time in clock ticks since boot
(``/proc/<pid>/stat``) plus the boot id, so that a pid the kernel gave to a newer
process, or a pid from before a reboot, does not pass for the original owner.
Liveness can only be judged on the owner's own host; elsewhere it is unknown (None).
No TFX or TensorFlow imports: the pusher and the runner's lock both use it.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
import socket
from pathlib import Path
from typing import Any

_PROC = Path("/proc")
_BOOT_ID = _PROC / "sys" / "kernel" / "random" / "boot_id"
_UNSAFE_HOST_CHARS = re.compile(r"[^A-Za-z0-9.-]")
# /proc/<pid>/stat after the ")" closing the command name: state is the first field,
# starttime the 20th (field 22 of proc(5)).
_STATE_FIELD, _START_FIELD = 0, 19
_DEAD_STATES = ("Z", "X")


@dataclasses.dataclass(frozen=True)
class ProcessOwner:
    """A process, recorded so that another process can later tell whether it is alive.

    Attributes:
        pid: Process id.
        host: Host name, reduced to letters, digits, ``.`` and ``-`` (usable in file names).
        started_at: When the record was made, ISO-8601 local time with its UTC offset.
        start_ticks: The process's start time in clock ticks since boot; None off Linux.
        boot_id: The kernel's boot id when the record was made; None off Linux.
    """

    pid: int
    host: str
    started_at: str
    start_ticks: int | None = None
    boot_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessOwner:
        """The owner a ``to_dict`` wrote.

        Raises:
            ValueError: ``data`` lacks ``pid`` or ``host`` or has a wrong type.
        """
        try:
            pid, host = data["pid"], data["host"]
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a process owner record: {data!r}") from error
        if not isinstance(pid, int) or not isinstance(host, str):
            raise ValueError(f"not a process owner record: {data!r}")
        ticks = data.get("start_ticks")
        return cls(
            pid=pid,
            host=host,
            started_at=str(data.get("started_at", "")),
            start_ticks=ticks if isinstance(ticks, int) else None,
            boot_id=data.get("boot_id") if isinstance(data.get("boot_id"), str) else None,
        )

    def describe(self) -> str:
        """``pid 123 on host build-7, started 2026-11-22T03:10:35+01:00``."""
        started = f", started {self.started_at}" if self.started_at else ""
        return f"pid {self.pid} on host {self.host}{started}"


def host_name() -> str:
    """This host's name, reduced to letters, digits, ``.`` and ``-``."""
    return _UNSAFE_HOST_CHARS.sub("_", socket.gethostname()) or "localhost"


def now_iso() -> str:
    """The current local time as ISO-8601 with its UTC offset, to the second."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def current() -> ProcessOwner:
    """This process."""
    pid = os.getpid()
    return ProcessOwner(
        pid=pid,
        host=host_name(),
        started_at=now_iso(),
        start_ticks=_start_ticks(pid),
        boot_id=_boot_id(),
    )


def is_alive(owner: ProcessOwner) -> bool | None:
    """Whether ``owner`` still runs: True, False, or None when it is on another host."""
    if owner.host != host_name():
        return None
    if owner.boot_id is not None and _boot_id() not in (None, owner.boot_id):
        return False  # the machine rebooted since
    return pid_alive(owner.pid, owner.start_ticks)


def pid_alive(pid: int, start_ticks: int | None = None) -> bool:
    """Whether a process with ``pid`` (and, if given, that start time) runs on this host.

    A zombie (exited, not yet reaped) counts as gone.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    fields = _stat_fields(pid)
    if fields is None:
        # Gone since the signal check where /proc works; else the signal check is all there is.
        return not (_PROC / "self" / "stat").exists()
    if fields[_STATE_FIELD] in _DEAD_STATES:
        return False
    return start_ticks is None or int(fields[_START_FIELD]) == start_ticks


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[_START_FIELD]) if fields else None


def _boot_id() -> str | None:
    try:
        return _BOOT_ID.read_text().strip() or None
    except OSError:
        return None
