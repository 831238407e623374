"""CSV files -> tf.Examples with a real CSV parser. No TFX imports.

Reads what spreadsheets, R and pandas write: a header row with or without quoted
names, an optional UTF-8 byte-order mark, LF or CRLF line ends, quoted fields (commas
and line breaks inside quotes), and missing values written as any of a configured list
of tokens (``NA``, ``N/A``, ``NaN``, ``null``, an empty field, ...). A missing value
becomes an absent feature, so statistics count it as missing.

Each column gets one type for all files: INT when every value is an integer, FLOAT
when every value is a number, STRING otherwise; a column with no value anywhere is
left out of the examples. Records are typed and encoded a batch at a time by
``example_encoder``; a large file is read in parts (``file_parts``) on several workers.

A file that still cannot be read raises ``CsvFormatError`` whose message is one line
naming the file and line.
"""

import contextlib
import csv
import gc
import itertools
from collections.abc import Iterable, Iterator, Sequence

import apache_beam as beam
import tensorflow as tf

from components.csv_example_gen import example_encoder, split_writer
from components.csv_example_gen.example_encoder import ColumnType
from components.csv_example_gen.file_parts import (
    PART_BYTES,
    FilePart,
    PartEndsInQuotes,
    file_parts,
    whole_file,
)

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
        lines = _lines(file, tf.io.gfile.stat(path).length, path, 1)
        reader = csv.reader(lines, skipinitialspace=True, strict=True)
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


def read_records(part: FilePart, width: int) -> Iterator[list[str]]:
    """The data records of one file part (header skipped, blank lines dropped), as strings.

    Raises:
        CsvFormatError: A record has other than ``width`` fields, a byte is not UTF-8,
            or a quote is left open.
        PartEndsInQuotes: A part that is not the file's last ends inside a quoted field.
    """
    path = part.path
    with tf.io.gfile.GFile(path, "rb") as file:
        file.seek(part.start)
        lines = _lines(file, part.end - part.start, path, part.first_line)
        reader = csv.reader(lines, skipinitialspace=True, strict=True)
        if part.start == 0:
            next(reader, None)  # the header
        while True:
            start = part.first_line + reader.line_num  # a quoted field may span lines
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                if "end of data" not in str(err):
                    raise CsvFormatError(f"{path} line {start}: {err}") from None
                if not part.last:
                    raise PartEndsInQuotes(
                        f"{path} line {start}: a quoted field runs past byte {part.end}, "
                        "where the file was split for parallel reading"
                    ) from None
                raise CsvFormatError(
                    f"{path} line {start}: a quoted field is never closed"
                ) from None
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) != width:
                raise CsvFormatError(
                    f"{path} line {start}: {len(cells)} fields, the header has {width}"
                )
            yield cells


def _lines(file, limit: int, path: str, first_line: int) -> Iterator[str]:
    """The next ``limit`` bytes of ``file`` as decoded lines, each keeping its b"\\n"
    (the csv module needs line ends inside quoted fields); ``first_line`` numbers the
    first. Decodes a block of whole lines at a time: per line, decoding (or a GFile's own
    ``readline``) costs several microseconds."""
    number = first_line
    for block in _line_blocks(file, limit):
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError as err:
            line_start = block.rfind(b"\n", 0, err.start) + 1
            line = number + block.count(b"\n", 0, err.start)
            raise CsvFormatError(
                f"{path} line {line}: byte "
                f"0x{block[err.start]:02x} at column {err.start - line_start + 1} "
                "is not UTF-8; save the file as UTF-8"
            ) from None
        if number == 1 and text.startswith(_BOM):
            text = text[1:]
        lines = text.split("\n")
        last = lines.pop()  # "" when the block ends with a line break
        number += len(lines)
        for line in lines:
            yield line + "\n"
        if last:
            yield last


def _line_blocks(file, limit: int, block_bytes: int = 2**20) -> Iterator[bytes]:
    """The next ``limit`` bytes of ``file`` in blocks that end at a b"\\n" (but the last)."""
    rest = b""
    while limit > 0 and (block := file.read(min(block_bytes, limit))):
        limit -= len(block)
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest += block
            continue
        yield rest + block[:cut]
        rest = block[cut:]
    if rest:
        yield rest


def record_batches(part: FilePart, width: int) -> Iterator[list[list[str]]]:
    """``read_records`` in lists of up to ``BATCH_RECORDS``."""
    records = read_records(part, width)
    while batch := list(itertools.islice(records, BATCH_RECORDS)):
        yield batch


