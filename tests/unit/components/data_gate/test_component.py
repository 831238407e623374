"""DataGate on what the real CsvExampleGen, StatisticsGen and ExampleValidator executors write."""

import json
import re
import shutil
from pathlib import Path

import pytest
from tfx.components.example_validator import executor as validator_executor
from tfx.components.statistics_gen import executor as statistics_executor
from tfx.types import standard_artifacts

from components.data_gate.component import DataGate
from components.data_gate.data_rules import DataRulesError

REPO = Path(__file__).resolve().parents[4]
PENGUINS = REPO / "data" / "penguins" / "penguins.csv"
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
MINIMUMS = {"train": 50, "eval": 20, "test": 10}


def statistics_and_anomalies(run_csv_example_gen, csv_text: str, root: Path):
    """CSV text -> (ExampleStatistics, ExampleAnomalies) through the real executors."""
    (root / "csv").mkdir(parents=True)
    (root / "csv" / "data.csv").write_text(csv_text)
    examples = run_csv_example_gen(root / "csv", root / "examples")
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(root / "statistics")
    statistics_executor.Executor().Do(
        {"examples": [examples]}, {"statistics": [statistics]}, {"exclude_splits": "[]"}
    )
    schema = standard_artifacts.Schema()
    schema.uri = str(root / "schema")
    (root / "schema").mkdir()
    shutil.copy(REPO / "schemas" / "penguins" / "schema.pbtxt", root / "schema")
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(root / "anomalies")
    validator_executor.Executor().Do(
        {"statistics": [statistics], "schema": [schema]},
        {"anomalies": [anomalies]},
        {"exclude_splits": "[]"},
    )
    return statistics, anomalies


def gate(artifacts, **overrides) -> None:
    statistics, anomalies = artifacts
    args = {"min_examples": MINIMUMS, "label_key": "species", "label_classes": CLASSES, **overrides}
    # Dict and list parameters travel as JSON text, as Kubeflow and Airflow hand them over.
    args["min_examples"] = json.dumps(args["min_examples"])
    args["label_classes"] = json.dumps(list(args["label_classes"]))
    DataGate.test_call(statistics=statistics, anomalies=anomalies, **args)


@pytest.fixture(scope="module")
def r_export(run_csv_example_gen, tmp_path_factory):
    """The shipped data as R writes it: quoted header, NA for a missing value."""
    lines = PENGUINS.read_text().splitlines()
    header = ",".join(f'"{name}"' for name in lines[0].split(","))
    rows = [",".join(cell or "NA" for cell in line.split(",")) for line in lines[1:]]
    text = "\n".join([header, *rows]) + "\n"
    return statistics_and_anomalies(run_csv_example_gen, text, tmp_path_factory.mktemp("r"))


@pytest.fixture(scope="module")
def bad_labels(run_csv_example_gen, tmp_path_factory):
    """The shipped data with rows of an unknown species and one row without a species."""
    extra = (
        "Emperor,Dream,45.1,17.2,200,4000,male,2009\n" * 4 + "NA,Dream,40.0,18.0,190,3700,,2009\n"
    )
    return statistics_and_anomalies(
        run_csv_example_gen, PENGUINS.read_text() + extra, tmp_path_factory.mktemp("bad")
    )


def test_r_export_passes_the_gate(r_export):
    gate(r_export)  # NA is a missing value: no anomaly, every split large enough


def test_the_gate_holds_splits_to_their_minimums(r_export):
    with pytest.raises(DataRulesError) as raised:
        gate(r_export, min_examples={**MINIMUMS, "test": 1000})
    assert str(raised.value).startswith("split test has ")
    assert str(raised.value).endswith(
        " examples, fewer than the 1000 data.min_examples.test asks for"
    )


def test_unknown_and_missing_labels_are_named(bad_labels):
    with pytest.raises(DataRulesError) as raised:
        gate(bad_labels)
    message = str(raised.value)
    assert "\n" not in message
    assert "label 'species' is missing in 1 of " in message
    # Four identical rows hash to one split.
    assert re.search(
        r"label 'species' has values not in label\.classes \[Adelie, Chinstrap, Gentoo\]: "
        r"'Emperor' \(4 in (train|eval|test)\)$",
        message,
    )


def test_label_rules_hold_when_anomalies_only_warn(bad_labels):
    with pytest.raises(DataRulesError, match="'Emperor'"):
        gate(bad_labels, fail_on_anomalies=False)


def test_header_only_csv_stops_at_the_gate(run_csv_example_gen, tmp_path):
    header = PENGUINS.read_text().splitlines()[0] + "\n"
    with pytest.raises(DataRulesError) as raised:
        gate(statistics_and_anomalies(run_csv_example_gen, header, tmp_path))
    assert str(raised.value) == "; ".join(
        f"split {split} has 0 examples, fewer than the {n} data.min_examples.{split} asks for"
        for split, n in MINIMUMS.items()
    )
