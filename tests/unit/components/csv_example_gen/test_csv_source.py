"""The CSV reader on real files through real Beam: dialects, missing tokens, types, errors."""

from pathlib import Path

import apache_beam as beam
import pytest
import tensorflow as tf

from components.csv_example_gen import csv_source
from components.csv_example_gen.csv_source import (
    CsvFormatError,
    CsvToExamples,
    read_common_header,
    read_header,
)
from pipeline.config import DEFAULT_MISSING_VALUES

HEADER = "species,island,bill_length_mm,body_mass_g,sex\n"


def write(directory: Path, name: str, content: str | bytes) -> str:
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def example(**values) -> tf.train.Example:
    out = tf.train.Example()
    for name, value in values.items():
        feature = out.features.feature[name]
        if isinstance(value, str):
            feature.bytes_list.value.append(value.encode())
        elif isinstance(value, int):
            feature.int64_list.value.append(value)
        else:
            feature.float_list.value.append(value)
    return out


def read(paths: list[str], missing=DEFAULT_MISSING_VALUES) -> list[tf.train.Example]:
    """Runs CsvToExamples in a real Beam pipeline and reads back what it wrote."""
    out = Path(paths[0]).parent / "out" / "examples"
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | CsvToExamples(paths, missing)
            | beam.io.WriteToTFRecord(str(out), coder=beam.coders.ProtoCoder(tf.train.Example))
        )
    records = tf.data.TFRecordDataset(sorted(map(str, out.parent.glob("examples*"))))
    return sorted((tf.train.Example.FromString(r.numpy()) for r in records), key=str)


def test_spreadsheet_export_quoted_header_bom_crlf_and_na(tmp_path):
    path = write(
        tmp_path,
        "a.csv",
        '\ufeff"species","island","bill_length_mm","body_mass_g","sex"\r\n'
        '"Adelie","Torgersen","39.1","3750","male"\r\n'
        '"Gentoo","Biscoe",NA,NA,NA\r\n',
    )
    assert read_header(path) == ["species", "island", "bill_length_mm", "body_mass_g", "sex"]
    assert read([path]) == sorted(
        [
            example(species="Adelie", island="Torgersen", bill_length_mm=39.1,
                    body_mass_g=3750, sex="male"),
            example(species="Gentoo", island="Biscoe"),
        ],
        key=str,
    )  # fmt: skip


def test_every_default_missing_token_is_an_absent_feature(tmp_path):
    rows = "".join(f"Adelie,Dream,{token},3750,{token}\n" for token in DEFAULT_MISSING_VALUES)
    assert set(DEFAULT_MISSING_VALUES) >= {"", "NA", "N/A", "NaN", "null"}
    got = read([write(tmp_path, "a.csv", HEADER + rows)])
    assert len(got) == len(DEFAULT_MISSING_VALUES)
    assert all(set(e.features.feature) == {"species", "island", "body_mass_g"} for e in got)
    assert got[0].features.feature["body_mass_g"].int64_list.value == [3750]


def test_configured_missing_tokens_replace_the_defaults(tmp_path):
    path = write(tmp_path, "a.csv", f"{HEADER}Adelie,Dream,-999,3750,NA\n")
    (got,) = read([path], missing=["", "-999"])
    assert "bill_length_mm" not in got.features.feature
    assert got.features.feature["sex"].bytes_list.value == [b"NA"]  # a value now


def test_pandas_and_r_exports(tmp_path):
    pandas = write(tmp_path, "pandas.csv", f"{HEADER}Adelie,Dream,,3750,\n")
    r = write(
        tmp_path,
        "r.csv",
        '"species","island","bill_length_mm","body_mass_g","sex"\n'
        '"Chinstrap","Dream",46.5,NA,"female"\n',
    )
    assert read_common_header([pandas, r]) == HEADER.strip().split(",")
    assert read([pandas, r]) == sorted(
        [
            example(species="Adelie", island="Dream", body_mass_g=3750),
            example(species="Chinstrap", island="Dream", bill_length_mm=46.5, sex="female"),
        ],
        key=str,
    )


