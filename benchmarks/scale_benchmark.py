"""Prints what the whole DAG costs as the data grows: 10k, 100k, 1M rows (10M opt-in).

    .venv/bin/python benchmarks/scale_benchmark.py [--datasets penguins taxi]
        [--sizes 10000 100000 1000000] [--with-10m] [--scratch DIR] [--keep]
    .venv/bin/python benchmarks/scale_benchmark.py generate DATASET ROWS OUT_DIR  # data only

For each dataset and size: a synthetic CSV with the shipped dataset's columns and types
(penguins-like: species drawn first, the body measurements from per-species normals, so the
label is learnable; taxi-like: trips resampled from the shipped Chicago sample with the
numbers jittered, so payment type and fare still tell the big tippers), written into a
temporary directory, never into the repo. A config derived from the shipped one points at
that CSV and trains 1 epoch (everything else as shipped); ``runner.py --local`` runs the
whole DAG on it in a fresh work dir. Per component: wall seconds, CPU seconds (user + sys
of the process tree) and peak RSS, measured by ``pipeline_benchmark.measure``; then one
line per size with the growth against the size before. Figures only, no assertions.
Targets (issue 13): 1M rows in at most 10 minutes and 6 GB peak RSS on 2 cores, and 10x
rows in at most 10x the time from 100k up.
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pipeline_benchmark import LEGACY_KERAS, REPO, Measured, load_average, measure

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
OPT_IN_SIZE = 10_000_000
DATASETS = ("penguins", "taxi")
_CHUNK_ROWS = 250_000
_TARGET_WALL_1M, _TARGET_RSS_MB = 600.0, 6 * 1024

# Penguins: per species, the island shares and (mean, sd) of the four measurements, close to
# the Palmer data; a measurement is missing in 1 % of rows, sex in 3 %.
_SPECIES_SHARE = {"Adelie": 0.44, "Chinstrap": 0.20, "Gentoo": 0.36}
_ISLANDS = {
    "Adelie": {"Biscoe": 0.29, "Dream": 0.37, "Torgersen": 0.34},
    "Chinstrap": {"Dream": 1.0},
    "Gentoo": {"Biscoe": 1.0},
}
_MEASURES = {  # column: per species (mean, sd)
    "bill_length_mm": {"Adelie": (38.8, 2.7), "Chinstrap": (48.8, 3.3), "Gentoo": (47.5, 3.1)},
    "bill_depth_mm": {"Adelie": (18.3, 1.2), "Chinstrap": (18.4, 1.1), "Gentoo": (15.0, 1.0)},
    "flipper_length_mm": {"Adelie": (190, 6.5), "Chinstrap": (196, 7.1), "Gentoo": (217, 6.5)},
    "body_mass_g": {"Adelie": (3700, 460), "Chinstrap": (3733, 384), "Gentoo": (5076, 504)},
}
_BOUNDS = {
    "bill_length_mm": (25.0, 70.0, 1),
    "bill_depth_mm": (10.0, 25.0, 1),
    "flipper_length_mm": (150, 250, None),
    "body_mass_g": (2000, 7000, None),
}  # min, max, decimals (None: an integer column)
_PENGUIN_COLUMNS = [
    "species",
    "island",
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "sex",
    "year",
]
# Taxi: numbers jittered by this relative sd; coordinates by this many degrees.
_TAXI_JITTER = {"fare": 0.1, "trip_miles": 0.1, "trip_seconds": 0.1, "tips": 0.1}
_TAXI_COORDS = ("pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude")
_COORD_SD = 0.002


def penguins_chunk(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """``rows`` penguins-like rows: the shipped CSV's columns, types and missing values."""
    species = rng.choice(list(_SPECIES_SHARE), size=rows, p=list(_SPECIES_SHARE.values()))
    frame = pd.DataFrame({"species": species})
    island = np.empty(rows, dtype=object)
    for name, shares in _ISLANDS.items():
        mask = species == name
        island[mask] = rng.choice(list(shares), size=mask.sum(), p=list(shares.values()))
    frame["island"] = island
    for column, by_species in _MEASURES.items():
        values = np.empty(rows)
        for name, (mean, sd) in by_species.items():
            mask = species == name
            values[mask] = rng.normal(mean, sd, size=mask.sum())
        low, high, decimals = _BOUNDS[column]
        values = np.clip(values, low, high)
        missing = rng.random(rows) < 0.01
        if decimals is None:
            frame[column] = pd.array(np.rint(values).astype("int64"), dtype="Int64")
            frame.loc[missing, column] = pd.NA
        else:
            values = np.round(values, decimals)
            values[missing] = np.nan
            frame[column] = values
    sex = rng.choice(np.array(["male", "female"], dtype=object), size=rows)
    sex[rng.random(rows) < 0.03] = None
    frame["sex"] = sex
    frame["year"] = rng.integers(2007, 2010, size=rows)
    return frame[_PENGUIN_COLUMNS]


