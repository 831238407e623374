"""CSV records -> column types and serialized tf.Examples, a batch at a time. No TFX, no TF.

The work is done per column with Arrow compute kernels, not per cell in Python, so a
record costs a few microseconds whatever its width.

Column types: a column's values (missing values left out) are INT when every one is an
integer that fits int64, FLOAT when every one is a decimal number (``1``, ``-2.5``,
``.5``, ``1e-3``, ``inf``), STRING otherwise, EMPTY when the column has none.

Encoding: the bytes are those of ``tf.train.Example.SerializeToString(deterministic=True)``
for the example with one feature per present value (INT -> ``int64_list``, FLOAT ->
``float_list`` rounded to float32, STRING -> ``bytes_list`` of the cell as written) and
no feature for a missing value or an EMPTY column. The layout follows
``tensorflow/core/example/{example,feature}.proto`` in protobuf's wire format
(https://protobuf.dev/programming-guides/encoding/): a deterministic serializer writes
map entries sorted by key, and repeated scalars packed.
"""

import enum
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_INT = r"^[+-]?[0-9]+$"
_FLOAT = (
    r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
    r"|^[+-]?(inf|Inf|INF|infinity|Infinity)$"
)

# Field tags (field number << 3 | wire type 2, length-delimited).
_EXAMPLE_FEATURES = 0x0A  # Example.features
_FEATURES_ENTRY = 0x0A  # Features.feature, a map<string, Feature> entry
_ENTRY_KEY = 0x0A
_ENTRY_VALUE = 0x12
_FEATURE_BYTES, _FEATURE_FLOAT, _FEATURE_INT64 = 0x0A, 0x12, 0x1A  # Feature's oneof kind
_LIST_VALUE = 0x0A  # BytesList/FloatList/Int64List.value (numbers packed)

_VARINT_SHIFTS = np.arange(0, 70, 7, dtype=np.uint64)
_VARINT_LIMITS = np.uint64(1) << _VARINT_SHIFTS[1:]  # the smallest number of 2, 3, ... bytes


class ColumnType(enum.IntEnum):
    """A column's type; merging two columns' evidence keeps the larger."""

    EMPTY = 0  # no value in any row
    INT = 1
    FLOAT = 2
    STRING = 3


def column_types(
    records: Sequence[Sequence[str]], width: int, missing_values: frozenset[str]
) -> list[ColumnType]:
    """Each column's type over ``records`` (lists of ``width`` cells, as read)."""
    if not records:
        return [ColumnType.EMPTY] * width
    columns = list(zip(*records, strict=True))
    return [
        _column_type(*_present(pa.array(column, pa.string()), missing_values)) for column in columns
    ]


def encode(
    names: Sequence[str],
    types: Sequence[ColumnType],
    records: Sequence[Sequence[str]],
    missing_values: frozenset[str],
) -> list[bytes]:
    """The serialized tf.Example of each record (see the module docstring).

    Args:
        names: The column names, ``width`` of them.
        types: Each column's type over all the data (see ``column_types``).
        records: Lists of ``width`` cells.
        missing_values: The tokens that are a missing value once stripped of whitespace.

    Raises:
        ValueError: A cell that its column's type cannot hold.
    """
    if not records:
        return []
    columns = list(zip(*records, strict=True))
    entries = [
        _entries(name, column_type, columns[position], missing_values)
        for position, (name, column_type) in sorted(
            enumerate(zip(names, types, strict=True)), key=lambda item: item[1][0]
        )
        if column_type is not ColumnType.EMPTY
    ]
    if not entries:
        return [b""] * len(records)
    features = pc.binary_join_element_wise(
        *entries, b"", null_handling="replace", null_replacement=b""
    )
    examples = _delimited(_EXAMPLE_FEATURES, features)
    # An example without features has no Features message at all.
    return pc.if_else(pc.equal(pc.binary_length(features), 0), b"", examples).to_pylist()


def _present(cells: pa.Array, missing_values: frozenset[str]) -> tuple[pa.Array, pa.Array]:
    """(the cells, stripped; True where the cell is a value rather than missing)."""
    stripped = pc.utf8_trim_whitespace(cells)
    missing = pc.is_in(stripped, value_set=pa.array(sorted(missing_values), pa.string()))
    return stripped, pc.invert(missing)


