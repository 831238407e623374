"""serving/server.py over real HTTP: TF Serving's REST API request by request, and its errors.

Every expected value comes from calling the SavedModel's own signature (``tiny_savedmodels``),
never through the server's code. Versions, loading and hot swaps: ``test_repository.py``.
"""

import http.client
import json

import numpy as np
import pytest
import tensorflow as tf
from loopback_http import Client, running
from tiny_savedmodels import (
    CLASSES,
    FLOATS,
    IMAGE,
    INSTANCES,
    INTS,
    STRINGS,
    as_json,
    b64,
    call_saved_model,
    expected_rows,
    image_example,
    png,
    raw,
    raw_tensors,
    same,
    serialized_example,
)

from serving.server import create_app

MAX_BODY = 4096
MAX_INSTANCES = 20


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


# A signature of one bytes input (an image model's serving_raw) takes the examples' values
# as that input, a {"b64": ...} value as its decoded bytes, as :predict does.
PNGS = [png(seed) for seed in (1, 2)]
IMAGES = [{IMAGE: b64(PNGS[0])}, {IMAGE: b64(PNGS[1])}, {}]  # {}: no image, as in predict
DECODED = tf.constant([PNGS[0], PNGS[1], b""])


def predicted_labels(outputs: dict[str, np.ndarray]):
    """Labels when the model names the predicted class only: "" for the other scores."""

    def labels(i: int) -> list[str]:
        predicted = outputs["classes"][i].decode()
        return [predicted if c == outputs["class_ids"][i] else "" for c in range(len(CLASSES))]

    return labels


def test_classify_decodes_b64_image_bytes_for_a_signature_of_one_bytes_input(client, models):
    want = call_saved_model(models["image"], "serving_raw", **{IMAGE: DECODED})

    payload = {"signature_name": "serving_raw", "examples": IMAGES}
    status, body = client.post("images", "classify", payload)

    assert status == 200, body
    assert same(body, {"results": classify_results(want, predicted_labels(want))})


def test_regress_decodes_b64_image_bytes_for_a_signature_of_one_bytes_input(client, models):
    want = call_saved_model(models["image-regress"], "serving_raw", **{IMAGE: DECODED})

    payload = {"signature_name": "serving_raw", "examples": IMAGES}
    status, body = client.post("image-regressor", "regress", payload)

    assert status == 200, body
    assert same(body, {"results": as_json(want["predictions"])})


def test_the_same_b64_image_examples_go_to_the_examples_signature_as_tf_examples(client, models):
    serialized = tf.constant([image_example(PNGS[0]), image_example(PNGS[1]), b""])
    want = call_saved_model(models["image"], "serving_default", examples=serialized)

    status, body = client.post("images", "classify", {"examples": IMAGES})

    assert status == 200, body
    assert same(body, {"results": classify_results(want, predicted_labels(want))})


def test_classify_decodes_b64_strings_for_a_signature_of_named_feature_inputs(client, models):
    rows = [{**row, "island": b64(row["island"].encode())} for row in INSTANCES[:2]]
    want = call_saved_model(models["labelled"], "serving_raw", **raw_tensors(INSTANCES[:2]))

    status, body = client.post(
        "labelled", "classify", {"signature_name": "serving_raw", "examples": rows}
    )

    assert status == 200, body
    assert same(body, {"results": classify_results(want, lambda i: list(CLASSES))})


@pytest.mark.parametrize("model, verb", [("images", "classify"), ("image-regressor", "regress")])
def test_bad_base64_for_a_bytes_input_gets_400_naming_the_value(client, model, verb):
    examples = [IMAGES[0], {IMAGE: {"b64": "not base64!"}}]

    status, body = client.post(model, verb, {"signature_name": "serving_raw", "examples": examples})

    assert (status, body) == (400, {"error": "examples[1].image: unable to base64 decode"})


# ---------------------------------------------------------------------------- metadata


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
        (
            {"examples": [{"island": {"b64": "not base64!"}}]},
            "examples[0].island[0]: unable to base64",
        ),
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
