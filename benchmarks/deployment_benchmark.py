"""Prints deployment figures for a pipeline's latest trained model.

    .venv/bin/python benchmarks/deployment_benchmark.py [--config configs/penguins.yaml]
        [--work-dir DIR] [--requests 500] [--skip-tflite]

Per TFLite quantization mode, and for the micro int8 model when the spec allows one,
against the SavedModel: size, the eval metric of the task (accuracy, or mean absolute
error in label units), the largest output difference, the parity gate at
``tflite.accuracy_tolerance`` and p50/p99 single-example latency. Then the REST server
(``runner.py serve``) over loopback: p50/p99 latency and requests per second for
sequential single-instance requests. Figures only, no assertions: run it on a quiet machine.
"""

import argparse
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from rest_server import free_port, wait_until_ready

REPO = Path(__file__).resolve().parents[1]
# Eval examples the REST requests cycle over.
_REST_EXAMPLES = 1_000


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "penguins.yaml")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: the config's")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--skip-tflite", action="store_true", help="REST figures only")
    args = parser.parse_args(argv)

    from components import keras_mode

    os.environ.update(keras_mode.ENVIRONMENT)
    from pipeline.config import load_config

    cfg = load_config(args.config, args.work_dir)
    model_dir, examples_uri = _latest_model(cfg)
    print(f"model    {model_dir}  ({cfg.spec.task})\n")
    if not args.skip_tflite:
        _tflite_table(cfg, model_dir, examples_uri)
        print()
    _rest_figures(cfg.model_name, model_dir, examples_uri, args.requests)
    return 0


def _latest_model(cfg) -> tuple[str, str]:
    from pipeline import metadata

    with metadata.open_store(cfg.metadata_path) as store:
        models = store.get_artifacts_by_type("Model")
        examples = store.get_artifacts_by_type("Examples")
    root = f"{cfg.pipeline_root}/"
    trainer_models = [m for m in models if m.uri.startswith(root) and "/Trainer/" in m.uri]
    raw_examples = [e for e in examples if e.uri.startswith(root) and "/CsvExampleGen/" in e.uri]
    if not trainer_models or not raw_examples:
        raise SystemExit(f"no trained model of {cfg.name} in {cfg.work_dir}: run it first")
    latest = max(trainer_models, key=lambda a: a.id)
    return os.path.join(latest.uri, "Format-Serving"), max(raw_examples, key=lambda a: a.id).uri


def _tflite_table(cfg, model_dir: str, examples_uri: str) -> None:
    from components import features
    from components.examples_io import sample_serialized_examples
    from components.tflite_converter import converter

    dtypes = converter.raw_input_dtypes(model_dir)
    evaluation = sample_serialized_examples(examples_uri, "eval", cfg.tflite.parity_examples)
    train = converter.dense_inputs_from_examples(
        sample_serialized_examples(examples_uri, "train", cfg.tflite.representative_examples),
        dtypes,
    )
    dense = converter.dense_inputs_from_examples(evaluation, dtypes)
    labels = converter.transformed_features(model_dir, evaluation)[
        features.transformed_name(cfg.spec.label.name)
    ]
    metric, diff = ("MAE", "max|dy|") if cfg.spec.is_regression else ("accuracy", "max|dp|")
    tolerance = cfg.tflite.accuracy_tolerance
    print(
        f"eval examples: {len(labels)}; gate: tolerance {tolerance} "
        + ("x the SavedModel's MAE" if cfg.spec.is_regression else "accuracy points")
    )
    print(
        f"{'form':<12}{'bytes':>10}{metric:>10}{diff:>10}{'p50 ms':>9}{'p99 ms':>9}"
        "  gate     select-tf-ops"
    )
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
            report = converter.check_parity(
                model_dir, result.path, dense, labels, task=cfg.spec.task
            )
            saved_model_row = saved_model_row or _row("SavedModel", report, saved=True)
            print(
                f"{_row(mode, report)}  {_gate(report, tolerance)}  {result.requires_select_tf_ops}"
            )
        print(_micro_row(cfg, model_dir, examples_uri, dense, labels, scratch))
    if saved_model_row:
        print(saved_model_row)


