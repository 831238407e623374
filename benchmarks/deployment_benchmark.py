"""Prints deployment figures for the latest trained model in a work directory.

    .venv/bin/python benchmarks/deployment_benchmark.py [--work-dir work] [--requests 500]

Per TFLite quantization mode against the SavedModel: size, eval accuracy and p50/p99
single-example latency. Then the REST server (``runner.py serve``) over loopback:
p50/p99 latency and requests per second for sequential single-instance requests.
Figures only, no assertions: run it on a quiet machine.
"""

import argparse
import http.client
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=REPO / "work")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--skip-tflite", action="store_true", help="REST figures only")
    args = parser.parse_args(argv)

    from components import keras_mode

    os.environ.update(keras_mode.ENVIRONMENT)
    model_dir, examples_uri = _latest_model(args.work_dir)
    print(f"model    {model_dir}\n")
    if not args.skip_tflite:
        _tflite_table(model_dir, examples_uri)
        print()
    _rest_figures(model_dir, examples_uri, args.requests)
    return 0


def _latest_model(work_dir: Path) -> tuple[str, str]:
    from pipeline import metadata

    with metadata.open_store(work_dir / "metadata.sqlite") as store:
        models = store.get_artifacts_by_type("Model")
        examples = store.get_artifacts_by_type("Examples")
    trainer_models = [m for m in models if "/Trainer/" in m.uri]
    raw_examples = [e for e in examples if "/CsvExampleGen/" in e.uri]
    if not trainer_models or not raw_examples:
        raise SystemExit(f"no trained model in {work_dir}: run `make run` first")
    latest = max(trainer_models, key=lambda a: a.id)
    return os.path.join(latest.uri, "Format-Serving"), max(raw_examples, key=lambda a: a.id).uri


def _tflite_table(model_dir: str, examples_uri: str) -> None:
    from components.examples_io import read_serialized_examples
    from components.tflite_converter import converter
    from components.tflite_converter.component import LABEL

    evaluation = read_serialized_examples(examples_uri, "eval")
    train = converter.dense_inputs_from_examples(
        read_serialized_examples(examples_uri, "train", 100)
    )
    dense = converter.dense_inputs_from_examples(evaluation)
    labels = converter.transformed_features(model_dir, evaluation)[LABEL]
    header = (
        f"{'form':<12}{'bytes':>10}{'accuracy':>10}{'max|dp|':>10}{'p50 ms':>9}{'p99 ms':>9}"
        "  select-tf-ops"
    )
    print(f"eval examples: {len(labels)}\n{header}")
    saved_model_row = None
    with tempfile.TemporaryDirectory() as scratch:
        for mode in converter.QUANTIZATION_MODES:
            try:
                result = converter.convert_saved_model(
                    model_dir,
                    os.path.join(scratch, mode, "tflite"),
                    mode,
                    representative_inputs=lambda: [train],
                )
            except (RuntimeError, ValueError) as err:
                print(f"{mode:<12} conversion failed: {' '.join(str(err).split())[:80]}")
                continue
            report = converter.check_parity(model_dir, result.path, dense, labels)
            saved_model_row = saved_model_row or (
                f"{'SavedModel':<12}{report.saved_model_size_bytes:>10}"
                f"{report.saved_model_accuracy:>10.3f}{'':>10}"
                f"{report.saved_model_latency_p50_ms:>9.3f}{report.saved_model_latency_p99_ms:>9.3f}"
            )
            print(
                f"{mode:<12}{report.tflite_size_bytes:>10}{report.tflite_accuracy:>10.3f}"
                f"{report.max_abs_probability_diff:>10.1e}{report.tflite_latency_p50_ms:>9.3f}"
                f"{report.tflite_latency_p99_ms:>9.3f}  {result.requires_select_tf_ops}"
            )
        print(_micro_row(model_dir, examples_uri, evaluation, dense, labels, scratch))
    if saved_model_row:
        print(saved_model_row)


