"""monitoring/ over a real server on 127.0.0.1: logged penguins traffic, drift, skew, accuracy.

The training statistics are TFDV's own over the shipped penguins CSV; traffic is drawn
from that CSV (the training distribution) or from a shifted copy of it.
"""

import csv
import json
import random
import sys
from pathlib import Path

import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from monitoring import logs as logs_lib
from monitoring.distances import Thresholds
from monitoring.monitor import Settings, format_summary, monitor, retrain_needed

sys.path.insert(0, str(Path(__file__).parents[1] / "serving"))
from loopback_http import Client, running  # noqa: E402
from tiny_savedmodels import save_tiny_model  # noqa: E402

from serving.request_log import LogOptions  # noqa: E402
from serving.server import create_app  # noqa: E402

REPO = Path(__file__).parents[3]
CSV = REPO / "data" / "penguins" / "penguins.csv"
SCHEMA = REPO / "schemas" / "penguins" / "schema.pbtxt"
FEATURES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "island", "sex"]
NUMBERS = FEATURES[:4]
MODEL = "penguins"
PER_REQUEST = 5
SETTINGS = Settings(
    skew=Thresholds(0.1, 0.1),
    drift=Thresholds(0.1, 0.1),
    max_error_rate=0.05,
    max_accuracy_drop=0.05,
    max_error_increase=0.25,
    min_labelled=30,
    sample_rate=1.0,
)


def penguins() -> list[dict]:
    with CSV.open() as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        instance = {k: (float(row[k]) if row[k] not in ("", "NA") else None) for k in NUMBERS}
        instance.update(
            {k: row[k] if row[k] not in ("", "NA") else None for k in ("island", "sex")}
        )
        out.append((instance, row["species"]))
    return out


def shifted(instance: dict) -> dict:
    """Heavier birds with longer bills, all seen on one island."""
    moved = dict(instance)
    if moved["body_mass_g"] is not None:
        moved["body_mass_g"] = moved["body_mass_g"] * 1.5
    if moved["bill_length_mm"] is not None:
        moved["bill_length_mm"] = moved["bill_length_mm"] + 12
    moved["island"] = "Biscoe"
    return moved


def send(client: Client, rows: list[tuple[dict, str]]) -> list[tuple[str, list, list]]:
    """Predict requests of PER_REQUEST instances; (request id, predicted classes, labels)."""
    sent = []
    for start in range(0, len(rows), PER_REQUEST):
        batch = rows[start : start + PER_REQUEST]
        request_id = f"req-{random.getrandbits(48):x}"
        body = json.dumps({"signature_name": "serving_raw", "instances": [i for i, _ in batch]})
        status, answer = client.call(
            "POST", f"/v1/models/{MODEL}:predict", body.encode(), {"X-Request-Id": request_id}
        )
        assert status == 200, answer
        sent.append(
            (request_id, [p["classes"] for p in answer["predictions"]], [s for _, s in batch])
        )
    return sent


@pytest.fixture(scope="module")
def schema() -> schema_pb2.Schema:
    return text_format.Parse(SCHEMA.read_text(), schema_pb2.Schema())


@pytest.fixture(scope="module")
def train_statistics():
    frame = pd.read_csv(CSV)
    return tfdv.generate_statistics_from_dataframe(frame[FEATURES + ["species"]], n_jobs=1)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    """Logs of three windows: training rows, other training rows, then shifted rows,
    the last one labelled through the feedback route."""
    root = tmp_path_factory.mktemp("serving")
    save_tiny_model(root / MODEL / "1", seed=3)
    logs = tmp_path_factory.mktemp("logs")
    rows = penguins()
    random.Random(0).shuffle(rows)
    half = len(rows) // 2 // PER_REQUEST * PER_REQUEST
    first, second = rows[:half], rows[half : 2 * half]
    third = [(shifted(i), s) for i, s in rows[:half]]
    with running(create_app(root, log_options=LogOptions(logs))) as port:
        client = Client(port)
        send(client, first)
        send(client, second)
        labelled = send(client, third)
        for request_id, _, labels in labelled:
            body = json.dumps({"request_id": request_id, "labels": labels}).encode()
            assert client.call("POST", f"/v1/models/{MODEL}:feedback", body)[0] == 200
    records = logs_lib.read_records(logs / MODEL)
    return records, half // PER_REQUEST, labelled


def run(records, requests, previous_end, schema, train_statistics, test_value=None):
    ids = list(dict.fromkeys(r.request_id for r in records))
    kept = set(ids[: previous_end + requests])
    windows = logs_lib.select_windows([r for r in records if r.request_id in kept], requests)
    return monitor(MODEL, windows, schema, FEATURES, train_statistics, test_value, False, SETTINGS)


def test_traffic_from_the_training_distribution_raises_no_drift(traffic, schema, train_statistics):
    records, requests, _ = traffic
    result = run(records, requests, requests, schema, train_statistics)
    assert {d.feature for d in result.drift} == set(FEATURES)
    assert max(d.value for d in result.drift) < 0.1
    assert max(d.value for d in result.skew) < 0.1, [(d.feature, d.value) for d in result.skew]
    assert result.anomalies == ()
    assert not any(a.startswith(("drift", "skew")) for a in result.alerts)
    assert not retrain_needed(result)


def test_shifted_traffic_raises_drift_and_skew_on_the_shifted_features(
    traffic, schema, train_statistics
):
    records, requests, _ = traffic
    result = run(records, requests, 2 * requests, schema, train_statistics)
    drift = {d.feature: d for d in result.drift}
    skew = {d.feature: d for d in result.skew}
    for name in ("body_mass_g", "bill_length_mm", "island"):
        assert drift[name].value > 0.1 and skew[name].value > 0.1, name
    for name in ("bill_depth_mm", "flipper_length_mm", "sex"):
        assert drift[name].value < 0.1, name
    assert drift["island"].measure == "L-infinity"
    assert drift["body_mass_g"].measure == "Jensen-Shannon"
    assert any(a.startswith("drift: body_mass_g") for a in result.alerts)
    assert retrain_needed(result)


def test_feedback_gives_the_online_accuracy_of_the_labelled_requests(
    traffic, schema, train_statistics
):
    records, requests, labelled = traffic
    pairs = [
        (p, s) for _, predicted, labels in labelled for p, s in zip(predicted, labels, strict=True)
    ]
    expected = sum(p == s for p, s in pairs) / len(pairs)
    result = run(records, requests, 2 * requests, schema, train_statistics, test_value=1.0)
    assert result.online.labelled == len(pairs)
    assert result.online.value == pytest.approx(expected)
    assert result.traffic.requests == requests and result.traffic.errors == 0
    assert result.traffic.p99_ms >= result.traffic.p50_ms > 0
    drop = expected < 1.0 - SETTINGS.max_accuracy_drop
    assert any(a.startswith("accuracy") for a in result.alerts) == drop
    assert "ALERTS" in format_summary(result)


def test_an_unlabelled_window_has_no_online_figure(traffic, schema, train_statistics):
    records, requests, _ = traffic
    result = run(records, requests, requests, schema, train_statistics, test_value=0.9)
    assert result.online.value is None and result.online.labelled == 0


def test_durations_parse_and_bad_ones_are_refused():
    assert logs_lib.parse_duration("1h30m") == 5400
    assert logs_lib.parse_duration("2d") == 172800
    for bad in ("", "5", "1x", "h"):
        with pytest.raises(logs_lib.MonitorError, match="--since"):
            logs_lib.parse_duration(bad)
