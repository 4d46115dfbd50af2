"""Bar charts drawn on the server as SVG: no script, nothing for the CSP to allow.

:func:`bar_chart` lays out one group of bars per period (an hour, a day or a
week), one bar per series, scaled to the largest amount; the template
draws the rectangles, axis labels and a table of the same figures for
screen readers and for copying. Heights are computed in integers of the
SVG's user units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bitcache.core.money import MSAT_PER_SAT
from bitcache.services.overview import Period, Series

WIDTH, HEIGHT = 640, 220
LEFT, BOTTOM, TOP = 92, 28, 10
MAX_BAR = 40
MAX_PERIODS = 45


@dataclass(frozen=True, slots=True)
class Bar:
    """One rectangle: where it is, which series (CSS class ``s<n>``), and what it says."""

    x: int
    y: int
    w: int
    h: int
    series: int
    title: str


@dataclass(frozen=True, slots=True)
class Label:
    x: int
    y: int
    text: str


@dataclass(frozen=True, slots=True)
class Chart:
    """An SVG bar chart: bars, axis labels, the legend and the figures as rows."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    x_labels: tuple[Label, ...]
    y_labels: tuple[Label, ...]
    legend: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]
    baseline: int
    first_series: int = 0

    @property
    def empty(self) -> bool:
        return not self.rows


def sats(msat: int) -> str:
    """Whole sats with thousands separators (msat dropped: a chart label)."""
    return f"{msat // MSAT_PER_SAT:,}"


def sats_exact(msat: int) -> str:
    """Sats with thousands separators, and the msat as three decimals when there are any."""
    whole, rest = divmod(msat, MSAT_PER_SAT)
    return f"{whole:,}" if rest == 0 else f"{whole:,}.{rest:03d}"


def period_label(start_us: int, period: Period) -> str:
    when = datetime.fromtimestamp(start_us // 1_000_000, tz=UTC)
    if period is Period.HOUR:
        return when.strftime("%m-%d %H:00")
    return when.strftime("%Y-%m-%d")


def _periods(series: Sequence[Series], period: Period) -> list[int]:
    starts = {t for s in series for t, _ in s.points}
    if not starts:
        return []
    first, last = min(starts), max(starts)
    first = max(first, last - (MAX_PERIODS - 1) * period.value)
    return list(range(first, last + 1, period.value))


def bar_chart(series: Sequence[Series], period: Period, *, width: int = WIDTH,
              height: int = HEIGHT, first_series: int = 0) -> Chart:
    """The chart of ``series`` by ``period`` (the last MAX_PERIODS periods).

    ``first_series`` numbers the series' colours (CSS ``s<n>``) when charts of
    one series each are drawn side by side.
    """
    periods = _periods(series, period)
    values = [dict(s.points) for s in series]
    top = max((v.get(p, 0) for v in values for p in periods), default=0) or 1
    plot_w, plot_h = width - LEFT - 8, height - BOTTOM - TOP
    slot = plot_w // max(len(periods), 1)
    bar_w = min(max((slot - 4) // max(len(series), 1), 1), MAX_BAR)
    bars, x_labels = [], []
    every = max(len(periods) * 90 // (width - LEFT), 1)
    for i, p in enumerate(periods):
        x0 = LEFT + i * slot + 2
        for n, v in enumerate(values):
            amount = v.get(p, 0)
            h = amount * plot_h // top
            bars.append(Bar(x0 + n * bar_w, TOP + plot_h - h, bar_w, h, first_series + n,
                            f"{series[n].label} {period_label(p, period)}: {sats(amount)} sat"))
        if i % every == 0:
            x_labels.append(Label(x0, height - 8, period_label(p, period)))
    y_labels = tuple(Label(LEFT - 6, TOP + plot_h - plot_h * k // 2 + 4, sats(top * k // 2))
                     for k in range(3))
    rows = tuple((period_label(p, period), tuple(sats(v.get(p, 0)) for v in values))
                 for p in periods)
    return Chart(width, height, tuple(bars), tuple(x_labels), y_labels,
                 tuple(s.label for s in series), rows, TOP + plot_h, first_series)
