"""Metrics, request logs and feedback of serving/server.py, over real HTTP on 127.0.0.1."""

import json
import re
import time
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_data_validation as tfdv
from loopback_http import Client, running
from tiny_savedmodels import IMAGE, INSTANCES, b64, png, save_tiny_model

from components.serving_pusher import pusher
from serving import request_log
from serving.feedback import read_feedback
from serving.request_log import LogOptions
from serving.server import create_app

MODEL = "penguins"


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match[3])
    return total


def scrape(client: Client) -> str:
    connection = client.raw("GET", "/monitoring/prometheus/metrics")
    assert connection[0] == 200
    return connection[1]


def predict(client: Client, rows, headers=None):
    body = json.dumps({"signature_name": "serving_raw", "instances": rows}).encode()
    return client.call("POST", f"/v1/models/{MODEL}:predict", body, headers)


def logged(directory: Path) -> list[tf.train.Example]:
    files = sorted(directory.glob(request_log.FILE_PATTERN))
    return [
        tf.train.Example.FromString(r.numpy())
        for r in tf.data.TFRecordDataset([str(f) for f in files])
    ]


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def serving_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("serving")
    save_tiny_model(root / MODEL / "1", seed=1)
    return root


class HttpClient(Client):
    """Client plus a raw text call and response headers."""

    def raw(self, method: str, path: str, body=None, headers=None):
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return (
                response.status,
                response.read().decode(),
                {k.lower(): v for k, v in response.getheaders()},
            )
        finally:
            connection.close()


def test_metrics_move_with_traffic(serving_root, tmp_path):
    app = create_app(serving_root, log_options=LogOptions(tmp_path / "logs", sample_rate=0.0))
    with running(app) as port:
        client = HttpClient(port)
        before = scrape(client)
        for _ in range(3):
            status, answer = predict(client, INSTANCES[:2])
            assert status == 200
        status, _ = predict(client, [{"island": 5}])
        assert status == 400
        status, _ = client.call("POST", "/v1/models/nothing:predict", b"{}")
        assert status == 404
        after = scrape(client)
    ok = dict(model=MODEL, version="1", verb="predict", code="200")
    assert metric(before, "serving_requests_total", **ok) == 0
    assert metric(after, "serving_requests_total", **ok) == 3
    assert metric(after, "serving_requests_total", model=MODEL, code="400") == 1
    assert metric(after, "serving_rejected_inputs_total", model=MODEL, reason="bad_request") == 1
    assert metric(after, "serving_rejected_inputs_total", model="nothing", reason="not_found") == 1
    assert metric(after, "serving_request_latency_seconds_count", model=MODEL) == 4
    classes = [p["classes"] for p in answer["predictions"]] * 3
    for name in set(classes):
        count = metric(after, "serving_predicted_class_total", model=MODEL, **{"class": name})
        assert count == classes.count(name)


def test_logs_are_written_at_the_configured_rate_and_read_by_tfdv(serving_root, tmp_path):
    options = LogOptions(tmp_path / "logs", sample_rate=0.25, max_file_bytes=2048)
    ids = []
    with running(create_app(serving_root, log_options=options)) as port:
        client = HttpClient(port)
        for index in range(40):
            status, _, headers = client.raw(
                "POST",
                f"/v1/models/{MODEL}:predict",
                json.dumps({"signature_name": "serving_raw", "instances": INSTANCES[:2]}).encode(),
                {"X-Request-Id": f"r{index}"},
            )
            assert status == 200 and headers["x-request-id"] == f"r{index}"
            ids.append(f"r{index}")
        wait_for(lambda: metric(scrape(client), "serving_log_records_total", model=MODEL) == 10)
    directory = tmp_path / "logs" / MODEL
    examples = logged(directory)
    assert len(examples) == 20  # 10 requests of 2 instances
    assert len(list(directory.glob(request_log.FILE_PATTERN))) > 1  # rotated by size
    logged_ids = sorted({e.features.feature["__request_id"].bytes_list.value[0] for e in examples})
    assert logged_ids == sorted(f"r{i}".encode() for i in range(3, 40, 4))
    first = next(e for e in examples if e.features.feature["__instance"].int64_list.value[0] == 0)
    feature = first.features.feature
    assert feature["bill_length_mm"].float_list.value[0] == pytest.approx(39.1)
    assert feature["island"].bytes_list.value == [b"Torgersen"]
    assert feature["__model_version"].int64_list.value == [1]
    assert feature["__status"].int64_list.value == [200]
    assert len(feature["__output/probabilities"].float_list.value) == 3
    second = next(e for e in examples if e.features.feature["__instance"].int64_list.value[0] == 1)
    assert "bill_depth_mm" not in second.features.feature  # missing stays missing
    stats = tfdv.generate_statistics_from_tfrecord(str(directory / request_log.FILE_PATTERN))
    assert stats.datasets[0].num_examples == 20
    names = {f.path.step[0] for f in stats.datasets[0].features}
    assert {"bill_length_mm", "island", "__request_id"} <= names


