"""serving/repository.py over real HTTP: versions on disk, their status, loading, hot swaps.

Every expected value comes from calling the SavedModel's own signature (``tiny_savedmodels``),
never through the server's code.
"""

import threading
import time
from pathlib import Path

import pytest
from loopback_http import Client, running
from tiny_savedmodels import (
    INSTANCES,
    call_saved_model,
    expected_rows,
    raw,
    raw_tensors,
    same,
)

from components.serving_pusher import pusher
from serving.server import create_app


@pytest.fixture(scope="module")
def client(serving_root) -> Client:
    with running(create_app(serving_root)) as port:
        yield Client(port)


# ---------------------------------------------------------------------------- versions


def test_a_version_can_be_asked_for_by_number(client, models):
    status, body = client.predict("penguins", raw(INSTANCES[:2]), version=1)

    assert status == 200
    want = call_saved_model(models[1], "serving_raw", **raw_tensors(INSTANCES[:2]))
    assert same(body["predictions"], expected_rows(want))


def test_version_status_is_reported_like_tf_serving(client):
    ok = {"error_code": "OK", "error_message": ""}
    assert client.call("GET", "/v1/models/penguins") == (
        200,
        {"model_version_status": [{"version": "2", "state": "AVAILABLE", "status": ok}]},
    )
    assert client.call("GET", "/v1/models/penguins/versions/1") == (
        200,
        {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": ok}]},
    )


# ---------------------------------------------------------------------------- hot swaps


def predictions_of(model_dir: Path) -> list[dict]:
    return expected_rows(call_saved_model(model_dir, "serving_raw", **raw_tensors(INSTANCES)))


def stream(client: Client, model: str, count: int, results: list) -> None:
    for _ in range(count):
        try:
            results.append(client.predict(model, raw(INSTANCES)))
        except OSError as error:  # a refused or reset connection counts as an error
            results.append((None, repr(error)))


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_push_during_a_stream_of_requests_causes_no_errors(client, serving_root, models):
    base = serving_root / "rolling"
    pusher.push_model(str(models[1]), base)
    old, new = predictions_of(models[1]), predictions_of(models[2])
    results: list = []
    requester = threading.Thread(target=stream, args=(client, "rolling", 200, results))
    requester.start()
    wait_for(lambda: len(results) >= 20)
    pusher.push_model(str(models[2]), base)
    requester.join()

    assert [r for r in results if r[0] != 200] == []
    served = [which(body["predictions"], old, new) for _, body in results]
    assert "neither" not in served
    assert served[0] == "old"
    if "new" in served:  # once the new version serves, the old one never comes back
        assert "old" not in served[served.index("new") :]
    wait_for(lambda: which(predict_all(client, "rolling"), old, new) == "new")
    assert client.call("GET", "/v1/models/rolling")[1]["model_version_status"][0]["version"] == "2"


def which(predictions: list[dict], old: list[dict], new: list[dict]) -> str:
    if same(predictions, old):
        return "old"
    return "new" if same(predictions, new) else "neither"


def predict_all(client: Client, model: str, version: int | None = None) -> list[dict]:
    status, body = client.predict(model, raw(INSTANCES), version)
    assert status == 200, body
    return body["predictions"]


def test_a_rolled_back_version_stops_being_served(client, serving_root, models):
    base = serving_root / "rollback"
    for seed in (1, 3):
        pusher.push_model(str(models[seed]), base)
    assert same(predict_all(client, "rollback"), predictions_of(models[3]))

    pusher.rollback(base)

    assert same(predict_all(client, "rollback"), predictions_of(models[1]))
    assert client.predict("rollback", raw(INSTANCES), version=2)[0] == 404


def test_a_version_that_cannot_load_leaves_the_previous_one_serving(client, serving_root, models):
    base = serving_root / "flaky"
    pusher.push_model(str(models[1]), base)
    assert client.predict("flaky", raw(INSTANCES))[0] == 200
    pusher.push_model(str(models["broken"]), base)  # its serving_raw returns NaN

    def version_2_failed() -> bool:
        client.predict("flaky", raw(INSTANCES))
        entries = client.call("GET", "/v1/models/flaky")[1]["model_version_status"]
        return entries[0]["state"] == "END"

    wait_for(version_2_failed)
    assert same(predict_all(client, "flaky"), predictions_of(models[1]))
    entries = client.call("GET", "/v1/models/flaky")[1]["model_version_status"]
    assert [(e["version"], e["state"]) for e in entries] == [("2", "END"), ("1", "AVAILABLE")]
    assert "serving_raw fails a warm-up prediction" in entries[0]["status"]["error_message"]
    assert client.predict("flaky", raw(INSTANCES), version=2)[0] == 503


def test_a_server_started_before_the_first_push_serves_it(tmp_path, models):
    root = tmp_path / "not-yet"
    with running(create_app(root)) as port:
        late = Client(port)
        assert late.predict("penguins", raw(INSTANCES))[0] == 404
        pusher.push_model(str(models[3]), root / "penguins")
        assert same(predict_all(late, "penguins"), predictions_of(models[3]))
