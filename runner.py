"""Command line: the only module that reads argv and the environment.

python runner.py --local [--config PATH] [--work-dir DIR] [--verbose] [--no-wait] [--recheck]
python runner.py --kubeflow [--config configs/kubeflow.yaml] [--output build/pipeline.yaml]
                 [--submit [--host URL]]
python runner.py init --data DIR --label COLUMN [--task classification|regression] [--name NAME]
                 [--force]
python runner.py report [--run latest|RUN_ID] [--open]
python runner.py runs
python runner.py lineage [--version N | --model-uri URI]
python runner.py monitor [--since DURATION | --window N] [--labels FILE] [--export-span DIR]
"""

import argparse
import atexit
import contextlib
import datetime
import importlib.util
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, TextIO

from pipeline.run_files import LOG_FILE, REPORT_FILE, REPORT_LOG_FILE, SUMMARY_FILE

REPO_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = REPO_DIR / "configs" / "penguins.yaml"
KUBEFLOW_CONFIG = REPO_DIR / "configs" / "kubeflow.yaml"
DEFAULT_SPEC = REPO_DIR / "build" / "pipeline.yaml"
KFP_HOST_ENV = "KFP_HOST"
LATEST_RUN = "latest"
# Checked before anything is imported, so a bare Python gets set-up advice, not a traceback.
REQUIRED_MODULES = ("yaml", "tensorflow", "tfx", "tensorflow_model_analysis")

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_CONFIG, EXIT_NO_ENVIRONMENT = 0, 1, 2, 3
# A file or directory the command needs cannot be used; another run holds the work dir.
EXIT_FILESYSTEM, EXIT_WORK_DIR_BUSY = 4, 5
# runner.py monitor: an alert fired (skew, drift, schema, errors or online quality).
EXIT_ALERT = 6

