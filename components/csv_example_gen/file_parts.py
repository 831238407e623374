"""A large CSV file -> byte ranges that hold whole records, to read on several workers.

A part ends at a line break outside quotes: one after an even number of ``"`` bytes
from the start of the file (RFC 4180, section 2: a field with a line break is quoted,
and a quote inside it is doubled). A quote inside an unquoted field (``5'10"``), which
Python's reader keeps as a character, breaks that count; the reader then finds a part
that ends inside a quoted field and raises ``PartEndsInQuotes``, and the caller reads
the file whole.
"""

import dataclasses

import tensorflow as tf

PART_BYTES = 16 * 2**20  # a file larger than this is read in parts of about this size
_BLOCK_BYTES = 4 * 2**20


@dataclasses.dataclass(frozen=True)
class FilePart:
    """Bytes [start, end) of one file, starting at its line ``first_line`` (1-based).

    Attributes:
        path: The file.
        start: Byte offset of the part's first line; 0 for the part with the header.
        end: Byte offset just past the part's last line break, or the file's size.
        first_line: The line number of the part's first line, for error messages.
        last: Whether the part runs to the end of the file.
    """

    path: str
    start: int
    end: int
    first_line: int
    last: bool


class PartEndsInQuotes(ValueError):
    """A part (not a file's last) ends inside a quoted field: read the file whole."""


def whole_file(path: str, size: int | None = None) -> FilePart:
    """The one part that is the whole of ``path``; ``size`` (bytes) saves a stat when the
    caller has it."""
    return FilePart(path, 0, tf.io.gfile.stat(path).length if size is None else size, 1, True)


def file_parts(path: str, part_bytes: int | None = PART_BYTES) -> list[FilePart]:
    """``path`` in parts of about ``part_bytes`` (at least one), each ending at a line
    break outside quotes; ``None`` gives the whole file as one part."""
    size = tf.io.gfile.stat(path).length
    if part_bytes is None or size <= part_bytes:
        return [whole_file(path, size)]
    ends = _record_ends(path, part_bytes)
    starts, lines = [0, *(end for end, _ in ends)], [1, *(line for _, line in ends)]
    stops = [*(end for end, _ in ends), size]
    return [
        FilePart(path, start, stop, line, stop == size)
        for start, stop, line in zip(starts, stops, lines, strict=True)
        if start < stop
    ]


def _record_ends(path: str, part_bytes: int) -> list[tuple[int, int]]:
    """(offset just past a line break outside quotes, number of the line after it) for
    the first such break at least ``part_bytes`` past the previous one (or the start)."""
    ends: list[tuple[int, int]] = []
    target, offset, quotes, lines = part_bytes, 0, 0, 1
    with tf.io.gfile.GFile(path, "rb") as file:
        while block := file.read(_BLOCK_BYTES):
            counted = 0  # quotes counts the block's quotes before this position
            position = max(0, target - offset)
            while (found := block.find(b"\n", position)) >= 0:
                quotes += block.count(b'"', counted, found)
                counted = found
                if quotes % 2 == 0:
                    end = offset + found + 1
                    ends.append((end, lines + block.count(b"\n", 0, found + 1)))
                    target = end + part_bytes
                    position = max(found + 1, target - offset)
                else:
                    position = found + 1
            quotes += block.count(b'"', counted)
            lines += block.count(b"\n")
            offset += len(block)
    return ends
