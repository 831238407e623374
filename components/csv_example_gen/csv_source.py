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
import itertools
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import tensorflow as tf

from components.csv_example_gen import example_encoder, split_writer
from components.csv_example_gen.example_encoder import ColumnType

_BOM = "\ufeff"
BATCH_RECORDS = 8192  # records typed or encoded at a time (see example_encoder)


class CsvFormatError(ValueError):
    """A CSV file that cannot be read; the message is one line naming file and line."""


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
    for number, raw in enumerate(_raw_lines(file), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise CsvFormatError(
                f"{path} line {number}: byte 0x{raw[err.start]:02x} at column {err.start + 1} "
                "is not UTF-8; save the file as UTF-8"
            ) from None
        yield line[1:] if number == 1 and line.startswith(_BOM) else line


def _raw_lines(file, block_bytes: int = 2**20) -> Iterator[bytes]:
    """The file's lines split at b"\\n", which each keeps; read a block at a time (a
    GFile's own ``readline`` costs about 10 us a line)."""
    rest = b""
    while block := file.read(block_bytes):
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest


def record_batches(path: str, width: int) -> Iterator[list[list[str]]]:
    """``read_records`` in lists of up to ``BATCH_RECORDS``."""
    records = read_records(path, width)
    while batch := list(itertools.islice(records, BATCH_RECORDS)):
        yield batch


def file_column_types(path: str, width: int, missing_values: frozenset[str]) -> list[int]:
    """Each column's ColumnType (as an int) over the records of one file."""
    types = [ColumnType.EMPTY] * width
    for batch in record_batches(path, width):
        evidence = example_encoder.column_types(batch, width, missing_values)
        types = [max(a, b) for a, b in zip(types, evidence, strict=True)]
    return [int(t) for t in types]


def serialized_examples(
    path: str, names: Sequence[str], types: Sequence[int], missing_values: frozenset[str]
) -> Iterator[bytes]:
    """One file's records as serialized tf.Examples, map keys sorted (deterministic bytes)."""
    column_types = [ColumnType(t) for t in types]
    for batch in record_batches(path, len(names)):
        yield from example_encoder.encode(names, column_types, batch, missing_values)


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
        for record in serialized_examples(path, self._names, types, self._missing):
            yield tf.train.Example.FromString(record)


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
