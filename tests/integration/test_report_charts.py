"""The HTML report reads at ninety days and at one day: in headless
Chromium, long series are lines and few categories bars, no two labels of
a chart overlap or leave it, each line and outcome has its colour and a
legend, the repeated hour of a DST change shows both its offsets, and a
recording made without consent stands out (tests/support/browser.py)."""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from support.browser import chromium, colour_pixels, measure
from support.cdr_builder import CdrBuilder, menu

from agi.reports import run_report
from agi.reports.model import Filters
from agi.reports.render import render
from agi.reports.render.svg import COLOURS, MAX_BARS, fitted
from agi.reports.timerange import moment, zone

NOW = datetime(2025, 11, 1, tzinfo=timezone.utc)
MADRID, MADRID_NAME = zone("Europe/Madrid")


@pytest.fixture(scope="module")
def cdr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three months of weekday and weekend traffic, ending with the night
    the clocks go back in Madrid (26 October 2025) and its two 02:00."""
    builder = CdrBuilder(tmp_path_factory.mktemp("charts") / "cdr.db")
    rng = random.Random(7)
    for day in range(92):
        start = datetime(2025, 8, 1, tzinfo=timezone.utc) + timedelta(days=day)
        for n in range(rng.randrange(20, 40) if start.weekday() < 5 else 6):
            moment_ = start + timedelta(hours=rng.randrange(6, 19), minutes=rng.randrange(60))
            fate = rng.random()
            status = "ANSWERED" if fate < 0.7 else "ABANDONED" if fate < 0.85 else "TIMEOUT"
            builder.add(moment_.strftime("%Y-%m-%d %H:%M:%S"), caller=f"+3460011{n:04d}", queue="support",
                        queue_status=status, queue_wait=rng.uniform(5, 400),
                        talk_time=rng.uniform(30, 900) if status == "ANSWERED" else None,
                        consent="declined" if n == 3 else "accepted", recording="/r.wav" if n in (3, 4) else None)
    for minutes in range(0, 180, 7):  # 00:00 to 03:00 UTC of the 26th: 02:00+02 and 02:00+01 in Madrid
        at = datetime(2025, 10, 25, 22, tzinfo=timezone.utc) + timedelta(minutes=minutes)
        builder.add(at.strftime("%Y-%m-%d %H:%M:%S"), queue="support", queue_status="ANSWERED", queue_wait=30,
                    talk_time=90)
    builder.close()
    return builder.path


def page(cdr: Path, tmp_path: Path, kind: str, since: str, until: str, **options: Any) -> Path:
    filters = Filters(moment(since, NOW, MADRID), moment(until, NOW, MADRID, end=True), tz=MADRID,
                      tz_name=MADRID_NAME)
    path = tmp_path / f"{kind}-{since}-{until}.html"
    path.write_text(render(run_report(cdr, kind, filters, NOW, charts=True, **options), "html"), encoding="utf-8")
    return path


def overlapping(texts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap (more than half a pixel)."""
    found = []
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            (l1, t1, r1, b1), (l2, t2, r2, b2) = a["box"], b["box"]
            if min(r1, r2) - max(l1, l2) > 0.5 and min(b1, b2) - max(t1, t2) > 0.5:
                found.append((a["text"], b["text"]))
    return found


