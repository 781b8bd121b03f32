"""Charts as inline SVG, drawn here so the HTML page needs no script and no
network. Every text is escaped.

- a few categories are bars: horizontal for long labels (outcomes, menu
  choices), vertical for short ones (hours of the day);
- a long run of values (more than ``MAX_BARS``) and a chart of several
  series are lines over a time axis, with a value axis and a legend;
- axis labels never overlap: each is given the width its text needs at
  most, and labels that would touch one already placed are left out, the
  chart's emphasised labels (midnights, a repeated DST hour) placed first;
- one colour per outcome (``COLOURS``), the same in every chart, with a
  legend whenever a chart has more than one colour;
- durations are written ``h:mm:ss``;
- a narrow window shrinks a chart to ``MIN_SCALE`` at most (the page's
  figure then scrolls sideways), so that its texts stay readable.
"""
from __future__ import annotations

import math
import unicodedata
from html import escape
from typing import Callable, Sequence

from agi.reports.model import Chart, Series
from agi.reports.render.values import hms
from agi.safe_text import set_apart

BAR = "#2f6fb0"
AXIS = "#8a94a6"
GRID = "#e4e7eb"
TEXT = "#1f2933"
#: One colour per outcome and per series, the same in every chart
#: (Okabe and Ito's colour-blind safe set, then darker tones).
COLOURS = {
    "offered": "#0072b2", "answered": "#009e73", "abandoned": "#d55e00", "not_answered": "#e69f00",
    "callback": "#cc79a7", "in_progress": "#56b4e9", "interrupted": "#7b3294", "failed": "#a50f15",
    "blocked": "#525252", "do_not_call": "#8c510a", "ivr_hangup": "#b8a200", "self_service": "#35978f",
    "average wait": BAR,
    # what became of a campaign's legs: its results beside answered (agi/reports/campaign.py)
    "blocked by a list": "#8c510a", "blocked by the hours": "#525252", "busy": "#882255",
    "no answer": "#e69f00", "other dial status": "#a50f15",
}
#: More values than this are drawn as a line, not as bars.
MAX_BARS = 31
#: The room kept between two labels, in px.
LABEL_GAP = 8
#: The most a character of the chart font takes, in em (DejaVu Sans, the
#: widest of the usual sans-serif fonts): estimates that never fall short of
#: the real text. Narrow ASCII, other ASCII letters and digits, wide ones;
#: anything else is 1 em, and wide East Asian characters and emoji 1.25 em.
_NARROW = frozenset(" !\"'(),-./:;I[]`fijlrt|{}")
_WIDE = frozenset("%@MWmw")
_EM = {**dict.fromkeys(_NARROW, 0.45), **dict.fromkeys(_WIDE, 1.0)}
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'
_SMALL = 'font-family="system-ui, sans-serif" font-size="10"'
WIDTH = 860
#: The most a narrow window shrinks a chart: its 10 and 12 px texts stay
#: 7.5 and 9 px; a narrower window scrolls the chart in its own box.
MIN_SCALE = 0.75


def chart_svg(chart: Chart) -> str:
    """The chart as an ``<svg>`` element; an empty chart (no value, or only
    counts and times of 0) says so. Percentages of 0 are drawn: an ASR of 0%
    is news."""
    values = [v for s in chart.series or [Series("", chart.values)] for v in s.values if v is not None]
    if not values or (max(values) <= 0 and chart.unit != "%"):
        return '<p class="empty">nothing to show</p>'
    if chart.series or (not chart.horizontal and len(chart.labels) > MAX_BARS):
        return _lines(chart)
    return _horizontal(chart) if chart.horizontal else _vertical(chart)


def colour(name: str) -> str:
    return COLOURS.get(name, BAR)


def _bar_colour(chart: Chart, label: str) -> str:
    """An outcome's colour in a chart of outcomes; else the one bar colour."""
    return colour(label) if chart.outcomes else BAR


