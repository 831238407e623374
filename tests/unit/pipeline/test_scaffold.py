"""``runner.py init``'s guesses: column profiles, feature types, task, classes and thresholds."""

from pathlib import Path

import pytest
import yaml

from pipeline import scaffold
from pipeline.config import load_config

REPO = Path(__file__).resolve().parents[3]


def write_csv(directory: Path, text: str, name: str = "data.csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)
    return directory


ROWS = "\n".join(
    f"{i % 3},{60600 + i % 40},{1.5 * i},{'ab'[i % 2]},row {i},"
    f"this review has more than five words {i},{['yes', 'no'][i % 2]},{10 + i}"
    for i in range(120)
)
HEADER = "day,zip_code,fare,kind,name,review,label,amount\n"


@pytest.fixture
def table(tmp_path):
    return write_csv(tmp_path / "table", HEADER + ROWS + "\n")


def test_each_column_gets_a_type_and_a_reason(table):
    result = scaffold.scaffold(table, "label", "t")
    guesses = {g.column: g for g in result.guesses}
    assert guesses["day"].type == "categorical"
    assert guesses["day"].reason == "integers with 3 distinct values"
    assert guesses["zip_code"].type == "categorical"
    assert "named like a code" in guesses["zip_code"].reason
    assert guesses["fare"].type == "numeric"
    assert guesses["kind"].type == "categorical"
    assert guesses["name"].type is None  # a different value in every row
    assert guesses["review"].type == "text"
    assert guesses["amount"].type == "numeric"
    assert "label" not in guesses


def test_task_and_classes_are_guessed_from_the_label(table):
    result = scaffold.scaffold(table, "label", "t")
    assert (result.task, result.classes) == ("classification", ("no", "yes"))
    assert result.baseline == pytest.approx(0.5)
    numeric = scaffold.scaffold(table, "amount", "t")
    assert numeric.task == "regression"
    # Mean absolute deviation of 10..129 from its mean.
    assert numeric.baseline == pytest.approx(30.0)
    coded = scaffold.scaffold(table, "day", "t")
    assert (coded.task, coded.classes) == ("classification", ("0", "1", "2"))


def test_missing_tokens_are_missing_values(tmp_path):
    data = write_csv(tmp_path / "na", "x,y\n1,a\nNA,b\n3,N/A\n,a\n")
    profiles, rows = scaffold.profile_csv_dir(data)
    assert rows == 4
    assert [(p.name, p.present, p.integers) for p in profiles] == [("x", 2, True), ("y", 3, False)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty file"),
        ("a,b\n", "no data rows below the header"),
        ("a,b\n1,2\n3\n", "line 3: 1 fields, the header has 2"),
    ],
    ids=["empty", "header only", "ragged"],
)
def test_unreadable_data_is_one_line_naming_the_file(tmp_path, text, message):
    data = write_csv(tmp_path / "bad", text)
    with pytest.raises(scaffold.ScaffoldError, match=message) as raised:
        scaffold.scaffold(data, "a", "t")
    assert "\n" not in str(raised.value) and "data.csv" in str(raised.value)


def test_non_utf8_bytes_are_named(tmp_path):
    (tmp_path / "latin").mkdir()
    (tmp_path / "latin" / "data.csv").write_bytes(b"a,b\n1,caf\xe9\n")
    with pytest.raises(scaffold.ScaffoldError, match="not UTF-8"):
        scaffold.scaffold(tmp_path / "latin", "a", "t")


def test_unknown_label_lists_the_columns(table):
    message = r"--label price: no such column \(columns: day,"
    with pytest.raises(scaffold.ScaffoldError, match=message):
        scaffold.scaffold(table, "price", "t")


def test_rendered_config_loads_and_keeps_every_guess(table, tmp_path):
    result = scaffold.scaffold(table, "label", "guessed")
    schema = tmp_path / "schemas" / "guessed" / "schema.pbtxt"
    config = tmp_path / "configs" / "guessed.yaml"
    scaffold.write_files(result, config, schema, "", force=False)
    raw = yaml.safe_load(config.read_text())
    assert raw["label"] == {"name": "label", "classes": ["no", "yes"]}
    assert "name" not in raw["features"]  # left out, as a comment
    assert "# name: numeric" in config.read_text()
    raw["validation"]["schema_path"] = None  # the schema text above is a placeholder
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    loaded = load_config(config)
    assert loaded.spec.feature_names == tuple(g.column for g in result.features)
    assert loaded.evaluator.min_accuracy == 0.5


def test_reviewed_files_are_not_overwritten_without_force(table, tmp_path):
    result = scaffold.scaffold(table, "label", "t")
    config, schema = tmp_path / "c.yaml", tmp_path / "s.pbtxt"
    config.write_text("reviewed\n")
    with pytest.raises(scaffold.ScaffoldError, match="--force"):
        scaffold.write_files(result, config, schema, "schema", force=False)
    assert config.read_text() == "reviewed\n" and not schema.exists()
    scaffold.write_files(result, config, schema, "schema", force=True)
    assert config.read_text() != "reviewed\n"


def test_a_directory_holding_other_files_is_refused_as_the_config_would(table):
    (table / "README.txt").write_text("notes")
    with pytest.raises(scaffold.ScaffoldError, match="README.txt"):
        scaffold.scaffold(table, "label", "t")


def test_rows_without_a_label_are_counted_and_warned_about(tmp_path):
    data = write_csv(tmp_path / "gaps", HEADER + ROWS + "\n1,60601,2.5,a,x,y,NA,3\n")
    result = scaffold.scaffold(data, "label", "t")
    assert result.missing_labels == 1
    assert any("1 rows have no label" in line for line in scaffold.describe(result))
