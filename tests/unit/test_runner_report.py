"""runner.py's report, runs and lineage commands where there is nothing to report on yet."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNNER = str(REPO / "runner.py")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, RUNNER, *args], capture_output=True, text=True, timeout=120
    )


def test_runs_without_metadata_says_so(tmp_path):
    result = run("runs", "--work-dir", str(tmp_path))
    assert result.returncode == 1
    assert "no ML Metadata database" in result.stderr and "Traceback" not in result.stderr


def test_report_without_metadata_says_so(tmp_path):
    result = run("report", "--run", "20260101T000000.000000", "--work-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("no report:") and "Traceback" not in result.stderr


def test_lineage_takes_a_version_or_a_uri_not_both(tmp_path):
    result = run("lineage", "--version", "1", "--model-uri", "/x", "--work-dir", str(tmp_path))
    assert result.returncode == 2
    assert "not allowed with argument" in result.stderr
