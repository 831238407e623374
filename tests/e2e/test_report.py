"""Reports, run listing and lineage on real pipeline runs (``runner.py --local``).

The penguins history's work directory (``tests/e2e/conftest.py``) has a cold run and an
unchanged (cached) re-run; this module then adds two runs of the same CSV with every body
mass 1.8 times heavier (stopped by the schema's type check). A second work directory holds
a run stopped by a CSV row from an island the schema does not know. Reports are built
in-process from those runs, checked against ML Metadata and TFMA, and rendered in headless
Chromium with the network cut off.
"""

import csv
import hashlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import penguins_runs
import pytest
import tensorflow_model_analysis as tfma
import yaml
from penguins_runs import CSV
from PIL import Image, ImageStat
from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline import metadata
from pipeline.config import load_config
from pipeline.eval_config import ACCURACY
from pipeline.report import build, formatting, queries

pytestmark = pytest.mark.e2e

PIPELINE = "penguins"
SECTIONS = ("run", "data", "schema", "anomalies", "model", "deployment", "lineage")


def run_pipeline(config: Path) -> dict:
    """Runs ``runner.py --local``; returns the run's summary.json."""
    return penguins_runs.run_pipeline(config)[1]


@pytest.fixture(scope="module")
def workspace(penguins_history) -> Path:
    return penguins_history.workspace


@pytest.fixture(scope="module")
def cfg(penguins_history):
    return load_config(penguins_history.config)


@pytest.fixture(scope="module")
def runs(penguins_history) -> tuple[dict, dict]:
    first = penguins_history.first.summary
    assert first["outcome"] == "blessed and pushed", first
    return first, penguins_history.rerun.summary


@pytest.fixture(scope="module")
def reports(cfg, runs) -> dict[str, str]:
    """Run id -> report HTML, for both runs; also records how long building took."""
    html = {}
    for summary in runs:
        started = time.monotonic()
        path = build.build_report(cfg, summary["run_id"])
        seconds = time.monotonic() - started
        print(f"report {path}: {path.stat().st_size} bytes in {seconds:.2f} s")
        assert path == cfg.runs_dir / summary["run_id"] / "report.html"
        html[summary["run_id"]] = path.read_text()
    return html


def _metric(html: str, name: str) -> str:
    match = re.search(rf'data-metric="{re.escape(name)}">([^<]*)<', html)
    assert match, f"no {name} in the report"
    return match.group(1)


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<section id="{section_id}">(.*?)</section>', html, re.S)
    assert match, f"no section {section_id}"
    return match.group(1)


def _outputs(cfg, run_id: str, node_id: str) -> dict:
    with metadata.open_store(cfg.metadata_path) as store:
        execution = metadata.node_execution(store, cfg.name, run_id, node_id)
        return metadata.output_artifacts(store, execution.execution_id)


def _overall_tfma(uri: str) -> dict[str, float]:
    (overall,) = [m for m in tfma.load_metrics(uri) if not m.slice_key.single_slice_keys]
    return {
        item.key.name: item.value.double_value.value
        for item in overall.metric_keys_and_values
        if not item.key.HasField("sub_key")
        and not item.key.is_diff
        and item.key.model_name in ("", "candidate")
    }


def test_report_shows_every_section(runs, reports):
    first, _ = runs
    html = reports[first["run_id"]]
    assert re.findall(r'<section id="(\w+)">', html) == list(SECTIONS)
    assert "Not reached" not in html