def taxi_chunk(rng: np.random.Generator, rows: int, source: pd.DataFrame) -> pd.DataFrame:
    """``rows`` taxi-like trips: rows of ``source`` (the shipped sample) drawn with
    replacement, their fares, distances, durations, tips and coordinates jittered."""
    frame = source.iloc[rng.integers(0, len(source), size=rows)].reset_index(drop=True)
    for column, sd in _TAXI_JITTER.items():
        factor = np.clip(rng.normal(1.0, sd, size=rows), 0.5, 1.5)
        values = frame[column].to_numpy(dtype="float64") * factor
        if column == "trip_seconds":
            frame[column] = pd.array(np.rint(values), dtype="Int64")
        else:
            frame[column] = np.round(values, 2)
    for column in _TAXI_COORDS:
        frame[column] = np.round(frame[column] + rng.normal(0, _COORD_SD, size=rows), 9)
    frame["trip_start_timestamp"] += rng.integers(-1800, 1800, size=rows) // 900 * 900
    return frame


def _taxi_source() -> pd.DataFrame:
    source = pd.read_csv(REPO / "data" / "taxi" / "taxi.csv")
    jittered = {*_TAXI_JITTER, *_TAXI_COORDS}
    for column in source.columns:
        values = source[column]
        whole = values.dtype.kind == "f" and (values.dropna() % 1 == 0).all()
        if whole and column not in jittered:
            source[column] = values.astype("Int64")  # integer codes stay integers
    return source


