"""Prints what monitoring costs: REST latency with and without it, and one monitor pass.

    .venv/bin/python benchmarks/monitoring_benchmark.py [--config configs/penguins.yaml]
        [--work-dir DIR] [--requests 1000] [--logged 100000]

1. The served model (``<serving root>/<model>``, pushed by a pipeline run) behind three
   servers in one process over 127.0.0.1: without metrics or logging, with Prometheus
   metrics, and with metrics plus request logging of every request (sample rate 1).
   Sequential single-instance ``:predict`` requests from the config's CSV, interleaved in
   rounds across the three so that load from elsewhere falls on all of them alike: p50/p99
   latency of each.
2. ``--logged`` requests written by the server's own request logger (one instance each,
   rows of the CSV), then one ``monitor`` pass over them (window: the newest half, drift
   against the older half, skew against the training split of the newest run that trained
   a model): wall and CPU seconds of writing, reading and computing.
Figures only, no assertions: run it on a quiet machine.
"""

import argparse
import csv
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
VARIANTS = ("bare", "metrics", "metrics+logs")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "penguins.yaml")
    parser.add_argument("--work-dir", type=Path, default=None, help="default: the config's")
    parser.add_argument("--requests", type=int, default=1000, help="per server")
    parser.add_argument("--logged", type=int, default=100_000)
    args = parser.parse_args(argv)

    from components import keras_mode

    os.environ.update(keras_mode.ENVIRONMENT)
    from pipeline.config import load_config

    cfg = load_config(args.config, args.work_dir)
    instances, labels = _instances(cfg)
    if not cfg.serving_model_dir.is_dir():
        raise SystemExit(f"no served model at {cfg.serving_model_dir}: run the pipeline first")
    with tempfile.TemporaryDirectory() as scratch:
        _rest_overhead(cfg, instances, args.requests, Path(scratch))
        print()
        _monitor_time(cfg, instances, labels, args.logged, Path(scratch))
    return 0


def _instances(cfg) -> tuple[list[dict], list[str]]:
    names = [f.name for f in cfg.spec.features]
    numeric = {f.name for f in cfg.spec.of_type("numeric")}
    missing = set(cfg.data.missing_values)
    rows, labels = [], []
    for path in sorted(cfg.data.csv_dir.glob("*.csv")):
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                rows.append(
                    {
                        n: None
                        if row[n].strip() in missing
                        else (float(row[n]) if n in numeric else row[n])
                        for n in names
                    }
                )
                labels.append(row[cfg.spec.label.name])
    return rows, labels


def _rest_overhead(cfg, instances: list[dict], requests: int, scratch: Path) -> None:
    import uvicorn

    from serving.request_log import LogOptions
    from serving.server import create_app

    apps = {
        "bare": create_app(cfg.serving_root, metrics_enabled=False),
        "metrics": create_app(cfg.serving_root),
        "metrics+logs": create_app(
            cfg.serving_root, log_options=LogOptions(scratch / "rest-logs", sample_rate=1.0)
        ),
    }
    servers, ports = [], {}
    for name, app in apps.items():
        ports[name] = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=ports[name], log_level="error")
        )
        threading.Thread(target=server.run, daemon=True).start()
        servers.append(server)
    for port in ports.values():
        wait_until_ready(port, cfg.model_name)
    connections = {
        n: http.client.HTTPConnection("127.0.0.1", p, timeout=10) for n, p in ports.items()
    }
    latencies: dict[str, list[float]] = {n: [] for n in VARIANTS}
    rounds, per_round = max(1, requests // 50), min(50, requests)
    for round_number in range(rounds):
        order = VARIANTS[round_number % 3 :] + VARIANTS[: round_number % 3]
        for name in order:
            for i in range(per_round):
                instance = instances[(round_number * per_round + i) % len(instances)]
                latencies[name].append(_predict(connections[name], cfg.model_name, instance))
    for server in servers:
        server.should_exit = True
    print(
        f"REST     {rounds * per_round} sequential single-instance :predict requests per server "
        f"over 127.0.0.1, interleaved in rounds of {per_round}"
    )
    base = _percentiles(latencies["bare"])
    for name in VARIANTS:
        p50, p99 = _percentiles(latencies[name])
        print(
            f"  {name:<13} p50 {p50:6.2f} ms ({p50 - base[0]:+.2f})  "
            f"p99 {p99:6.2f} ms ({p99 - base[1]:+.2f})"
        )


def _predict(connection, model: str, instance: dict) -> float:
    body = json.dumps({"signature_name": "serving_raw", "instances": [instance]})
    started = time.perf_counter()
    connection.request("POST", f"/v1/models/{model}:predict", body)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}")
    return time.perf_counter() - started


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return (
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    )


def _monitor_time(cfg, instances: list[dict], labels, logged: int, scratch: Path) -> None:
    import numpy as np

    from monitoring import logs as logs_lib
    from monitoring.monitor import monitor
    from pipeline.monitor import find_reference, settings_of
    from serving.repository import ModelRepository
    from serving.request_log import LoggedRequest, LogOptions, RequestLogger

    servable = ModelRepository(cfg.serving_root).servable(cfg.model_name, None)
    signature = servable.signature("serving_raw")
    from serving import json_api

    columns = json_api.columns_from_rows(instances, "instances", signature, "", len(instances))
    outputs = signature.run(columns)
    root = scratch / "logs"
    logger = RequestLogger(LogOptions(root, queue_size=logged + 1))
    clock, cpu = time.perf_counter(), time.process_time()
    now = time.time() - logged * 0.01
    for i in range(logged):
        row = i % len(instances)
        logger.submit(
            LoggedRequest(
                model=cfg.model_name,
                version=servable.version,
                verb="predict",
                status=200,
                time=now + i * 0.01,
                latency_ms=2.0,
                request_id=f"r{i}",
                inputs={k: v[row : row + 1] for k, v in columns.items()},
                outputs={k: np.asarray(v)[row : row + 1] for k, v in outputs.items()},
            )
        )
    logger.close(timeout=3600)
    write = time.perf_counter() - clock, time.process_time() - cpu
    size = sum(p.stat().st_size for p in (root / cfg.model_name).iterdir())
    clock, cpu = time.perf_counter(), time.process_time()
    records = logs_lib.read_records(root / cfg.model_name)
    read = time.perf_counter() - clock, time.process_time() - cpu
    clock, cpu = time.perf_counter(), time.process_time()
    reference = find_reference(cfg)
    windows = logs_lib.select_windows(records, window=logged // 2)
    result = monitor(
        cfg.model_name,
        windows,
        reference.schema,
        [f.name for f in cfg.spec.features],
        reference.train_statistics,
        reference.test_value,
        cfg.spec.is_regression,
        settings_of(cfg),
    )
    compute = time.perf_counter() - clock, time.process_time() - cpu
    print(f"monitor  {logged} logged requests ({len(records)} records, {size / 2**20:.1f} MiB)")
    print(f"  write (request logger)  {write[0]:6.1f} s wall  {write[1]:6.1f} s CPU")
    print(f"  read back               {read[0]:6.1f} s wall  {read[1]:6.1f} s CPU")
    print(f"  monitor pass            {compute[0]:6.1f} s wall  {compute[1]:6.1f} s CPU")
    print(f"  alerts                  {len(result.alerts)}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