def _micro_row(model_dir, examples_uri, evaluation, dense, labels, scratch) -> str:
    """The microcontroller form: builtins-only int8 on the vector preprocessing.json describes."""
    import numpy as np
    import tensorflow as tf

    from components.examples_io import read_serialized_examples
    from components.tflite_converter import converter

    train = read_serialized_examples(examples_uri, "train", 100)
    transformed_train = converter.transformed_features(model_dir, train)
    micro = converter.convert_micro(
        model_dir,
        _transform_graph_uri(examples_uri),
        os.path.join(scratch, "micro"),
        representative_transformed=lambda: [transformed_train],
    )
    spec = json.loads(Path(micro.preprocessing_path).read_text())
    vectors = converter.quantize_micro_input(converter.micro_vector_from_dense(dense, spec), spec)
    interpreter = tf.lite.Interpreter(model_path=micro.model_path)
    interpreter.allocate_tensors()
    (input_detail,), (output_detail,) = (
        interpreter.get_input_details(),
        interpreter.get_output_details(),
    )
    predictions, latencies = [], []
    for vector in vectors:
        started = time.perf_counter()
        interpreter.set_tensor(input_detail["index"], vector[None, :])
        interpreter.invoke()
        output = interpreter.get_tensor(output_detail["index"])
        latencies.append((time.perf_counter() - started) * 1000)
        predictions.append(int(np.argmax(converter.dequantize_micro_output(output, spec))))
    accuracy = float(np.mean(np.array(predictions) == labels))
    latencies.sort()
    return (
        f"{'micro int8':<12}{micro.size_bytes:>10}{accuracy:>10.3f}{'':>10}"
        f"{latencies[len(latencies) // 2]:>9.3f}{latencies[int(len(latencies) * 0.99)]:>9.3f}"
        "  False (builtins only; preprocessing on device)"
    )


def _transform_graph_uri(examples_uri: str) -> str:
    pipeline_root = Path(examples_uri).parents[2]
    graphs = sorted((pipeline_root / "Transform" / "transform_graph").iterdir(), key=_artifact_id)
    return str(graphs[-1])


def _artifact_id(path: Path) -> int:
    return int(path.name) if path.name.isdigit() else -1


def _rest_figures(model_dir: str, examples_uri: str, requests: int) -> None:
    import uvicorn

    from components.examples_io import read_serialized_examples
    from components.serving_pusher import pusher
    from components.tflite_converter import converter
    from serving.server import create_app

    dense = converter.dense_inputs_from_examples(read_serialized_examples(examples_uri, "eval"))
    instances = [
        {key: _json_value(values[i]) for key, values in dense.items()}
        for i in range(len(next(iter(dense.values()))))
    ]
    with tempfile.TemporaryDirectory() as root:
        pusher.push_model(model_dir, Path(root) / "penguins")
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(Path(root)), host="127.0.0.1", port=port, log_level="error")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        _wait_until_ready(port)
        latencies = _sequential_requests(port, instances, requests)
        server.should_exit = True
        thread.join(timeout=10)
    latencies.sort()
    total = sum(latencies)
    print(
        f"REST     {len(latencies)} sequential single-instance requests over 127.0.0.1: "
        f"p50 {latencies[len(latencies) // 2] * 1000:.2f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms, "
        f"{len(latencies) / total:.0f} requests/s"
    )


def _json_value(value):
    if isinstance(value, bytes):
        return value.decode() or None
    return None if value != value else float(value)


def _sequential_requests(port: int, instances: list[dict], requests: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies = []
    for i in range(requests):
        body = json.dumps(
            {"signature_name": "serving_raw", "instances": [instances[i % len(instances)]]}
        )
        started = time.perf_counter()
        connection.request("POST", "/v1/models/penguins:predict", body)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"request {i} failed with HTTP {response.status}")
    connection.close()
    return latencies


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_ready(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v1/models/penguins")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the REST server did not come up")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
