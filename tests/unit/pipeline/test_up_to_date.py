"""up_to_date: which inputs changed since the last complete run, and when nothing did."""

import os
import shutil
from pathlib import Path

import pytest
import yaml

from pipeline import up_to_date
from pipeline.config import load_config
from pipeline.run_summary import RunSummary

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the penguins config, CSV and schema, with its own work dir."""
    shutil.copytree(REPO / "data" / "penguins", tmp_path / "data")
    shutil.copy(REPO / "schemas" / "penguins" / "schema.pbtxt", tmp_path / "schema.pbtxt")
    raw = yaml.safe_load((REPO / "configs" / "penguins.yaml").read_text())
    raw["data"]["csv_dir"] = "data"
    raw["validation"]["schema_path"] = "schema.pbtxt"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path


def load(project: Path, **changes):
    raw = yaml.safe_load((project / "config.yaml").read_text())
    for section, values in changes.items():
        raw[section].update(values)
    (project / "config.yaml").write_text(yaml.safe_dump(raw))
    return load_config(project / "config.yaml", work_dir=project / "work")


def finish_run(cfg, run_id: str, inputs: dict, error: str | None = None, pipeline=None) -> None:
    """A run directory as the runner leaves it, and the outputs a cache needs."""
    run_dir = cfg.runs_dir / run_id
    run_dir.mkdir(parents=True)
    up_to_date.write_inputs(run_dir, inputs)
    summary = RunSummary(
        pipeline=pipeline or cfg.name,
        run_id=run_id,
        config=str(cfg.source),
        config_digest=cfg.digest(),
        work_dir=str(cfg.work_dir),
        metadata_path=str(cfg.metadata_path),
        log_path=str(run_dir / "pipeline.log"),
        components=[],
        outcome="blessed and pushed" if error is None else "stopped at Trainer",
        error=error,
    )
    (run_dir / "summary.json").write_text(summary.to_json())
    cfg.metadata_path.touch()
    cfg.pipeline_root.mkdir(parents=True, exist_ok=True)


def test_no_run_yet_means_everything_changed(project):
    cfg = load(project)
    check = up_to_date.check(cfg, up_to_date.fingerprint(cfg))
    assert not check.up_to_date
    assert check.changed == up_to_date.PARTS
    assert check.reason == "no complete run before this one"


def test_unchanged_inputs_are_up_to_date_with_the_last_complete_run(project):
    cfg = load(project)
    finish_run(cfg, "20260101T000000.000000", up_to_date.fingerprint(cfg))

    check = up_to_date.check(load(project), up_to_date.fingerprint(load(project)))

    assert check.up_to_date and check.reason == ""
    assert check.last.run_id == "20260101T000000.000000"
    assert check.last.summary.outcome == "blessed and pushed"


@pytest.mark.parametrize(
    ("change", "part"),
    [
        (lambda p: (p / "data" / "penguins.csv").open("a").write("\n"), "data"),
        (lambda p: os.utime(p / "data" / "penguins.csv", ns=(1, 1)), "data"),
        (
            lambda p: (p / "data" / "more.csv").write_text(
                (p / "data" / "penguins.csv").read_text()
            ),
            "data",
        ),
        (lambda p: (p / "schema.pbtxt").open("a").write("\n"), "schema"),
        (lambda p: load(p, trainer={"steps_per_epoch": 7}), "config"),
    ],
    ids=["appended row", "touched file", "new file", "schema", "setting"],
)
def test_a_changed_part_is_named(project, change, part):
    cfg = load(project)
    finish_run(cfg, "20260101T000000.000000", up_to_date.fingerprint(cfg))

    change(project)
    cfg = load(project)
    check = up_to_date.check(cfg, up_to_date.fingerprint(cfg))

    assert check.changed == (part,)
    assert check.reason == f"changed since run 20260101T000000.000000: {part}"


def test_code_and_packages_are_parts_of_the_fingerprint(project):
    cfg = load(project)
    recorded = dict(up_to_date.fingerprint(cfg), code="0" * 64, packages="1" * 64)
    finish_run(cfg, "20260101T000000.000000", recorded)

    check = up_to_date.check(cfg, up_to_date.fingerprint(cfg))

    assert check.changed == ("code", "packages")


def test_failed_and_unfinished_runs_are_passed_over(project):
    cfg = load(project)
    inputs = up_to_date.fingerprint(cfg)
    finish_run(cfg, "20260101T000000.000000", inputs)
    finish_run(cfg, "20260102T000000.000000", dict(inputs, data="x"), error="KeyError: 'x'")
    (cfg.runs_dir / "20260103T000000.000000").mkdir()  # started, no summary yet
    finish_run(cfg, "20260104T000000.000000", dict(inputs, data="y"), pipeline="other")

    check = up_to_date.check(cfg, inputs)

    assert check.up_to_date
    assert check.last.run_id == "20260101T000000.000000"


def test_only_the_newest_complete_run_counts(project):
    cfg = load(project)
    inputs = up_to_date.fingerprint(cfg)
    finish_run(cfg, "20260101T000000.000000", inputs)
    finish_run(cfg, "20260102T000000.000000", dict(inputs, config="x"))

    assert up_to_date.check(cfg, inputs).changed == ("config",)


def test_a_work_dir_without_its_metadata_is_never_up_to_date(project):
    cfg = load(project)
    inputs = up_to_date.fingerprint(cfg)
    finish_run(cfg, "20260101T000000.000000", inputs)
    cfg.metadata_path.unlink()

    check = up_to_date.check(cfg, inputs)

    assert check.changed == up_to_date.PARTS
    assert "ML Metadata or the pipeline root is gone" in check.reason


def test_a_run_without_recorded_inputs_cannot_be_compared(project):
    cfg = load(project)
    finish_run(cfg, "20260101T000000.000000", {})
    (cfg.runs_dir / "20260101T000000.000000" / "inputs.json").write_text("not json")

    check = up_to_date.check(cfg, up_to_date.fingerprint(cfg))

    assert check.changed == up_to_date.PARTS
    assert check.reason == "run 20260101T000000.000000 recorded no inputs to compare with"


def test_image_data_changes_with_a_file_or_an_empty_class_folder(tmp_path):
    images = tmp_path / "images"
    shutil.copytree(REPO / "data" / "digits" / "0", images / "0")
    shutil.copytree(REPO / "data" / "digits" / "1", images / "1")
    raw = yaml.safe_load((REPO / "configs" / "digits.yaml").read_text())
    raw["data"]["image_dir"] = str(images)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(tmp_path / "config.yaml", work_dir=tmp_path / "work")
    before = up_to_date.fingerprint(cfg)["data"]

    (images / "2").mkdir()
    with_folder = up_to_date.fingerprint(cfg)["data"]
    next(iter(sorted((images / "1").iterdir()))).unlink()
    without_file = up_to_date.fingerprint(cfg)["data"]

    assert len({before, with_folder, without_file}) == 3
