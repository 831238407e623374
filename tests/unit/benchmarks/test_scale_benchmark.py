"""The scale benchmark's data and config: the shipped columns and types, a learnable label,
and the shipped config on that data with one epoch (the script run as a user runs it)."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config

REPO = Path(__file__).resolve().parents[3]
ROWS = 3_000


def _generate(dataset: str, out_dir: Path) -> Path:
    script = REPO / "benchmarks" / "scale_benchmark.py"
    command = [sys.executable, str(script), "generate", dataset, str(ROWS), str(out_dir)]
    subprocess.run(command, check=True, capture_output=True, text=True, cwd=out_dir.parent)
    return out_dir / "data"


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def _kind(values: list[str]) -> str:
    present = [v for v in values if v != ""]
    if all(v.lstrip("-").isdigit() for v in present):
        return "int"
    try:
        [float(v) for v in present]
    except ValueError:
        return "string"
    return "float"


@pytest.mark.parametrize("dataset, csv_name", [("penguins", "penguins"), ("taxi", "taxi")])
def test_generated_csv_has_the_shipped_columns_and_types(tmp_path, dataset, csv_name):
    out = _generate(dataset, tmp_path / "data")
    shipped_names, shipped = _rows(REPO / "data" / csv_name / f"{csv_name}.csv")
    names, rows = _rows(out / f"{dataset}.csv")
    assert names == shipped_names
    assert len(rows) == ROWS
    for name in names:
        expected = _kind([r[name] for r in shipped])
        assert _kind([r[name] for r in rows]) == expected, name


def test_penguins_species_is_learnable_from_the_measurements(tmp_path):
    _, rows = _rows(_generate("penguins", tmp_path / "data") / "penguins.csv")
    complete = [r for r in rows if r["flipper_length_mm"] and r["bill_depth_mm"]]

    def guess(row):  # two cuts a tree would learn
        if float(row["flipper_length_mm"]) > 206 and float(row["bill_depth_mm"]) < 17:
            return "Gentoo"
        return "Chinstrap" if float(row["bill_length_mm"] or 0) > 44 else "Adelie"

    accuracy = sum(guess(r) == r["species"] for r in complete) / len(complete)
    assert accuracy > 0.9


def test_taxi_big_tippers_pay_by_card(tmp_path):
    _, rows = _rows(_generate("taxi", tmp_path / "data") / "taxi.csv")
    card = [r["big_tipper"] == "1" for r in rows if r["payment_type"] == "Credit Card"]
    cash = [r["big_tipper"] == "1" for r in rows if r["payment_type"] == "Cash"]
    assert sum(card) / len(card) > 0.5 > 0.05 > sum(cash) / len(cash)


def test_the_config_is_the_shipped_one_on_the_generated_data_for_one_epoch(tmp_path):
    out = _generate("penguins", tmp_path / "scale")
    derived = load_config(out.parent / "config.yaml", tmp_path / "work")
    shipped = load_config(REPO / "configs" / "penguins.yaml", tmp_path / "work")
    assert derived.data.csv_dir == out
    assert derived.trainer.hyperparameters.epochs == 1
    assert derived.validation.schema_path == shipped.validation.schema_path
    assert derived.spec == shipped.spec and derived.evaluator == shipped.evaluator
    assert derived.tflite == shipped.tflite and derived.beam == shipped.beam
