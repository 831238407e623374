"""serving/server.py over real HTTP: TF Serving's REST API request by request, errors, hot swaps.

Every expected value comes from calling the SavedModel's own signature here, with inputs
built by this file (tf.Examples by hand), never through the server's code.
"""

import base64
import contextlib
import http.client
import json
import math
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import uvicorn

from components.serving_pusher import pusher
from serving.server import create_app

# The tiny models' own raw features, kinds as in this project's serving_raw signature;
# in tf.Examples the two counts are int64 features, as in the penguins schema.
FLOATS = ("bill_length_mm", "bill_depth_mm")
INTS = ("flipper_length_mm", "body_mass_g")
STRINGS = ("island", "sex")
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
    {"bill_length_mm": 46.5, "flipper_length_mm": 217, "island": "Biscoe", "sex": None},
    {"body_mass_g": None, "island": ""},
    {},
]


class TinyModel(tf.Module):
    """``serving_raw`` (one tensor per feature) and ``serving_default`` (serialized
    tf.Examples) over the same function, as the Trainer exports them.

    ``task`` is "classify" (probabilities, class_ids, classes), "labelled" (the same plus
    ``all_classes``, every class's label) or "regress" (one ``predictions`` value).
    """

    def __init__(self, seed: int, task: str = "classify", broken: bool = False):
        super().__init__()
        self.task, self.broken = task, broken
        width = 2 * len(FLOATS + INTS) + BUCKETS * len(STRINGS)
        columns = 1 if task == "regress" else len(CLASSES)
        weights = np.random.default_rng(seed).normal(size=(width, columns))
        self.weights = tf.Variable(weights.astype(np.float32))
        raw_spec = {k: tf.TensorSpec([None], tf.float32, name=k) for k in FLOATS + INTS}
        raw_spec.update({k: tf.TensorSpec([None], tf.string, name=k) for k in STRINGS})
        self.serve_raw = tf.function(self._serve, input_signature=[raw_spec])
        examples = tf.TensorSpec([None], tf.string, name="examples")
        self.serve_examples = tf.function(self._parse, input_signature=[examples])

    def _parse(self, examples):
        spec = {k: tf.io.FixedLenFeature([], tf.float32, float("nan")) for k in FLOATS}
        spec.update({k: tf.io.FixedLenFeature([], tf.int64, -1) for k in INTS})
        spec.update({k: tf.io.FixedLenFeature([], tf.string, "") for k in STRINGS})
        parsed = tf.io.parse_example(examples, spec)
        for key in INTS:  # -1 marks a missing count
            value = tf.cast(parsed[key], tf.float32)
            parsed[key] = tf.where(parsed[key] < 0, float("nan"), value)
        return self._serve(parsed)

    def _serve(self, dense):
        numbers = [tf.where(tf.math.is_nan(dense[k]), 0.0, dense[k]) / 100.0 for k in FLOATS + INTS]
        # Missing (NaN) is an input of its own, so a server sending 0 for "missing" is caught.
        missing = [tf.cast(tf.math.is_nan(dense[k]), tf.float32) for k in FLOATS + INTS]
        categories = [
            tf.one_hot(tf.strings.to_hash_bucket_fast(dense[k], BUCKETS), BUCKETS) for k in STRINGS
        ]
        inputs = tf.concat(
            [tf.stack(numbers, axis=1), tf.stack(missing, axis=1), *categories], axis=1
        )
        logits = inputs @ self.weights
        if self.broken:
            logits = logits * float("nan")
        if self.task == "regress":
            return {"predictions": logits[:, 0] * 1000.0}
        probabilities = tf.nn.softmax(logits)
        class_ids = tf.argmax(probabilities, axis=1)
        outputs = {
            "probabilities": probabilities,
            "class_ids": class_ids,
            "classes": tf.gather(tf.constant(CLASSES), class_ids),
        }
        if self.task == "labelled":
            outputs["all_classes"] = tf.broadcast_to(tf.constant(CLASSES), tf.shape(probabilities))
        return outputs


def save_tiny_model(directory: Path, seed: int, task: str = "classify", broken=False) -> Path:
    module = TinyModel(seed, task, broken)
    signatures = {"serving_default": module.serve_examples, "serving_raw": module.serve_raw}
    tf.saved_model.save(module, str(directory), signatures=signatures)
    return directory


# ---------------------------------------------------------------------------- expected values