def test_report_numbers_equal_metadata_and_tfma(cfg, runs, reports):
    first, _ = runs
    html = reports[first["run_id"]]
    run_id = first["run_id"]

    for node, split in (("Evaluator", "eval"), ("TestEvaluator", "test")):
        (evaluation,) = _outputs(cfg, run_id, node)["evaluation"]
        values = _overall_tfma(evaluation.uri)
        # The configured metrics only: not the model's compile() loss and accuracy.
        assert set(values) == {ACCURACY, "example_count"}
        assert _metric(html, f"{split}/Overall/accuracy") == formatting.metric(values[ACCURACY])
        assert _metric(html, f"{split}/Overall/examples") == str(int(values["example_count"]))
    eval_count = first["eval_metrics"]["example_count"]
    assert re.search(rf"eval split: \d+ of {eval_count} right", html)

    (statistics,) = _outputs(cfg, run_id, "StatisticsGen")["statistics"]
    for split in ("train", "eval", "test"):
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.ParseFromString(
            (Path(statistics.uri) / f"Split-{split}" / "FeatureStats.pb").read_bytes()
        )
        assert _metric(html, f"examples/{split}") == str(stats.datasets[0].num_examples)

    (pushed,) = _outputs(cfg, run_id, "ServingPusher")["pushed_model"]
    version = metadata.custom_property(pushed, "pushed_version")
    assert _metric(html, "pushed_version") == version == first["pushed_version"]
    (tflite,) = _outputs(cfg, run_id, "TFLiteConverter")["tflite_model"]
    assert _metric(html, "tflite/accuracy") == formatting.metric(
        metadata.custom_property(tflite, "tflite_accuracy")
    )
    (model,) = _outputs(cfg, run_id, "Trainer")["model"]
    assert f'Model <span class="mono">#{model.id}</span>' in _section(html, "lineage")


def test_report_renders_offline_in_headless_chromium(cfg, runs, reports, tmp_path):
    run_id = runs[0]["run_id"]
    html = reports[run_id]
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    screenshot = tmp_path / "report.png"
    net_log = tmp_path / "net.json"
    process = _chromium(cfg.runs_dir / run_id / "report.html", screenshot, net_log, tmp_path)

    assert process.returncode == 0, process.stderr[-2000:]
    image = Image.open(screenshot).convert("L")
    assert image.size == (1280, 2400)
    assert ImageStat.Stat(image).var[0] > 100  # not a blank page
    assert len(set(image.getdata())) > 20
    assert "net::ERR" not in process.stderr
    assert _page_requests(net_log) == []