SETUP_HINT = """\
runner.py: this Python ({version}, {executable}) lacks the pipeline's dependencies ({missing}).
Set up the locked Python 3.10 environment, then run inside it:
    make setup                          # creates .venv from uv.lock (needs Python 3.10 and uv)
    .venv/bin/python runner.py --local  # or simply: make run
See README.md, "Quickstart"."""
KUBEFLOW_HINT = """\
runner.py --kubeflow: this Python ({executable}) lacks {missing}, from the kubeflow dependency
group. Set up an environment with it, then run inside it:
    make setup-kubeflow      # .venv-kubeflow: uv sync --frozen --group kubeflow
See README.md, "Scheduling on Kubeflow Pipelines"."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run the TFX pipeline, serve what it pushed, or roll a push back."
    )
    _add_common_options(parser, default_config=None)
    parser.add_argument("--local", action="store_true", help="run with TFX's LocalDagRunner")
    parser.add_argument("--verbose", action="store_true", help="stream TFX/Beam logs")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="with --local: exit (code 5) instead of waiting when another run holds the work dir",
    )
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="with --local: run even when the inputs are those of the last complete run "
        "(TFX's cache then decides per component)",
    )
    parser.add_argument(
        "--kubeflow",
        action="store_true",
        help="compile a Kubeflow Pipelines v2 spec (default config configs/kubeflow.yaml)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_SPEC,
        help="pipeline package (default build/pipeline.yaml)",
    )
    parser.add_argument(
        "--submit",
        action="store_true",
        help="with --kubeflow: submit the spec (a recurring run when kubeflow.schedule is set)",
    )
    parser.add_argument(
        "--host", dest="kfp_host", metavar="URL", help=f"KFP endpoint (default ${KFP_HOST_ENV})"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    init = commands.add_parser(
        "init", help="write configs/NAME.yaml and schemas/NAME/schema.pbtxt for a CSV directory"
    )
    init.add_argument("--data", type=Path, required=True, help="directory of CSV files")
    init.add_argument("--label", required=True, help="the column to predict")
    init.add_argument("--task", choices=("classification", "regression"), help="default: guessed")
    init.add_argument("--name", help="pipeline name (default: the data directory's name)")
    init.add_argument("--force", action="store_true", help="replace existing config and schema")
    serve = commands.add_parser("serve", help="REST server (TF Serving routes) on pushed models")
    _add_common_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    predict = commands.add_parser(
        "predict", help="classify one image with the latest served version"
    )
    _add_common_options(predict)
    predict.add_argument("--image", type=Path, required=True, help="PNG, JPEG, GIF or BMP file")
    predict.add_argument("--top", type=int, default=3, help="classes to print (default 3)")
    rollback = commands.add_parser("rollback", help="serve the previous pushed version again")
    _add_common_options(rollback)
    rollback.add_argument("--to", type=int, metavar="VERSION", help="version to serve")
    versions = commands.add_parser("versions", help="served versions and push/rollback history")
    _add_common_options(versions)
    report = commands.add_parser("report", help="write a run's HTML report (and open it)")
    _add_common_options(report)
    report.add_argument(
        "--run", default=LATEST_RUN, metavar="latest|RUN_ID", help="run (default: latest)"
    )
    report.add_argument("--open", action="store_true", help="open the report in a browser")
    runs = commands.add_parser("runs", help="pipeline runs in ML Metadata, newest first")
    _add_common_options(runs)
    lineage = commands.add_parser("lineage", help="what produced a pushed model")
    _add_common_options(lineage)
    target = lineage.add_mutually_exclusive_group()
    target.add_argument("--version", type=int, help="pushed version (default: the latest push)")
    target.add_argument("--model-uri", help="a pushed version's directory or a Trainer model URI")
    monitor = commands.add_parser(
        "monitor", help="served model's logged inputs vs training data; exit 6 on an alert"
    )
    _add_common_options(monitor)
    span = monitor.add_mutually_exclusive_group()
    span.add_argument("--since", metavar="DURATION", help="requests of the last 30m, 2h, 1d...")
    span.add_argument(
        "--window", type=int, metavar="N", help="the newest N requests (default monitoring.window)"
    )
    monitor.add_argument(
        "--labels", type=Path, metavar="FILE", help="CSV of request_id,label[,instance] to attach"
    )
    monitor.add_argument(
        "--export-span",
        type=Path,
        metavar="DIR",
        help="write the window's labelled requests to DIR as a CSV span",
    )
    args = parser.parse_args(argv)
    if args.command is None and not (args.local or args.kubeflow):
        parser.error(
            "choose --local, --kubeflow, or a command: "
            "init, serve, predict, rollback, versions, report, runs, lineage, monitor"
        )
    if args.command == "monitor" and args.window is not None and args.window < 1:
        parser.error("--window must be >= 1")
    if args.command is not None and (args.local or args.kubeflow):
        mode = "--local" if args.local else "--kubeflow"
        parser.error(f"{mode} runs the pipeline; it does not combine with {args.command}")
    if args.local and args.kubeflow:
        parser.error("choose one of --local and --kubeflow")
    if (args.submit or args.kfp_host) and not args.kubeflow:
        parser.error("--submit and --host go with --kubeflow")
    if args.no_wait and not args.local:
        parser.error("--no-wait goes with --local")
    if args.recheck and not args.local:
        parser.error("--recheck goes with --local")
    if args.config is None:
        args.config = KUBEFLOW_CONFIG if args.kubeflow else DEFAULT_CONFIG
    return args


def _add_common_options(parser: argparse.ArgumentParser, default_config=argparse.SUPPRESS) -> None:
    # Subcommands default to SUPPRESS so they do not overwrite options given before them.
    default_work_dir = None if default_config is not argparse.SUPPRESS else argparse.SUPPRESS
    parser.add_argument("--config", type=Path, default=default_config, help="pipeline YAML")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=default_work_dir,
        help="pipeline root, ML Metadata, serving dir and logs",
    )


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        print(_setup_hint(", ".join(missing)), file=sys.stderr)
        return EXIT_NO_ENVIRONMENT
    from components import keras_mode

    os.environ.update(keras_mode.ENVIRONMENT)
    if args.command == "init":
        return _init(args.data, args.label, args.task, args.name, args.force)
    from pipeline.config import ConfigError, load_config

    try:
        cfg = load_config(args.config, work_dir=args.work_dir)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG

    try:
        return _dispatch(cfg, args)
    except BrokenPipeError:
        # The reader (``| head``) closed early: what it wanted was printed.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as err:
        print(_filesystem_error(err), file=sys.stderr)
        return EXIT_FILESYSTEM


def _dispatch(cfg, args: argparse.Namespace) -> int:
    """Runs the chosen command; an OSError it raises is the caller's to report."""
    if args.command == "serve":
        return _serve(cfg, args.host, args.port)
    if args.command == "predict":
        return _predict(cfg, args.image, args.top)
    if args.command == "rollback":
        return _rollback(cfg, args.to)
    if args.command == "versions":
        return _versions(cfg)
    if args.command == "report":
        return _report(cfg, None if args.run == LATEST_RUN else args.run, args.open)
    if args.command == "runs":
        return _runs(cfg)
    if args.command == "lineage":
        return _lineage(cfg, args.version, args.model_uri)
    if args.command == "monitor":
        return _monitor(cfg, args.since, args.window, args.labels, args.export_span)
    if args.kubeflow:
        host = args.kfp_host or os.environ.get(KFP_HOST_ENV)
        return _kubeflow(cfg, args.output, submit=args.submit, host=host)
    return _run_local(cfg, verbose=args.verbose, wait=not args.no_wait, recheck=args.recheck)


