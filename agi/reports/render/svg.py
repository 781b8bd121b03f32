"""Bar charts as inline SVG, drawn here so the HTML page needs no script
and no network. Every text is escaped."""
from __future__ import annotations

from html import escape

from agi.reports.model import Chart

BAR = "#2f6fb0"
AXIS = "#8a94a6"
TEXT = "#1f2933"
_FONT = "font-family=\"system-ui, sans-serif\" font-size=\"12\""


def chart_svg(chart: Chart) -> str:
    """A horizontal or vertical bar chart; an empty chart says so."""
    if not chart.values or max(chart.values, default=0) <= 0:
        return '<p class="empty">nothing to show</p>'
    return _horizontal(chart) if chart.horizontal else _vertical(chart)


def _number(value: float, unit: str) -> str:
    text = f"{value:,.1f}" if unit == "%" or value != int(value) else f"{int(value):,}"
    return text + ("%" if unit == "%" else "")


def _horizontal(chart: Chart) -> str:
    label_w, bar_w, row_h = 170, 380, 24
    height = row_h * len(chart.labels) + 10
    top = max(chart.values)
    parts = [_open(label_w + bar_w + 90, height, chart.title)]
    for i, (label, value) in enumerate(zip(chart.labels, chart.values)):
        y = 5 + i * row_h
        length = max(bar_w * value / top, 1 if value else 0)
        short = label if len(label) <= 24 else label[:23] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end" fill="{TEXT}" {_FONT}>'
                     f'<title>{escape(label)}</title>{escape(short)}</text>')
        parts.append(f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 6}" '
                     f'fill="{BAR}"/>')
        parts.append(f'<text x="{label_w + length + 6:.1f}" y="{y + 16}" fill="{TEXT}" {_FONT}>'
                     f'{escape(_number(value, chart.unit))}</text>')
    parts.append(f'<line x1="{label_w}" y1="2" x2="{label_w}" y2="{height - 2}" stroke="{AXIS}"/>')
    return "".join(parts) + "</svg>"


def _vertical(chart: Chart) -> str:
    slot, plot_h, top_pad, bottom = 30, 160, 18, 22
    width = slot * len(chart.labels) + 20
    top = max(chart.values)
    parts = [_open(width, top_pad + plot_h + bottom, chart.title)]
    base = top_pad + plot_h
    for i, (label, value) in enumerate(zip(chart.labels, chart.values)):
        x = 10 + i * slot
        height = max(plot_h * value / top, 1 if value else 0)
        parts.append(f'<rect class="bar" x="{x + 4}" y="{base - height:.1f}" width="{slot - 8}" '
                     f'height="{height:.1f}" fill="{BAR}"><title>{escape(label)}: '
                     f'{escape(_number(value, chart.unit))}</title></rect>')
        if value:
            parts.append(f'<text x="{x + slot / 2}" y="{base - height - 4:.1f}" text-anchor="middle" '
                         f'fill="{TEXT}" font-family="system-ui, sans-serif" font-size="10">'
                         f'{escape(_number(value, chart.unit))}</text>')
        parts.append(f'<text x="{x + slot / 2}" y="{base + 15}" text-anchor="middle" fill="{TEXT}" '
                     f'{_FONT}>{escape(label)}</text>')
    parts.append(f'<line x1="8" y1="{base}" x2="{width - 8}" y2="{base}" stroke="{AXIS}"/>')
    return "".join(parts) + "</svg>"


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>')