def _chromium(page: Path, screenshot: Path, net_log: Path, tmp: Path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=127.0.0.1:9",
            "--enable-logging=stderr",
            "--v=0",
            f"--log-net-log={net_log}",
            "--hide-scrollbars",
            "--window-size=1280,2400",
            f"--screenshot={screenshot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _page_requests(net_log: Path) -> list[str]:
    """URLs the page asked for over the network (Chromium's own requests have no origin)."""
    events = json.loads(net_log.read_text())["events"]
    return sorted(
        {
            e["params"]["url"]
            for e in events
            if "url" in e.get("params", {})
            and e["params"].get("initiator", "not an origin") != "not an origin"
            and not e["params"]["url"].startswith(("file:", "data:"))
        }
    )


def test_rerun_report_measures_drift_against_the_first_run(runs, reports):
    first, second = runs
    html = reports[second["run_id"]]
    data = _section(html, "data")
    assert f'run <span class="mono">{first["run_id"]}</span>' in data
    assert "the same artifact: the data did not change" in data
    assert html.count("cached") >= 11
    assert _metric(html, "pushed_version") == first["pushed_version"]


def test_list_runs_after_two_runs(cfg, runs):
    first, second = runs
    listed = queries.list_runs(cfg)
    assert [r.run_id for r in listed] == [second["run_id"], first["run_id"]]
    assert [r.status for r in listed] == ["cached", "complete"]
    assert [r.pushed_version for r in listed] == [first["pushed_version"]] * 2
    assert [r.blessed for r in listed] == [True, True]
    assert [r.outcome for r in listed] == [second["outcome"], first["outcome"]]


def test_lineage_of_the_pushed_version(cfg, runs):
    first, _ = runs
    run_id = first["run_id"]
    found = queries.lineage(cfg, version=int(first["pushed_version"]))

    (model,) = _outputs(cfg, run_id, "Trainer")["model"]
    (model_run,) = _outputs(cfg, run_id, "Trainer")["model_run"]
    transform = _outputs(cfg, run_id, "Transform")
    (raw,) = _outputs(cfg, run_id, "CsvExampleGen")["examples"]
    (schema,) = _outputs(cfg, run_id, "ImportSchemaGen")["schema"]
    assert found.model.id == model.id and found.run_id == run_id
    assert found.examples.id == transform["transformed_examples"][0].id
    assert found.transform_graph.id == transform["transform_graph"][0].id
    assert found.raw_examples.id == raw.id and found.schema.id == schema.id
    assert found.model_run.uri == model_run.uri
    assert (Path(found.model_run.uri) / "history.json").is_file()
    assert found.pushed_destination == first["pushed_path"]
    with metadata.open_store(cfg.metadata_path) as store:
        trainer = metadata.node_execution(store, cfg.name, run_id, "Trainer")
        (execution,) = store.get_executions_by_id([trainer.execution_id])
    custom_config = json.loads(metadata.custom_property(execution, "custom_config"))
    assert found.code_digest == custom_config["code_digest"]
    assert [(f.path, f.sha256) for f in found.csv_files] == [
        (str(CSV), hashlib.sha256(CSV.read_bytes()).hexdigest())
    ]
    assert found.inputs_unchanged is True
    assert queries.lineage(cfg, model_uri=first["pushed_path"]).model.id == model.id


@pytest.fixture(scope="module")
def anomalies_run(out_of_domain_run):
    config, _, summary = out_of_domain_run
    return load_config(config), summary


def test_report_of_a_run_stopped_by_anomalies(anomalies_run):
    cfg, summary = anomalies_run
    assert summary["outcome"] == "stopped at DataGate"
    html = build.build_report(cfg).read_text()  # the latest run

    assert re.findall(r'<section id="(\w+)">', html) == list(SECTIONS)
    assert "Stopped at DataGate" in _section(html, "run")
    anomalies = _section(html, "anomalies")
    assert "Fail: 1 anomaly found" in anomalies
    assert re.search(r"<b>island</b></td><td>ERROR</td><td>Unexpected string values", anomalies)
    assert "Atlantis" in anomalies
    for section in ("model", "deployment", "lineage"):
        assert "Not reached" in _section(html, section)
    assert int(_metric(html, "examples/train")) > 0
    assert "<svg" in _section(html, "data")
    assert "Biscoe, Dream, Torgersen" in _section(html, "schema")


@pytest.fixture(scope="module")
def shifted_runs(cfg, runs, workspace) -> tuple[dict, dict]:
    """Two runs, after ``runs``, of the CSV with body_mass_g times 1.8, in the same work dir."""
    csv_dir = workspace / "shifted"
    csv_dir.mkdir()
    with CSV.open(newline="") as source, (csv_dir / "penguins.csv").open("w", newline="") as out:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames)
        writer.writeheader()
        for row in reader:
            if row["body_mass_g"]:
                row["body_mass_g"] = str(float(row["body_mass_g"]) * 1.8)
            writer.writerow(row)
    raw = yaml.safe_load((workspace / "config.yaml").read_text())
    raw["data"]["csv_dir"] = str(csv_dir)
    config = workspace / "shifted.yaml"
    config.write_text(yaml.safe_dump(raw))
    return run_pipeline(config), run_pipeline(config)


def test_drift_is_measured_against_the_last_run_that_trained(cfg, runs, shifted_runs):
    first, _ = runs
    for summary in shifted_runs:
        assert summary["outcome"] == "stopped at DataGate", summary
        html = build.build_report(cfg, summary["run_id"]).read_text()
        data = _section(html, "data")
        # Not the stopped shifted run before it, nor the cached re-run: the first run trained.
        assert f'that of run <span class="mono">{first["run_id"]}</span>' in data
        drift = {
            feature: _metric(html, f"drift/{feature}")
            for feature in ("bill_depth_mm", "bill_length_mm", "flipper_length_mm", "year")
        }
        assert all(float(value) < 0.1 for value in drift.values()), drift
        assert float(_metric(html, "drift/body_mass_g")) > 0.5
