"""runner.py's command line: set-up advice, config errors and argument errors."""

import os
import subprocess
import sys
from pathlib import Path

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