def number(value: float | None, unit: str) -> str:
    """A value as the charts write it: ``1,234``, ``45.5%``, ``0:05:46``; none is ``-``."""
    if value is None:
        return "-"
    if unit == "seconds":
        return hms(value)
    text = f"{value:,.1f}" if unit == "%" or value != int(value) else f"{int(value):,}"
    return text + ("%" if unit == "%" else "")


def text_width(text: str, size: int = 12) -> float:
    """At least the width ``text`` takes in the chart font at ``size`` px."""
    return sum(_em(char) for char in text) * size


def _em(char: str) -> float:
    if char in _EM:
        return _EM[char]
    if char < "\x7f":
        return 0.8 if char.isupper() else 0.65
    if unicodedata.combining(char) or unicodedata.category(char) == "Cf":  # accents, joiners: no width
        return 0.0
    return 1.25 if unicodedata.east_asian_width(char) in "WF" else 1.0


def fitted(text: str, width: float, size: int = 12) -> str:
    """``text``, or as much of it as fits in ``width`` px followed by ``…``
    (read up to the first character past ``width``: a name of a million
    characters costs no more than a short one)."""
    room = width - text_width("…", size)
    used, cut = 0.0, None
    for i, char in enumerate(text):
        used += _em(char) * size
        if cut is None and used > room:
            cut = i
        if used > width:
            return text[:cut] + "…"
    return text


def thinned(positions: Sequence[float], labels: Sequence[str], first: Sequence[int] = (),
            low: float = 0, high: float = math.inf) -> dict[int, int]:
    """The labels to show, centred at ``positions``, as {index: line}: no
    two on a line overlap and none leaves [low, high]. The ``first`` ones
    are placed first, each on the first line under the axis that has room
    for it (a date and the two 02:00 of the night the clocks go back may
    take three); then every k-th one (the smallest k that fits labels of
    the usual width) and any other that still fits, on the first line."""
    usual = [text_width(label) for i, label in enumerate(labels) if i not in first] or [0.0]
    room = (positions[-1] - positions[0]) / (len(positions) - 1) if len(positions) > 1 else math.inf
    step = max(1, math.ceil((max(usual) + LABEL_GAP) / room)) if room > 0 else len(labels)
    lines = range(max(2, len(first)))
    taken: list[list[tuple[float, float]]] = [[] for _ in lines]
    shown: dict[int, int] = {}
    for i in [*first, *range(0, len(labels), step), *range(len(labels))]:
        half = text_width(labels[i]) / 2 + LABEL_GAP / 2
        extent = (positions[i] - half, positions[i] + half)
        if i in shown or extent[0] < low or extent[1] > high:
            continue
        for line in lines if i in first else (0,):
            if all(extent[1] <= a or extent[0] >= b for a, b in taken[line]):
                taken[line].append(extent)
                shown[i] = line
                break
    return shown


def _horizontal(chart: Chart) -> str:
    label_w, bar_w, row_h = 170, 380, 24
    height = row_h * len(chart.labels) + 10
    top = max(v for v in chart.values if v is not None) or 1
    parts = [_open(label_w + bar_w + 90, height, chart.title)]
    for i, (label, value) in enumerate(zip(chart.labels, chart.values)):
        y = 5 + i * row_h
        length = max(bar_w * value / top, 1 if value else 0) if value is not None else 0
        short = fitted(label, label_w - 12)
        parts.append(f'<text class="label" x="{label_w - 8}" y="{y + 16}" text-anchor="end" fill="{TEXT}" {_FONT}>'
                     f'<title>{escape(label)}</title>{escape(short)}</text>')
        if value is not None:
            parts.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" '
                         f'fill="{_bar_colour(chart, label)}"><title>{escape(set_apart(label))}: {escape(number(value, chart.unit))}'
                         f'</title></rect>')
        parts.append(f'<text class="value" x="{label_w + length + 6:.1f}" y="{y + 16}" fill="{TEXT}" {_FONT}>'
                     f'{escape(number(value, chart.unit))}</text>')
    parts.append(f'<line x1="{label_w}" y1="2" x2="{label_w}" y2="{height - 2}" stroke="{AXIS}"/>')
    svg = "".join(parts) + "</svg>"
    # a label without a value has no bar: its colour is nowhere in the chart
    drawn = [label for label, value in zip(chart.labels, chart.values) if value is not None]
    colours = {_bar_colour(chart, label) for label in drawn}
    return svg + (_legend_html([(label, colour(label)) for label in drawn]) if len(colours) > 1 else "")


