"""The loop closed: train, serve, shifted traffic with labels, monitor alerts, export a span,
retrain on old plus new data, and the new model is judged against the served one.

Two short pipeline runs in one work dir (few epochs, no TFLite); the data directory holds
spans (``span-{SPAN}/``), the second run reads both.
"""

import csv
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit" / "serving"))
from loopback_http import Client, running  # noqa: E402

from serving.request_log import LogOptions  # noqa: E402
from serving.server import create_app  # noqa: E402

NUMBERS = ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g")
STRINGS = ("island", "sex")


def runner(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "runner.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def rows() -> list[dict]:
    with (REPO / "data" / "penguins" / "penguins.csv").open() as f:
        return list(csv.DictReader(f))


def instance(row: dict) -> dict:
    values = {k: float(row[k]) if row[k] not in ("", "NA") else None for k in NUMBERS}
    values.update({k: row[k] or None for k in STRINGS})
    values["body_mass_g"] = values["body_mass_g"] and values["body_mass_g"] * 1.5
    values["island"] = "Biscoe"
    return values


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("loop")
    data = base / "data"
    (data / "span-1").mkdir(parents=True)
    shutil.copy(REPO / "data" / "penguins" / "penguins.csv", data / "span-1" / "penguins.csv")
    raw = yaml.safe_load((REPO / "configs" / "penguins.yaml").read_text())
    raw["work_dir"] = str(base / "work")
    raw["data"].update(csv_dir=str(data), input_pattern="span-{SPAN}/*.csv", num_spans=2)
    # The exported span lacks what the server never sees (year) and holds shifted values.
    raw["validation"].update(
        schema_path=str(REPO / "schemas" / "penguins" / "schema.pbtxt"), on_anomalies="warn"
    )
    raw["trainer"]["hyperparameters"].update(epochs=15)
    raw["tflite"]["enabled"] = False
    raw["evaluator"].update(min_accuracy=0.5, max_accuracy_drop=1.0)
    raw["monitoring"] = {"window": 40, "min_labelled": 20}
    config = base / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    return base, config, data


def test_shifted_traffic_alerts_and_the_retrained_model_is_judged_against_the_served_one(setup):
    base, config, data = setup
    work = base / "work"
    first = runner("--local", "--config", str(config))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "pushed     version 1" in first.stdout

    shifted = [(instance(r), r["species"]) for r in rows()]
    random.Random(0).shuffle(shifted)
    logs = LogOptions(work / "serving_logs")
    with running(create_app(work / "serving", log_options=logs)) as port:
        client = Client(port)
        for start in range(0, 200, 5):
            batch = shifted[start : start + 5]
            body = {"signature_name": "serving_raw", "instances": [i for i, _ in batch]}
            request_id = f"loop-{start}"
            status, _ = client.call(
                "POST",
                "/v1/models/penguins:predict",
                json.dumps(body).encode(),
                {"X-Request-Id": request_id},
            )
            assert status == 200
            feedback = {"request_id": request_id, "labels": [s for _, s in batch]}
            assert (
                client.call("POST", "/v1/models/penguins:feedback", json.dumps(feedback).encode())[
                    0
                ]
                == 200
            )

    monitor = runner("monitor", "--config", str(config), "--export-span", str(data / "span-2"))
    assert monitor.returncode == 6, monitor.stdout + monitor.stderr
    result = json.loads((work / "monitor" / "penguins" / "monitor.json").read_text())
    skew = {d["feature"]: d["value"] for d in result["skew"]}
    assert skew["island"] > 0.1 and skew["body_mass_g"] > 0.1
    assert result["online"]["labelled"] == 200 and result["online"]["test_value"] is not None
    exported = list(csv.DictReader((data / "span-2" / "monitored.csv").open()))
    assert len(exported) == 200 and {r["island"] for r in exported} == {"Biscoe"}

    second = runner("--local", "--config", str(config))
    assert second.returncode == 0, second.stdout + second.stderr
    runs = sorted((work / "runs").iterdir())
    summary = json.loads((runs[-1] / "summary.json").read_text())
    assert summary["eval_metrics"]["baseline_accuracy"] is not None  # judged against version 1
    from pipeline import metadata

    with metadata.open_store(work / "metadata.sqlite") as store:
        examples = [
            a for a in store.get_artifacts_by_type("Examples") if "/CsvExampleGen/" in a.uri
        ]
    newest = max(examples, key=lambda a: a.id)
    assert newest.custom_properties["span"].int_value == 2