def assert_readable(measured: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every chart: no overlapping text, every text inside its chart, the
    page no wider than the window (a chart wider than its room scrolls in
    its own box), a line for a long series; by title."""
    figures = {figure["title"]: figure for figure in measured["figures"]}
    assert measured["pageWidth"] <= measured["viewport"]
    for title, figure in figures.items():
        assert overlapping(figure["texts"]) == [], title
        if figure["svg"] is None:  # "nothing to show"
            continue
        left, top, right, bottom = figure["svg"]
        for text in figure["texts"]:
            x0, y0, x1, y1 = text["box"]
            assert left - 0.5 <= x0 and x1 <= right + 0.5 and top - 0.5 <= y0 and y1 <= bottom + 0.5, (title, text)
        assert figure["bars"] <= MAX_BARS, title  # a long series is a line
    return figures


def rgb(hex_colour: str) -> str:
    return "rgb({}, {}, {})".format(*(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)))


def test_ninety_days_read_as_lines_with_thinned_dates_and_a_legend(cdr: Path, tmp_path: Path) -> None:
    path = page(cdr, tmp_path, "summary", "2025-08-01", "2025-10-29")
    figures = assert_readable(measure(path))
    traffic = figures["Offered, answered and abandoned calls per day"]
    assert traffic["series"] == ["offered", "answered", "abandoned"] and traffic["bars"] == 0
    assert [(e["text"], e["colour"]) for e in traffic["legend"]] == \
        [(name, rgb(COLOURS[name])) for name in ("offered", "answered", "abandoned")]
    dates = [t["text"] for t in traffic["texts"] if t["cls"] == "label"]
    assert 6 <= len(dates) < 90 and dates[0] == "2025-08-01"  # thinned, yet enough to read the axis
    per_day = figures["Calls per day"]
    assert per_day["lines"] == 1 and per_day["bars"] == 0  # 90 days: a line, not 90 bars
    wait_ticks = [t["text"] for t in figures["Average speed of answer (ASA) per day"]["texts"] if t["cls"] == "tick"]
    assert all(len(tick.split(":")) == 3 for tick in wait_ticks) and wait_ticks[0] == "0:00:00"
    outcomes = figures["Outcomes"]
    assert outcomes["bars"] == 3 and {e["text"] for e in outcomes["legend"]} == {"answered", "abandoned",
                                                                                 "not_answered"}
    shot = tmp_path / "ninety.png"
    chromium(path, shot, f"--screenshot={shot}", "--window-size=1200,1400")
    pixels = colour_pixels(shot, {name: COLOURS[name] for name in ("offered", "answered", "abandoned")})
    assert all(count > 500 for count in pixels.values()), pixels


def test_a_few_days_are_bars_per_day(cdr: Path, tmp_path: Path) -> None:
    figures = assert_readable(measure(page(cdr, tmp_path, "inbound", "2025-09-01", "2025-09-10")))
    assert figures["Calls per day"]["bars"] == 10 and figures["Calls per day"]["lines"] == 0
    assert figures["Offered, answered and abandoned calls per day"]["lines"] == 3


def test_one_day_reads_hour_by_hour_with_both_2_oclock_hours_of_the_dst_night(cdr: Path, tmp_path: Path) -> None:
    path = page(cdr, tmp_path, "calls", "2025-10-26", "2025-10-26")
    measured = measure(path)
    figures = assert_readable(measured)
    traffic = figures["Offered, answered and abandoned calls per hour"]
    labels = [t["text"] for t in traffic["texts"] if t["cls"] == "label"]
    assert "02:00+02" in labels and "02:00+01" in labels and labels[0] == "00:00"
    assert len(traffic["legend"]) == 3
    assert figures["Calls per hour of the day"]["bars"] == 24
    assert "Calls per day" not in figures
    assert measured["flagged"] and set(measured["flagged"]) == {"rgb(253, 226, 225)"}  # recorded, consent declined
    shot = tmp_path / "one-day.png"
    chromium(path, shot, f"--screenshot={shot}", "--window-size=1200,1600")
    assert colour_pixels(shot, {"flagged": "#fde2e1", "answered": COLOURS["answered"]})["flagged"] > 1000


def test_two_days_over_the_dst_night_label_its_midnight_and_both_2_oclock_hours(cdr: Path, tmp_path: Path) -> None:
    """Hour by hour over the Saturday and the Sunday the clocks go back,
    the axis writes the Sunday's date and both 02:00 with their offsets:
    the second 02:00 once found no room, its date and the first 02:00
    having taken both lines under the axis."""
    figures = assert_readable(measure(page(cdr, tmp_path, "inbound", "2025-10-25", "2025-10-26")))
    for title in ("Offered, answered and abandoned calls per hour", "Average speed of answer (ASA) per hour"):
        labels = [t["text"] for t in figures[title]["texts"] if t["cls"] == "label"]
        assert {"2025-10-25", "2025-10-26", "02:00+02", "02:00+01"} <= set(labels), (title, labels)


@pytest.mark.parametrize("kind, by", [("inbound", "interval15"), ("consolidated", ("interval30",))])
def test_a_day_of_intervals_labels_both_2_oclock_intervals_of_the_dst_night(tmp_path: Path, kind: str,
                                                                          by: object) -> None:
    """A day of intervals with calls, the night the clocks go back, is a
    line whose axis writes every few labels: the first interval of each
    02:00 is among them, with its offset."""
    builder = CdrBuilder(tmp_path / "cdr.db")
    for minutes in range(0, 25 * 60, 10):  # the 25 hours of 26 October 2025 in Madrid
        at = datetime(2025, 10, 25, 22, tzinfo=timezone.utc) + timedelta(minutes=minutes)
        builder.add(at.strftime("%Y-%m-%d %H:%M:%S"), queue="support", queue_status="ANSWERED", queue_wait=30,
                    talk_time=90)
    builder.close()
    filters = Filters(moment("2025-10-26", NOW, MADRID), moment("2025-10-26", NOW, MADRID, end=True), tz=MADRID,
                      tz_name=MADRID_NAME)
    path = tmp_path / f"{kind}.html"
    path.write_text(render(run_report(builder.path, kind, filters, NOW, charts=True, by=by), "html"), encoding="utf-8")
    figures = assert_readable(measure(path))
    figure = next(f for title, f in figures.items() if title.startswith(("ASR by interval", "Calls by interval")))
    assert figure["bars"] == 0 and figure["lines"] == 1
    labels = [t["text"] for t in figure["texts"] if t["cls"] == "label"]
    assert "2025-10-26 02:00+02" in labels and "2025-10-26 02:00+01" in labels, labels


@pytest.mark.parametrize("since, until, days", [
    ("2025-10-26", "2025-10-26", ["2025-10-26"]),
    ("2025-09-01", "2025-09-02", ["2025-09-01", "2025-09-02"]),
    ("2025-09-01", "2025-09-04", ["2025-09-01", "2025-09-02", "2025-09-03", "2025-09-04"]),
])
def test_a_few_bars_by_day_each_carry_their_date(cdr: Path, tmp_path: Path, since: str, until: str,
                                               days: list[str]) -> None:
    """A consolidated page over a day or a few (by queue and day, its
    default) draws a bar per day, each with its date under it: a chart of
    one bar once had no label at all, its date being wider than the bar."""
    for width in (1366, 500):  # 500: the narrowest window headless Chromium draws
        figure = assert_readable(measure(page(cdr, tmp_path, "consolidated", since, until), width))["Calls by day"]
        assert figure["bars"] == len(days)
        assert [t["text"] for t in figure["texts"] if t["cls"] == "label"] == days, width


def test_a_month_of_bars_by_day_labels_its_first_day(cdr: Path, tmp_path: Path) -> None:
    """Thirty bars by day write every few dates, starting with the first
    day: the axis once began at the fourth, the first date having no room
    left of its bar."""
    figure = assert_readable(measure(page(cdr, tmp_path, "consolidated", "2025-09-01", "2025-09-30")))["Calls by day"]
    labels = [t["text"] for t in figure["texts"] if t["cls"] == "label"]
    assert figure["bars"] == 30 and labels[0] == "2025-09-01" and len(labels) >= 6, labels


def test_bars_too_narrow_for_their_values_have_a_value_axis(cdr: Path, tmp_path: Path) -> None:
    """A month of ASR by day is 30 bars too narrow to write 72.5% on each:
    the chart then has a value axis, 0% and up, as a line chart has; it
    once had neither, and no value could be read but from a tooltip."""
    figures = assert_readable(measure(page(cdr, tmp_path, "inbound", "2025-09-01", "2025-09-30", by="day")))
    figure = figures["ASR by day"]
    assert figure["bars"] >= 20
    values = [t["text"] for t in figure["texts"] if t["cls"] == "value"]
    ticks = [t["text"] for t in figure["texts"] if t["cls"] == "tick"]
    assert values == [] and ticks[0] == "0.0%" and len(ticks) >= 3, (values, ticks)
    few = assert_readable(measure(page(cdr, tmp_path, "inbound", "2025-09-01", "2025-09-05", by="day")))
    assert len([t for t in few["ASR by day"]["texts"] if t["cls"] == "value"]) == 5  # each bar its value


def test_a_narrow_window_shrinks_the_charts_without_overlapping_labels(cdr: Path, tmp_path: Path) -> None:
    measured = measure(page(cdr, tmp_path, "summary", "2025-08-01", "2025-10-29"), width=600)
    figures = assert_readable(measured)
    left, _, right, _ = figures["Outcomes"]["svg"]
    assert right - left < 640  # shrunk to fit: drawn 640 px wide


def test_a_phone_sized_window_keeps_chart_text_readable_and_the_page_from_scrolling_sideways(
        cdr: Path, tmp_path: Path) -> None:
    """In a window as narrow as a phone's (500 px, the narrowest headless
    Chromium draws) a chart shrinks to three quarters of its size at most,
    then scrolls sideways in its own box as the table does: its labels and
    ticks once shrank with the window, to 6 px at 500 and 4 at 390."""
    measured = measure(page(cdr, tmp_path, "inbound", "2025-08-01", "2025-10-29"), width=500)
    assert measured["pageWidth"] <= measured["viewport"]
    for figure in measured["figures"]:
        heights = [text["box"][3] - text["box"][1] for text in figure["texts"]]
        assert heights and min(heights) >= 8, (figure["title"], min(heights))  # 11 px at full size
        assert overlapping(figure["texts"]) == [], figure["title"]


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A week of calls to flows, queues and agents with long names of wide
    letters, other scripts and markup, and a flow whose calls are never
    offered (a message, closed hours)."""
    builder = CdrBuilder(tmp_path_factory.mktemp("names") / "cdr.db")
    names = ["W" * 40, "Mmmmmmmmmmmmmmmmmmmmmmmmmmmmm", "soporte técnico — nivel 2 (urgente)", "Łukasz Żółć",
             '<img src=x onerror="alert(1)">', "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", "ventas"]
    for n in range(140):
        name = names[n % len(names)]
        builder.add(f"2025-10-{6 + n % 5:02d} {8 + n % 9:02d}:{n % 60:02d}:00", flow=name, queue=name, agent=name,
                    caller=f"+3460011{n:04d}", queue_status="ANSWERED" if n % 3 else "ABANDONED", queue_wait=20, talk_time=100)
    for n in range(5):
        builder.add(f"2025-10-07 1{n}:30:00", flow="closed")
    builder.close()
    return builder.path


