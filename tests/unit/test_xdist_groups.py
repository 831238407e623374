"""`make test`'s two pytest-xdist workers keep each xdist group on one worker.

pytest 9 ignores the group suffix pytest-xdist 3.8 gives node ids, so groups were split and
each worker ran the shared penguins history itself (twice the runs); hence ``pytest<9``.
This runs pytest with the Makefile's options on a few generated tests, under this repo's
``tests/conftest.py`` (its groups: a shared session fixture, else the module).
"""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = """
import os
import pytest


@pytest.fixture(scope="session")
def penguins_history(tmp_path_factory):
    base = tmp_path_factory.getbasetemp().parent.parent
    (base / f"history-{os.environ['PYTEST_XDIST_WORKER']}").write_text("made")
    return 1
"""
READER = """
import os


def test_reads_{n}(penguins_history):
    print("WORKER", os.environ["PYTEST_XDIST_WORKER"])


def test_alone_{n}():
    pass
"""


def test_a_shared_run_is_made_once_and_its_readers_share_a_worker(tmp_path):
    (tmp_path / "base").mkdir()
    tests = tmp_path / "tests"
    (tests / "e2e").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "conftest.py", tests / "conftest.py")
    (tests / "e2e" / "conftest.py").write_text(SHARED)
    for n in range(4):
        (tests / "e2e" / f"test_module_{n}.py").write_text(READER.format(n=n))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup"]
        + ["--no-loadscope-reorder", "-p", "no:cacheprovider", "-v", "--basetemp"]
        + [str(tmp_path / "base" / "t"), "tests"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    readers = {
        line.split()[0]
        for line in result.stdout.splitlines()
        if "::test_reads_" in line and "PASSED" in line
    }
    assert len(readers) == 1, result.stdout[-3000:]
    assert len(list((tmp_path / "base").glob("history-*"))) == 1