def _vertical(chart: Chart) -> str:
    count = len(chart.labels)
    # wide enough for each label where the chart has room: a day's date is wider than 60 px
    widest = math.ceil(max(text_width(label) for label in chart.labels) + LABEL_GAP + 1)
    slot = max(30.0, min(max(60.0, widest), (WIDTH - 20) / count))
    bar_w = min(slot - 8, 52.0)
    side = max(10, math.ceil((widest - slot) / 2))  # room for the first and last labels beside their bars
    texts = [number(value, chart.unit) for value in chart.values]
    # bars too narrow to write their values on get a value axis, as a line chart has
    ticks = [] if all(text_width(t, 10) <= slot - 2 for t in texts) else _ticks(_peak(chart.values), chart.unit)
    left = max(side, math.ceil(max((text_width(number(t, chart.unit), 10) for t in ticks), default=0) + 12))
    plot_h, top_pad, bottom = 160, 18, 24
    width = int(left + slot * count + side)
    top = ticks[-1] if ticks else _peak(chart.values)
    base = top_pad + plot_h
    centres = [left + i * slot + slot / 2 for i in range(count)]
    shown = thinned(centres, chart.labels, chart.emphasis, 0, width)
    bottom += 14 * max(shown.values(), default=0)
    parts = [_open(width, top_pad + plot_h + bottom, chart.title),
             *_value_axis(ticks, chart.unit, left, width - side, lambda v: base - plot_h * v / top)]
    for i, (label, value) in enumerate(zip(chart.labels, chart.values)):
        height = max(plot_h * value / top, 1 if value else 0) if value is not None else 0
        if value is not None:
            parts.append(f'<rect class="bar" x="{centres[i] - bar_w / 2:.1f}" y="{base - height:.1f}" '
                         f'width="{bar_w:.1f}" height="{height:.1f}" fill="{_bar_colour(chart, label)}">'
                         f'<title>{escape(set_apart(label))}: {escape(texts[i])}</title></rect>')
        if value and not ticks:
            parts.append(f'<text class="value" x="{centres[i]:.1f}" y="{base - height - 4:.1f}" '
                         f'text-anchor="middle" fill="{TEXT}" {_SMALL}>{escape(texts[i])}</text>')
        if i in shown:
            parts.append(f'<text class="label" x="{centres[i]:.1f}" y="{base + 18 + 14 * shown[i]}" '
                         f'text-anchor="middle" fill="{TEXT}" {_FONT}>{escape(label)}</text>')
    parts.append(f'<line x1="8" y1="{base}" x2="{width - 8}" y2="{base}" stroke="{AXIS}"/>')
    return "".join(parts) + "</svg>"


def _peak(values: Sequence[float | None]) -> float:
    return max(v for v in values if v is not None) or 1


def _value_axis(ticks: Sequence[float], unit: str, left: float, right: float,
                place: Callable[[float], float]) -> list[str]:
    """At each tick a grid line (the axis colour at 0) and its value, left of the plot."""
    parts = []
    for tick in ticks:
        parts.append(f'<line x1="{left}" y1="{place(tick):.1f}" x2="{right}" y2="{place(tick):.1f}" '
                     f'stroke="{GRID if tick else AXIS}"/>')
        parts.append(f'<text class="tick" x="{left - 6}" y="{place(tick) + 4:.1f}" text-anchor="end" fill="{TEXT}" '
                     f'{_SMALL}>{escape(number(tick, unit))}</text>')
    return parts


