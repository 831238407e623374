"""runner.py's command line: set-up advice, config errors and argument errors."""

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
