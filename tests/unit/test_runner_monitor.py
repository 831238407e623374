"""``runner.py monitor`` end to end on logs written by the server's request logger.

No pipeline has run here, so the reference is the curated schema alone: drift (against the
previous window) and schema checks are measured, skew and the test figure are not.
"""

import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import ConfigError, load_config
from serving.request_log import LoggedRequest, LogOptions, RequestLogger

REPO = Path(__file__).resolve().parents[2]
RUNNER = str(REPO / "runner.py")
NUMBERS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
STRINGS = ("island", "sex")
PER_WINDOW = 150


def config(tmp_path: Path, extra: str = "") -> Path:
    text = (REPO / "configs" / "penguins.yaml").read_text().replace("../", f"{REPO}/")
    path = tmp_path / "penguins.yaml"
    path.write_text(text + extra)
    return path


def rows() -> list[dict]:
    with (REPO / "data" / "penguins" / "penguins.csv").open() as f:
        return list(csv.DictReader(f))


def write_logs(root: Path, windows: list[list[dict]]) -> list[str]:
    """Logs one single-instance request per row, window after window; returns the ids."""
    logger = RequestLogger(LogOptions(root))
    ids, now = [], time.time() - 10_000
    for window in windows:
        for row in window:
            inputs = {
                k: np.array([float(row[k]) if row[k] not in ("", "NA") else np.nan], np.float32)
                for k in NUMBERS
            }
            for k in STRINGS:
                value = row[k].encode() if row[k] not in ("", "NA") else b""
                inputs[k] = np.array([value], object)
            outputs = {"classes": np.array([b"Adelie"], object)}
            request_id = f"r{len(ids)}"
            ids.append(request_id)
            now += 1
            logger.submit(
                LoggedRequest(
                    "penguins", 1, "predict", 200, now, 2.0, request_id, inputs, False, outputs
                )
            )
    logger.close(timeout=600)
    return ids


def shifted(row: dict) -> dict:
    moved = dict(row)
    if row["body_mass_g"] not in ("", "NA"):
        moved["body_mass_g"] = str(float(row["body_mass_g"]) * 1.6)
    moved["island"] = "Dream"
    return moved


def monitor(config_path: Path, work: Path, *args: str):
    return subprocess.run(
        [
            sys.executable,
            RUNNER,
            "monitor",
            "--config",
            str(config_path),
            "--work-dir",
            str(work),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def data():
    every = rows()  # sorted by species and island, and often male, female in turn
    random.Random(0).shuffle(every)
    return every[:PER_WINDOW], every[PER_WINDOW : 2 * PER_WINDOW]


def test_monitor_exits_6_on_drift_and_0_without(tmp_path, data):
    first, second = data
    work = tmp_path / "work"
    ids = write_logs(work / "serving_logs", [first, second, [shifted(r) for r in first]])
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\n" + "".join(f"{i},Adelie\n" for i in ids[-50:]))
    cfg = config(tmp_path)

    calm = monitor(cfg, work, "--window", str(PER_WINDOW), "--since", "1d")
    assert calm.returncode == 2  # --since and --window exclude each other

    alert = monitor(
        cfg,
        work,
        "--window",
        str(PER_WINDOW),
        "--labels",
        str(labels),
        "--export-span",
        str(tmp_path / "span"),
    )
    assert alert.returncode == 6, alert.stderr
    assert "attached 50 labels" in alert.stdout
    assert "ALERTS" in alert.stdout and "drift: body_mass_g" in alert.stdout
    assert "online 1.000 on 50" in alert.stdout
    summary = json.loads((work / "monitor" / "penguins" / "monitor.json").read_text())
    drift = {d["feature"]: d["value"] for d in summary["drift"]}
    assert drift["body_mass_g"] > 0.1 and drift["island"] > 0.1
    assert drift["bill_depth_mm"] < 0.1
    assert summary["skew"] == []  # no run has trained a model
    page = (work / "monitor" / "penguins" / "monitor.html").read_text()
    assert "<script" not in page and "body_mass_g" in page and "alert" in page
    with (tmp_path / "span" / "monitored.csv").open() as f:
        exported = list(csv.DictReader(f))
    assert len(exported) == 50
    assert exported[0]["species"] == "Adelie" and exported[0]["island"] == "Dream"
    assert exported[0]["year"] == "" and "." not in exported[0]["flipper_length_mm"]

    # The two windows from the training data: drift stays under its thresholds.
    calm_work = tmp_path / "calm"
    write_logs(calm_work / "serving_logs", [first, second])
    calm = monitor(cfg, calm_work, "--window", str(PER_WINDOW))
    assert calm.returncode == 0, calm.stdout + calm.stderr
    assert "no alert" in calm.stdout
    summary = json.loads((calm_work / "monitor" / "penguins" / "monitor.json").read_text())
    assert max(d["value"] for d in summary["drift"]) < 0.1


def test_monitor_without_logs_or_with_a_bad_duration_exits_1(tmp_path):
    cfg = config(tmp_path)
    empty = monitor(cfg, tmp_path / "work")
    assert empty.returncode == 1 and "no request logs" in empty.stderr
    bad = monitor(cfg, tmp_path / "work", "--since", "yesterday")
    assert bad.returncode == 1 and "--since" in bad.stderr


def test_the_monitoring_section_rejects_unknown_keys_and_bad_values(tmp_path):
    assert load_config(config(tmp_path)).monitoring.sample_rate == 1.0
    with pytest.raises(ConfigError, match="monitoring.skew.ordinal"):
        load_config(config(tmp_path, "monitoring:\n  skew: {ordinal: 0.2}\n"))
    with pytest.raises(ConfigError, match="monitoring.sample_rate"):
        load_config(config(tmp_path, "monitoring:\n  sample_rate: 2\n"))
    path = config(tmp_path)
    path.write_text(path.read_text().replace("monitor_schedule: null", "monitor_schedule: hourly"))
    with pytest.raises(ConfigError, match="airflow.monitor_schedule: needs a five-field cron"):
        load_config(path)
    loaded = load_config(config(tmp_path, "monitoring:\n  drift: {numeric: 0.3}\n  window: 50\n"))
    assert loaded.monitoring.drift.numeric == 0.3 and loaded.monitoring.window == 50
