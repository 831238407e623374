"""serving/server.py over real HTTP: TF Serving's REST routes, errors, hot version swaps."""

import contextlib
import http.client
import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import uvicorn

from components import features
from components.serving_pusher import pusher
from components.trainer import export
from serving.server import create_app

CLASSES = ("Adelie", "Chinstrap", "Gentoo")
BUCKETS = 4
MAX_BODY = 4096
MAX_INSTANCES = 20
INSTANCES = [
    {
        "bill_length_mm": 39.1,
        "bill_depth_mm": 18.7,
        "flipper_length_mm": 181,
        "body_mass_g": 3750,
        "island": "Torgersen",
        "sex": "male",
    },
    {"bill_length_mm": 46.5, "flipper_length_mm": 217.0, "island": "Biscoe", "sex": None},
    {"body_mass_g": None, "island": ""},
    {},
]


class TinyModel(tf.Module):
    """A serving_raw-like signature over the real feature names; the seed sets its weights."""

    def __init__(self, seed: int):
        super().__init__()
        numeric, categorical = features.NUMERIC_FEATURE_KEYS, features.CATEGORICAL_FEATURE_KEYS
        width = 2 * len(numeric) + BUCKETS * len(categorical)
        weights = np.random.default_rng(seed).normal(size=(width, len(CLASSES)))
        self.weights = tf.Variable(weights.astype(np.float32))
        self.serve_raw = tf.function(self._serve, input_signature=[export.dense_input_signature()])

    def _serve(self, dense):
        numbers = [
            tf.where(tf.math.is_nan(dense[k]), 0.0, dense[k]) / 100.0
            for k in features.NUMERIC_FEATURE_KEYS
        ]
        categories = [
            tf.one_hot(tf.strings.to_hash_bucket_fast(dense[k], BUCKETS), BUCKETS)
            for k in features.CATEGORICAL_FEATURE_KEYS
        ]
        # Missing (NaN) is an input of its own, so a server sending 0 for "missing" is caught.
        missing = [
            tf.cast(tf.math.is_nan(dense[k]), tf.float32) for k in features.NUMERIC_FEATURE_KEYS
        ]
        inputs = tf.concat(
            [tf.stack(numbers, axis=1), tf.stack(missing, axis=1), *categories], axis=1
        )
        probabilities = tf.nn.softmax(inputs @ self.weights)
        class_ids = tf.argmax(probabilities, axis=1)
        return {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "classes": tf.gather(tf.constant(CLASSES), class_ids),
        }


def save_tiny_model(directory: Path, seed: int, signature: str = "serving_raw") -> Path:
    module = TinyModel(seed)
    tf.saved_model.save(module, str(directory), signatures={signature: module.serve_raw})
    return directory


def expected_predictions(model_dir: Path, instances: list[dict]) -> list[dict]:
    """What the SavedModel's own serving_raw gives, built without the server's code."""
    dense = {}
    for key in features.NUMERIC_FEATURE_KEYS:
        values = [np.nan if i.get(key) is None else i[key] for i in instances]
        dense[key] = tf.constant(values, tf.float32)
    for key in features.CATEGORICAL_FEATURE_KEYS:
        dense[key] = tf.constant([i.get(key) or "" for i in instances], tf.string)
    outputs = tf.saved_model.load(str(model_dir)).signatures["serving_raw"](**dense)
    return [
        {"probabilities": p.tolist(), "class_id": int(c), "class": n.decode()}
        for p, c, n in zip(
            outputs["probabilities"].numpy(),
            outputs["class_ids"].numpy(),
            outputs["classes"].numpy(),
            strict=True,
        )
    ]


def same_predictions(got: list[dict], want: list[dict]) -> bool:
    return len(got) == len(want) and all(
        g["class_id"] == w["class_id"]
        and g["class"] == w["class"]
        and np.array_equal(np.float32(g["probabilities"]), np.float32(w["probabilities"]))
        for g, w in zip(got, want, strict=True)
    )


