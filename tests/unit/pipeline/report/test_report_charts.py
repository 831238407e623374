"""Chart geometry: bars and lines land inside their SVG boxes, in proportion to the data."""

import pytest

from pipeline.report import charts


def test_histogram_scales_the_tallest_bucket_to_full_height():
    chart = charts.histogram([(0.0, 1.0, 5.0), (1.0, 2.0, 10.0), (2.0, 3.0, 0.0)], 90, 30)
    heights = [bar.height for bar in chart.bars]
    assert heights == [15.0, 30.0, 0.0]
    assert [bar.y + bar.height for bar in chart.bars] == [30.0, 30.0, 30.0]
    assert chart.bars[-1].x + chart.bars[-1].width <= 90
    assert (chart.left_label, chart.right_label) == ("0", "3")
    assert chart.bars[1].title == "1 to 2: 10"


def test_a_small_nonzero_bucket_stays_visible():
    chart = charts.histogram([(0.0, 1.0, 1.0), (1.0, 2.0, 1000.0)], 40, 30)
    assert chart.bars[0].height == 1.0


def test_category_bars_keep_order_and_name_the_ends():
    chart = charts.category_bars([("Biscoe", 118.0), ("Dream", 87.0), ("Torgersen", 35.0)])
    assert [bar.title for bar in chart.bars] == ["Biscoe: 118", "Dream: 87", "Torgersen: 35"]
    assert chart.bars[0].height == charts.SPARK_HEIGHT
    assert (chart.left_label, chart.right_label) == ("Biscoe", "Torgersen")


def test_empty_charts_have_no_bars():
    assert charts.histogram([]).bars == ()
    assert charts.category_bars([]).bars == ()


def test_line_chart_points_stay_inside_the_plot_box():
    chart = charts.line_chart(
        "Loss", {"loss": [1.2, 0.6, 0.3, 0.1], "val_loss": [1.0, 0.7, float("nan"), 0.2]}
    )
    training, validation = chart.series
    assert (training.css_class, validation.css_class) == ("training", "validation")
    points = [tuple(map(float, p.split(","))) for p in training.points.split()]
    assert len(points) == 4
    assert len(validation.points.split()) == 3  # the NaN epoch is left out
    for x, y in points:
        assert chart.left <= x <= chart.right
        assert chart.top <= y <= chart.bottom
    assert points[0][0] == chart.left and points[-1][0] == chart.right
    assert points[0][1] < points[-1][1]  # higher loss is drawn higher up


def test_line_chart_with_fixed_range_puts_one_at_the_top():
    chart = charts.line_chart("Accuracy", {"accuracy": [0.5, 1.0]}, y_range=(0.0, 1.0))
    (series,) = chart.series
    last_y = float(series.points.split()[-1].split(",")[1])
    assert last_y == pytest.approx(chart.top)
    assert [t.label for t in chart.y_ticks] == ["0", "0.5", "1"]


@pytest.mark.parametrize(
    ("low", "high", "integer", "expected"),
    [
        (0.0, 1.0, False, [0.0, 0.5, 1.0]),
        (0.0, 4.0, False, [0.0, 1.0, 2.0, 3.0, 4.0]),
        (0.0013, 1.07, False, [0.0, 0.5, 1.0, 1.5]),
        (1, 28, True, [10, 20]),
        (1, 1, True, [1]),
    ],
)
def test_nice_ticks(low, high, integer, expected):
    assert charts.nice_ticks(low, high, integer=integer) == expected


def test_cell_shade_is_zero_for_empty_cells_and_strongest_at_the_peak():
    assert charts.cell_shade(0, 39) == 0.0
    assert charts.cell_shade(39, 39) == pytest.approx(0.85)
    assert 0 < charts.cell_shade(1, 39) < charts.cell_shade(20, 39)
