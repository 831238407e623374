"""run_lock: one run per work dir, between real processes, and run owner records."""

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from components import process_owner
from pipeline import run_lock

REPO = Path(__file__).resolve().parents[3]

HOLDER = """
import sys
from pathlib import Path
from pipeline import run_lock
lock = run_lock.WorkDirLock(Path(sys.argv[1]))
lock.acquire(wait=sys.argv[3] == "wait", on_wait=lambda holder: print(
    "waiting for", run_lock.describe_holder(holder), flush=True))
with lock:
    lock.claim(sys.argv[2])
    print("holding", sys.argv[2], flush=True)
    sys.stdin.readline()
"""


def start_holder(work_dir: Path, run_id: str, wait: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(work_dir), run_id, "wait" if wait else "no-wait"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def read_line(child: subprocess.Popen, timeout: float = 60) -> str:
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    assert ready, f"no line from pid {child.pid} within {timeout} s"
    return child.stdout.readline()


def finish(child: subprocess.Popen) -> int:
    if child.poll() is None:
        child.stdin.write("\n")
        child.stdin.flush()
    return child.wait(timeout=60)


@pytest.fixture
def children():
    started: list[subprocess.Popen] = []
    yield started
    for child in started:
        child.kill()
        child.wait()


def test_a_second_process_is_refused_and_told_who_holds_the_work_dir(tmp_path, children):
    children.append(holder := start_holder(tmp_path, "run-A"))
    assert read_line(holder) == "holding run-A\n"

    with pytest.raises(run_lock.WorkDirBusyError) as caught:
        run_lock.WorkDirLock(tmp_path).acquire(wait=False, on_wait=print)

    found = caught.value.holder
    assert (found.run_id, found.process.pid) == ("run-A", holder.pid)
    assert found.process.host == process_owner.host_name()
    assert found.alive() is True
    assert str(caught.value) == f"{tmp_path} is in use by run run-A ({found.process.describe()})"
    assert finish(holder) == 0


def test_a_waiting_process_starts_once_the_holder_is_done(tmp_path, children):
    children.append(holder := start_holder(tmp_path, "run-A"))
    assert read_line(holder) == "holding run-A\n"
    children.append(waiter := start_holder(tmp_path, "run-B", wait=True))

    announced = read_line(waiter)
    assert announced.startswith(f"waiting for run run-A (pid {holder.pid} on host ")
    time.sleep(1.0)
    assert waiter.poll() is None and run_lock.read_holder(tmp_path).run_id == "run-A"

    assert finish(holder) == 0
    assert read_line(waiter) == "holding run-B\n"
    assert run_lock.read_holder(tmp_path).process.pid == waiter.pid
    assert finish(waiter) == 0
    assert run_lock.read_holder(tmp_path) is None  # released: no holder recorded


def test_a_killed_holder_leaves_the_work_dir_free(tmp_path, children):
    children.append(holder := start_holder(tmp_path, "run-A"))
    assert read_line(holder) == "holding run-A\n"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()

    lock = run_lock.WorkDirLock(tmp_path)
    lock.acquire(wait=False, on_wait=print)
    with lock:
        owner = lock.claim("run-B")
        assert run_lock.read_holder(tmp_path) == owner
        assert owner.process.pid == os.getpid()


def test_a_work_dir_that_is_a_file_cannot_be_locked(tmp_path):
    work_dir = tmp_path / "work"
    work_dir.write_text("")
    with pytest.raises(NotADirectoryError):
        run_lock.WorkDirLock(work_dir).acquire(wait=False, on_wait=print)


def test_run_owner_records(tmp_path):
    assert run_lock.read_run_owner(tmp_path) is None
    owner = run_lock.RunOwner("run-A", process_owner.current())
    path = run_lock.write_run_owner(tmp_path, owner)

    assert path == tmp_path / run_lock.OWNER_FILE
    assert run_lock.read_run_owner(tmp_path) == owner
    assert owner.started is not None and owner.started.tzinfo is not None
    path.write_text('{"run_id": "run-A", "pid": 1')  # cut short
    assert run_lock.read_run_owner(tmp_path) is None