def file_column_types(part: FilePart, width: int, missing_values: frozenset[str]) -> list[int]:
    """Each column's ColumnType (as an int) over the records of one file part."""
    types = [ColumnType.EMPTY] * width
    with no_cyclic_gc():
        for batch in record_batches(part, width):
            evidence = example_encoder.column_types(batch, width, missing_values)
            types = [max(a, b) for a, b in zip(types, evidence, strict=True)]
    return [int(t) for t in types]


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Python's cycle collector off for the block (reference counting still frees).

    Each batch allocates its records' lists by the thousand, which triggers collections
    that, in a process that imported TensorFlow, walk millions of objects: with the
    collector on, reading and encoding take about twice as long.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def serialized_examples(
    part: FilePart, names: Sequence[str], types: Sequence[int], missing_values: frozenset[str]
) -> Iterator[bytes]:
    """One file part's records as serialized tf.Examples, map keys sorted (deterministic)."""
    column_types = [ColumnType(t) for t in types]
    for batch in record_batches(part, len(names)):
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
    """A file part's records as tf.Examples, given every column's type."""

    def __init__(self, names: Sequence[str], missing_values: frozenset[str]):
        self._names = list(names)
        self._missing = missing_values

    def process(self, part: FilePart, types: list[int]) -> Iterator[tf.train.Example]:
        for record in serialized_examples(part, self._names, types, self._missing):
            yield tf.train.Example.FromString(record)


class _ColumnTypes(beam.PTransform):
    """The column types over all file parts: one element, a list of ints (ColumnType)."""

    def __init__(self, width: int, missing_values: frozenset[str]):
        super().__init__()
        self._width = width
        self._missing = missing_values

    def expand(self, parts: beam.PCollection) -> beam.PCollection:
        width, missing = self._width, self._missing
        return (
            parts
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
        files = pipeline | "CsvFiles" >> beam.Create([whole_file(p) for p in self._paths])
        types = files | "ColumnTypes" >> _ColumnTypes(len(self._names), self._missing)
        return files | "ToExample" >> beam.ParDo(
            _ReadExamples(self._names, self._missing), beam.pvalue.AsSingleton(types)
        )


class CsvToSplits(beam.PTransform):
    """Reads CSV files into hash-partitioned, shuffled splits of gzipped TFRecords.

    The examples are those of ``CsvToExamples``, serialized with sorted map keys, and
    split and shuffled by ``split_writer``. Beam's elements are file parts (see
    ``file_parts``) and output shards, never records, so no record crosses the runner's
    data channel, and a runner on several workers reads several parts at once. Returns
    one element per output shard: (split name, records written).

    Raises (when the pipeline runs):
        PartEndsInQuotes: A file could not be read in parts; read with ``part_bytes=None``.
    """

    def __init__(
        self,
        paths: Sequence[str],
        missing_values: Sequence[str],
        splits: split_writer.Splits,
        part_bytes: int | None = PART_BYTES,
    ):
        super().__init__()
        paths = sorted(paths)
        self._missing = frozenset(token.strip() for token in missing_values)
        self._names = read_common_header(paths)
        self._parts = [part for path in paths for part in file_parts(path, part_bytes)]
        self._splits = splits

    def expand(self, pipeline: beam.Pipeline) -> beam.PCollection:
        names, missing, splits = self._names, self._missing, self._splits
        parts = pipeline | "CsvFileParts" >> beam.Create(self._parts)
        types = parts | "ColumnTypes" >> _ColumnTypes(len(names), missing)
        scattered = (
            pipeline
            | "IndexedCsvFileParts" >> beam.Create(list(enumerate(self._parts)))
            | "Scatter"
            >> beam.Map(_scatter_part, beam.pvalue.AsSingleton(types), names, missing, splits)
        )
        return (
            pipeline
            | "Shards" >> beam.Create(splits.shards())
            | "Gather" >> beam.Map(_gather_shard, beam.pvalue.AsList(scattered), splits)
        )


def _scatter_part(
    indexed_part: tuple[int, FilePart],
    types: list[int],
    names: list[str],
    missing_values: frozenset[str],
    splits: split_writer.Splits,
) -> int:
    index, part = indexed_part
    with no_cyclic_gc():
        records = serialized_examples(part, names, types, missing_values)
        return split_writer.scatter(records, splits, index)


def _gather_shard(
    shard: tuple[int, int], scattered: list[int], splits: split_writer.Splits
) -> tuple[str, int]:
    """Runs once every part is scattered: ``scattered`` (a side input) makes it wait."""
    del scattered
    split, run = shard
    return splits.names[split], split_writer.gather(splits, split, run)