def _column_type(stripped: pa.Array, present: pa.Array) -> ColumnType:
    values = pc.filter(stripped, present)
    if len(values) == 0:
        return ColumnType.EMPTY
    if pc.all(pc.match_substring_regex(values, _INT)).as_py():
        try:
            _to_int64(values)
            return ColumnType.INT
        except pa.ArrowInvalid:  # an integer beyond int64
            return ColumnType.FLOAT
    if pc.all(pc.match_substring_regex(values, _FLOAT)).as_py():
        return ColumnType.FLOAT
    return ColumnType.STRING


def _entries(
    name: str, column_type: ColumnType, column: Sequence[str], missing_values: frozenset[str]
) -> pa.Array:
    """One column's map entries (``Features.feature``), null where the value is missing."""
    cells = pa.array(column, pa.string())
    stripped, present = _present(cells, missing_values)
    placeholder = pc.if_else(present, stripped, "0")  # casts must not see missing tokens
    if column_type is ColumnType.INT:
        numbers = _to_int64(placeholder).to_numpy(zero_copy_only=False).view(np.uint64)
        feature = _delimited(_FEATURE_INT64, _delimited(_LIST_VALUE, _varints(numbers)))
    elif column_type is ColumnType.FLOAT:
        floats = pc.cast(_without_plus(placeholder), pa.float64())
        floats = pc.cast(floats, pa.float32(), safe=False).to_numpy(zero_copy_only=False)
        feature = _delimited(_FEATURE_FLOAT, _delimited(_LIST_VALUE, _fixed_width(floats)))
    else:
        feature = _delimited(_FEATURE_BYTES, _delimited(_LIST_VALUE, cells.cast(pa.binary())))
    key = name.encode("utf-8")
    key_field = bytes([_ENTRY_KEY]) + _varint_bytes(len(key)) + key
    entry = pc.binary_join_element_wise(key_field, _delimited(_ENTRY_VALUE, feature), b"")
    return pc.if_else(present, _delimited(_FEATURES_ENTRY, entry), pa.scalar(None, pa.binary()))


def _to_int64(values: pa.Array) -> pa.Array:
    return pc.cast(_without_plus(values), pa.int64())


def _without_plus(values: pa.Array) -> pa.Array:
    """Arrow's number parsers reject a leading ``+``; Python's accept it."""
    return pc.replace_substring_regex(values, r"^\+", "")


def _delimited(tag: int, payloads: pa.Array) -> pa.Array:
    """Each payload as a length-delimited field: tag byte, varint length, payload."""
    lengths = pc.binary_length(payloads).to_numpy(zero_copy_only=False).astype(np.uint64)
    return pc.binary_join_element_wise(bytes([tag]), _varints(lengths), payloads, b"")


def _varints(numbers: np.ndarray) -> pa.Array:
    """Each uint64 as a base-128 varint (7 bits a byte, low first, high bit = more)."""
    sizes = np.searchsorted(_VARINT_LIMITS, numbers, side="right") + 1
    width = int(sizes.max(initial=1))
    if width == 1:
        return _binary_from(numbers.astype(np.uint8), sizes)
    groups = ((numbers[:, None] >> _VARINT_SHIFTS[:width]) & np.uint64(0x7F)).astype(np.uint8)
    positions = np.arange(width)[None, :]
    groups[positions < (sizes - 1)[:, None]] |= 0x80
    return _binary_from(groups[positions < sizes[:, None]], sizes)


def _fixed_width(values: np.ndarray) -> pa.Array:
    """Each value's little-endian bytes (protobuf's fixed32/fixed64 encoding)."""
    data = np.ascontiguousarray(values.astype(values.dtype.newbyteorder("<")))
    sizes = np.full(len(values), data.itemsize, dtype=np.int64)
    return _binary_from(data.view(np.uint8), sizes)


def _binary_from(data: np.ndarray, sizes: np.ndarray) -> pa.Array:
    offsets = np.zeros(len(sizes) + 1, dtype=np.int32)
    np.cumsum(sizes, out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))]
    return pa.Array.from_buffers(pa.binary(), len(sizes), buffers)


def _varint_bytes(number: int) -> bytes:
    return _varints(np.array([number], dtype=np.uint64)).to_pylist()[0]