def call_saved_model(model_dir: Path, signature: str, **inputs) -> dict[str, np.ndarray]:
    """The SavedModel's own outputs, loaded and called here."""
    function = tf.saved_model.load(str(model_dir)).signatures[signature]
    return {key: value.numpy() for key, value in function(**inputs).items()}


def raw_tensors(rows: list[dict]) -> dict[str, tf.Tensor]:
    """serving_raw's inputs: NaN or "" where a row lacks a value."""
    tensors = {}
    for key in FLOATS + INTS:
        values = [math.nan if row.get(key) is None else row[key] for row in rows]
        tensors[key] = tf.constant(values, tf.float32)
    for key in STRINGS:
        tensors[key] = tf.constant([row.get(key) or "" for row in rows], tf.string)
    return tensors


def serialized_example(row: dict) -> bytes:
    """A tf.Example of a row, built by hand: float, int64 or bytes feature per key."""
    feature = {}
    for key, value in row.items():
        if value is None:
            continue
        if key in FLOATS:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif key in INTS:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        else:
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def b64(data: bytes) -> dict:
    return {"b64": base64.b64encode(data).decode()}


def expected_rows(outputs: dict[str, np.ndarray]) -> list[dict]:
    """TF Serving's row format of several outputs: one object per example."""
    rows = len(next(iter(outputs.values())))
    return [{key: as_json(value[i]) for key, value in outputs.items()} for i in range(rows)]


def as_json(value):
    if isinstance(value, np.ndarray):
        return [as_json(v) for v in value]
    if isinstance(value, bytes):
        return value.decode()
    return value.item()


