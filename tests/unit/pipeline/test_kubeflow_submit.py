"""Kubeflow Pipelines v2: ``submit`` and ``runner.py --kubeflow --submit``, over HTTP.

No Kubeflow Pipelines backend can run on this machine, so the server here is a stand-in: a
stdlib HTTP server on 127.0.0.1 that implements only the v2beta1 REST endpoints kfp 2.5.0's
``kfp.Client`` calls to submit a run or a recurring run, records every request (method, path,
query, JSON body) and answers with the least JSON the generated ``kfp_server_api`` client
deserializes. It proves what we send and how we read the answers, through the real client and
real HTTP; it does not prove that a real backend accepts the spec or schedules the run.
``test_submit_to_a_kubeflow_endpoint`` in test_kubeflow.py (set ``KFP_HOST``) remains the check
against a real server.

What kfp 2.5.0 calls, and the stand-in answers:
    GET  /apis/v2beta1/healthz                    ``kfp.Client()``: single- or multi-user
    GET  /apis/v2beta1/experiments?filter=...     the experiment, looked up by display name
    POST /apis/v2beta1/experiments                ... created when absent
    POST /apis/v2beta1/runs                       a single run, the spec inline
    POST /apis/v2beta1/recurringruns              a recurring run, the spec inline

Needs the kfp client (the ``kubeflow`` dependency group); without it the module is skipped.
"""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

kfp = pytest.importorskip("kfp", reason="the kfp client is not installed: uv sync --group kubeflow")

pytestmark = pytest.mark.filterwarnings(
    "ignore:This client only works with Kubeflow Pipeline:FutureWarning"
)

from pipeline.config import PipelineConfig, load_config  # noqa: E402
from pipeline.kubeflow import SubmitError, compile_kubeflow, read_package, submit  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
RUNNER = REPO / "runner.py"
API = "/apis/v2beta1"
HEALTHZ, EXPERIMENTS, RUNS, RECURRING_RUNS = (
    f"{API}/healthz",
    f"{API}/experiments",
    f"{API}/runs",
    f"{API}/recurringruns",
)
# What kfp.Client sends for a recurring run filed under an experiment it has to create.
RECURRING_RUN_IN_A_NEW_EXPERIMENT = [
    ("GET", HEALTHZ),
    ("GET", EXPERIMENTS),
    ("POST", EXPERIMENTS),
    ("POST", RECURRING_RUNS),
]
EQUALS = 1  # kfp_server_api's V2beta1PredicateOperation, as kfp.Client sends it
RUNNER_TIMEOUT_S = 600


