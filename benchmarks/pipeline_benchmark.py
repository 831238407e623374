"""Prints what a pipeline run costs: cold, unchanged re-run, per component, and against TFX.

    .venv/bin/python benchmarks/pipeline_benchmark.py [--config configs/penguins.yaml]
        [--work-dir DIR] [--skip-tfx] [--tfx-dir DIR]

In one invocation, on a fresh work dir: a cold ``runner.py --local``, an unchanged re-run
(stopped by the up-to-date check before TFX loads), the same re-run with ``--recheck``
(through TFX's cache; it must execute nothing), ``runner.py runs`` and ``runner.py
versions``; then TFX's own
penguin example (``tfx/examples/penguin/penguin_pipeline_local.py`` from the installed tfx
wheel, tuning off as in /work/shared/bench/tfx_penguin.sh, on this repo's penguins CSV
rescaled the way that example expects), cold and warm, with this Python. Wall seconds, CPU
seconds (user + sys of the process tree) and peak RSS per segment: start-up (imports and
compilation, up to the first component), each component, and the close (summary and
report). Figures only, no assertions; the load average is printed with them, since other
processes on the machine stretch wall time but hardly CPU time.
"""

import argparse
import csv
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LEGACY_KERAS = {"TF_USE_LEGACY_KERAS": "1"}
_NODE_LINE = re.compile(r"Component (\S+) is (running|finished)\.")
_SAMPLE_SECONDS = 0.2
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
START_UP, BETWEEN, CLOSE = "(start-up)", "(between components)", "(summary, report)"
# TFX's example reads these four numeric columns, min-max scaled, and an integer species.
_TFX_COLUMNS = {
    "bill_length_mm": "culmen_length_mm",
    "bill_depth_mm": "culmen_depth_mm",
    "flipper_length_mm": "flipper_length_mm",
    "body_mass_g": "body_mass_g",
}
_TFX_SPECIES = {"Adelie": 0, "Chinstrap": 1, "Gentoo": 2}


@dataclasses.dataclass
class Segment:
    """One stretch of a run: wall and CPU seconds, peak RSS (MiB) of the process tree."""

    name: str
    wall: float = 0.0
    cpu: float = 0.0
    peak_mb: float = 0.0
    state: str = ""


