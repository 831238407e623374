"""Folders of images end to end: the shipped digits through the whole DAG.

One run of ``configs/digits.yaml`` (shorter training) is shared by the tests that read its
results: blessed and pushed, eval accuracy >= 0.95, the int8 TFLite and micro forms
published, REST ``predict`` with ``{"b64": ...}`` and ``runner.py predict --image`` giving
the SavedModel's own answer, the report's grid of misclassified images. A second, cheap run
over a copy with a corrupt PNG stops at the DataGate naming the file.
"""

import base64
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import yaml

from pipeline.config import load_config

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DIGITS = REPO / "data" / "digits"
SAMPLE = DIGITS / "7" / sorted(p.name for p in (DIGITS / "7").iterdir())[0]


def write_config(directory: Path, image_dir: Path, epochs: int) -> Path:
    raw = yaml.safe_load((REPO / "configs" / "digits.yaml").read_text())
    raw["work_dir"] = str(directory / "work")
    raw["data"]["image_dir"] = str(image_dir)
    raw["trainer"]["hyperparameters"]["epochs"] = epochs
    path = directory / "digits.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_pipeline(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "runner.py"), "--local", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=1800,
    )


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("digits")
    config = write_config(directory, DIGITS, epochs=12)
    process = run_pipeline(config)
    (run_dir,) = sorted((directory / "work" / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    return load_config(config), config, process, summary, run_dir


def saved_model_answer(pushed_path: str, data: bytes) -> np.ndarray:
    serve = tf.saved_model.load(pushed_path).signatures["serving_raw"]
    return serve(image=tf.constant([data]))["probabilities"].numpy()[0]


def test_digits_run_is_blessed_and_pushes_savedmodel_and_int8_tflite(digits_run):
    cfg, _, process, summary, _ = digits_run
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    assert summary["outcome"] == "blessed and pushed", summary
    assert summary["eval_metrics"]["accuracy"] >= 0.95
    assert summary["test_metrics"]["accuracy"] >= 0.9
    tflite = summary["tflite"]
    assert tflite["quantization"] == "int8" and tflite["requires_select_tf_ops"] == 0
    assert tflite["tflite_size_bytes"] <= 0.3 * tflite["saved_model_size_bytes"]
    assert tflite["accuracy_drop"] <= 0.01 and tflite["micro_accuracy_drop"] <= 0.01
    published = Path(summary["pushed_tflite_path"])
    assert {"tflite", "model.tflite", "model_data.cc", "model_data.h", "preprocessing.json"} <= {
        p.name for p in published.iterdir()
    }
    spec = json.loads((published / "preprocessing.json").read_text())
    assert spec["input"]["dtype"] == "int8" and spec["input"]["shape"] == [1, 16, 16, 1]
    assert spec["arena_bytes_estimate"] == tflite["micro_arena_bytes"] > 0


def test_micro_model_answers_like_the_savedmodel_on_a_png(digits_run):
    _, _, _, summary, _ = digits_run
    published = Path(summary["pushed_tflite_path"])
    spec = json.loads((published / "preprocessing.json").read_text())
    pixels = tf.image.resize(
        tf.image.convert_image_dtype(tf.io.decode_png(SAMPLE.read_bytes(), channels=1), tf.float32),
        [16, 16],
    ).numpy()
    quantized = np.clip(
        np.round(pixels / spec["input"]["scale"]) + spec["input"]["zero_point"], -128, 127
    ).astype(np.int8)
    interpreter = tf.lite.Interpreter(model_path=str(published / "model.tflite"))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], quantized[None])
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    probabilities = (output.astype(np.float32) - spec["output"]["zero_point"]) * spec["output"][
        "scale"
    ]
    expected = saved_model_answer(summary["pushed_path"], SAMPLE.read_bytes())
    assert probabilities.argmax() == expected.argmax()
    assert np.abs(probabilities - expected).max() < 0.1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rest_predict_takes_b64_image_bytes_and_equals_the_savedmodel(digits_run):
    cfg, config, _, summary, _ = digits_run
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(REPO / "runner.py"), "serve", "--config", str(config)]
        + ["--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/v1/models/{cfg.model_name}"
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "server did not start"
                assert server.poll() is None, server.stdout.read().decode()[-2000:]
                time.sleep(1)
        body = {
            "signature_name": "serving_raw",
            "instances": [{"image": {"b64": base64.b64encode(SAMPLE.read_bytes()).decode()}}],
        }
        request = urllib.request.Request(
            f"{url}:predict", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
    finally:
        server.terminate()
        server.wait(timeout=30)
    (prediction,) = answer["predictions"]
    expected = saved_model_answer(summary["pushed_path"], SAMPLE.read_bytes())
    np.testing.assert_allclose(prediction["probabilities"], expected, rtol=1e-5, atol=1e-6)
    assert prediction["classes"] == str(expected.argmax())


def test_predict_command_prints_the_class_and_probability(digits_run):
    _, config, _, summary, _ = digits_run
    expected = saved_model_answer(summary["pushed_path"], SAMPLE.read_bytes())
    process = subprocess.run(
        [sys.executable, str(REPO / "runner.py"), "predict", "--config", str(config)]
        + ["--image", str(SAMPLE)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    first = process.stdout.splitlines()[0]
    assert first == f"{SAMPLE}: {expected.argmax()} ({expected.max():.3f}), version 1"
    bad = subprocess.run(
        [sys.executable, str(REPO / "runner.py"), "predict", "--config", str(config)]
        + ["--image", str(REPO / "README.md")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        f"predict: {REPO / 'README.md'}: not an image (no PNG, JPEG, GIF or BMP signature)"
    ]


def test_report_shows_misclassified_test_images_inline(digits_run):
    _, _, _, summary, run_dir = digits_run
    html = (run_dir / "report.html").read_text()
    assert "Misclassified test images" in html
    wrong = round(
        (1 - summary["test_metrics"]["accuracy"]) * summary["test_metrics"]["example_count"]
    )
    assert html.count('<figure data-true="') == min(wrong, 24)
    if wrong:
        assert 'src="data:image/png;base64,' in html


def test_a_corrupt_png_stops_the_run_naming_the_file(tmp_path):
    images = tmp_path / "images"
    for digit in "0123456789":
        (images / digit).mkdir(parents=True)
        for source in sorted((DIGITS / digit).iterdir())[:12]:
            shutil.copy(source, images / digit / source.name)
    corrupt = images / "3" / "broken.png"
    corrupt.write_bytes(SAMPLE.read_bytes()[:40])  # a truncated PNG
    config = write_config(tmp_path, images, epochs=1)
    raw = yaml.safe_load(config.read_text())
    raw["data"]["min_examples"] = {"train": 1, "eval": 1, "test": 1}
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    process = run_pipeline(config)
    assert process.returncode == 1, process.stdout[-3000:] + process.stderr[-3000:]
    assert "3/broken.png" in process.stdout + process.stderr
    assert "Transform" not in [
        line.split()[0] for line in process.stdout.splitlines() if "executed" in line
    ]
