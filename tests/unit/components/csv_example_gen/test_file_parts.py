"""Large CSV files read in parts: the parts hold whole records, in the file's order."""

from pathlib import Path

import pytest

from components.csv_example_gen.csv_source import CsvFormatError, read_records
from components.csv_example_gen.file_parts import (
    PartEndsInQuotes,
    file_parts,
    whole_file,
)

REPO = Path(__file__).resolve().parents[4]
PENGUINS = REPO / "data" / "penguins" / "penguins.csv"

# A BOM, CRLF line ends, a blank line, and quoted fields with commas, doubled quotes and
# line breaks, several records long.
TRICKY = (
    "\ufeffname,note\r\n"
    + "".join(
        f'r{i},"a, ""b""\r\nline {i}\nend"\r\n' if i % 3 == 0 else f"r{i},plain {i}\r\n"
        for i in range(60)
    )
    + "\r\nlast,done\r\n"
)


def records_by_parts(path: str, part_bytes: int | None, width: int = 2) -> list[list[str]]:
    return [cells for part in file_parts(path, part_bytes) for cells in read_records(part, width)]


@pytest.mark.parametrize("part_bytes", [1, 7, 40, 100, 1000])
def test_parts_give_the_records_of_the_whole_file_in_order(tmp_path, part_bytes):
    path = tmp_path / "tricky.csv"
    path.write_bytes(TRICKY.encode())
    whole = list(read_records(whole_file(str(path)), 2))
    assert len(whole) == 61
    assert whole[0] == ["r0", 'a, "b"\r\nline 0\nend']
    parts = file_parts(str(path), part_bytes)
    assert len(parts) > 1
    assert [p.start for p in parts[1:]] == [p.end for p in parts[:-1]]
    assert parts[-1].end == path.stat().st_size and parts[-1].last
    assert not any(p.last for p in parts[:-1])
    assert records_by_parts(str(path), part_bytes) == whole


def test_a_small_file_is_one_part(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1,2\n")
    assert file_parts(str(path)) == [whole_file(str(path))]
    assert file_parts(str(path), None) == [whole_file(str(path))]


def test_an_error_in_a_later_part_names_the_files_line(tmp_path):
    lines = PENGUINS.read_text().splitlines(keepends=True)
    lines[300] = lines[300].rstrip("\n") + ",extra\n"
    path = tmp_path / "penguins.csv"
    path.write_text("".join(lines))
    with pytest.raises(CsvFormatError) as whole:
        list(read_records(whole_file(str(path)), 8))
    with pytest.raises(CsvFormatError) as parts:
        records_by_parts(str(path), 2000, 8)
    assert str(parts.value) == str(whole.value) == f"{path} line 301: 9 fields, the header has 8"


def test_a_quote_inside_an_unquoted_field_is_caught_not_misread(tmp_path):
    """``5'10"`` makes the quote count odd, so a break inside the later quoted field
    looks like a record end; the part before it then ends inside quotes and says so."""
    path = tmp_path / "heights.csv"
    path.write_text('name,height\nann,5\'10"\nbob,"tall\nand\nthin"\ncy,6\n')
    with pytest.raises(PartEndsInQuotes, match="heights.csv line 3: a quoted field runs past"):
        records_by_parts(str(path), 1)
    assert records_by_parts(str(path), None) == [
        ["ann", "5'10\""],
        ["bob", "tall\nand\nthin"],
        ["cy", "6"],
    ]