def test_the_default_signature_logs_the_examples_it_was_sent(serving_root, tmp_path):
    example = tf.train.Example()
    example.features.feature["island"].bytes_list.value.append(b"Dream")
    example.features.feature["body_mass_g"].int64_list.value.append(4000)
    import base64

    b64 = {"b64": base64.b64encode(example.SerializeToString()).decode()}
    with running(create_app(serving_root, log_options=LogOptions(tmp_path / "logs"))) as port:
        client = HttpClient(port)
        body = json.dumps({"instances": [b64]}).encode()
        assert client.call("POST", f"/v1/models/{MODEL}:predict", body)[0] == 200
        wait_for(lambda: metric(scrape(client), "serving_log_records_total") == 1)
    (record,) = logged(tmp_path / "logs" / MODEL)
    assert record.features.feature["island"].bytes_list.value == [b"Dream"]
    assert record.features.feature["body_mass_g"].int64_list.value == [4000]


@pytest.mark.parametrize(("method", "field"), [("classify", "examples"), ("predict", "instances")])
def test_an_image_sent_to_serving_raw_is_logged_as_its_bytes(models, tmp_path, method, field):
    """Sent as {"b64": ...} to ``serving_raw``, whose one bytes input is the image (not a
    serialized tf.Example), through ``:classify`` and ``:predict``: logged as the bytes."""
    root = tmp_path / "serving"
    pusher.push_model(str(models["image"]), root / "images")
    data = png(3)
    payload = {"signature_name": "serving_raw", field: [{IMAGE: b64(data)}]}
    with running(create_app(root, log_options=LogOptions(tmp_path / "logs"))) as port:
        client = HttpClient(port)
        body = json.dumps(payload).encode()
        assert client.call("POST", f"/v1/models/images:{method}", body)[0] == 200
        wait_for(lambda: metric(scrape(client), "serving_log_records_total") == 1)
    (record,) = logged(tmp_path / "logs" / "images")
    assert record.features.feature[IMAGE].bytes_list.value == [data]


def test_feedback_is_stored_by_request_id(serving_root, tmp_path):
    with running(create_app(serving_root, log_options=LogOptions(tmp_path / "logs"))) as port:
        client = HttpClient(port)
        status, _, headers = client.raw(
            "POST",
            f"/v1/models/{MODEL}:predict",
            json.dumps({"signature_name": "serving_raw", "instances": INSTANCES[:2]}).encode(),
        )
        request_id = headers["x-request-id"]
        body = json.dumps({"request_id": request_id, "labels": ["Adelie", "Gentoo"]}).encode()
        assert client.call("POST", f"/v1/models/{MODEL}:feedback", body) == (
            200,
            {"labels_recorded": 2},
        )
        bad = json.dumps({"request_id": request_id}).encode()
        status, answer = client.call("POST", f"/v1/models/{MODEL}:feedback", bad)
        assert status == 400 and "label" in answer["error"]
    assert read_feedback(tmp_path / "logs" / MODEL) == {
        (request_id, 0): "Adelie",
        (request_id, 1): "Gentoo",
    }


def test_a_logging_failure_never_fails_a_request(serving_root, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the log root should be")
    with running(create_app(serving_root, log_options=LogOptions(blocker / "logs"))) as port:
        client = HttpClient(port)
        for _ in range(5):
            assert predict(client, INSTANCES[:1])[0] == 200
        wait_for(
            lambda: (
                metric(scrape(client), "serving_log_records_dropped_total", reason="write_error")
                == 5
            )
        )
        assert metric(scrape(client), "serving_log_records_total") == 0


def test_a_full_queue_drops_records_and_counts_them(tmp_path):
    from serving.metrics import ServingMetrics

    metrics = ServingMetrics()
    logger = request_log.RequestLogger(LogOptions(tmp_path / "logs", queue_size=1), metrics)
    request = request_log.LoggedRequest(MODEL, 1, "predict", 200, time.time(), 1.0, "x")
    started = time.perf_counter()
    for _ in range(2000):
        logger.submit(request)
    submitting = time.perf_counter() - started
    logger.close()
    text = metrics.render().decode()
    written = metric(text, "serving_log_records_total")
    dropped = metric(text, "serving_log_records_dropped_total", reason="queue_full")
    assert written + dropped == 2000 and dropped > 0
    assert submitting < 2.0
    assert len(logged(tmp_path / "logs" / MODEL)) == written
