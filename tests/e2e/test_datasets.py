"""Every shipped dataset runs by config alone: taxi (binary), diabetes (regression), IMDB (text).

Each runs ``runner.py --local`` on its shipped config with a shorter training budget, then
is checked through ML Metadata and the run's summary: blessed, pushed under its own name,
and its eval metrics (read from TFMA's output) past the config's own thresholds.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf
import yaml
from tensorflow_metadata.proto.v0 import statistics_pb2

from pipeline import metadata
from pipeline.config import load_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Dataset -> hyperparameter overrides that keep the test short.
BUDGETS = {
    "taxi": {"epochs": 4},
    "diabetes": {"epochs": 60},
    "imdb": {"epochs": 20},
}
# Taxi's eval (about 3,000) and test (about 1,500) splits are scored on a uniform sample.
EVALUATOR_CAPS = {"taxi": 500}


def write_config(directory: Path, name: str) -> Path:
    raw = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    raw["work_dir"] = str(directory / "work")
    raw["data"]["csv_dir"] = str(REPO / "data" / name)
    raw["trainer"]["hyperparameters"].update(BUDGETS[name])
    if name in EVALUATOR_CAPS:
        raw["evaluator"]["max_examples"] = EVALUATOR_CAPS[name]
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(
    scope="module",
    # One xdist group per dataset: its three tests share its one run, on one worker.
    params=[pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in sorted(BUDGETS)],
)
def dataset_run(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(request.param)
    config = write_config(directory, request.param)
    process = subprocess.run(
        [sys.executable, str(REPO / "runner.py"), "--local", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    (run_dir,) = sorted((directory / "work" / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    return load_config(config), process, summary


def test_runs_to_a_blessed_model_pushed_under_its_own_name(dataset_run):
    cfg, process, summary = dataset_run
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    assert summary["outcome"] == "blessed and pushed", summary
    assert summary["pushed_path"] == str(cfg.serving_root / cfg.name / "1")
    with metadata.open_store(cfg.metadata_path) as store:
        pushed = metadata.node_execution(store, cfg.name, summary["run_id"], "ServingPusher")
    assert pushed.state == "executed"


def test_eval_metrics_pass_the_configs_thresholds(dataset_run):
    cfg, _, summary = dataset_run
    metrics = summary["eval_metrics"]
    assert metrics["example_count"] > 0
    if cfg.spec.is_regression:
        assert set(metrics["errors"]) == {"mae", "mse", "rmse"}
        assert metrics["errors"]["mae"] <= cfg.evaluator.max_error
        assert metrics["errors"]["rmse"] == pytest.approx(metrics["errors"]["mse"] ** 0.5, rel=1e-3)
    else:
        assert metrics["accuracy"] >= cfg.evaluator.min_accuracy
        assert set(metrics["per_class"]) == set(cfg.spec.label.classes)


def test_splits_over_the_evaluators_cap_are_scored_on_a_sample_of_it(dataset_run):
    cfg, _, summary = dataset_run
    cap = cfg.evaluator.max_examples
    with metadata.open_store(cfg.metadata_path) as store:
        gen = metadata.node_execution(store, cfg.name, summary["run_id"], "StatisticsGen")
        (statistics,) = metadata.output_artifacts(store, gen.execution_id)["statistics"]
    for split in ("eval", "test"):
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        stats.ParseFromString(
            (Path(statistics.uri) / f"Split-{split}" / "FeatureStats.pb").read_bytes()
        )
        size = stats.datasets[0].num_examples
        metrics = summary[f"{split}_metrics"]
        if size > cap:
            assert (metrics["example_count"], metrics["split_examples"]) == (cap, size)
        else:
            assert (metrics["example_count"], metrics["split_examples"]) == (size, None)
    if cfg.name in EVALUATOR_CAPS:
        assert summary["eval_metrics"]["split_examples"] > cap


def test_pushed_model_answers_per_task_on_raw_features(dataset_run):
    cfg, _, summary = dataset_run
    model = tf.saved_model.load(summary["pushed_path"])
    serve = model.signatures["serving_raw"]
    inputs = {
        name: tf.constant([""] if spec.dtype == tf.string else [float("nan")], spec.dtype)
        for name, spec in serve.structured_input_signature[1].items()
    }
    outputs = serve(**inputs)
    if cfg.spec.is_regression:
        assert outputs["predictions"].shape == (1,)
    else:
        assert outputs["probabilities"].shape == (1, cfg.spec.num_classes)
        assert outputs["classes"].numpy()[0].decode() in cfg.spec.label.classes
