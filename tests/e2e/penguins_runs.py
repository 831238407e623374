"""Running ``runner.py --local`` from the e2e tests: configs, runs and their summaries."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CSV = REPO / "data" / "penguins" / "penguins.csv"
RUN_TIMEOUT_S = 1200


def write_config(directory: Path, csv_dir: Path = CSV.parent, **overrides) -> Path:
    """The default config with absolute paths, a short training budget and ``overrides``.

    ``overrides`` maps a config section to the values to change in it (nested dicts merge).
    Written to ``directory/config.yaml``, with the work dir ``directory/work``.
    """
    raw = yaml.safe_load((REPO / "configs" / "penguins.yaml").read_text())
    raw["work_dir"] = str(directory / "work")
    raw["data"]["csv_dir"] = str(csv_dir)
    raw["validation"]["schema_path"] = str(REPO / "schemas" / "penguins" / "schema.pbtxt")
    raw["trainer"]["hyperparameters"].update(epochs=25)
    for section, values in overrides.items():
        _deep_update(raw[section], values)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _deep_update(target: dict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict):
            _deep_update(target[key], value)
        else:
            target[key] = value


def runner_command(config: Path) -> list[str]:
    return [sys.executable, str(REPO / "runner.py"), "--local", "--config", str(config)]


def read_summary(run_dir: Path) -> dict:
    """A run's summary.json, which must be strict JSON (no NaN or Infinity)."""
    return json.loads((run_dir / "summary.json").read_text(), parse_constant=_not_json)


def _not_json(constant: str):
    raise ValueError(f"summary.json is not strict JSON: {constant}")


def run_pipeline(config: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """Runs ``runner.py --local``; returns the process and the latest run's summary.json."""
    process = subprocess.run(
        runner_command(config), capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO
    )
    runs = sorted((config.parent / "work" / "runs").iterdir())
    assert (runs[-1] / "summary.json").is_file(), process.stdout[-2000:] + process.stderr[-3000:]
    return process, read_summary(runs[-1])


@dataclasses.dataclass(frozen=True)
class Started:
    """One of two ``runner.py --local`` processes started together.

    Attributes:
        process: Its command, exit code, stdout and stderr.
        pid: Its process id.
        summary: Its run's summary.json.
    """

    process: subprocess.CompletedProcess
    pid: int
    summary: dict


@dataclasses.dataclass(frozen=True)
class History:
    """The penguins history's first two runs.

    Attributes:
        workspace: Holds ``config.yaml`` and the work dir ``work``.
        first: The run that took the lock first and trained.
        rerun: The run that waited for it, then (with ``--recheck``) found everything
            cached in TFX's cache.
        unchanged: A third ``runner.py --local``, without ``--recheck``, once both ended:
            its inputs are those of the rerun, so it stops before TFX.
    """

    workspace: Path
    first: Started
    rerun: Started
    unchanged: subprocess.CompletedProcess

    @property
    def config(self) -> Path:
        return self.workspace / "config.yaml"

    @property
    def work_dir(self) -> Path:
        return self.workspace / "work"


WAITING = "waiting for it to finish"


def start_two_runs(workspace: Path) -> History:
    """Starts two ``runner.py --local --recheck`` on the default config in ``workspace``;
    waits for both, then runs it once more without ``--recheck``.

    Raises:
        AssertionError: A process wrote no run, or not exactly one waited for the other.
    """
    command = runner_command(write_config(workspace))
    recheck = [*command, "--recheck"]
    popens = [
        subprocess.Popen(
            recheck, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
        )
        for _ in range(2)
    ]
    started = []
    for popen in popens:
        stdout, stderr = popen.communicate(timeout=2 * RUN_TIMEOUT_S)
        process = subprocess.CompletedProcess(recheck, popen.returncode, stdout, stderr)
        run_id = run_id_of(stdout)
        assert run_id, stdout[-2000:] + stderr[-3000:]
        summary = read_summary(workspace / "work" / "runs" / run_id)
        started.append(Started(process, popen.pid, summary))
    waited = [s for s in started if WAITING in s.process.stdout]
    assert len(waited) == 1, [s.process.stdout[:500] for s in started]
    (first,) = [s for s in started if s is not waited[0]]
    unchanged = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=REPO
    )
    return History(workspace, first, waited[0], unchanged)


def run_id_of(stdout: str) -> str | None:
    """The run id ``runner.py`` printed (``penguins: run <id>  (config ...)``), if any."""
    for line in stdout.splitlines():
        if line.startswith("penguins: run "):
            return line.split()[2]
    return None
