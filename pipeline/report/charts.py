"""Chart geometry for inline SVG: plain numbers the templates draw, no drawing library.

Every function here is pure: it turns values into rectangles, polylines and ticks in
SVG user units (y grows downwards); ``templates/_charts.html.j2`` renders them.
"""

import dataclasses
import math
from collections.abc import Sequence

from pipeline.report import formatting


@dataclasses.dataclass(frozen=True)
class Bar:
    """One bar; ``title`` becomes its hover text."""

    x: float
    y: float
    width: float
    height: float
    title: str


@dataclasses.dataclass(frozen=True)
class BarChart:
    """A small bar chart (histogram or category counts) with labels at both ends."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    left_label: str
    right_label: str


@dataclasses.dataclass(frozen=True)
class Tick:
    """An axis tick at ``position`` (SVG units) with its label."""

    position: float
    label: str


@dataclasses.dataclass(frozen=True)
class Series:
    """One line: ``points`` is an SVG polyline ``points`` attribute."""

    name: str
    points: str
    css_class: str


@dataclasses.dataclass(frozen=True)
class LineChart:
    """Lines over a shared x axis (epochs) inside a plot box."""

    title: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    series: tuple[Series, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]


SPARK_WIDTH, SPARK_HEIGHT = 150, 36
_BAR_GAP = 1.0


def histogram(
    buckets: Sequence[tuple[float, float, float]],
    width: int = SPARK_WIDTH,
    height: int = SPARK_HEIGHT,
) -> BarChart:
    """Bars of equal width for ``(low, high, count)`` buckets, tallest bar full height."""
    if not buckets:
        return BarChart(width, height, (), "", "")
    peak = max(count for _, _, count in buckets) or 1.0
    step = width / len(buckets)
    bars = tuple(
        _bar(
            i * step,
            step,
            count / peak,
            height,
            f"{formatting.number(low)} to {formatting.number(high)}: {formatting.number(count)}",
        )
        for i, (low, high, count) in enumerate(buckets)
    )
    return BarChart(
        width,
        height,
        bars,
        formatting.number(buckets[0][0]),
        formatting.number(buckets[-1][1]),
    )


def category_bars(
    counts: Sequence[tuple[str, float]],
    width: int = SPARK_WIDTH,
    height: int = SPARK_HEIGHT,
) -> BarChart:
    """One bar per category, in the order given (most frequent first, as TFDV lists them)."""
    if not counts:
        return BarChart(width, height, (), "", "")
    peak = max(count for _, count in counts) or 1.0
    step = width / len(counts)
    bars = tuple(
        _bar(i * step, step, count / peak, height, f"{value}: {formatting.number(count)}")
        for i, (value, count) in enumerate(counts)
    )
    return BarChart(width, height, bars, counts[0][0], counts[-1][0] if len(counts) > 1 else "")


def _bar(x: float, step: float, fraction: float, height: int, title: str) -> Bar:
    bar_height = max(fraction * height, 1.0 if fraction > 0 else 0.0)
    return Bar(
        x=round(x + _BAR_GAP / 2, 2),
        y=round(height - bar_height, 2),
        width=round(max(step - _BAR_GAP, 0.5), 2),
        height=round(bar_height, 2),
        title=title,
    )


def line_chart(
    title: str,
    series: dict[str, Sequence[float]],
    width: int = 380,
    height: int = 220,
    y_range: tuple[float, float] | None = None,
) -> LineChart:
    """Lines of per-epoch values (epoch 1 at the left edge) with nice y ticks.

    Args:
        title: Shown above the plot.
        series: Name -> one value per epoch. A name starting with ``val_`` is drawn dashed.
        width: SVG width.
        height: SVG height.
        y_range: Fixed y extent, e.g. (0, 1) for accuracy; default the data's range.
    """
    left, top, right, bottom = 44.0, 22.0, width - 10.0, height - 28.0
    values = [v for vs in series.values() for v in vs if math.isfinite(v)]
    low, high = y_range or ((min(values), max(values)) if values else (0.0, 1.0))
    y_ticks = nice_ticks(low, high)
    low, high = min(low, y_ticks[0]), max(high, y_ticks[-1])
    epochs = max((len(vs) for vs in series.values()), default=1)

    def x_at(index: float) -> float:
        return left + (right - left) * (index / max(epochs - 1, 1))

    def y_at(value: float) -> float:
        return bottom - (bottom - top) * ((value - low) / ((high - low) or 1.0))

    lines = tuple(
        Series(
            name=name,
            points=" ".join(
                f"{x_at(i):.1f},{y_at(v):.1f}" for i, v in enumerate(vs) if math.isfinite(v)
            ),
            css_class="validation" if name.startswith("val_") else "training",
        )
        for name, vs in series.items()
    )
    return LineChart(
        title=title,
        width=width,
        height=height,
        left=left,
        top=top,
        right=right,
        bottom=bottom,
        series=lines,
        x_ticks=tuple(
            Tick(round(x_at(e - 1), 1), str(e)) for e in nice_ticks(1, epochs, integer=True)
        ),
        y_ticks=tuple(Tick(round(y_at(v), 1), formatting.number(v)) for v in y_ticks),
    )


def nice_ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 x 10^k) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (1.0 if low == 0 else abs(low) * 0.1)
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1, round(step))
    ticks = [round(math.floor(low / step) * step, 10)]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    if integer:
        ticks = [t for t in ticks if low <= t <= high] or [low]
    return ticks


def cell_shade(count: float, peak: float) -> float:
    """Background opacity of a confusion-matrix cell: 0 for none, up to 0.85 for the peak."""
    if peak <= 0 or count <= 0:
        return 0.0
    return round(0.12 + 0.73 * (count / peak), 3)