def test_quoted_commas_and_line_breaks_stay_in_one_value(tmp_path):
    path = write(tmp_path, "a.csv", 'name,note\nx,"a, b\nc"\n\ny,plain\n')
    assert read([path]) == sorted(
        [example(name="x", note="a, b\nc"), example(name="y", note="plain")], key=str
    )


def test_one_type_per_column_across_files(tmp_path):
    ints = write(tmp_path, "1.csv", "a,b,c,d\n1,1,x,NA\n")
    floats = write(tmp_path, "2.csv", "a,b,c,d\n2.5,2,7,\n")
    got = read([ints, floats])
    assert got == sorted(
        [example(a=1.0, b=1, c="x"), example(a=2.5, b=2, c="7")], key=str
    )  # a: float in both files, c: string in both, d: no value anywhere, left out


def test_header_only_file_gives_no_examples(tmp_path):
    assert read([write(tmp_path, "a.csv", HEADER)]) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "a.csv: empty file, expected a header row of column names"),
        (b"a,,c\n1,2,3\n", "a.csv line 1: column 2 of the header has no name"),
        (b"a,b,a\n1,2,3\n", "a.csv line 1: column name 'a' appears twice"),
    ],
)
def test_bad_header_names_file_and_line(tmp_path, content, message):
    path = write(tmp_path, "a.csv", content)
    with pytest.raises(CsvFormatError) as raised:
        CsvToExamples([path], DEFAULT_MISSING_VALUES)
    assert str(raised.value) == f"{tmp_path}/{message}"


def test_files_with_different_headers(tmp_path):
    first = write(tmp_path, "1.csv", "a,b\n1,2\n")
    second = write(tmp_path, "2.csv", "a,c\n1,2\n")
    with pytest.raises(CsvFormatError, match=r"2\.csv line 1: header a,c differs from .*1\.csv"):
        CsvToExamples([second, first], DEFAULT_MISSING_VALUES)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "a,b\n1,2\n3,caf\xe9\n".encode("latin-1"),
            "a.csv line 3: byte 0xe9 at column 6 is not UTF-8; save the file as UTF-8",
        ),
        (b"a,b\n1,2\n3,4,5\n", "a.csv line 3: 3 fields, the header has 2"),
        (b'a,b\n1,2\n3,"open\n\n', "a.csv line 3: a quoted field is never closed"),
    ],
)
def test_unreadable_record_names_file_and_line(tmp_path, content, message):
    path = write(tmp_path, "a.csv", content)
    with pytest.raises(Exception) as raised:  # noqa: B017, PT011 - Beam may re-wrap it
        read([path])
    assert f"{tmp_path}/{message}" in str(raised.value)


def _peak_traced_bytes(path: str, rows: int) -> int:
    """Peak Python memory while CsvToExamples reads ``path`` in a real Beam pipeline."""
    import tracemalloc

    from apache_beam.testing.util import assert_that, equal_to

    tracemalloc.start()
    try:
        with beam.Pipeline() as pipeline:
            counted = (
                pipeline
                | CsvToExamples([path], DEFAULT_MISSING_VALUES)
                | beam.Map(lambda _: 1)
                | beam.CombineGlobally(sum)
            )
            assert_that(counted, equal_to([rows]))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_records_are_not_held_while_the_column_types_are_inferred(tmp_path, monkeypatch):
    """The runner holds no file's records until every column's type is known, and the
    reader holds a batch of records at a time, so its memory does not grow with the data:
    20,000 more rows of 400 bytes (8 MB that a buffer of the records would hold) add well
    under 2 MiB to the peak."""
    monkeypatch.setattr(csv_source, "BATCH_RECORDS", 1000)
    peaks = []
    for rows in (10_000, 30_000):
        island = "Dream" * 80
        content = HEADER + f"Adelie,{island},39.5,3800,male\n" * rows
        peaks.append(_peak_traced_bytes(write(tmp_path, f"rows{rows}.csv", content), rows))
    assert peaks[1] - peaks[0] < 2 * 2**20, [f"{p / 2**20:.1f} MiB" for p in peaks]
