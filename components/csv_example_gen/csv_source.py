"""CSV files -> tf.Examples with a real CSV parser. No TFX imports.

Reads what spreadsheets, R and pandas write: a header row with or without quoted
names, an optional UTF-8 byte-order mark, LF or CRLF line ends, quoted fields (commas
and line breaks inside quotes), and missing values written as any of a configured list
of tokens (``NA``, ``N/A``, ``NaN``, ``null``, an empty field, ...). A missing value
becomes an absent feature, so statistics count it as missing.

Each column gets one type for all files: INT when every value is an integer, FLOAT
when every value is a number, STRING otherwise; a column with no value anywhere is
left out of the examples.

A file that still cannot be read raises ``CsvFormatError`` whose message is one line
naming the file and line.
"""

import csv
import enum
import re
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import tensorflow as tf

from components.csv_example_gen import split_writer

_BOM = "\ufeff"
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|Inf|INF|infinity|Infinity)")
_INT64_MAX = 2**63 - 1


class CsvFormatError(ValueError):
    """A CSV file that cannot be read; the message is one line naming file and line."""


class ColumnType(enum.IntEnum):
    """A column's type; merging two columns' evidence keeps the larger."""

    EMPTY = 0  # no value in any row
    INT = 1
    FLOAT = 2
    STRING = 3


def read_header(path: str) -> list[str]:
    """The column names in the first record of ``path``, parsed as CSV.

    Raises:
        CsvFormatError: The file is empty, not UTF-8, or its header has an empty or
            repeated name.
    """
    with tf.io.gfile.GFile(path, "rb") as file:
        reader = csv.reader(_lines(file, path), skipinitialspace=True, strict=True)
        try:
            names = next(reader, None)
        except csv.Error as err:
            raise CsvFormatError(f"{path} line {reader.line_num}: {err}") from None
    if not names:
        raise CsvFormatError(f"{path}: empty file, expected a header row of column names")
    names = [name.strip() for name in names]
    for position, name in enumerate(names, start=1):
        if not name:
            raise CsvFormatError(f"{path} line 1: column {position} of the header has no name")
        if name in names[: position - 1]:
            raise CsvFormatError(f"{path} line 1: column name {name!r} appears twice")
    return names


def read_common_header(paths: Sequence[str]) -> list[str]:
    """The header all ``paths`` share; raises CsvFormatError naming a file that differs."""
    if not paths:
        raise CsvFormatError("no CSV file to read")
    names = read_header(paths[0])
    for path in paths[1:]:
        other = read_header(path)
        if other != names:
            raise CsvFormatError(
                f"{path} line 1: header {','.join(other)} differs from {paths[0]}'s "
                f"{','.join(names)}"
            )
    return names


def read_records(path: str, width: int) -> Iterator[list[str]]:
    """The data records of one file (header skipped, blank lines dropped), as strings.

    Raises:
        CsvFormatError: A record has other than ``width`` fields, a byte is not UTF-8,
            or a quote is left open.
    """
    with tf.io.gfile.GFile(path, "rb") as file:
        reader = csv.reader(_lines(file, path), skipinitialspace=True, strict=True)
        next(reader, None)
        while True:
            start = reader.line_num + 1  # a quoted field may span lines: name the first
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                problem = "a quoted field is never closed" if "end of data" in str(err) else err
                raise CsvFormatError(f"{path} line {start}: {problem}") from None
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != width:
                raise CsvFormatError(
                    f"{path} line {start}: {len(cells)} fields, the header has {width}"
                )
            yield cells