@pytest.mark.parametrize("kind", ["inbound", "agents", "consolidated", "fcr"])
def test_long_and_wide_names_are_cut_to_fit_their_chart(named: Path, tmp_path: Path, kind: str) -> None:
    figures = assert_readable(measure(page(named, tmp_path, kind, "2025-10-06", "2025-10-10")))
    labels = [t["text"] for figure in figures.values() for t in figure["texts"] if t["cls"] == "label"]
    assert any(label.startswith("WWW") and label.endswith("…") for label in labels)
    assert "<img src=x" in " ".join(labels) and "Łukasz Żółć" in labels  # escaped, shown as text


def test_a_long_word_in_a_menu_flow_or_filter_wraps_within_the_window(tmp_path: Path) -> None:
    """A menu or flow name of one long word (no space to break at) in a
    chart's title or in the filters line breaks inside the window: the page
    never scrolls sideways."""
    builder = CdrBuilder(tmp_path / "cdr.db")
    flow, menu_name = "f" * 150, "m" * 200
    for n in range(6):
        builder.add(f"2025-10-07 1{n}:30:00", flow=flow, steps=[menu(menu_name, str(1 + n % 2))])
    builder.close()
    filters = Filters(moment("2025-10-06", NOW, MADRID), moment("2025-10-10", NOW, MADRID, end=True), (flow,),
                      tz=MADRID, tz_name=MADRID_NAME)
    path = tmp_path / "ivr.html"
    path.write_text(render(run_report(builder.path, "ivr", filters, NOW, charts=True), "html"), encoding="utf-8")
    measured = measure(path, width=800)
    assert [figure["title"] for figure in measured["figures"]] == [f"Menu \u2068{menu_name}\u2069 (\u2068{flow}\u2069): 6 times"]
    assert measured["pageWidth"] <= measured["viewport"]
    assert_readable(measured)