@contextlib.contextmanager
def running(app):
    """Serves ``app`` with uvicorn on a free loopback port in a thread; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


class Client:
    """A tiny HTTP client over http.client; returns (status, parsed JSON body)."""

    def __init__(self, port: int):
        self.port = port

    def call(self, method: str, path: str, body: bytes | None = None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    def predict(self, model: str, payload, version: int | None = None):
        path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.call("POST", path, body, {"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("models")
    return {seed: save_tiny_model(root / f"seed-{seed}", seed) for seed in (1, 2, 3)}


@pytest.fixture(scope="module")
def serving_root(tmp_path_factory, models) -> Path:
    root = tmp_path_factory.mktemp("serving")
    pusher.push_model(str(models[1]), root / "penguins")
    pusher.push_model(str(models[2]), root / "penguins")
    return root


@pytest.fixture(scope="module")
def client(serving_root) -> Client:
    app = create_app(serving_root, max_body_bytes=MAX_BODY, max_instances=MAX_INSTANCES)
    with running(app) as port:
        yield Client(port)


# ---------------------------------------------------------------------------- predictions


def test_predictions_equal_the_saved_models_own_outputs(client, models):
    status, body = client.predict("penguins", {"instances": INSTANCES})

    assert status == 200
    assert set(body) == {"predictions"}
    assert same_predictions(body["predictions"], expected_predictions(models[2], INSTANCES))
    assert not same_predictions(body["predictions"], expected_predictions(models[1], INSTANCES))


def test_a_version_can_be_asked_for_by_number(client, models):
    status, body = client.predict("penguins", {"instances": INSTANCES[:2]}, version=1)

    assert status == 200
    assert same_predictions(body["predictions"], expected_predictions(models[1], INSTANCES[:2]))


def test_integer_and_float_numbers_give_the_same_prediction(client):
    as_int = client.predict("penguins", {"instances": [{"body_mass_g": 3750}]})
    as_float = client.predict("penguins", {"instances": [{"body_mass_g": 3750.0}]})
    assert as_int == as_float


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


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"{not json", "invalid JSON"),
        (b"", "invalid JSON"),
        (b'{"instances": [{"body_mass_g": NaN}]}', "invalid JSON"),
        ({"instances": [{"beak_colour": "red"}]}, "unknown feature 'beak_colour'"),
        ({"instances": [{"bill_length_mm": "long"}]}, "bill_length_mm must be a number"),
        ({"instances": [{"bill_length_mm": True}]}, "got boolean"),
        ({"instances": [{"bill_length_mm": [39.1]}]}, "got array"),
        ({"instances": [{"body_mass_g": 1e39}]}, "float32 range"),
        ({"instances": [{"island": 3}]}, "island must be a string"),
        (b'{"instances": [{"island": "\\ud800"}]}', "not valid Unicode"),
        (b'{"instances": [{"island": "Biscoe"}]', "invalid JSON"),
        (b"[" * 1500 + b"]" * 1500, "invalid JSON"),
        (b"\xff\xfe{}", "invalid JSON"),
        ({"instances": []}, "non-empty list"),
        ({"instances": {"island": "Biscoe"}}, "non-empty list"),
        ({"instances": [[39.1, 18.7]]}, "instances[0] must be a JSON object"),
        ({"inputs": {"island": ["Biscoe"]}}, '"instances"'),
        ({"instances": [{}], "signature_name": "serving_default"}, "unsupported request keys"),
        ([{"island": "Biscoe"}], '"instances"'),
    ],
)
def test_bad_requests_get_400_with_a_one_line_error(client, payload, message):
    status, body = client.predict("penguins", payload)

    assert status == 400
    assert set(body) == {"error"}
    assert message in body["error"]
    assert "\n" not in body["error"]


def test_a_body_over_the_limit_gets_413(client):
    big = {"instances": [{"island": "x" * MAX_BODY}]}
    assert client.predict("penguins", big)[0] == 413


def test_a_chunked_body_over_the_limit_gets_413(client):
    chunks = iter([b'{"instances": [{"island": "', b"x" * MAX_BODY, b'"}]}'])
    connection = http.client.HTTPConnection("127.0.0.1", client.port, timeout=30)
    try:
        connection.request("POST", "/v1/models/penguins:predict", body=chunks, encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        assert "exceeds" in json.loads(response.read())["error"]
    finally:
        connection.close()


def test_too_many_instances_get_413(client):
    status, body = client.predict("penguins", {"instances": [{}] * (MAX_INSTANCES + 1)})
    assert status == 413
    assert body["error"] == f"{MAX_INSTANCES + 1} instances; at most {MAX_INSTANCES} per request"
    assert client.predict("penguins", {"instances": [{}] * MAX_INSTANCES})[0] == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1/models/orcas:predict"),
        ("POST", "/v1/models/penguins/versions/9:predict"),
        ("POST", "/v1/models/penguins/versions/latest:predict"),
        ("POST", "/v1/models/penguins:classify"),
        ("POST", "/v1/models/..:predict"),
        ("GET", "/v1/models/orcas"),
        ("GET", "/v1/models/penguins/versions/9"),
        ("GET", "/v2/anything"),
    ],
)
def test_unknown_models_versions_and_routes_get_404(client, method, path):
    body = json.dumps({"instances": [{}]}).encode() if method == "POST" else None
    status, response = client.call(method, path, body)
    assert status == 404
    assert set(response) == {"error"}


# ---------------------------------------------------------------------------- hot swaps


def stream(client: Client, model: str, count: int, results: list) -> None:
    for _ in range(count):
        try:
            results.append(client.predict(model, {"instances": INSTANCES}))
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
    old, new = (expected_predictions(models[s], INSTANCES) for s in (1, 2))
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
    if same_predictions(predictions, old):
        return "old"
    return "new" if same_predictions(predictions, new) else "neither"


def predict_all(client: Client, model: str, version: int | None = None) -> list[dict]:
    status, body = client.predict(model, {"instances": INSTANCES}, version)
    assert status == 200, body
    return body["predictions"]


def test_a_rolled_back_version_stops_being_served(client, serving_root, models):
    base = serving_root / "rollback"
    for seed in (1, 3):
        pusher.push_model(str(models[seed]), base)
    newest = expected_predictions(models[3], INSTANCES)
    assert same_predictions(predict_all(client, "rollback"), newest)

    pusher.rollback(base)

    oldest = expected_predictions(models[1], INSTANCES)
    assert same_predictions(predict_all(client, "rollback"), oldest)
    assert client.predict("rollback", {"instances": INSTANCES}, version=2)[0] == 404


def test_a_version_that_cannot_load_leaves_the_previous_one_serving(client, serving_root, models):
    base = serving_root / "flaky"
    pusher.push_model(str(models[1]), base)
    assert client.predict("flaky", {"instances": INSTANCES})[0] == 200
    no_raw_signature = save_tiny_model(serving_root.parent / "no-raw", seed=5, signature="other")
    pusher.push_model(str(no_raw_signature), base)

    def version_2_failed() -> bool:
        client.predict("flaky", {"instances": INSTANCES})
        entries = client.call("GET", "/v1/models/flaky")[1]["model_version_status"]
        return entries[0]["state"] == "END"

    wait_for(version_2_failed)
    previous = expected_predictions(models[1], INSTANCES)
    assert same_predictions(predict_all(client, "flaky"), previous)
    entries = client.call("GET", "/v1/models/flaky")[1]["model_version_status"]
    assert [(e["version"], e["state"]) for e in entries] == [("2", "END"), ("1", "AVAILABLE")]
    assert "serving_raw" in entries[0]["status"]["error_message"]
    assert client.predict("flaky", {"instances": INSTANCES}, version=2)[0] == 503


def test_a_server_started_before_the_first_push_serves_it(tmp_path, models):
    root = tmp_path / "not-yet"
    with running(create_app(root)) as port:
        late = Client(port)
        assert late.predict("penguins", {"instances": INSTANCES})[0] == 404
        pusher.push_model(str(models[3]), root / "penguins")
        assert same_predictions(
            predict_all(late, "penguins"), expected_predictions(models[3], INSTANCES)
        )