# --- the stand-in ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Request:
    """One request the stand-in received, and what it answered."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    answer: dict[str, Any]


class StandInKfpApi:
    """The v2beta1 endpoints kfp.Client 2.5.0 submits through; records every request.

    Experiments are kept, so a second submission finds the first one's. Any other endpoint
    answers 404, and is recorded like the rest, so an unexpected call shows in ``requests``.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.experiments: list[dict[str, Any]] = []
        self.rejections: dict[tuple[str, str], tuple[int, str]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.api = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> "StandInKfpApi":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def reject(self, method: str, path: str, status: int, message: str) -> None:
        """Answers ``method path`` with an error, as the KFP API server words them."""
        self.rejections[(method, path)] = (status, message)

    def calls(self) -> list[tuple[str, str]]:
        return [(r.method, r.path) for r in self.requests]

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Request:
        with self._lock:
            status, answer = self._answer(method, path, query, body)
            request = Request(method, path, query, body, status, answer)
            self.requests.append(request)
            return request

    def _answer(self, method, path, query, body) -> tuple[int, dict[str, Any]]:
        if (method, path) in self.rejections:
            status, message = self.rejections[(method, path)]
            return status, {"error": message, "code": 3, "message": message, "details": []}
        if (method, path) == ("GET", HEALTHZ):
            return HTTPStatus.OK, {"multi_user": False}
        if (method, path) == ("GET", EXPERIMENTS):
            try:
                found = [e for e in self.experiments if _matches(e, query.get("filter"))]
            except ValueError as err:
                return HTTPStatus.BAD_REQUEST, {"error": str(err), "code": 3, "message": str(err)}
            # The gRPC gateway leaves empty fields out: no experiments is an empty object.
            return HTTPStatus.OK, {"experiments": found, "total_size": len(found)} if found else {}
        if (method, path) == ("POST", EXPERIMENTS):
            experiment = {
                "experiment_id": _new_id(),
                "display_name": body["display_name"],
                "namespace": body.get("namespace", ""),
                "storage_state": "AVAILABLE",
            }
            self.experiments.append(experiment)
            return HTTPStatus.OK, experiment
        if (method, path) == ("POST", RUNS):
            return HTTPStatus.OK, {
                "run_id": _new_id(),
                "experiment_id": body["experiment_id"],
                "display_name": body["display_name"],
                "state": "PENDING",
            }
        if (method, path) == ("POST", RECURRING_RUNS):
            return HTTPStatus.OK, {
                "recurring_run_id": _new_id(),
                "experiment_id": body["experiment_id"],
                "display_name": body["display_name"],
                "mode": body["mode"],
                "status": "ENABLED",
            }
        message = f"the stand-in has no {method} {path}"
        return HTTPStatus.NOT_FOUND, {"error": message, "code": 5, "message": message}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        request = self.server.api.handle(self.command, url.path, query, body)
        payload = json.dumps(request.answer).encode()
        self.send_response(request.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the recorded list is the log
        pass


def _matches(experiment: dict[str, Any], filter_json: str | None) -> bool:
    """Whether ``experiment`` passes a Filter of display_name EQUALS predicates."""
    if not filter_json:
        return True
    for predicate in json.loads(filter_json)["predicates"]:
        if (predicate["key"], predicate["operation"]) != ("display_name", EQUALS):
            raise ValueError(f"the stand-in does not filter on {predicate}")
        if experiment["display_name"] != predicate["stringValue"]:
            return False
    return True


def _new_id() -> str:
    return str(uuid.uuid4())


def looked_up_name(request: Request) -> str:
    """The display name an experiments GET filters on."""
    (predicate,) = json.loads(request.query["filter"])["predicates"]
    return predicate["stringValue"]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def kfp_api(tmp_path, monkeypatch) -> Iterator[StandInKfpApi]:
    # A developer's ~/.config/kfp/context.json or KF_PIPELINES_* variables would change what the
    # client sends (namespace, experiment name): neither is read here.
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))
    for name in [n for n in os.environ if n.startswith("KF_PIPELINES_")]:
        monkeypatch.delenv(name)
    with StandInKfpApi() as api:
        yield api


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> PipelineConfig:
    return load_config(REPO / "configs" / "kubeflow.yaml", work_dir=tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module")
def spec_path(cfg, tmp_path_factory) -> Path:
    return compile_kubeflow(cfg, cfg.kubeflow, tmp_path_factory.mktemp("build") / "pipeline.json")


def posted_form(path: Path) -> dict[str, Any]:
    """A package as a run request carries it: with a platform spec, both, side by side."""
    spec, platform = read_package(path)
    assert platform is not None  # configs/kubeflow.yaml targets open-source KFP, with a PVC
    return {"pipeline_spec": spec, "platform_spec": platform}


@pytest.fixture(scope="module")
def spec(spec_path) -> dict[str, Any]:
    return posted_form(spec_path)


# --- submit() ----------------------------------------------------------------------------------


def test_a_run_carries_the_compiled_spec_into_a_new_experiment(kfp_api, cfg, spec_path, spec):
    run_id = submit(spec_path, kfp_api.url, experiment=cfg.kubeflow.experiment, run_name="nightly")

    assert kfp_api.calls() == [
        ("GET", HEALTHZ),
        ("GET", EXPERIMENTS),
        ("POST", EXPERIMENTS),
        ("POST", RUNS),
    ]
    _, lookup, create_experiment, create_run = kfp_api.requests
    assert looked_up_name(lookup) == cfg.kubeflow.experiment
    assert lookup.answer == {}  # absent, hence created
    assert create_experiment.body["display_name"] == cfg.kubeflow.experiment
    run = create_run.body
    assert run["pipeline_spec"] == spec
    assert run["display_name"] == "nightly"
    assert run["experiment_id"] == create_experiment.answer["experiment_id"]
    # No pipeline_root override: the spec's defaultPipelineRoot (kubeflow.pipeline_root) holds.
    assert run["runtime_config"] == {"parameters": {}}
    assert spec["pipeline_spec"]["defaultPipelineRoot"] == cfg.kubeflow.pipeline_root
    assert run_id == create_run.answer["run_id"]


def test_a_second_run_is_named_after_the_pipeline_and_filed_under_the_same_experiment(
    kfp_api, spec_path, spec
):
    first = submit(spec_path, kfp_api.url, experiment="penguins-tests")
    second = submit(spec_path, kfp_api.url, experiment="penguins-tests")

    assert [r.path for r in kfp_api.requests if r.method == "POST"] == [EXPERIMENTS, RUNS, RUNS]
    (experiment,) = kfp_api.experiments
    runs = [r for r in kfp_api.requests if r.path == RUNS]
    assert [r.body["experiment_id"] for r in runs] == [experiment["experiment_id"]] * 2
    assert [r.body["display_name"] for r in runs] == [
        spec["pipeline_spec"]["pipelineInfo"]["name"]
    ] * 2
    assert [first, second] == [r.answer["run_id"] for r in runs]
    assert first != second


def test_a_schedule_makes_a_recurring_run_without_catchup(kfp_api, cfg, spec_path, spec):
    schedule = cfg.kubeflow.schedule
    assert schedule is not None and len(schedule.split()) == 6

    recurring_run_id = submit(
        spec_path, kfp_api.url, experiment=cfg.kubeflow.experiment, schedule=schedule
    )

    assert kfp_api.calls() == RECURRING_RUN_IN_A_NEW_EXPERIMENT
    create_experiment, create_recurring = kfp_api.requests[2:]
    assert create_experiment.body["display_name"] == cfg.kubeflow.experiment
    recurring = create_recurring.body
    assert recurring["trigger"] == {"cron_schedule": {"cron": schedule}}
    assert recurring["no_catchup"] is True
    assert recurring["mode"] == "ENABLE"
    assert recurring["max_concurrency"] == 1
    assert recurring["pipeline_spec"] == spec
    assert recurring["display_name"] == spec["pipeline_spec"]["pipelineInfo"]["name"]
    assert recurring["experiment_id"] == create_experiment.answer["experiment_id"]
    assert recurring["runtime_config"] == {"parameters": {}}
    assert recurring_run_id == create_recurring.answer["recurring_run_id"]


def test_a_refused_submission_is_a_submit_error_with_the_servers_message(kfp_api, spec_path):
    message = "Invalid input error: pipeline spec is invalid"
    kfp_api.reject("POST", RUNS, HTTPStatus.BAD_REQUEST, message)

    with pytest.raises(SubmitError) as raised:
        submit(spec_path, kfp_api.url, experiment="penguins-tests")

    assert str(raised.value) == f"{kfp_api.url} refused the submission: HTTP 400: {message}"


# --- runner.py --kubeflow --submit -------------------------------------------------------------


def run_runner(host: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """``runner.py --kubeflow --submit`` on the shipped config, in this (kubeflow) Python."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KF_PIPELINES_")}
    env["HOME"] = str(tmp_path)  # no ~/.config/kfp/context.json
    config, output = REPO / "configs" / "kubeflow.yaml", tmp_path / "pipeline.json"
    return subprocess.run(
        [sys.executable, str(RUNNER), "--kubeflow", "--config", str(config)]
        + ["--output", str(output), "--submit", "--host", host],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=RUNNER_TIMEOUT_S,
    )


def test_runner_submits_the_shipped_config_as_a_recurring_run(kfp_api, cfg, tmp_path):
    result = run_runner(kfp_api.url, tmp_path)

    assert result.returncode == 0, result.stderr
    assert kfp_api.calls() == RECURRING_RUN_IN_A_NEW_EXPERIMENT
    create_experiment, create_recurring = kfp_api.requests[2:]
    recurring = create_recurring.body
    assert recurring["pipeline_spec"] == posted_form(tmp_path / "pipeline.json")
    assert recurring["trigger"] == {"cron_schedule": {"cron": cfg.kubeflow.schedule}}
    assert recurring["no_catchup"] is True
    assert recurring["experiment_id"] == create_experiment.answer["experiment_id"]
    assert create_experiment.body["display_name"] == cfg.kubeflow.experiment
    kind = f"recurring run ({cfg.kubeflow.schedule})"
    submitted = f"{cfg.name}: submitted {kind} {create_recurring.answer['recurring_run_id']}"
    assert f"{submitted} to {kfp_api.url}" in result.stdout.splitlines()


def test_runner_reports_an_unreachable_endpoint_in_one_line(tmp_path):
    # A bound socket that never listens: connections to its port are refused, and no other
    # process can take the port while the test runs.
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{refusing.getsockname()[1]}"
        result = run_runner(host, tmp_path)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"submit failed: cannot reach {host}: "), result.stderr
    assert "Connection refused" in error
    assert "compiled" in result.stdout
    assert "submitted" not in result.stdout