def test_right_to_left_menu_and_flow_names_keep_their_place_in_a_chart_title(tmp_path: Path) -> None:
    """A menu and a flow named in Arabic: the title reads, left to right,
    ``Menu``, the menu, the flow, then the count; the browser's bidi
    ordering does not carry the count in among the names."""
    builder = CdrBuilder(tmp_path / "cdr.db")
    flow, menu_name = "قائمة", "مرحبا"
    for n in range(6):
        builder.add(f"2025-10-07 1{n}:30:00", flow=flow, steps=[menu(menu_name, str(1 + n % 2))])
    builder.close()
    path = tmp_path / "ivr.html"
    path.write_text(render(run_report(builder.path, "ivr", Filters(tz=MADRID, tz_name=MADRID_NAME), NOW, charts=True),
                           "html"), encoding="utf-8")
    [figure] = measure(path)["figures"]
    left = {word.strip("\u2068\u2069():"): x for word, x in figure["words"]}
    assert left["Menu"] < left[menu_name] < left["6"] < left["times"], figure["words"]
    assert left["Menu"] < left[flow] < left["6"], figure["words"]


def test_right_to_left_names_in_the_filters_line_keep_their_order(tmp_path: Path) -> None:
    """Two flows named in Arabic, in the filters line: the browser read
    ``قائمة, مرحبا`` as one right-to-left run and showed the second flow
    first; each name is now set apart, so they read in the order given."""
    builder = CdrBuilder(tmp_path / "cdr.db")
    flows = ("قائمة", "مرحبا")
    for n in range(4):
        builder.add(f"2025-10-07 1{n}:30:00", flow=flows[n % 2], queue_status="ANSWERED", queue_wait=10, talk_time=60)
    builder.close()
    path = tmp_path / "inbound.html"
    path.write_text(render(run_report(builder.path, "inbound", Filters(flows=flows, tz=MADRID, tz_name=MADRID_NAME),
                                      NOW, charts=True), "html"), encoding="utf-8")
    left = {word.strip("\u2068\u2069,"): x for word, x in measure(path)["filters"]}
    assert left["flow"] < left[flows[0]] < left[flows[1]], left