def same(got, want) -> bool:
    """Equal JSON, floats compared as the float32 values they stand for."""
    if isinstance(want, dict):
        return (
            isinstance(got, dict)
            and set(got) == set(want)
            and all(same(got[k], want[k]) for k in want)
        )
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(same(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, float):
        return isinstance(got, (int, float)) and np.float32(got) == np.float32(want)
    return got == want


# ---------------------------------------------------------------------------- the server


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

    def post(self, model: str, verb: str, payload, version: int | None = None):
        path = f"/v1/models/{model}" + (f"/versions/{version}" if version else "") + f":{verb}"
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.call("POST", path, body, {"Content-Type": "application/json"})

    def predict(self, model: str, payload, version: int | None = None):
        return self.post(model, "predict", payload, version)


def raw(rows: list[dict]) -> dict:
    """A row-format predict request to serving_raw."""
    return {"signature_name": "serving_raw", "instances": rows}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    found = {seed: save_tiny_model(root / f"seed-{seed}", seed) for seed in (1, 2, 3)}
    found["labelled"] = save_tiny_model(root / "labelled", 4, task="labelled")
    found["regress"] = save_tiny_model(root / "regress", 5, task="regress")
    found["broken"] = save_tiny_model(root / "broken", 6, broken=True)
    return found


@pytest.fixture(scope="module")
def serving_root(tmp_path_factory, models) -> Path:
    root = tmp_path_factory.mktemp("serving")
    pusher.push_model(str(models[1]), root / "penguins")
    pusher.push_model(str(models[2]), root / "penguins")
    pusher.push_model(str(models["labelled"]), root / "labelled")
    pusher.push_model(str(models["regress"]), root / "regressor")
    return root


@pytest.fixture(scope="module")
def client(serving_root) -> Client:
    app = create_app(serving_root, max_body_bytes=MAX_BODY, max_instances=MAX_INSTANCES)
    with running(app) as port:
        yield Client(port)


# ---------------------------------------------------------------------------- :predict


def test_row_format_objects_to_serving_raw(client, models):
    status, body = client.predict("penguins", raw(INSTANCES))

    assert status == 200
    want = expected_rows(call_saved_model(models[2], "serving_raw", **raw_tensors(INSTANCES)))
    assert same(body, {"predictions": want})
    older = expected_rows(call_saved_model(models[1], "serving_raw", **raw_tensors(INSTANCES)))
    assert not same(body["predictions"], older)


def test_a_version_can_be_asked_for_by_number(client, models):
    status, body = client.predict("penguins", raw(INSTANCES[:2]), version=1)

    assert status == 200
    want = call_saved_model(models[1], "serving_raw", **raw_tensors(INSTANCES[:2]))
    assert same(body["predictions"], expected_rows(want))


def test_row_format_b64_examples_to_the_default_signature(client, models):
    """TF Serving's shorthand for a single-input signature: the values themselves."""
    examples = [serialized_example(row) for row in INSTANCES]

    status, body = client.predict("penguins", {"instances": [b64(e) for e in examples]})

    assert status == 200
    want = call_saved_model(models[2], "serving_default", examples=tf.constant(examples))
    assert same(body, {"predictions": expected_rows(want)})


def test_image_bytes_sent_to_the_examples_signature_are_a_400_not_a_500(client):
    """TensorFlow raises UnicodeDecodeError building the error for non-UTF-8 bytes."""
    png = tf.io.encode_png(tf.zeros([4, 4, 1], tf.uint8)).numpy()

    status, body = client.predict("penguins", {"instances": [b64(png)]})

    assert status == 400
    assert "cannot read the bytes it was given" in body["error"]
    assert "serving_raw" in body["error"]


def test_row_format_named_b64_examples_with_signature_name(client, models):
    examples = [serialized_example(row) for row in INSTANCES]
    payload = {
        "signature_name": "serving_default",
        "instances": [{"examples": b64(e)} for e in examples],
    }

    status, body = client.predict("penguins", payload)

    assert status == 200
    want = call_saved_model(models[2], "serving_default", examples=tf.constant(examples))
    assert same(body, {"predictions": expected_rows(want)})


def test_columnar_object_of_lists_answers_outputs(client, models):
    rows = INSTANCES[:3]
    inputs = {key: [row.get(key) for row in rows] for key in FLOATS + INTS + STRINGS}

    status, body = client.predict("penguins", {"signature_name": "serving_raw", "inputs": inputs})

    assert status == 200
    want = call_saved_model(models[2], "serving_raw", **raw_tensors(rows))
    assert same(body, {"outputs": {key: as_json(value) for key, value in want.items()}})


def test_columnar_plain_list_for_a_single_input_signature(client, models):
    examples = [serialized_example(row) for row in INSTANCES]

    status, body = client.predict("penguins", {"inputs": [b64(e) for e in examples]})

    assert status == 200
    want = call_saved_model(models[2], "serving_default", examples=tf.constant(examples))
    assert same(body, {"outputs": {key: as_json(value) for key, value in want.items()}})


def test_a_single_output_is_answered_without_its_name(client, models):
    """TF Serving drops the output's name when there is only one, in both formats."""
    want = call_saved_model(models["regress"], "serving_raw", **raw_tensors(INSTANCES))
    values = as_json(want["predictions"])

    rows = client.predict("regressor", raw(INSTANCES))
    inputs = {key: [row.get(key) for row in INSTANCES] for key in FLOATS + INTS + STRINGS}
    columns = client.predict("regressor", {"signature_name": "serving_raw", "inputs": inputs})

    assert rows[0] == 200 and same(rows[1], {"predictions": values})
    assert columns[0] == 200 and same(columns[1], {"outputs": values})


def test_nan_is_a_missing_value_like_null(client):
    as_nan = client.predict(
        "penguins", b'{"signature_name": "serving_raw", "instances": [{"body_mass_g": NaN}]}'
    )
    as_null = client.predict("penguins", raw([{"body_mass_g": None}]))
    assert as_nan[0] == 200
    assert as_nan == as_null


def test_integer_and_float_numbers_give_the_same_prediction(client):
    as_int = client.predict("penguins", raw([{"body_mass_g": 3750}]))
    as_float = client.predict("penguins", raw([{"body_mass_g": 3750.0}]))
    assert as_int == as_float


def test_an_unknown_signature_gets_400_naming_the_served_ones(client):
    status, body = client.predict("penguins", {"signature_name": "serving", "instances": [{}]})

    assert status == 400
    assert body["error"] == (
        "model version 2 serves no signature 'serving'; "
        "served signatures: ['serving_default', 'serving_raw']"
    )


def test_feature_values_without_signature_name_go_to_serving_default_as_in_tf_serving(client):
    status, body = client.predict("penguins", {"instances": INSTANCES[:1]})

    assert status == 400
    assert "unknown input 'bill_depth_mm' of signature 'serving_default'" in body["error"]
    assert '"signature_name": "serving_raw"' in body["error"]


# ---------------------------------------------------------------------------- :classify, :regress


def classify_results(outputs: dict[str, np.ndarray], labels) -> list:
    """[[label, score], ...] per example; ``labels(i)`` gives example i's label per class."""
    return [
        [[label, float(score)] for label, score in zip(labels(i), scores, strict=True)]
        for i, scores in enumerate(outputs["probabilities"])
    ]


def test_classify_examples_with_context(client, models):
    context = {"island": "Biscoe", "sex": "female"}
    examples = [{"bill_length_mm": 46.1, "flipper_length_mm": 211}, {"body_mass_g": 4500}]
    serialized = [serialized_example({**context, **e}) for e in examples]
    want = call_saved_model(models[2], "serving_default", examples=tf.constant(serialized))

    status, body = client.post("penguins", "classify", {"context": context, "examples": examples})

    # The export names the predicted class only; the other scores get "", as in TF Serving.
    def labels(i):
        return [want["classes"][i].decode() if c == want["class_ids"][i] else "" for c in range(3)]

    assert status == 200
    assert same(body, {"results": classify_results(want, labels)})


def test_classify_labels_every_class_when_the_model_names_them(client, models):
    examples = INSTANCES[:2]
    serialized = [serialized_example(e) for e in examples]
    want = call_saved_model(models["labelled"], "serving_default", examples=tf.constant(serialized))

    status, body = client.post("labelled", "classify", {"examples": examples})

    assert status == 200
    assert same(body, {"results": classify_results(want, lambda i: list(CLASSES))})


def test_classify_with_a_signature_of_feature_inputs(client, models):
    want = call_saved_model(models["labelled"], "serving_raw", **raw_tensors(INSTANCES))

    payload = {"signature_name": "serving_raw", "examples": INSTANCES}
    status, body = client.post("labelled", "classify", payload)

    assert status == 200
    assert same(body, {"results": classify_results(want, lambda i: list(CLASSES))})


def test_regress_examples(client, models):
    context = {"island": "Dream"}
    examples = [{"bill_length_mm": 39.5, "body_mass_g": 3800}, {"sex": "male"}]
    serialized = [serialized_example({**context, **e}) for e in examples]
    want = call_saved_model(models["regress"], "serving_default", examples=tf.constant(serialized))

    status, body = client.post("regressor", "regress", {"context": context, "examples": examples})

    assert status == 200
    assert same(body, {"results": as_json(want["predictions"])})


def test_regress_on_a_classification_model_gets_400(client):
    status, body = client.post("penguins", "regress", {"examples": [{"island": "Dream"}]})

    assert status == 400
    assert body["error"].startswith("signature 'serving_default' is a classification signature")
    assert "use :classify" in body["error"]


def test_classify_on_a_regression_model_gets_400(client):
    status, body = client.post("regressor", "classify", {"examples": [{"island": "Dream"}]})

    assert status == 400
    assert "signature 'serving_default' does not classify" in body["error"]


# ---------------------------------------------------------------------------- status, metadata


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


def test_metadata_lists_the_signatures_like_tf_serving(client):
    status, body = client.call("GET", "/v1/models/penguins/metadata")
    versioned = client.call("GET", "/v1/models/penguins/versions/1/metadata")

    assert status == 200
    assert body["model_spec"] == {"name": "penguins", "signature_name": "", "version": "2"}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["examples"]["dtype"] == "DT_STRING"
    assert default["inputs"]["examples"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert set(default["outputs"]) == {"probabilities", "class_ids", "classes"}
    assert set(signatures["serving_raw"]["inputs"]) == set(FLOATS + INTS + STRINGS)
    assert versioned[0] == 200 and versioned[1]["model_spec"]["version"] == "1"


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"{not json", "invalid JSON"),
        (b"", "invalid JSON"),
        (raw([{"beak_colour": "red"}]), "unknown input 'beak_colour' of signature 'serving_raw'"),
        (raw([{"bill_length_mm": "long"}]), "bill_length_mm must be a number"),
        (raw([{"bill_length_mm": True}]), "got boolean"),
        (raw([{"bill_length_mm": [39.1]}]), "got array"),
        (raw([{"body_mass_g": 1e39}]), "outside the float32 range"),
        (raw([{"island": 3}]), "island must be a string"),
        (raw([{"island": {"b64": "not base64!"}}]), "unable to base64 decode"),
        (b'{"signature_name": "serving_raw", "instances": [{"island": "\\ud800"}]}', "Unicode"),
        (b'{"instances": [{"island": "Biscoe"}]', "invalid JSON"),
        (b"[" * 1500 + b"]" * 1500, "invalid JSON"),
        (b"\xff\xfe{}", "invalid JSON"),
        (raw([]), "non-empty list"),
        (raw({"island": "Biscoe"}), "non-empty list"),
        (raw([[39.1, 18.7]]), "instances is a plain list of values, but signature 'serving_raw'"),
        (raw([{}, "Biscoe"]), "instances[1] must be a JSON object"),
        ({"signature_name": "serving_raw", "inputs": ["Biscoe"]}, '"inputs" is a plain list'),
        ({"signature_name": "serving_raw", "inputs": {"island": "Biscoe"}}, "must be a list"),
        (
            {"signature_name": "serving_raw", "inputs": {"island": ["a"], "sex": ["b", "c"]}},
            "different lengths",
        ),
        ({"instances": [{}], "inputs": {}}, 'either "instances"'),
        ({"signature_name": "serving_raw"}, 'must have "instances"'),
        ({"signature_name": 7, "instances": [{}]}, '"signature_name" must be a string'),
        ({"instances": [{}], "parameters": {}}, "unsupported request keys ['parameters']"),
        ([{"island": "Biscoe"}], "request must be a JSON object"),
        ({"instances": [b64(b"not a tf.Example")]}, "signature 'serving_default': "),
    ],
)
def test_bad_predict_requests_get_400_with_a_one_line_error(client, payload, message):
    status, body = client.predict("penguins", payload)

    assert status == 400
    assert set(body) == {"error"}
    assert message in body["error"]
    assert "\n" not in body["error"]