def _row(form: str, report, saved: bool = False) -> str:
    """One table row: the SavedModel's figures, or the converted form's."""
    who = "saved_model" if saved else "tflite"
    regression = hasattr(report, "saved_model_mae")
    value = getattr(report, f"{who}_mae" if regression else f"{who}_accuracy")
    diff = report.max_abs_prediction_diff if regression else report.max_abs_probability_diff
    return (
        f"{form:<12}{getattr(report, f'{who}_size_bytes'):>10}{value:>10.3f}"
        + (f"{'':>10}" if saved else f"{diff:>10.1e}")
        + f"{getattr(report, f'{who}_latency_p50_ms'):>9.3f}"
        + f"{getattr(report, f'{who}_latency_p99_ms'):>9.3f}"
    )


def _gate(report, tolerance: float) -> str:
    return "pass   " if report.within_tolerance(tolerance) else "FAIL   "


def _micro_row(cfg, model_dir, examples_uri, dense, labels, scratch) -> str:
    """The microcontroller form, scored through the device path preprocessing.json describes."""
    from components.examples_io import sample_serialized_examples
    from components.tflite_converter import converter

    try:
        converter.check_micro_support(cfg.spec)
        train = sample_serialized_examples(
            examples_uri, "train", cfg.tflite.representative_examples
        )
        transformed_train = converter.transformed_features(model_dir, train)
        micro = converter.convert_micro(
            model_dir,
            _transform_graph_uri(examples_uri),
            os.path.join(scratch, "micro"),
            representative_transformed=lambda: [transformed_train],
            spec=cfg.spec,
        )
    except ValueError as err:
        return f"{'micro int8':<12} not built: {err}"
    report = converter.check_micro_parity(
        model_dir,
        micro.model_path,
        converter.read_preprocessing(micro.preprocessing_path),
        dense,
        labels,
    )
    return (
        f"{_row('micro int8', report)}  {_gate(report, cfg.tflite.accuracy_tolerance)}"
        "  False (builtins only; preprocessing on device)"
    )


def _transform_graph_uri(examples_uri: str) -> str:
    pipeline_root = Path(examples_uri).parents[2]
    graphs = sorted((pipeline_root / "Transform" / "transform_graph").iterdir(), key=_artifact_id)
    return str(graphs[-1])


def _artifact_id(path: Path) -> int:
    return int(path.name) if path.name.isdigit() else -1


def _rest_figures(model_name: str, model_dir: str, examples_uri: str, requests: int) -> None:
    import uvicorn

    from components.examples_io import sample_serialized_examples
    from components.serving_pusher import pusher
    from components.tflite_converter import converter
    from serving.server import create_app

    dense = converter.dense_inputs_from_examples(
        # The requests cycle over these: a bounded sample, not the whole split.
        sample_serialized_examples(examples_uri, "eval", _REST_EXAMPLES),
        converter.raw_input_dtypes(model_dir),
    )
    instances = [
        {key: _json_value(values[i]) for key, values in dense.items()}
        for i in range(len(next(iter(dense.values()))))
    ]
    with tempfile.TemporaryDirectory() as root:
        pusher.push_model(model_dir, Path(root) / model_name)
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(Path(root)), host="127.0.0.1", port=port, log_level="error")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until_ready(port, model_name)
        latencies = _sequential_requests(port, model_name, instances, requests)
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


def _sequential_requests(
    port: int, model_name: str, instances: list[dict], requests: int
) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    latencies = []
    for i in range(requests):
        body = json.dumps(
            {"signature_name": "serving_raw", "instances": [instances[i % len(instances)]]}
        )
        started = time.perf_counter()
        connection.request("POST", f"/v1/models/{model_name}:predict", body)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 200:
            raise SystemExit(f"request {i} failed with HTTP {response.status}")
    connection.close()
    return latencies


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