def test_a_group_without_a_ratio_has_no_bar_rather_than_a_zero(named: Path, tmp_path: Path) -> None:
    """A flow whose calls were never offered has no ASR ('-' in the table),
    which is not an ASR of 0%."""
    figure = assert_readable(measure(page(named, tmp_path, "inbound", "2025-10-06", "2025-10-10")))["ASR by flow"]
    values = {round(t["box"][3]): t["text"] for t in figure["texts"] if t["cls"] == "value"}
    rows = {t["text"]: values.get(round(t["box"][3])) for t in figure["texts"] if t["cls"] == "label"}
    assert rows["closed"] == "-" and rows["ventas"].endswith("%")
    assert figure["bars"] == len(rows) - 1



def test_a_legend_names_only_the_colours_its_chart_draws(cdr: Path, tmp_path: Path) -> None:
    """FCR by outcome: only the callers whose first call was answered have an
    FCR, so the chart draws one bar, in the colour of ``answered``; its
    legend once listed the colours of abandoned and not_answered too, which
    no bar has."""
    figure = assert_readable(measure(page(cdr, tmp_path, "fcr", "2025-09-01", "2025-09-10", by="outcome")))[
        "FCR by outcome"]
    labels = [t["text"] for t in figure["texts"] if t["cls"] == "label"]
    assert {"answered", "abandoned", "not_answered"} <= set(labels) and figure["bars"] == 1, labels
    assert figure["legend"] == []  # one colour

