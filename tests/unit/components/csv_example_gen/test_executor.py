"""The CsvExampleGen executor, run as the pipeline configures it, on real files."""

import csv
import io
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.types import artifact_utils

from components.csv_example_gen.csv_source import CsvFormatError
from components.examples_io import read_serialized_examples

REPO = Path(__file__).resolve().parents[4]
PENGUINS = REPO / "data" / "penguins" / "penguins.csv"


def r_export(rows: list[list[str]]) -> bytes:
    """What R's write.csv and a spreadsheet's "CSV UTF-8" write: a BOM, every string
    quoted, NA for a missing value, CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_r_cell(cell) for cell in row])
    return ("\ufeff" + out.getvalue().replace('"NA"', "NA")).encode()


def _r_cell(cell: str) -> str | float:
    if cell == "":
        return "NA"
    try:
        return float(cell) if "." in cell else int(cell)
    except ValueError:
        return cell


def split_examples(examples) -> dict[str, list[bytes]]:
    """Each split's examples, serialized with sorted map keys (the files' order may vary)."""
    splits = artifact_utils.decode_split_names(examples.split_names)
    return {
        s: sorted(
            tf.train.Example.FromString(e).SerializeToString(deterministic=True)
            for e in read_serialized_examples(examples.uri, s)
        )
        for s in splits
    }


@pytest.fixture(scope="module")
def shipped(run_csv_example_gen, tmp_path_factory):
    return split_examples(
        run_csv_example_gen(PENGUINS.parent, tmp_path_factory.mktemp("shipped") / "out")
    )


def test_r_export_reads_as_the_shipped_file(run_csv_example_gen, shipped, tmp_path):
    rows = list(csv.reader(PENGUINS.open()))
    exported = r_export(rows)
    assert exported.startswith(b'\xef\xbb\xbf"species","island",')
    assert b",NA,NA,NA,NA,NA,2007\r\n" in exported
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "penguins.csv").write_bytes(exported)

    got = split_examples(run_csv_example_gen(tmp_path / "csv", tmp_path / "out"))
    assert got == shipped
    assert sum(map(len, got.values())) == len(rows) - 1


def test_missing_values_are_absent_features(shipped):
    examples = [tf.train.Example.FromString(e) for split in shipped.values() for e in split]
    without_sex = [e for e in examples if "sex" not in e.features.feature]
    assert len(without_sex) == 11  # data/README.md: 11 rows miss sex
    kinds = {
        name: feature.WhichOneof("kind")
        for e in examples
        for name, feature in e.features.feature.items()
    }
    assert kinds == {
        "species": "bytes_list",
        "island": "bytes_list",
        "sex": "bytes_list",
        "bill_length_mm": "float_list",
        "bill_depth_mm": "float_list",
        "flipper_length_mm": "int64_list",
        "body_mass_g": "int64_list",
        "year": "int64_list",
    }


def test_a_file_that_cannot_be_read_fails_with_one_line(run_csv_example_gen, tmp_path):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "good.csv").write_text(PENGUINS.read_text())
    (tmp_path / "csv" / "bad.csv").write_bytes(
        PENGUINS.read_bytes().replace(b"Dream", "Dr\xe9am".encode("latin-1"), 1)
    )
    with pytest.raises(CsvFormatError) as raised:
        run_csv_example_gen(tmp_path / "csv", tmp_path / "out")
    line = next(i for i, row in enumerate(PENGUINS.open(), 1) if "Dream" in row)
    assert str(raised.value) == (
        f"{tmp_path}/csv/bad.csv line {line}: byte 0xe9 at column 10 is not UTF-8; "
        "save the file as UTF-8"
    )


def test_the_class_sorted_shipped_file_comes_out_shuffled(run_csv_example_gen, tmp_path):
    """The shipped CSV lists Adelie, then Gentoo, then Chinstrap; the train split mixes
    them from its first records on, and a second run writes the same files."""
    from components.examples_io import read_serialized_examples

    outputs = [run_csv_example_gen(PENGUINS.parent, tmp_path / f"out{i}") for i in (1, 2)]
    species = [
        tf.train.Example.FromString(e).features.feature["species"].bytes_list.value[0]
        for e in read_serialized_examples(outputs[0].uri, "train")
    ]
    assert len(set(species[:30])) == 3
    for split in ("train", "eval", "test"):
        first, second = (list(read_serialized_examples(o.uri, split)) for o in outputs)
        assert first == second
    assert not (tmp_path / "out1" / ".scatter").exists()


def test_a_file_read_in_parts_gives_the_same_splits(run_csv_example_gen, shipped, tmp_path):
    """Parts of 2,000 bytes (eight of the shipped file) hold the same records."""
    from components.csv_example_gen import file_parts

    assert len(file_parts.file_parts(str(PENGUINS), 2000)) == 8
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(file_parts, "PART_BYTES", 2000)
        got = split_examples(run_csv_example_gen(PENGUINS.parent, tmp_path / "out"))
    assert got == shipped


def test_a_file_that_cannot_be_split_is_read_whole(run_csv_example_gen, tmp_path, caplog):
    """A quote inside an unquoted field and a quoted line break: reading in parts fails,
    and the executor reads the file whole instead, with the same records as unsplit."""
    from components.csv_example_gen import file_parts

    (tmp_path / "csv").mkdir()
    rows = "".join(f'p{i},5\'{i % 12}"\nq{i},"tall\nand thin"\n' for i in range(200))
    (tmp_path / "csv" / "heights.csv").write_text("name,height\n" + rows)
    unsplit = split_examples(run_csv_example_gen(tmp_path / "csv", tmp_path / "whole"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(file_parts, "PART_BYTES", 500)
        got = split_examples(run_csv_example_gen(tmp_path / "csv", tmp_path / "parts"))
    assert "Reading the CSV files whole: " in caplog.text
    assert got == unsplit
    assert sum(map(len, got.values())) == 400
    assert not (tmp_path / "parts" / ".scatter").exists()