def _filesystem_error(err: OSError, log_path: Path | None = None) -> str:
    from pipeline import os_errors

    where = f" (traceback in {log_path})" if log_path else ""
    return f"filesystem error: {os_errors.describe(err)}{where}"


def _init(data: Path, label: str, task: str | None, name: str | None, force: bool) -> int:
    from pipeline import scaffold

    data = data.resolve()
    name = name or re.sub(r"[^A-Za-z0-9_-]+", "_", data.name).strip("_") or "pipeline"
    config_path = REPO_DIR / "configs" / f"{name}.yaml"
    schema_path = REPO_DIR / "schemas" / name / "schema.pbtxt"
    try:
        existing = [p for p in (config_path, schema_path) if p.exists()]
        if existing and not force:
            raise scaffold.ScaffoldError(
                f"{existing[0]} exists (a reviewed file is never overwritten; --force replaces it)"
            )
        result = scaffold.scaffold(data, label, name, task)
        for line in scaffold.describe(result):
            print(line)
        log_path = REPO_DIR / "work" / f"init-{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with _logging_to(log_path, verbose=False), tempfile.TemporaryDirectory() as scratch:
            schema_text = scaffold.infer_schema_text(data, Path(scratch))
        written = scaffold.write_files(result, config_path, schema_path, schema_text, force)
    except scaffold.ScaffoldError as err:
        print(f"init: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    print("wrote " + " and ".join(str(p.relative_to(REPO_DIR)) for p in written))
    print(f"review them, then: .venv/bin/python runner.py --local --config configs/{name}.yaml")
    print(f"(runs, versions, lineage, report and serve take the same --config configs/{name}.yaml)")
    return EXIT_OK


def _kubeflow(cfg, output: Path, submit: bool, host: str | None) -> int:
    if cfg.kubeflow is None:
        print(f"config error: {cfg.source}: no kubeflow section", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if submit and not host:
        print(f"--submit needs --host URL or ${KFP_HOST_ENV}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    needed = "kfp.client" if submit else "kfp.pipeline_spec"
    if not _importable(needed):
        print(KUBEFLOW_HINT.format(executable=sys.executable, missing=needed), file=sys.stderr)
        return EXIT_NO_ENVIRONMENT
    from pipeline.kubeflow import SubmitError, compile_kubeflow
    from pipeline.kubeflow import submit as submit_spec

    spec = compile_kubeflow(cfg, cfg.kubeflow, output)
    print(f"{cfg.name}: compiled {spec}  (image {cfg.kubeflow.image})")
    if submit:
        schedule = cfg.kubeflow.schedule
        try:
            run_id = submit_spec(spec, host, experiment=cfg.kubeflow.experiment, schedule=schedule)
        except SubmitError as err:
            print(f"submit failed: {err}", file=sys.stderr)
            return EXIT_RUN_FAILED
        kind = f"recurring run ({schedule})" if schedule else "run"
        print(f"{cfg.name}: submitted {kind} {run_id} to {host}")
    return EXIT_OK


def _serve(cfg, host: str, port: int) -> int:
    from pipeline import os_errors
    from serving.request_log import LogOptions
    from serving.server import run_server

    os_errors.check_directory(cfg.serving_root)
    if not cfg.serving_root.is_dir():
        print(f"nothing to serve: {cfg.serving_root} does not exist; run the pipeline first")
        return EXIT_RUN_FAILED
    os_errors.check_listable(cfg.serving_root)  # before the server starts, not in its logs
    monitoring = cfg.monitoring
    log_options = LogOptions(
        root=cfg.serving_logs_dir,
        sample_rate=monitoring.sample_rate,
        max_file_bytes=monitoring.max_log_file_bytes,
        queue_size=monitoring.log_queue_size,
    )
    print(f"serving {cfg.serving_root} on http://{host}:{port}/v1/models/{cfg.model_name}")
    print(
        f"metrics at http://{host}:{port}/monitoring/prometheus/metrics; logging "
        f"{monitoring.sample_rate:.0%} of requests under {cfg.serving_logs_dir}"
    )
    run_server(cfg.serving_root, host=host, port=port, log_options=log_options)
    return EXIT_OK


def _predict(cfg, image_file: Path, top: int) -> int:
    # The answer, or one line, on screen: no TensorFlow C++ logs, no google-api-core notice.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", "You are using a non-supported Python", FutureWarning)
    from serving.predict_image import PredictError, predict_image

    images = cfg.spec.of_type("image")
    if len(cfg.spec.features) != 1 or not images:
        print(
            f"predict: {cfg.name} is not an image classifier (one image feature)", file=sys.stderr
        )
        return EXIT_BAD_CONFIG
    try:
        answer = predict_image(
            cfg.serving_model_dir, images[0].name, cfg.spec.label.classes, image_file
        )
    except PredictError as err:
        print(f"predict: {err}", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(
        f"{image_file}: {answer.ranked[0][0]} ({answer.ranked[0][1]:.3f}), version {answer.version}"
    )
    for name, probability in answer.ranked[1 : max(top, 1)]:
        print(f"  {name:<20} {probability:.3f}")
    return EXIT_OK


def _rollback(cfg, to_version: int | None) -> int:
    from components.serving_pusher import pusher
    from pipeline import os_errors

    os_errors.check_directory(cfg.serving_model_dir)
    try:
        result = pusher.rollback(cfg.serving_model_dir, to_version)
    except pusher.RollbackError as err:
        print(f"rollback refused: {err}", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(
        f"{cfg.model_name}: now serving version {result.to_version} "
        f"({_versions_phrase(result.moved)} moved to "
        f"{cfg.serving_model_dir / pusher.ROLLED_BACK_DIR})"
    )
    if result.tflite_moved:
        tflite_aside = pusher.tflite_base_path(cfg.serving_model_dir) / pusher.ROLLED_BACK_DIR
        print(f"TFLite files of {_versions_phrase(result.tflite_moved)} moved to {tflite_aside}")
    return EXIT_OK


def _versions_phrase(versions: tuple[int, ...]) -> str:
    """``version 3`` or ``versions 3, 4``."""
    noun = "version" if len(versions) == 1 else "versions"
    return f"{noun} {', '.join(map(str, versions))}"


def _versions(cfg) -> int:
    from pipeline.serving_versions import format_versions

    print(format_versions(cfg.model_name, cfg.serving_model_dir))
    return EXIT_OK


def _report(cfg, run_id: str | None, open_browser: bool) -> int:
    from pipeline.report.queries import NoSuchRunError, resolve_run_id

    try:
        run_id = resolve_run_id(cfg, run_id)
    except (NoSuchRunError, FileNotFoundError) as err:
        print(f"no report: {err}", file=sys.stderr)
        return EXIT_RUN_FAILED
    run_dir = cfg.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    with _logging_to(run_dir / REPORT_LOG_FILE, verbose=False):
        path = _write_report(cfg, run_id)
    if path is None:
        print(f"no report: see {run_dir / REPORT_LOG_FILE}", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(f"report     {path}")
    if open_browser:
        import webbrowser

        webbrowser.open(path.as_uri())
    return EXIT_OK


def _write_report(cfg, run_id: str) -> Path | None:
    """The run's HTML report; a failure is logged and returns None (a run stands without it)."""
    from pipeline.report.build import build_report

    try:
        return build_report(cfg, run_id)
    except Exception:  # noqa: BLE001 - logged with its traceback; the caller says where
        logging.exception("report for run %s not written", run_id)
        return None


def _runs(cfg) -> int:
    from pipeline.report.queries import format_runs, list_runs

    try:
        rows = list_runs(cfg)
    except FileNotFoundError as err:
        print(f"no runs: {err}", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(format_runs(rows))
    return EXIT_OK


def _lineage(cfg, version: int | None, model_uri: str | None) -> int:
    from pipeline.report.queries import LineageError, format_lineage, lineage

    try:
        found = lineage(cfg, version=version, model_uri=model_uri)
    except (LineageError, FileNotFoundError) as err:
        print(f"lineage: {err}", file=sys.stderr)
        return EXIT_RUN_FAILED
    print(format_lineage(found))
    return EXIT_OK


def _monitor(
    cfg, since: str | None, window: int | None, labels: Path | None, export_span: Path | None
) -> int:
    from monitoring.logs import MonitorError, parse_duration
    from serving.feedback import FeedbackError

    log_path = cfg.monitor_dir / "monitor.log"
    try:
        seconds = parse_duration(since) if since is not None else None
        cfg.monitor_dir.mkdir(parents=True, exist_ok=True)
        with _logging_to(log_path, verbose=False):  # TensorFlow's and TFDV's logs go there
            from monitoring.monitor import format_summary
            from pipeline.monitor import run_monitor

            outcome = run_monitor(cfg, window, seconds, labels, export_span)
    except (MonitorError, FeedbackError) as err:
        print(f"monitor: {err}", file=sys.stderr)
        return EXIT_RUN_FAILED
    if outcome.labels_added:
        print(f"attached {outcome.labels_added} labels from {labels}")
    print(format_summary(outcome.result, str(outcome.html)))
    if outcome.exported is not None:
        print(f"span       {outcome.exported_rows} labelled rows in {outcome.exported}")
    return EXIT_ALERT if outcome.result.alerts else EXIT_OK


def _run_local(cfg, verbose: bool, wait: bool, recheck: bool) -> int:
    """One run under the work dir's lock (waiting for, or refusing, a run that holds it).

    Unless ``recheck``, a run whose inputs are those of the last complete run does not
    start: that run's summary is shown instead (``pipeline/up_to_date.py``).

    An OSError before the run log exists goes to the caller; one after it is logged there
    with its traceback and reported in one line.
    """
    from pipeline import os_errors, run_lock

    os_errors.check_directory(cfg.work_dir)
    cfg.work_dir.mkdir(parents=True, exist_ok=True)
    lock = run_lock.WorkDirLock(cfg.work_dir)

    def waiting(holder) -> None:
        print(
            f"{cfg.name}: work dir {cfg.work_dir} is in use by "
            f"{run_lock.describe_holder(holder)}; waiting for it to finish",
            flush=True,
        )

    try:
        lock.acquire(wait=wait, on_wait=waiting)
    except run_lock.WorkDirBusyError as err:
        print(f"work dir busy: {err}; not starting (--no-wait)", file=sys.stderr)
        return EXIT_WORK_DIR_BUSY
    with lock:
        from pipeline import up_to_date

        inputs = up_to_date.fingerprint(cfg)
        check = up_to_date.check(cfg, inputs)
        if check.up_to_date and not recheck:
            return _show_up_to_date(cfg, check.last)
        run_id = datetime.datetime.now().strftime("%Y%m%dT%H%M%S.%f")
        run_dir = cfg.runs_dir / run_id
        run_dir.mkdir(parents=True)
        run_lock.write_run_owner(run_dir, lock.claim(run_id, cfg.name))
        up_to_date.write_inputs(run_dir, inputs)
        reason = check.reason or f"unchanged since run {check.last.run_id}; --recheck"
        return _run_locked(cfg, run_id, run_dir, verbose, reason)


def _show_up_to_date(cfg, last) -> int:
    """The last complete run's closing block, for a run that has nothing to do."""
    print(
        f"{cfg.name}: up to date: config, code, schema, data and packages are those of run "
        f"{last.run_id}; nothing ran (--recheck runs it through TFX's cache)"
    )
    report = cfg.runs_dir / last.run_id / REPORT_FILE
    shown = report if report.is_file() else "not written"
    _print_closing(last.summary, stopped=False, report=shown)
    return EXIT_OK


def _run_locked(cfg, run_id: str, run_dir: Path, verbose: bool, reason: str) -> int:
    log_path = run_dir / LOG_FILE
    print(f"{cfg.name}: run {run_id}  (config {cfg.source}; {reason})", flush=True)
    failure: OSError | None = None
    with _logging_to(log_path, verbose=verbose) as terminal:
        try:
            summary, report_path, outcome = _run_and_summarize(cfg, run_id, run_dir, terminal)
        except OSError as err:
            logging.exception("run %s stopped: filesystem error", run_id)
            failure = err
    if failure is not None:
        print(_filesystem_error(failure, log_path), file=sys.stderr)
        return EXIT_FILESYSTEM
    _print_closing(
        summary,
        stopped=outcome.error is not None,
        report=report_path or f"not written (see {log_path})",
    )
    return EXIT_RUN_FAILED if outcome.error else EXIT_OK


def _run_and_summarize(cfg, run_id: str, run_dir: Path, terminal: TextIO):
    """Runs the pipeline; returns (summary, report path or None, outcome).

    Raises:
        OSError: A path of the work dir is unusable (checked before the run starts), or
            the summary cannot be written.
    """
    from pipeline import os_errors

    for directory in (cfg.pipeline_root, cfg.serving_root, cfg.serving_model_dir):
        os_errors.check_directory(directory)
    os_errors.check_file(cfg.metadata_path)
    from pipeline.local_run import run_local
    from pipeline.summary import summarize

    outcome = run_local(
        cfg, run_id, on_report=lambda r: print(_progress_line(r), file=terminal, flush=True)
    )
    summary = summarize(cfg, outcome, run_dir / LOG_FILE)
    (run_dir / SUMMARY_FILE).write_text(summary.to_json())
    return summary, _write_report(cfg, run_id), outcome


def _progress_line(report) -> str:
    return f"  {report.node_id:<32} {report.state:<9} {report.seconds:7.1f} s"


def _print_closing(summary, stopped: bool, report: Path | str) -> None:
    """What ends a run's output: a blank line, the data anomalies if any, the summary
    block and the report line.

    Args:
        summary: The run's ``RunSummary``.
        stopped: Whether the run stopped with an error (the anomalies' heading says so).
        report: The report's path, or why there is none.
    """
    from pipeline.run_summary import format_summary

    print()
    if summary.anomalies:
        _print_anomalies(summary.anomalies, stopped=stopped)
    print(format_summary(summary))
    print(f"report     {report}")


def _print_anomalies(anomalies: list[dict], stopped: bool) -> None:
    from components.data_gate.anomalies import Anomaly, format_anomalies

    heading = (
        "Data anomalies: the run stopped before Transform"
        if stopped
        else ("Data anomalies (validation.on_anomalies: warn, so the run went on)")
    )
    print(heading)
    print(format_anomalies([Anomaly(**a) for a in anomalies]))
    print()


@contextlib.contextmanager
def _logging_to(log_path: Path, verbose: bool) -> Iterator[TextIO]:
    """Sends every log (Python, absl, TensorFlow C++, Beam workers) to ``log_path``.

    Unless verbose, file descriptors 1 and 2 point at the log file for the run, so
    that output written below Python also lands there; the yielded stream is the
    terminal, for progress lines.
    """
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    log_file = open(log_path, "a", buffering=1)  # noqa: SIM115 - closed below
    handlers = [logging.StreamHandler(log_file)]
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    root.handlers = handlers
    for handler in handlers:
        handler.setFormatter(formatter)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    sys.stdout.flush()
    sys.stderr.flush()
    terminal_fd = os.dup(1)
    saved_fds = (os.dup(1), os.dup(2))
    terminal = os.fdopen(terminal_fd, "w", buffering=1)
    try:
        if not verbose:
            os.dup2(log_file.fileno(), 1)
            os.dup2(log_file.fileno(), 2)
        yield terminal
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        for fd in saved_fds:
            os.close(fd)
        terminal.close()
        root.handlers = saved[1]
        root.setLevel(saved[0])
        logging.captureWarnings(False)
        log_file.close()


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package
        return False


def _setup_hint(missing: str) -> str:
    return SETUP_HINT.format(
        version=".".join(map(str, sys.version_info[:3])), executable=sys.executable, missing=missing
    )


def exit_without_teardown(code: int) -> NoReturn:
    """Ends the process with ``code`` as ``sys.exit`` would, without the interpreter's
    teardown.

    Non-daemon threads are joined and the atexit handlers run (they flush and close the
    logs, remove temporary dirs, stop child processes); what is skipped is freeing every
    module's objects one at a time, which took 4 s after a run with TensorFlow, TFX and Beam
    loaded, for a process that is ending anyway.
    """
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # noqa: SLF001 - what sys.exit runs before the teardown
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BrokenPipeError):  # the reader (``| head``) closed early
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main(sys.argv[1:]))