@dataclasses.dataclass
class Measured:
    wall: float
    cpu: float
    peak_mb: float
    returncode: int
    segments: list[Segment]
    stdout: str


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "penguins.yaml")
    parser.add_argument("--work-dir", type=Path, help="an empty or new directory (default: temp)")
    parser.add_argument("--skip-tfx", action="store_true", help="leave out TFX's example")
    parser.add_argument("--tfx-dir", type=Path, help="where TFX's example runs (default: temp)")
    args = parser.parse_args(argv)

    scratch = Path(tempfile.mkdtemp(prefix="pipeline-benchmark-"))
    work_dir = args.work_dir or scratch / "work"
    if work_dir.exists() and any(work_dir.iterdir()):
        parser.error(f"--work-dir {work_dir} is not empty: the cold run needs a fresh one")
    runner = [sys.executable, str(REPO / "runner.py")]
    common = ["--config", str(args.config), "--work-dir", str(work_dir)]
    env = {**os.environ, **LEGACY_KERAS, "PYTHONPATH": str(REPO)}
    print(f"config {args.config}  work dir {work_dir}  cores {os.cpu_count()}  {load_average()}")

    cold = measure([*runner, "--local", *common], env, runs_dir=work_dir / "runs")
    unchanged = measure([*runner, "--local", *common], env, runs_dir=work_dir / "runs")
    rerun = measure([*runner, "--local", "--recheck", *common], env, runs_dir=work_dir / "runs")
    runs = measure([*runner, "runs", *common], env)
    versions = measure([*runner, "versions", *common], env)
    for name, result in (("cold run", cold), ("re-run", unchanged), ("--recheck", rerun)):
        if result.returncode != 0:
            print(f"{name} failed ({result.returncode}):\n{result.stdout[-3000:]}")
            return 1
    print_table(cold, rerun)
    executed = [s.name for s in rerun.segments if s.state == "executed"]
    print(f"\n--recheck re-run executed {len(executed)} components {executed or ''}")
    up_to_date = "up to date" in unchanged.stdout.splitlines()[0]
    print(
        f"unchanged re-run: {unchanged.wall:.2f} s wall {unchanged.cpu:.2f} s CPU, "
        f"{'stopped by the up-to-date check' if up_to_date else 'RAN (not seen as unchanged)'}"
        "  (target <= 10 s)"
    )
    for name, result in (("runs", runs), ("versions", versions)):
        print(
            f"runner.py {name:<9} {result.wall:6.2f} s wall {result.cpu:6.2f} s CPU"
            "  (target <= 1 s)"
        )

    if not args.skip_tfx:
        tfx_dir = args.tfx_dir or scratch / "tfx-penguin"
        tfx_cold, tfx_warm = run_tfx_example(tfx_dir, env)
        print(f"\nTFX penguin example ({tfx_dir}):")
        for name, result in (("cold", tfx_cold), ("warm", tfx_warm)):
            status = "" if result.returncode == 0 else f"  FAILED ({result.returncode})"
            print(f"  {name} {result.wall:7.1f} s wall {result.cpu:7.1f} s CPU{status}")
        if tfx_cold.returncode == 0:
            print(
                f"cold run / TFX example: {cold.wall / tfx_cold.wall:.2f}x wall, "
                f"{cold.cpu / tfx_cold.cpu:.2f}x CPU  (target <= 0.4x)"
            )
    print(f"\n{load_average()}")
    if args.work_dir is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def measure(command: list[str], env: dict, runs_dir: Path | None = None) -> Measured:
    """Runs ``command``; with ``runs_dir``, splits its cost by the run log's component lines."""
    known = set(runs_dir.iterdir()) if runs_dir and runs_dir.is_dir() else set()
    cpu_before = _children_cpu()
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    segments = [Segment(START_UP)]
    peak = [0.0]
    mark = [started, 0.0]  # wall and CPU at the start of the current segment
    stop = threading.Event()
    log = _LogTail(runs_dir, known)

    def close_segment(now: float, cpu: float, name: str | None) -> None:
        current = segments[-1]
        current.wall += now - mark[0]
        current.cpu += cpu - mark[1]
        mark[0], mark[1] = now, cpu
        if name is not None:
            segments.append(Segment(name))

    def sample() -> None:
        while not stop.wait(_SAMPLE_SECONDS):
            cpu, rss_mb = _tree_usage(process.pid)
            peak[0] = max(peak[0], rss_mb)
            segments[-1].peak_mb = max(segments[-1].peak_mb, rss_mb)
            for node, event in log.events():
                close_segment(time.monotonic(), cpu, node if event == "running" else BETWEEN)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    stop.set()
    sampler.join()
    wall = time.monotonic() - started
    cpu = _children_cpu() - cpu_before  # the reaped process tree, exact
    # The last segment is charged the CPU not sampled (between the final sample and exit).
    close_segment(time.monotonic(), max(cpu, mark[1]), None)
    if len(segments) > 1 and segments[-1].name == BETWEEN:
        segments[-1].name = CLOSE  # after the last component
    segments = _merged(segments)
    states = _progress_states(stdout)
    for segment in segments:
        segment.state = states.get(segment.name, "")
    return Measured(wall, cpu, peak[0], process.returncode, segments, stdout)


def _children_cpu() -> float:
    usage = os.times()
    return usage.children_user + usage.children_system


def _merged(segments: list[Segment]) -> list[Segment]:
    """One row per name (the gaps between components add up), in order of first appearance."""
    rows: dict[str, Segment] = {}
    for segment in segments:
        row = rows.setdefault(segment.name, Segment(segment.name))
        row.wall += segment.wall
        row.cpu += segment.cpu
        row.peak_mb = max(row.peak_mb, segment.peak_mb)
    if BETWEEN in rows:
        rows[BETWEEN] = rows.pop(BETWEEN)  # listed after the components
    if CLOSE in rows:
        rows[CLOSE] = rows.pop(CLOSE)
    return list(rows.values())


class _LogTail:
    """New ``Component X is running/finished`` lines of the newest run's pipeline.log."""

    def __init__(self, runs_dir: Path | None, known: set[Path]):
        self._runs_dir, self._known = runs_dir, known
        self._file = None
        self._pending = ""

    def events(self) -> list[tuple[str, str]]:
        if self._runs_dir is None:
            return []
        if self._file is None:
            fresh = [
                p for p in self._runs_dir.glob("*/pipeline.log") if p.parent not in self._known
            ]
            if not fresh:
                return []
            self._file = open(max(fresh), errors="replace")  # noqa: SIM115 - read to exit
        self._pending += self._file.read()
        lines = self._pending.split("\n")
        self._pending = lines.pop()
        return [m.groups() for line in lines if (m := _NODE_LINE.search(line))]


