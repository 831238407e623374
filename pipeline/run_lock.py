"""One pipeline run per work dir at a time, and a record of which process owns each run.

``WorkDirLock`` is an exclusive ``flock`` on ``<work dir>/.run.lock``. The kernel drops it
when its holder exits, however it exits, so a killed run never leaves the work dir
locked. While held, the file names the holder (run id, pid, host, start time) for a run
that finds it taken. Only ``runner.py --local`` takes it: ``runs``, ``lineage``,
``versions``, ``serve`` and ``report`` read without it.

Each run also writes ``<work dir>/runs/<run id>/owner.json``; ``runner.py runs`` shows a
run whose owner is gone before it wrote its ``summary.json`` as ``interrupted``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components import process_owner

LOCK_FILE = ".run.lock"
OWNER_FILE = "owner.json"


@dataclasses.dataclass(frozen=True)
class RunOwner:
    """The process that runs (or ran) a pipeline run.

    Attributes:
        run_id: The run's id.
        process: The process, with what tells it apart from a later one with its pid.
        pipeline: The pipeline's name ("" in records written before it was kept): runs of
            several pipelines may share one work dir.
    """

    run_id: str
    process: process_owner.ProcessOwner
    pipeline: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "pipeline": self.pipeline, **self.process.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunOwner:
        """The owner ``to_dict`` wrote.

        Raises:
            ValueError: ``data`` is not such a record.
        """
        if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
            raise ValueError(f"not a run owner record: {data!r}")
        process = process_owner.ProcessOwner.from_dict(
            {k: v for k, v in data.items() if k != "pipeline"}
        )
        return cls(data["run_id"], process, str(data.get("pipeline") or ""))

    @property
    def started(self) -> datetime.datetime | None:
        """When the run took the work dir, as an aware datetime (None if unrecorded)."""
        try:
            return datetime.datetime.fromisoformat(self.process.started_at)
        except ValueError:
            return None

    def alive(self) -> bool | None:
        """Whether the owning process still runs; None when it runs on another host."""
        return process_owner.is_alive(self.process)

    def describe(self) -> str:
        """``run 2026... (pid 123 on host h, started 2026-11-22T03:10:35+01:00)``."""
        return f"run {self.run_id} ({self.process.describe()})"


class WorkDirBusyError(RuntimeError):
    """Another run holds the work dir and the caller would not wait.

    Attributes:
        holder: The run holding it, None when it has not recorded itself yet.
    """

    def __init__(self, work_dir: Path, holder: RunOwner | None):
        super().__init__(f"{work_dir} is in use by {describe_holder(holder)}")
        self.holder = holder


def describe_holder(holder: RunOwner | None) -> str:
    """The holder as the command line names it."""
    return holder.describe() if holder else "another run (not yet recorded)"


class WorkDirLock:
    """An exclusive, process-wide lock on a work dir for one pipeline run.

    Use as ``lock.acquire(...)`` then ``with lock: lock.claim(run_id) ...``; leaving the
    ``with`` block (or the process ending) releases it.
    """

    def __init__(self, work_dir: Path):
        self.work_dir = Path(work_dir)
        self.path = self.work_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self, wait: bool, on_wait: Callable[[RunOwner | None], None]) -> None:
        """Takes the lock; when another run holds it, waits for it or refuses.

        Args:
            wait: Wait for the holder to finish; otherwise raise at once.
            on_wait: Called once with the holder before waiting.

        Raises:
            WorkDirBusyError: The lock is held and ``wait`` is False.
            OSError: The lock file cannot be created or opened (the work dir is missing or
                is not a directory, for example).
        """
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = read_holder(self.work_dir)
                if not wait:
                    raise WorkDirBusyError(self.work_dir, holder) from None
                on_wait(holder)
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def claim(self, run_id: str, pipeline: str = "") -> RunOwner:
        """Records this process as the holder, running ``run_id`` of ``pipeline``; returns
        that record.

        Raises:
            RuntimeError: The lock is not held.
            OSError: The record cannot be written.
        """
        if self._fd is None:
            raise RuntimeError(f"{self.path} is not held")
        owner = RunOwner(run_id, process_owner.current(), pipeline)
        data = json.dumps(owner.to_dict()).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)
        return owner

    def release(self) -> None:
        """Forgets the holder record and releases the lock (a no-op when not held)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            with contextlib.suppress(OSError):  # the lock goes with the descriptor anyway
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> WorkDirLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def read_holder(work_dir: Path) -> RunOwner | None:
    """The run recorded in the work dir's lock file, read without taking the lock.

    Only meaningful while the lock is held: a holder that was killed leaves its record
    behind. None when there is no (complete) record.
    """
    try:
        text = (Path(work_dir) / LOCK_FILE).read_text()
    except FileNotFoundError:
        return None
    return _parse_owner(text)


def write_run_owner(run_dir: Path, owner: RunOwner) -> Path:
    """Writes ``<run_dir>/owner.json`` (atomically) and returns its path.

    Raises:
        OSError: It cannot be written.
    """
    path = Path(run_dir) / OWNER_FILE
    staging = path.with_name(f".{OWNER_FILE}.{os.getpid()}")
    staging.write_text(json.dumps(owner.to_dict(), indent=2))
    os.replace(staging, path)
    return path


def read_run_owner(run_dir: Path) -> RunOwner | None:
    """The owner a run recorded, or None when it recorded none (or an unreadable one).

    Raises:
        OSError: The file exists but cannot be read.
    """
    path = Path(run_dir) / OWNER_FILE
    if not path.exists():
        return None
    return _parse_owner(path.read_text())


def _parse_owner(text: str) -> RunOwner | None:
    try:
        return RunOwner.from_dict(json.loads(text))
    except ValueError:  # empty, cut short or not a record (json.JSONDecodeError included)
        return None
