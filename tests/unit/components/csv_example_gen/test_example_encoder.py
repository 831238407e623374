"""The vectorized encoder against tf.train.Example built field by field with protobuf."""

import random

import pytest
import tensorflow as tf

from components.csv_example_gen.example_encoder import ColumnType, column_types, encode

MISSING = frozenset(["", "NA", "NaN"])


def reference(names, types, record, missing=MISSING) -> bytes:
    """The example protobuf's own API builds, serialized with sorted map keys."""
    example = tf.train.Example()
    for name, column_type, cell in zip(names, types, record, strict=True):
        if column_type is ColumnType.EMPTY or cell.strip() in missing:
            continue
        feature = example.features.feature[name]
        if column_type is ColumnType.INT:
            feature.int64_list.value.append(int(cell.strip()))
        elif column_type is ColumnType.FLOAT:
            feature.float_list.value.append(float(cell.strip()))
        else:
            feature.bytes_list.value.append(cell.encode("utf-8"))
    return example.SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("7", ColumnType.INT),
        (" -12 ", ColumnType.INT),
        ("+5", ColumnType.INT),
        ("007", ColumnType.INT),
        ("-9223372036854775808", ColumnType.INT),
        ("1.5", ColumnType.FLOAT),
        ("+1.5", ColumnType.FLOAT),
        ("1e3", ColumnType.FLOAT),
        (".5", ColumnType.FLOAT),
        ("5.", ColumnType.FLOAT),
        ("-Infinity", ColumnType.FLOAT),
        ("99999999999999999999", ColumnType.FLOAT),  # beyond int64
        ("1,5", ColumnType.STRING),
        ("male", ColumnType.STRING),
        ("1 2", ColumnType.STRING),
        (" NA ", ColumnType.EMPTY),  # missing once stripped
    ],
)
def test_a_column_of_one_value(cell, expected):
    assert column_types([[cell]], 1, MISSING) == [expected]


def test_a_column_takes_the_widest_type_of_its_values():
    records = [["1", "1", "x", "NA"], ["2.5", "2", "7", ""]]
    assert column_types(records, 4, MISSING) == [
        ColumnType.FLOAT,
        ColumnType.INT,
        ColumnType.STRING,
        ColumnType.EMPTY,
    ]
    assert column_types([], 3, MISSING) == [ColumnType.EMPTY] * 3


def random_cell(rng: random.Random, column_type: ColumnType) -> str:
    if rng.random() < 0.2:
        return rng.choice(sorted(MISSING) + [" NA", "  "])
    if column_type is ColumnType.INT:
        magnitude = rng.choice([0, 1, 127, 128, 16383, 16384, 2**31, 2**62, 2**63 - 1])
        number = rng.choice([magnitude, -magnitude, rng.randrange(-(2**63), 2**63)])
        return rng.choice(["{}", " {} ", "+{}" if number >= 0 else "{}"]).format(number)
    if column_type is ColumnType.FLOAT:
        number = rng.choice([0.0, -0.0, 1e-45, 3.4e38, 1e39, rng.uniform(-1e6, 1e6)])
        return rng.choice([repr(number), f"{number:.3e}", f"{number:.7f}", "inf", "-Infinity"])
    length = rng.choice([0, 1, 127, 128, 16384])
    return "".join(rng.choice('ab, "é€\n\t') for _ in range(length))


def test_encoding_equals_protobufs_deterministic_serialization():
    rng = random.Random(0)
    names = ["zeta", "int", "float", "text", "ä_unicode", "empty"]
    types = [
        ColumnType.STRING,
        ColumnType.INT,
        ColumnType.FLOAT,
        ColumnType.STRING,
        ColumnType.INT,
        ColumnType.EMPTY,
    ]
    records = [[random_cell(rng, t) for t in types] for _ in range(1500)]
    expected = [reference(names, types, record) for record in records]
    assert encode(names, types, records, MISSING) == expected


def test_a_record_with_every_value_missing_is_an_empty_example():
    names, types = ["a", "b"], [ColumnType.INT, ColumnType.STRING]
    assert encode(names, types, [["NA", ""], ["1", "NA"]], MISSING) == [
        b"",
        reference(names, types, ["1", "NA"]),
    ]
    assert encode(names, [ColumnType.EMPTY] * 2, [["", ""]], MISSING) == [b""]
    assert encode(names, types, [], MISSING) == []
