"""runner.py's command line: set-up advice, config errors and argument errors."""

import datetime
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = str(REPO / "runner.py")


def run(*args, python=sys.executable, **kwargs):
    return subprocess.run([python, *args], capture_output=True, text=True, timeout=120, **kwargs)


def test_python_without_dependencies_gets_setup_advice():
    # -S: no site-packages, as a fresh interpreter without the environment has.
    result = run("-S", RUNNER, "--local", python=sys._base_executable)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "make setup" in result.stderr and "yaml" in result.stderr


def test_bad_config_is_one_line_naming_the_key(tmp_path):
    config = tmp_path / "bad.yaml"
    text = (REPO / "configs" / "penguins.yaml").read_text().replace("epochs: 60", "epochs: 0")
    config.write_text(text.replace("../", f"{REPO}/"))
    result = run(RUNNER, "--local", "--config", str(config))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "trainer.hyperparameters.epochs" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file(tmp_path):
    result = run(RUNNER, "--local", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "cannot read" in result.stderr


def test_an_orchestrator_is_required():
    result = run(RUNNER)
    assert result.returncode == 2
    assert "--local" in result.stderr


def test_kubeflow_needs_a_kubeflow_section():
    result = run(RUNNER, "--kubeflow", "--config", str(REPO / "configs" / "penguins.yaml"))
    assert result.returncode == 2
    assert "no kubeflow section" in result.stderr


def test_submit_needs_a_kubeflow_endpoint():
    env = {k: v for k, v in os.environ.items() if k != "KFP_HOST"}
    result = run(RUNNER, "--kubeflow", "--submit", env=env)
    assert result.returncode == 2
    assert "--host" in result.stderr and "KFP_HOST" in result.stderr


def test_submit_goes_with_kubeflow():
    result = run(RUNNER, "--local", "--submit")
    assert result.returncode == 2
    assert "--submit and --host go with --kubeflow" in result.stderr


def _serving_root_with_versions(work_dir: Path, versions: list[int]) -> Path:
    base = work_dir / "serving" / "penguins"
    for version in versions:
        (base / str(version)).mkdir(parents=True)
        (base / str(version) / "saved_model.pb").write_bytes(b"")
    return base


def test_rollback_serves_the_previous_version_and_records_it(tmp_path):
    base = _serving_root_with_versions(tmp_path, [1, 2])
    result = run(RUNNER, "rollback", "--work-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "now serving version 1" in result.stdout
    assert sorted(p.name for p in base.iterdir() if p.name.isdigit()) == ["1"]

    again = run(RUNNER, "rollback", "--work-dir", str(tmp_path))
    assert again.returncode == 1
    assert "rollback refused" in again.stderr and "only one" in again.stderr

    shown = run(RUNNER, "versions", "--work-dir", str(tmp_path))
    assert shown.returncode == 0
    assert "current    1" in shown.stdout
    lines = shown.stdout.splitlines()
    assert any("rollback" in line and "from_version=2" in line for line in lines)


def test_rollback_to_an_unknown_version_is_refused(tmp_path):
    _serving_root_with_versions(tmp_path, [1, 2, 3])
    result = run(RUNNER, "rollback", "--work-dir", str(tmp_path), "--to", "7")
    assert result.returncode == 1
    assert "version 7" in result.stderr


LOGGING_CHILD = """
import logging, os, sys
from pathlib import Path
import runner
with runner._logging_to(Path(sys.argv[1]), verbose=sys.argv[2] == "verbose") as terminal:
    logging.getLogger("tfx").info("a python log line")
    os.write(2, b"a line written below python\\n")
    print("a progress line", file=terminal)
"""


def test_quiet_run_sends_logs_to_the_file_and_progress_to_the_terminal(tmp_path):
    log = tmp_path / "pipeline.log"
    result = run("-c", LOGGING_CHILD, str(log), "quiet", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a progress line\n"
    assert result.stderr == ""
    text = log.read_text()
    assert "INFO tfx: a python log line" in text
    assert "a line written below python" in text


def test_verbose_run_streams_logs_and_keeps_the_file(tmp_path):
    log = tmp_path / "pipeline.log"
    result = run("-c", LOGGING_CHILD, str(log), "verbose", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a progress line\n"
    assert "INFO tfx: a python log line" in result.stderr
    assert "a line written below python" in result.stderr
    assert "INFO tfx: a python log line" in log.read_text()


# ---------------------------------------------------------------------------- filesystem errors

EXIT_FILESYSTEM, EXIT_WORK_DIR_BUSY = 4, 5


def assert_one_line(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1, stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


@pytest.mark.parametrize(
    "command",
    [["--local"], ["runs"], ["versions"], ["rollback"], ["serve", "--port", "0"], ["lineage"]],
)
def test_a_work_dir_that_is_a_regular_file_is_one_line_and_exit_4(tmp_path, command):
    work_dir = tmp_path / "work"
    work_dir.write_text("a file where the work dir should be")

    result = run(RUNNER, *command, "--work-dir", str(work_dir))

    assert result.returncode == EXIT_FILESYSTEM
    assert_one_line(
        result.stderr, "filesystem error: ", f"({work_dir} is a regular file, not a directory)"
    )


def test_a_run_stopped_by_a_filesystem_error_logs_the_traceback(tmp_path):
    work_dir = tmp_path / "work"
    (work_dir / "metadata.sqlite").mkdir(parents=True)

    result = run(RUNNER, "--local", "--work-dir", str(work_dir))

    assert result.returncode == EXIT_FILESYSTEM
    [log] = (work_dir / "runs").glob("*/pipeline.log")
    assert_one_line(
        result.stderr,
        f"filesystem error: {work_dir / 'metadata.sqlite'}: Is a directory",
        f"(traceback in {log})",
    )
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "IsADirectoryError" in text


def test_versions_with_an_unreadable_history_is_one_line(tmp_path):
    base = _serving_root_with_versions(tmp_path, [1])
    (base / "push_history.jsonl").mkdir()

    result = run(RUNNER, "versions", "--work-dir", str(tmp_path))

    assert result.returncode == EXIT_FILESYSTEM
    assert_one_line(result.stderr, f"{base / 'push_history.jsonl'}: Is a directory")


def test_rollback_blocked_by_a_file_is_one_line(tmp_path):
    base = _serving_root_with_versions(tmp_path, [1, 2])
    (base / "rolled_back").write_text("a file where rollback puts versions")

    result = run(RUNNER, "rollback", "--work-dir", str(tmp_path))

    assert result.returncode == EXIT_FILESYSTEM
    assert_one_line(result.stderr, str(base / "rolled_back"), "is a regular file")
    assert sorted(p.name for p in base.iterdir() if p.name.isdigit()) == ["1", "2"]


# ---------------------------------------------------------------------------- versions

ISO_LOCAL = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d"


def test_versions_prints_iso_8601_local_times(tmp_path):
    base = _serving_root_with_versions(tmp_path, [1, 2])
    assert run(RUNNER, "rollback", "--work-dir", str(tmp_path)).returncode == 0
    [record] = [json.loads(line) for line in (base / "push_history.jsonl").read_text().splitlines()]

    # A zone with a half-hour offset and no daylight saving: the offset shows which.
    shown = run(
        RUNNER, "versions", "--work-dir", str(tmp_path), env={**os.environ, "TZ": "Asia/Kolkata"}
    )

    assert shown.returncode == 0, shown.stderr
    header, line = shown.stdout.splitlines()[3:5]
    assert header.split() == ["time", "(local)", "event", "details"]
    stamp = line.split()[0]
    assert re.fullmatch(ISO_LOCAL, stamp) and stamp.endswith("+05:30")
    assert datetime.datetime.fromisoformat(stamp).timestamp() == int(record["time"])
    assert line.split()[1] == "rollback" and "from_version=2" in line


# ---------------------------------------------------------------------------- one run per work dir

HOLD_WORK_DIR = """
import sys
from pathlib import Path
from pipeline import run_lock
lock = run_lock.WorkDirLock(Path(sys.argv[1]))
lock.acquire(wait=False, on_wait=print)
with lock:
    lock.claim("holder-run")
    print("holding", flush=True)
    sys.stdin.readline()
"""


def read_line(child: subprocess.Popen, timeout: float = 120) -> str:
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    assert ready, f"no line from pid {child.pid} within {timeout} s"
    return child.stdout.readline()


def test_a_second_run_waits_for_or_refuses_the_work_dir_and_a_killed_run_is_interrupted(
    tmp_path,
):
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WORK_DIR, str(work_dir)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    waiter = None
    try:
        assert read_line(holder) == "holding\n"
        named = f"is in use by run holder-run (pid {holder.pid} on host "

        refused = run(RUNNER, "--local", "--no-wait", "--work-dir", str(work_dir))
        assert refused.returncode == EXIT_WORK_DIR_BUSY
        assert_one_line(refused.stderr, f"work dir busy: {work_dir} {named}", "started 20")
        assert "not starting (--no-wait)" in refused.stderr

        waiter = subprocess.Popen(
            [sys.executable, RUNNER, "--local", "--work-dir", str(work_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        waiting = read_line(waiter)
        assert waiting.startswith(f"penguins: work dir {work_dir} {named}")
        assert waiting.endswith("; waiting for it to finish\n")
        time.sleep(1.0)
        assert waiter.poll() is None and not (work_dir / "runs").exists()

        holder.kill()  # the kernel drops its lock with it
        started = read_line(waiter)
        assert started.startswith("penguins: run ")
        run_id = started.split()[2]
        assert (work_dir / "runs" / run_id / "owner.json").is_file()
    finally:
        holder.kill()
        holder.wait()
        if waiter is not None:
            os.killpg(waiter.pid, signal.SIGKILL)
            waiter.wait()

    shown = run(RUNNER, "runs", "--work-dir", str(work_dir))
    assert shown.returncode == 0, shown.stderr
    [line] = [line for line in shown.stdout.splitlines() if line.startswith(run_id)]
    assert line.split()[3] == "interrupted"
    assert f"pid {waiter.pid} on host" in line and line.endswith("is gone")


def _penguins_config(directory: Path) -> Path:
    config = directory / "penguins.yaml"
    text = (REPO / "configs" / "penguins.yaml").read_text().replace("../", f"{REPO}/")
    config.write_text(text)
    return config


def test_a_run_with_the_inputs_of_the_last_complete_run_shows_it_and_stops(tmp_path):
    """The up-to-date check, in the runner's own process: no TFX, no new run directory."""
    sys.path.insert(0, str(REPO))
    try:
        from pipeline import up_to_date
        from pipeline.config import load_config
        from pipeline.run_summary import RunSummary
    finally:
        sys.path.remove(str(REPO))
    config = _penguins_config(tmp_path)
    cfg = load_config(config, work_dir=tmp_path / "work")
    run_dir = cfg.runs_dir / "20260101T000000.000000"
    run_dir.mkdir(parents=True)
    up_to_date.write_inputs(run_dir, up_to_date.fingerprint(cfg))
    summary = RunSummary(
        "penguins",
        run_dir.name,
        str(config),
        cfg.digest(),
        str(cfg.work_dir),
        "m",
        "l",
        [],
        outcome="blessed and pushed",
        blessed=True,
        pushed_version="1",
        pushed_path="/s/1",
    )
    (run_dir / "summary.json").write_text(summary.to_json())
    (run_dir / "report.html").write_text("<html></html>")
    cfg.metadata_path.touch()
    cfg.pipeline_root.mkdir(parents=True)
    command = (RUNNER, "--local", "--config", str(config), "--work-dir", str(cfg.work_dir))

    result = run("-X", "importtime", *command)  # what it imported, on stderr

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0] == (
        "penguins: up to date: config, code, schema, data and packages are those of run "
        "20260101T000000.000000; nothing ran (--recheck runs it through TFX's cache)"
    )
    assert "pushed     version 1 -> /s/1" in result.stdout
    assert result.stdout.splitlines()[-1] == f"report     {run_dir / 'report.html'}"
    assert [p.name for p in cfg.runs_dir.iterdir()] == [run_dir.name]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert not imported & {"tfx", "tensorflow", "apache_beam", "ml_metadata"}


CLOSING_CHILD = """
import sys
import runner
from pipeline.run_summary import RunSummary
anomaly = dict(split="train", feature="island", severity="ERROR", problem="p", description="d")
summary = RunSummary(
    "penguins", "r1", "c.yaml", "0123", "/w", "/w/m", "/w/l", [],
    outcome="stopped at DataGate", error="AnomaliesFoundError", anomalies=[anomaly],
)
runner._print_closing(summary, stopped=sys.argv[1] == "stopped", report="not written")
"""


@pytest.mark.parametrize(
    ("stopped", "heading"),
    [
        ("stopped", "Data anomalies: the run stopped before Transform"),
        ("went on", "Data anomalies (validation.on_anomalies: warn, so the run went on)"),
    ],
)
def test_a_run_ends_with_its_anomalies_summary_and_report_line(stopped, heading):
    result = run("-c", CLOSING_CHILD, stopped, cwd=REPO)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["", heading]
    assert "island" in result.stdout
    assert "run        r1  (penguins: stopped at DataGate)" in lines
    assert lines[-1] == "report     not written"


def test_recheck_goes_with_local():
    result = run(RUNNER, "runs", "--recheck")
    assert result.returncode == 2
    assert "--recheck" in result.stderr


def block_buffered_env() -> dict[str, str]:
    """This environment without PYTHONUNBUFFERED (which this sandbox sets), so a child's
    stdout is block-buffered into a pipe, as a user's is."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def test_exit_without_teardown_keeps_the_exit_code_threads_and_atexit_handlers(tmp_path):
    written = tmp_path / "thread.txt"
    script = f"""
import atexit, logging, sys, threading, time
sys.path.insert(0, {str(REPO)!r})
import runner
handler = logging.FileHandler({str(tmp_path / "log.txt")!r})
logging.getLogger().addHandler(handler)
logging.getLogger().warning("in the log file")
atexit.register(print, "atexit ran")
def late_write():
    time.sleep(0.3)
    open({str(written)!r}, "w").write("done")
threading.Thread(target=late_write).start()
print("buffered", end="")
runner.exit_without_teardown(7)
"""
    result = run("-c", script, env=block_buffered_env())
    assert result.returncode == 7, result.stderr
    assert result.stdout == "bufferedatexit ran\n"
    assert written.read_text() == "done"
    assert (tmp_path / "log.txt").read_text() == "in the log file\n"


def test_exit_without_teardown_is_quiet_when_the_reader_closed_the_pipe():
    script = f"""
import sys, time
sys.path.insert(0, {str(REPO)!r})
import runner
time.sleep(0.5)
print("buffered until exit")
runner.exit_without_teardown(0)
"""
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=block_buffered_env(),
    )
    child.stdout.close()  # as `| head` does once it has read enough
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr
