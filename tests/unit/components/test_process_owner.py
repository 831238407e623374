"""process_owner: telling a live owner from a dead one, with real processes."""

import dataclasses
import os
import signal
import subprocess
import sys

import pytest

from components import process_owner


@pytest.fixture
def sleeper():
    """A live child process."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield child
    child.kill()
    child.wait()


def owner_of(pid: int) -> process_owner.ProcessOwner:
    me = process_owner.current()
    return dataclasses.replace(me, pid=pid, start_ticks=process_owner._start_ticks(pid))


def test_this_process_is_alive():
    assert process_owner.is_alive(process_owner.current()) is True


def test_a_live_child_is_alive_and_once_killed_is_gone(sleeper):
    owner = owner_of(sleeper.pid)
    assert process_owner.is_alive(owner) is True

    sleeper.kill()
    sleeper.wait()
    assert process_owner.is_alive(owner) is False


def test_a_killed_child_not_yet_reaped_is_gone(sleeper):
    owner = owner_of(sleeper.pid)
    os.kill(sleeper.pid, signal.SIGKILL)
    os.waitid(os.P_PID, sleeper.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie

    assert process_owner.is_alive(owner) is False


def test_a_pid_now_held_by_another_process_is_not_the_owner(sleeper):
    owner = owner_of(sleeper.pid)
    earlier = dataclasses.replace(owner, start_ticks=owner.start_ticks - 1)

    assert process_owner.is_alive(owner) is True
    assert process_owner.is_alive(earlier) is False


def test_an_owner_from_before_a_reboot_is_gone():
    me = process_owner.current()
    assert process_owner.is_alive(dataclasses.replace(me, boot_id="another-boot")) is False


def test_an_owner_on_another_host_cannot_be_judged():
    me = process_owner.current()
    assert process_owner.is_alive(dataclasses.replace(me, host="elsewhere")) is None


def test_record_round_trip_and_bad_records():
    me = process_owner.current()
    assert process_owner.ProcessOwner.from_dict(me.to_dict()) == me
    assert me.describe().startswith(f"pid {os.getpid()} on host {me.host}, started 20")
    with pytest.raises(ValueError, match="not a process owner record"):
        process_owner.ProcessOwner.from_dict({"pid": "12", "host": "h"})