def _lines(file, path: str) -> Iterator[str]:
    """Decoded lines, line ends kept (the csv module needs them inside quoted fields)."""
    for number, raw in enumerate(iter(file.readline, b""), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise CsvFormatError(
                f"{path} line {number}: byte 0x{raw[err.start]:02x} at column {err.start + 1} "
                "is not UTF-8; save the file as UTF-8"
            ) from None
        yield line[1:] if number == 1 and line.startswith(_BOM) else line


def value_type(cell: str) -> ColumnType:
    """The narrowest type that holds one present (non-missing) value."""
    text = cell.strip()
    if _INT.fullmatch(text):
        return ColumnType.INT if abs(int(text)) <= _INT64_MAX else ColumnType.FLOAT
    if _FLOAT.fullmatch(text):
        return ColumnType.FLOAT
    return ColumnType.STRING


def to_example(
    names: Sequence[str],
    types: Sequence[ColumnType],
    cells: Sequence[str],
    missing_values: frozenset[str],
) -> tf.train.Example:
    """One record as a tf.Example; missing values and EMPTY columns are left out."""
    example = tf.train.Example()
    for name, column_type, cell in zip(names, types, cells, strict=True):
        if column_type is ColumnType.EMPTY or cell.strip() in missing_values:
            continue
        feature = example.features.feature[name]
        if column_type is ColumnType.INT:
            feature.int64_list.value.append(int(cell.strip()))
        elif column_type is ColumnType.FLOAT:
            feature.float_list.value.append(float(cell.strip()))
        else:
            feature.bytes_list.value.append(cell.encode("utf-8"))
    return example


def file_column_types(path: str, width: int, missing_values: frozenset[str]) -> list[int]:
    """Each column's ColumnType (as an int) over the records of one file."""
    types = [ColumnType.EMPTY] * width
    for cells in read_records(path, width):
        for i, cell in enumerate(cells):
            if types[i] != ColumnType.STRING and cell.strip() not in missing_values:
                types[i] = max(types[i], value_type(cell))
    return [int(t) for t in types]


def serialized_examples(
    path: str, names: Sequence[str], types: Sequence[int], missing_values: frozenset[str]
) -> Iterator[bytes]:
    """One file's records as serialized tf.Examples, map keys sorted (deterministic bytes)."""
    column_types = [ColumnType(t) for t in types]
    for cells in read_records(path, len(names)):
        example = to_example(names, column_types, cells, missing_values)
        yield example.SerializeToString(deterministic=True)


class _MergeTypes(beam.CombineFn):
    """One ColumnType per column from every file's (``file_column_types``)."""

    def __init__(self, width: int):
        self._width = width

    def create_accumulator(self) -> list[int]:
        return [int(ColumnType.EMPTY)] * self._width

    def add_input(self, accumulator: list[int], file_types: list[int]) -> list[int]:
        return [max(a, b) for a, b in zip(accumulator, file_types, strict=True)]

    def merge_accumulators(self, accumulators: Iterable[list[int]]) -> list[int]:
        merged = self.create_accumulator()
        for accumulator in accumulators:
            merged = self.add_input(merged, accumulator)
        return merged

    def extract_output(self, accumulator: list[int]) -> list[int]:
        return accumulator


class _ReadExamples(beam.DoFn):
    """A file's records as tf.Examples, given every column's type."""

    def __init__(self, names: Sequence[str], missing_values: frozenset[str]):
        self._names = list(names)
        self._missing = missing_values

    def process(self, path: str, types: list[int]) -> Iterator[tf.train.Example]:
        column_types = [ColumnType(t) for t in types]
        for cells in read_records(path, len(self._names)):
            yield to_example(self._names, column_types, cells, self._missing)


class _ColumnTypes(beam.PTransform):
    """The column types over all files: one element, a list of ints (ColumnType)."""

    def __init__(self, width: int, missing_values: frozenset[str]):
        super().__init__()
        self._width = width
        self._missing = missing_values

    def expand(self, paths: beam.PCollection) -> beam.PCollection:
        width, missing = self._width, self._missing
        return (
            paths
            | "FileColumnTypes" >> beam.Map(file_column_types, width, missing)
            | "MergeColumnTypes" >> beam.CombineGlobally(_MergeTypes(width))
        )


class CsvToExamples(beam.PTransform):
    """Reads CSV files into one PCollection of tf.Examples.

    The headers are read (and compared) when the pipeline is built, so a bad header
    fails before Beam runs; a bad record fails the Beam pipeline with CsvFormatError.

    The files are read twice: once for the column types, then into examples with those
    types. Reading once would make the runner hold every record until the types are
    known (a side input waits for all of them): memory that grows with the data.
    """

    def __init__(self, paths: Sequence[str], missing_values: Sequence[str]):
        super().__init__()
        self._paths = sorted(paths)
        self._missing = frozenset(token.strip() for token in missing_values)
        self._names = read_common_header(self._paths)

    @property
    def column_names(self) -> list[str]:
        return list(self._names)

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        files = pipeline | "CsvFiles" >> beam.Create(self._paths)
        types = files | "ColumnTypes" >> _ColumnTypes(len(self._names), self._missing)
        return files | "ToExample" >> beam.ParDo(
            _ReadExamples(self._names, self._missing), beam.pvalue.AsSingleton(types)
        )


class CsvToSplits(beam.PTransform):
    """Reads CSV files into hash-partitioned, shuffled splits of gzipped TFRecords.

    The examples are those of ``CsvToExamples``, serialized with sorted map keys, and
    split and shuffled by ``split_writer``. Beam's elements are files and output shards,
    never records, so no record crosses the runner's data channel; a runner on several
    workers reads several files at once. Returns one element per output shard:
    (split name, records written).
    """

    def __init__(
        self, paths: Sequence[str], missing_values: Sequence[str], splits: split_writer.Splits
    ):
        super().__init__()
        self._paths = sorted(paths)
        self._missing = frozenset(token.strip() for token in missing_values)
        self._names = read_common_header(self._paths)
        self._splits = splits

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        names, missing, splits = self._names, self._missing, self._splits
        files = pipeline | "CsvFiles" >> beam.Create(self._paths)
        types = files | "ColumnTypes" >> _ColumnTypes(len(names), missing)
        scattered = (
            pipeline
            | "IndexedCsvFiles" >> beam.Create(list(enumerate(self._paths)))
            | "Scatter"
            >> beam.Map(_scatter_file, beam.pvalue.AsSingleton(types), names, missing, splits)
        )
        return (
            pipeline
            | "Shards" >> beam.Create(splits.shards())
            | "Gather" >> beam.Map(_gather_shard, beam.pvalue.AsList(scattered), splits)
        )


def _scatter_file(
    indexed_path: tuple[int, str],
    types: list[int],
    names: list[str],
    missing_values: frozenset[str],
    splits: split_writer.Splits,
) -> int:
    part, path = indexed_path
    records = serialized_examples(path, names, types, missing_values)
    return split_writer.scatter(records, splits, part)


def _gather_shard(
    shard: tuple[int, int], scattered: list[int], splits: split_writer.Splits
) -> tuple[str, int]:
    """Runs once every file is scattered: ``scattered`` (a side input) makes it wait."""
    del scattered
    split, run = shard
    return splits.names[split], split_writer.gather(splits, split, run)