@pytest.mark.parametrize(
    "payload, message",
    [
        ({"instances": [{}]}, "unsupported request keys ['instances']"),
        ({"examples": []}, "non-empty list of feature objects"),
        ({"examples": ["Biscoe"]}, "examples[0] must be a JSON object"),
        ({"context": ["Biscoe"], "examples": [{}]}, '"context" must be a JSON object'),
        (
            {"context": {"sex": "male"}, "examples": [{"sex": "female"}]},
            "repeats context feature 'sex'",
        ),
        ({"examples": [{"island": [1, "Biscoe"]}]}, "mixes strings and numbers"),
        ({"examples": [{"island": {"name": "Biscoe"}}]}, "got object"),
        ({"examples": [{"bill_length_mm": 39}]}, "Data types don't match"),
    ],
)
def test_bad_classify_requests_get_400_with_a_one_line_error(client, payload, message):
    status, body = client.post("penguins", "classify", payload)

    assert status == 400
    assert message in body["error"]
    assert "\n" not in body["error"]


def test_a_body_over_the_limit_gets_413(client):
    big = raw([{"island": "x" * MAX_BODY}])
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


@pytest.mark.parametrize(
    "verb, payload",
    [
        ("predict", raw([{}] * (MAX_INSTANCES + 1))),
        (
            "predict",
            {"signature_name": "serving_raw", "inputs": {"island": [""] * (MAX_INSTANCES + 1)}},
        ),
        ("classify", {"examples": [{"island": "Dream"}] * (MAX_INSTANCES + 1)}),
    ],
)
def test_too_many_examples_get_413(client, verb, payload):
    status, body = client.post("penguins", verb, payload)
    assert status == 413
    assert body["error"] == f"{MAX_INSTANCES + 1} instances; at most {MAX_INSTANCES} per request"


def test_as_many_examples_as_allowed_get_200(client):
    assert client.predict("penguins", raw([{}] * MAX_INSTANCES))[0] == 200


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/v1/models/orcas:predict"),
        ("POST", "/v1/models/orcas:classify"),
        ("POST", "/v1/models/penguins/versions/9:predict"),
        ("POST", "/v1/models/penguins/versions/latest:predict"),
        ("POST", "/v1/models/penguins:explain"),
        ("POST", "/v1/models/..:predict"),
        ("GET", "/v1/models/orcas"),
        ("GET", "/v1/models/orcas/metadata"),
        ("GET", "/v1/models/penguins/versions/9"),
        ("GET", "/v1/models/penguins/versions/9/metadata"),
        ("GET", "/v2/anything"),
    ],
)
def test_unknown_models_versions_and_routes_get_404(client, method, path):
    body = json.dumps(raw([{}])).encode() if method == "POST" else None
    status, response = client.call(method, path, body)
    assert status == 404
    assert set(response) == {"error"}


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