def write_csv(dataset: str, rows: int, out_dir: Path, seed: int = 0) -> Path:
    """Writes ``rows`` rows of a ``dataset``-like CSV into ``out_dir``, in chunks."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dataset}.csv"
    rng = np.random.default_rng(seed)
    source = _taxi_source() if dataset == "taxi" else None
    written = 0
    with open(path, "w", newline="") as f:
        while written < rows:
            n = min(_CHUNK_ROWS, rows - written)
            chunk = penguins_chunk(rng, n) if dataset == "penguins" else taxi_chunk(rng, n, source)
            chunk.to_csv(f, index=False, header=written == 0, lineterminator="\n")
            written += n
    return path


def derive_config(dataset: str, csv_dir: Path, out_path: Path, epochs: int = 1) -> Path:
    """The shipped ``configs/<dataset>.yaml`` on ``csv_dir``, ``epochs`` epochs of training.

    Paths the shipped file gives relative to itself are made absolute; the work dir comes
    from ``--work-dir``.
    """
    shipped = REPO / "configs" / f"{dataset}.yaml"
    raw = yaml.safe_load(shipped.read_text())
    raw.pop("work_dir", None)
    raw.setdefault("data", {})["csv_dir"] = str(csv_dir)
    for section, key in (("validation", "schema_path"), ("pusher", "serving_dir")):
        value = raw.get(section, {}).get(key)
        if value is not None:
            raw[section][key] = str((shipped.parent / value).resolve())
    raw.setdefault("trainer", {}).setdefault("hyperparameters", {})["epochs"] = epochs
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return out_path


def run_size(dataset: str, rows: int, scratch: Path, env: dict) -> Measured:
    """Writes the data and config for one size, then measures a cold run on them."""
    base = scratch / f"{dataset}-{rows}"
    shutil.rmtree(base, ignore_errors=True)
    csv_path = write_csv(dataset, rows, base / "data")
    config = derive_config(dataset, csv_path.parent, base / "config.yaml")
    work_dir = base / "work"
    size_mb = csv_path.stat().st_size / 2**20
    print(f"\n{dataset} {rows:,} rows ({size_mb:.0f} MiB CSV)  {load_average()}", flush=True)
    command = [sys.executable, str(REPO / "runner.py"), "--local", "--config", str(config)]
    result = measure([*command, "--work-dir", str(work_dir)], env, runs_dir=work_dir / "runs")
    print_components(result)
    return result


def print_components(result: Measured) -> None:
    print(f"  {'segment':<32} {'wall s':>8} {'CPU s':>8} {'RSS MiB':>8}  state")
    for s in result.segments:
        print(f"  {s.name:<32} {s.wall:8.1f} {s.cpu:8.1f} {s.peak_mb:8.0f}  {s.state}")
    print(f"  {'total':<32} {result.wall:8.1f} {result.cpu:8.1f} {result.peak_mb:8.0f}")
    closing = [
        line.strip()
        for line in result.stdout.splitlines()
        if line.startswith(("eval ", "test ", "blessed ", "tflite "))
    ]
    print("\n".join(f"  {line}" for line in closing))
    if result.returncode != 0:
        print(f"  FAILED ({result.returncode}):\n{result.stdout[-3000:]}")


def slowest(result: Measured, count: int = 3) -> str:
    components = [s for s in result.segments if s.state]
    top = sorted(components, key=lambda s: s.wall, reverse=True)[:count]
    return ", ".join(f"{s.name} {s.wall:.0f}" for s in top)


def print_summary(results: dict[tuple[str, int], Measured]) -> None:
    print(
        f"\n{'dataset':<9} {'rows':>10} {'wall s':>8} {'CPU s':>8} {'RSS MiB':>8}"
        f" {'x wall':>7} {'x CPU':>6}  slowest (wall s)"
    )
    previous: dict[str, tuple[int, Measured]] = {}
    for (dataset, rows), result in results.items():
        growth = ""
        if dataset in previous:
            rows_before, before = previous[dataset]
            growth = f"{result.wall / before.wall:7.1f} {result.cpu / before.cpu:6.1f}"
            growth += f" (rows x{rows / rows_before:.0f})"
        failed = "" if result.returncode == 0 else " FAILED"
        print(
            f"{dataset:<9} {rows:>10,} {result.wall:8.1f} {result.cpu:8.1f} "
            f"{result.peak_mb:8.0f} {growth or ' ' * 14}  {slowest(result)}{failed}"
        )
        previous[dataset] = (rows, result)
    print(
        f"targets: 1M rows <= {_TARGET_WALL_1M:.0f} s wall and <= {_TARGET_RSS_MB} MiB peak RSS;"
        " 10x rows <= 10x time from 100k up"
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["generate"]:
        parser = argparse.ArgumentParser(prog="scale_benchmark.py generate")
        parser.add_argument("dataset", choices=DATASETS)
        parser.add_argument("rows", type=int)
        parser.add_argument("out_dir", type=Path)
        parser.add_argument("--seed", type=int, default=0)
        args = parser.parse_args(argv[1:])
        csv_path = write_csv(args.dataset, args.rows, args.out_dir / "data", args.seed)
        print(derive_config(args.dataset, csv_path.parent, args.out_dir / "config.yaml"))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--sizes", nargs="+", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument("--with-10m", action="store_true", help=f"also {OPT_IN_SIZE:,} rows")
    parser.add_argument("--scratch", type=Path, help="where data and work dirs go (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep data and work dirs")
    args = parser.parse_args(argv)
    sizes = sorted({*args.sizes, *([OPT_IN_SIZE] if args.with_10m else [])})
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="scale-benchmark-"))
    if scratch.resolve().is_relative_to(REPO):
        parser.error(f"--scratch {scratch} is inside the repository")
    env = {**os.environ, **LEGACY_KERAS, "PYTHONPATH": str(REPO)}
    print(f"scratch {scratch}  cores {os.cpu_count()}  {load_average()}")
    results: dict[tuple[str, int], Measured] = {}
    for dataset in args.datasets:
        for rows in sizes:
            results[(dataset, rows)] = run_size(dataset, rows, scratch, env)
            if not args.keep:
                shutil.rmtree(scratch / f"{dataset}-{rows}", ignore_errors=True)
    print_summary(results)
    print(load_average())
    if not args.keep and args.scratch is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