def test_what_became_of_the_legs_gives_each_result_its_own_colour(tmp_path: Path) -> None:
    builder = CdrBuilder(tmp_path / "cdr.db")
    for n, status in enumerate(["ANSWER"] * 6 + ["BUSY"] * 3 + ["NOANSWER"] * 4 + ["CONGESTION", None, None]):
        builder.add(f"2025-10-06 10:{n:02d}:00", flow="campaign", direction="outbound", dial_status=status,
                    robinson=None if status else "listed", talk_time=60 if status == "ANSWER" else None)
    builder.close()
    figures = assert_readable(measure(page(builder.path, tmp_path, "campaign", "2025-10-06", "2025-10-06")))
    legend = figures["What became of the legs"]["legend"]
    assert len(legend) == 6 and len({entry["colour"] for entry in legend}) == 6, legend
    assert dict((e["text"], e["colour"]) for e in legend)["answered"] == rgb(COLOURS["answered"])


def test_a_queue_named_like_an_outcome_takes_no_outcome_colour(tmp_path: Path) -> None:
    builder = CdrBuilder(tmp_path / "cdr.db")
    for n, queue in enumerate(["callback", "answered", "sales"] * 4):
        builder.add(f"2025-10-06 10:{n:02d}:00", queue=queue, flow=queue, queue_status="ANSWERED" if n % 4 else "ABANDONED",
                    queue_wait=10, talk_time=60)
    builder.close()
    path = tmp_path / "inbound.html"
    filters = Filters(moment("2025-10-06", NOW, MADRID), moment("2025-10-06", NOW, MADRID, end=True), tz=MADRID,
                      tz_name=MADRID_NAME)
    path.write_text(render(run_report(builder.path, "inbound", filters, NOW, by="queue", charts=True), "html"),
                    encoding="utf-8")
    figures = assert_readable(measure(path))
    assert figures["ASR by queue"]["legend"] == []  # one colour: queues are no outcomes
    assert [e["text"] for e in figures["Outcomes"]["legend"]] == ["answered", "abandoned"]


def test_a_name_of_a_million_characters_is_cut_at_once() -> None:
    started = time.monotonic()
    assert fitted("W" * 1_000_000, 158) == "W" * 12 + "…" and fitted("ventas", 158) == "ventas"
    assert fitted("a" * 20, 20 * 0.65 * 12) == "a" * 20 and fitted("a" * 21, 20 * 0.65 * 12) == "a" * 18 + "…"
    assert time.monotonic() - started < 0.5


def test_an_asr_of_zero_everywhere_is_charted_not_nothing_to_show(tmp_path: Path) -> None:
    """Every caller of the day gave up: ASR 0.0% for each queue is the news."""
    builder = CdrBuilder(tmp_path / "cdr.db")
    for n, queue in enumerate(["sales", "support"] * 3):
        builder.add(f"2025-10-06 10:{n:02d}:00", queue=queue, queue_status="ABANDONED", queue_wait=60)
    builder.close()
    filters = Filters(moment("2025-10-06", NOW, MADRID), moment("2025-10-06", NOW, MADRID, end=True), tz=MADRID,
                      tz_name=MADRID_NAME)
    figures = {}
    for by in ("queue", "hour"):
        path = tmp_path / f"inbound-{by}.html"
        path.write_text(render(run_report(builder.path, "inbound", filters, NOW, by=by, charts=True), "html"),
                        encoding="utf-8")
        figures[by] = assert_readable(measure(path))[f"ASR by {by}"]
    assert [t["text"] for t in figures["queue"]["texts"] if t["cls"] == "value"] == ["0.0%", "0.0%"]
    hour = figures["hour"]  # every hour of the day is on the axis; only 12:00 had calls, so only it has a bar
    assert hour["svg"] is not None and hour["bars"] == 1
    assert [t["text"] for t in hour["texts"] if t["cls"] == "label"][::11] == ["00", "11", "22"]