def _tree_usage(pid: int) -> tuple[float, float]:
    """CPU seconds (user + sys) and resident MiB of ``pid`` and its descendants."""
    cpu, rss_kb = 0.0, 0.0
    for member in _descendants(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, and cutime, cstime: children that ended (a converter subprocess).
        cpu += sum(int(f) for f in fields[11:15]) / _TICKS
        rss_kb += int(fields[21]) * _PAGE_KB
    return cpu, rss_kb / 1024


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                queue.extend(int(child) for child in task.read_text().split())
            except OSError:
                continue
    return found


def _progress_states(stdout: str) -> dict[str, str]:
    """Node id -> state from the runner's progress lines (``  Trainer  executed  12.3 s``)."""
    found = re.findall(r"^  (\S+)\s+(executed|cached|resolved|skipped|failed)\s", stdout, re.M)
    return dict(found)


def print_table(cold: Measured, rerun: Measured) -> None:
    print(
        f"\n{'segment':<32} {'cold wall':>9} {'CPU':>7} {'RSS MiB':>8}"
        f"   {'--recheck wall':>14} {'CPU':>6}  state"
    )
    again = {s.name: s for s in rerun.segments}
    for segment in cold.segments:
        other = again.get(segment.name, Segment(segment.name))
        print(
            f"{segment.name:<32} {segment.wall:9.1f} {segment.cpu:7.1f} {segment.peak_mb:8.0f}"
            f"   {other.wall:14.1f} {other.cpu:6.1f}  {other.state}"
        )
    print(
        f"{'total (whole process)':<32} {cold.wall:9.1f} {cold.cpu:7.1f} {cold.peak_mb:8.0f}"
        f"   {rerun.wall:14.1f} {rerun.cpu:6.1f}"
    )


def run_tfx_example(directory: Path, env: dict) -> tuple[Measured, Measured]:
    """TFX's penguin example, tuning off, cold then warm, in ``directory`` (its $HOME)."""
    import tfx

    source = Path(tfx.__file__).parent / "examples" / "penguin"
    home = directory / "home"
    shutil.rmtree(directory, ignore_errors=True)
    data = home / "penguin" / "data"
    for split in ("labelled", "unlabelled"):
        (data / split).mkdir(parents=True)
    _write_tfx_penguins(REPO / "data" / "penguins" / "penguins.csv", data)
    for name in ("penguin_utils_keras.py", "penguin_utils_base.py"):
        shutil.copy(source / name, home / "penguin" / name)
    script = (source / "penguin_pipeline_local.py").read_text()
    script = script.replace(
        "enable_tuning=(flags.FLAGS.model_framework == 'keras')", "enable_tuning=False"
    )
    (directory / "penguin_local_notune.py").write_text(script)
    command = [sys.executable, str(directory / "penguin_local_notune.py")]
    tfx_env = {**env, "HOME": str(home), "PYTHONPATH": str(_pip_alone(directory / "pip"))}
    return measure(command, tfx_env), measure(command, tfx_env)


def _pip_alone(directory: Path) -> Path:
    """A directory holding only the base Python's ``pip`` package, for PYTHONPATH.

    TFX's example packages its user code as a wheel and installs it with ``python -m
    pip``; this project's uv-made environment has no pip, and the lock does not add one.
    """
    found = subprocess.run(
        [_base_python(), "-c", "import os, pip; print(os.path.dirname(pip.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.copytree(found.stdout.strip(), directory / "pip", dirs_exist_ok=True)
    return directory


def _base_python() -> str:
    """The interpreter this environment was made from (its pip is the one taken)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(Path(sys.base_prefix) / "bin" / version)


def _write_tfx_penguins(raw_csv: Path, data_dir: Path) -> None:
    with open(raw_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if all(r[c] not in ("", "NA") for c in _TFX_COLUMNS)]
    lows = {c: min(float(r[c]) for r in rows) for c in _TFX_COLUMNS}
    highs = {c: max(float(r[c]) for r in rows) for c in _TFX_COLUMNS}
    scaled = [[(float(r[c]) - lows[c]) / (highs[c] - lows[c]) for c in _TFX_COLUMNS] for r in rows]
    with open(data_dir / "labelled" / "penguins_processed.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["species", *_TFX_COLUMNS.values()])
        species = [_TFX_SPECIES[r["species"]] for r in rows]
        writer.writerows([s, *x] for s, x in zip(species, scaled, strict=True))
    with open(data_dir / "unlabelled" / "penguins_unlabelled.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(_TFX_COLUMNS.values()))
        writer.writerows(scaled)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as printed next to the figures."""
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
