"""Minimum examples and label rules, read from real ``FeatureStats.pb`` files."""

from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import statistics_pb2

from components.data_gate.data_rules import (
    STATISTICS_FILE,
    DataRulesError,
    LabelStats,
    SplitStats,
    check_data_rules,
    label_problems,
    read_split_stats,
    too_few_examples,
)

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
MINIMUMS = {"train": 50, "eval": 20, "test": 10}


def write_split(uri: Path, split: str, text: str) -> None:
    directory = uri / f"Split-{split}"
    directory.mkdir(parents=True)
    stats = text_format.Parse(text, statistics_pb2.DatasetFeatureStatisticsList())
    (directory / STATISTICS_FILE).write_bytes(stats.SerializeToString())


def string_label(num_examples: int, values: dict[str, int], missing: int = 0, empty: int = 0):
    present = num_examples - missing
    buckets = "".join(f'buckets {{ label: "{v}" sample_count: {n} }} ' for v, n in values.items())
    return f"""datasets {{
      num_examples: {num_examples}
      features {{
        path {{ step: "species" }}
        type: STRING
        string_stats {{
          common_stats {{ num_non_missing: {present} num_missing: {missing}
                          tot_num_values: {present - empty} max_num_values: 1 }}
          unique: {len(values)}
          rank_histogram {{ {buckets} }}
        }}
      }}
    }}"""


@pytest.fixture
def artifact(tmp_path) -> Path:
    """train: fine; eval: an unknown class and two missing labels; test: empty."""
    write_split(tmp_path, "train", string_label(60, {"Adelie": 30, "Gentoo": 30}))
    write_split(
        tmp_path, "eval", string_label(25, {"Adelie": 20, "Emperor": 3}, missing=1, empty=1)
    )
    write_split(tmp_path, "test", "datasets { num_examples: 0 }")
    return tmp_path


def test_read_split_stats(artifact):
    assert read_split_stats(str(artifact), ["train", "eval", "test"], "species") == [
        SplitStats("train", 60, LabelStats(0, {"Adelie": 30, "Gentoo": 30})),
        SplitStats("eval", 25, LabelStats(2, {"Adelie": 20, "Emperor": 3})),
        SplitStats("test", 0, None),
    ]


def test_a_split_with_no_dataset_has_no_examples(tmp_path):
    write_split(tmp_path, "test", "")
    assert read_split_stats(str(tmp_path), ["test"], "species") == [SplitStats("test", 0, None)]


def test_too_few_examples_names_split_count_and_key(artifact):
    stats = read_split_stats(str(artifact), ["train", "eval", "test"], "species")
    assert too_few_examples(stats, MINIMUMS) == [
        "split test has 0 examples, fewer than the 10 data.min_examples.test asks for"
    ]
    assert too_few_examples(stats, {**MINIMUMS, "train": 61})[0] == (
        "split train has 60 examples, fewer than the 61 data.min_examples.train asks for"
    )


def test_label_problems_name_missing_rows_and_unknown_values(artifact):
    stats = read_split_stats(str(artifact), ["train", "eval", "test"], "species")
    assert label_problems(stats, "species", CLASSES) == [
        "label 'species' is missing in 2 of 25 examples of split eval",
        "label 'species' has values not in label.classes [Adelie, Chinstrap, Gentoo]: "
        "'Emperor' (3 in eval)",
    ]


def test_no_classes_accepts_any_value_but_not_a_missing_one(artifact):
    stats = read_split_stats(str(artifact), ["train", "eval"], "species")
    assert label_problems(stats, "species", []) == [
        "label 'species' is missing in 2 of 25 examples of split eval"
    ]


def test_label_column_absent_from_the_data(artifact):
    stats = read_split_stats(str(artifact), ["train", "eval"], "penguin_species")
    assert label_problems(stats, "penguin_species", CLASSES) == [
        "label column 'penguin_species' is not in the data"
    ]


def test_label_absent_from_one_split_is_missing_there():
    stats = [
        SplitStats("train", 60, LabelStats(0, {"Adelie": 60})),
        SplitStats("eval", 20, None),
    ]
    assert label_problems(stats, "species", CLASSES) == [
        "label 'species' is missing in 20 of 20 examples of split eval"
    ]


def test_many_unknown_values_are_cut_short():
    values = {f"v{i}": 10 - i for i in range(8)}
    stats = [SplitStats("train", 100, LabelStats(0, values, unlisted_values=4))]
    (problem,) = label_problems(stats, "species", CLASSES)
    assert problem.endswith(
        "'v0' (10 in train), 'v1' (9 in train), 'v2' (8 in train), 'v3' (7 in train), "
        "'v4' (6 in train), and 7 more"
    )


def test_numeric_label_outside_integer_classes():
    stats = [SplitStats("train", 100, LabelStats(0, {}, value_range=(0.0, 3.0)))]
    assert label_problems(stats, "grade", ["0", "1", "2"]) == [
        "label 'grade' has values not in label.classes [0, 1, 2]: '3'"
    ]
    assert label_problems(stats, "grade", ["0", "1", "2", "3"]) == []


def test_check_data_rules_one_line_for_every_problem(artifact):
    stats = read_split_stats(str(artifact), ["train", "eval", "test"], "species")
    with pytest.raises(DataRulesError) as raised:
        check_data_rules(stats, MINIMUMS, "species", CLASSES)
    message = str(raised.value)
    assert "\n" not in message
    assert message.count("; ") == 2
    assert message.startswith("split test has 0 examples")


def test_check_data_rules_passes_good_data(artifact):
    stats = read_split_stats(str(artifact), ["train"], "species")
    check_data_rules(stats, MINIMUMS, "species", CLASSES)
