"""The HTML report: one standalone page, escaped, that a real browser draws
(tests/support/browser.py: Debian's headless Chromium)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest
from support.browser import assert_drawn, chromium
from support.cdr_builder import CdrBuilder, menu

from agi.reports import run_report
from agi.reports.model import Filters, Report
from agi.reports.render import render
from agi.reports.timerange import zone

NOW = datetime(2025, 3, 20, tzinfo=timezone.utc)


def build(tmp_path: Path, flow: str = "support") -> Path:
    cdr = CdrBuilder(tmp_path / "cdr.db")
    for i in range(60):
        answered = i % 4 != 0
        cdr.add(f"2025-03-10 {7 + (i * 7) % 12:02d}:{i:02d}:00", caller=f"+3460011{i % 9}", flow=flow,
                queue="support", queue_status="ANSWERED" if answered else "TIMEOUT", queue_wait=5.0 + i,
                talk_time=60.0 + i if answered else None, duration=80.0 + i,
                status="completed" if i % 7 else "caller_hangup",
                steps=[menu("main", str(1 + i % 3), timeouts=i % 2), ("q", "queue", "next", {})])
    cdr.close()
    return cdr.path


def report(path: Path, kind: str, **options: object) -> Report:
    tz, name = zone("Europe/Madrid")
    return run_report(path, kind, Filters(tz=tz, tz_name=name), NOW, charts=True, **options)


class Dom(HTMLParser):
    """Counts what a test looks for in the page the browser built."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.bars = 0
        self.scripts = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "rect" and ("class", "bar") in attrs:
            self.bars += 1
        elif tag == "script":
            self.scripts += 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None


def test_the_page_is_standalone_and_escapes_every_value(tmp_path: Path) -> None:
    path = build(tmp_path, flow='<script>alert("x")</script>&co')
    page = render(report(path, "summary"), "html")
    assert "<script" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co" in page
    assert "default-src 'none'" in page  # the browser may load nothing
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>]*", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # the SVG namespace name, never fetched


def test_the_hourly_chart_has_a_bar_per_hour_scaled_to_the_busiest(tmp_path: Path) -> None:
    page = render(report(build(tmp_path), "summary"), "html")
    hours = re.search(r'aria-label="Calls per hour of the day">(.*?)</svg>', page, re.S)
    assert hours is not None
    bars = re.findall(r'<rect class="bar"[^>]* height="([\d.]+)"[^>]*><title>(\d\d): (\d+)</title>', hours.group(1))
    assert [label for _, label, _ in bars] == [f"{h:02d}" for h in range(24)]
    top = max(int(v) for _, _, v in bars)
    for height, _, value in bars:
        assert float(height) == pytest.approx(160 * int(value) / top, abs=1.01)


def test_a_browser_draws_the_summary_with_its_table_and_charts(tmp_path: Path) -> None:
    built = report(build(tmp_path), "summary", by="hour")
    page = tmp_path / "summary.html"
    page.write_text(render(built, "html"), encoding="utf-8")
    dom = Dom()
    dom.feed(chromium(page, tmp_path / "dom", "--dump-dom").stdout)
    assert dom.scripts == 0
    assert dom.rows[0][:4] == ["Hour", "Calls", "Offered", "Answered"]  # the page has every column
    assert len(dom.rows) == 1 + len(built.rows) + 1  # header, one row per hour, totals
    assert dom.rows[-1][:2] == ["total", "60"]
    assert dom.bars == 24 + len(built.charts[-1].labels)  # hours, outcomes
    shot = tmp_path / "summary.png"
    chromium(page, shot, f"--screenshot={shot}", "--window-size=1200,1100")
    assert_drawn(shot, min_bar_pixels=20000)


def test_a_browser_draws_the_ivr_choices(tmp_path: Path) -> None:
    built = report(build(tmp_path), "ivr")
    page = tmp_path / "ivr.html"
    page.write_text(render(built, "html"), encoding="utf-8")
    shot = tmp_path / "ivr.png"
    chromium(page, shot, f"--screenshot={shot}", "--window-size=1000,700")
    assert_drawn(shot, min_bar_pixels=5000)
    dom = Dom()
    dom.feed(chromium(page, tmp_path / "dom", "--dump-dom").stdout)
    assert [row[2] for row in dom.rows[1:4]] == ["1", "2", "3"] and dom.bars == 3


def test_the_inbound_page_charts_the_calls_of_its_table(tmp_path: Path) -> None:
    """Campaign legs and running calls are no part of `inbound`: its charts
    per hour of the day, per day and per outcome leave them out too."""
    cdr = CdrBuilder(tmp_path / "cdr.db")
    for day in range(3):
        for i in range(8):
            cdr.add(f"2025-03-1{day} 09:{i:02d}:00", queue="support", queue_status="ANSWERED" if i % 4 else "ABANDONED",
                    queue_wait=10.0, talk_time=60.0)
            cdr.add(f"2025-03-1{day} 11:{i:02d}:00", flow="campaign", direction="outbound", dial_status="ANSWER",
                    ring_time=5.0, talk_time=30.0)
    cdr.add("2025-03-12 12:00:00", queue="support", status="in_progress", duration=None)
    cdr.close()
    built = report(cdr.path, "inbound", by="day")
    assert built.totals is not None and built.totals["offered"] == 24
    charts = {chart.title: chart for chart in built.charts}
    assert dict(zip(charts["Outcomes"].labels, charts["Outcomes"].values)) == {"answered": 18, "abandoned": 6}
    assert sum(charts["Calls per hour of the day"].values) == 24 and charts["Calls per hour of the day"].values[11] == 0
    assert list(charts["Calls per day"].values) == [8, 8, 8]
    summary = {chart.title: chart for chart in report(cdr.path, "summary").charts}
    assert sum(summary["Outcomes"].values) == 49  # every call, both directions, running ones too


def test_the_table_marks_the_times_the_clocks_show_twice_with_their_offsets(tmp_path: Path) -> None:
    """The night the clocks go back in New York, 01:00 to 02:00 happens twice:
    the page's rows of that hour say which one, as its charts do."""
    cdr = CdrBuilder(tmp_path / "cdr.db")
    for minutes in range(0, 240, 20):  # 04:00 to 08:00 UTC: 00:00-04, 01:00-04, 01:00-05, 02:00-05
        cdr.add(f"2025-11-02 {4 + minutes // 60:02d}:{minutes % 60:02d}:00", queue="support",
                queue_status="ANSWERED", queue_wait=10.0, talk_time=60.0)
    cdr.close()
    tz, name = zone("America/New_York")
    dom = Dom()
    dom.feed(render(run_report(cdr.path, "inbound", Filters(tz=tz, tz_name=name), NOW, by="interval60", charts=True),
                    "html"))
    assert [row[0] for row in dom.rows[1:-1]] == ["2025-11-02 00:00", "2025-11-02 01:00-04", "2025-11-02 01:00-05",
                                                 "2025-11-02 02:00"]
    dom = Dom()
    dom.feed(render(run_report(cdr.path, "calls", Filters(tz=tz, tz_name=name), NOW, charts=True), "html"))
    started = [row[0] for row in dom.rows[1:]]
    assert started[:7] == ["2025-11-02 02:40", "2025-11-02 02:20", "2025-11-02 02:00", "2025-11-02 01:40-05",
                           "2025-11-02 01:20-05", "2025-11-02 01:00-05", "2025-11-02 01:40-04"]
