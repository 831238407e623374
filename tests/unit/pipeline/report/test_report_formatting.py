"""The report's number formats: what a reader sees for each kind of value."""

import datetime
import math

import pytest

from pipeline.report import formatting


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (44.10210074096167, "44.1"),
        (0.04754557696438082, "0.0475"),
        (4248.214285714285, "4248"),
        (2008.0041666666666, "2008"),
        (240, "240"),
        (79.0, "79"),
        (0, "0"),
        (None, formatting.MISSING),
        (math.nan, formatting.UNDEFINED),
        (math.inf, formatting.UNDEFINED),
        (True, formatting.MISSING),
    ],
)
def test_number(value, expected):
    assert formatting.number(value) == expected


@pytest.mark.parametrize(
    ("function", "value", "expected"),
    [
        (formatting.metric, 0.98734, "0.987"),
        (formatting.metric, 1.0, "1.000"),
        (formatting.signed, 0.0127, "+0.013"),
        (formatting.signed, -0.01, "-0.010"),
        (formatting.distance, 0.10027223230490018, "0.1003"),
        (formatting.percent, 0.034, "3.4 %"),
        (formatting.size, 27052, "26.4 KiB"),
        (formatting.size, 512, "512 bytes"),
        (formatting.size, 5 * 2**20, "5.0 MiB"),
        (formatting.milliseconds, 0.450923, "0.451 ms"),
        (formatting.seconds, 6.46, "6.5 s"),
        (formatting.seconds, 64.2, "1 min 04 s"),
        (formatting.yes_no, True, "yes"),
        (formatting.yes_no, None, formatting.MISSING),
        (formatting.metric, None, formatting.MISSING),
        (formatting.metric, math.nan, formatting.UNDEFINED),
        (formatting.class_metric, None, formatting.UNDEFINED),
        (formatting.class_metric, 0.0, "0.000"),
        (formatting.distance, math.nan, formatting.UNDEFINED),
    ],
)
def test_formats(function, value, expected):
    assert function(value) == expected


def test_timestamp_names_the_zone():
    moment = datetime.datetime(2026, 11, 22, 3, 8, 5, tzinfo=datetime.timezone.utc)
    assert formatting.timestamp(moment) == "2026-11-22 03:08:05 UTC"


def test_every_filter_is_registered_under_its_own_name():
    assert all(formatting.FILTERS[name].__name__ == name for name in formatting.FILTERS)