def _lines(chart: Chart) -> str:
    """Each series a line over the labels (a single series of ``values``
    when there are none), with a value axis, a time axis and a legend."""
    series = list(chart.series) or [Series(chart.title, list(chart.values))]
    left, right, top_pad, plot_h, bottom = 64, 44, 12, 200, 30
    width = WIDTH
    plot_w = width - left - right
    count = len(chart.labels)
    xs = [left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2) for i in range(count)]
    peak = max(v for s in series for v in s.values if v is not None) or 1
    ticks = _ticks(peak, chart.unit)
    top = ticks[-1]
    base = top_pad + plot_h

    def y(value: float) -> float:
        return base - plot_h * value / top

    shown = thinned(xs, chart.labels, chart.emphasis, 0, width)
    bottom += 14 * max(shown.values(), default=0)
    parts = [_open(width, base + bottom, chart.title)]
    parts.extend(_value_axis(ticks, chart.unit, left, width - right, y))
    for i, row in sorted(shown.items()):
        parts.append(f'<line x1="{xs[i]:.1f}" y1="{base}" x2="{xs[i]:.1f}" y2="{base + 4 + 14 * row}" '
                     f'stroke="{AXIS}"/>')
        parts.append(f'<text class="label" x="{xs[i]:.1f}" y="{base + 18 + 14 * row}" text-anchor="middle" '
                     f'fill="{TEXT}" {_FONT}>{escape(chart.labels[i])}</text>')
    for line in series:
        parts.append(_path(line.name, line.values, xs, y, chart))
    svg = "".join(parts) + "</svg>"
    return svg + (_legend_html([(line.name, colour(line.name)) for line in series]) if len(series) > 1 else "")


def _path(name: str, values: Sequence[float | None], xs: Sequence[float], place: Callable[[float], float],
          chart: Chart) -> str:
    """One series: a line through its points (broken where it has no
    value), a dot with the value as tooltip on each point."""
    segments: list[list[str]] = [[]]
    dots = []
    for x, label, value in zip(xs, chart.labels, values):
        if value is None:
            segments.append([])
            continue
        segments[-1].append(f"{x:.1f},{place(value):.1f}")
        dots.append(f'<circle cx="{x:.1f}" cy="{place(value):.1f}" r="{2.5 if len(xs) <= 100 else 1.5}" '
                    f'fill="{colour(name)}"><title>{escape(set_apart(label))}: {escape(set_apart(name))} '
                    f'{escape(number(value, chart.unit))}</title></circle>')
    lines = "".join(f'<polyline class="line" points="{" ".join(points)}" fill="none" stroke="{colour(name)}" '
                    f'stroke-width="2" stroke-linejoin="round"/>' for points in segments if len(points) > 1)
    return f'<g class="series" data-series="{escape(name)}">{lines}{"".join(dots)}</g>'


def _ticks(peak: float, unit: str) -> list[float]:
    """0 and up to five round steps reaching at least ``peak``."""
    if unit == "seconds":
        steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    else:
        magnitude = 10 ** math.floor(math.log10(peak / 5)) if peak >= 5 else 1
        steps = [m * magnitude for m in (1, 2, 5, 10)]
    step = next((s for s in steps if peak / s <= 5), steps[-1] * math.ceil(peak / (5 * steps[-1])))
    return [step * i for i in range(math.ceil(peak / step) + 1)]


def _legend_html(entries: Sequence[tuple[str, str]]) -> str:
    """The legend under a chart: a swatch of each colour and what it stands for."""
    items = "".join(f'<li><span class="swatch" style="background:{c}"></span>{escape(name)}</li>'
                    for name, c in entries)
    return f'<ul class="legend">{items}</ul>'


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" style="min-width: {math.ceil(width * MIN_SCALE)}px" '
            f'aria-label="{escape(title)}"><title>{escape(title)}</title>')
