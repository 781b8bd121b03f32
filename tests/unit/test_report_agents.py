"""The ``agents`` and ``consolidated`` reports, and the call log's agent,
caller name and hangup cause, on hand-built CDR databases (both backends),
with every figure worked out by hand in the comments."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from support.cdr_builder import CdrBuilder

from agi.reports import ReportError, run_report
from agi.reports.model import Filters, Report
from agi.reports.timerange import moment, zone

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=timezone.utc)
MADRID = zone("Europe/Madrid")


@pytest.fixture
def cdr(database: Path) -> CdrBuilder:
    """The calls of one Monday morning (UTC times; Madrid is UTC+1)."""
    cdr = CdrBuilder(database)
    queued = {"queue": "support", "queue_status": "ANSWERED"}
    cdr.add("2025-03-10 08:00:00", **queued, queue_wait=10, talk_time=100, agent="Ana")
    cdr.add("2025-03-10 08:10:00", **queued, queue_wait=30, talk_time=200, agent="Ana", caller_name="Eva Díaz",
            hangup_cause="16")
    cdr.add("2025-03-10 08:20:00", **queued, queue_wait=20, talk_time=60, agent="Luis")
    cdr.add("2025-03-10 08:30:00", queue="sales", queue_status="ANSWERED", queue_wait=5, talk_time=90, agent="Ana")
    cdr.add("2025-03-10 08:40:00", queue="support", queue_status="ABANDONED", queue_wait=40, status="caller_hangup")
    cdr.add("2025-03-10 08:50:00", **queued, queue_wait=50)  # no setinterfacevar nor setqueueentryvar talk
    cdr.add("2025-03-10 09:00:00", dialled="PJSIP/100", dial_status="ANSWER", ring_time=4, talk_time=30,
            agent="PJSIP/100", agent_interface="PJSIP/100")
    cdr.add("2025-03-10 09:10:00", flow="campaign", direction="outbound", dial_status="ANSWER", talk_time=45,
            agent="PJSIP/+34600111222@trunk")  # a campaign leg: the customer is no agent
    cdr.add("2025-03-10 09:20:00", queue="support", status="in_progress", duration=None, agent="Ana")
    cdr.close()
    return cdr


def run(cdr: CdrBuilder, kind: str, since: str | None = None, **options: Any) -> Report:
    tz, name = MADRID
    filters = Filters(moment(since, NOW, tz) if since else None, None, (), None, tz, name)
    return run_report(cdr.path, kind, filters, NOW, **options)


def rows(report: Report, *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[key] for key in keys) for row in report.rows]


def test_agents_answered_share_and_talk_per_agent_and_queue(cdr: CdrBuilder) -> None:
    report = run(cdr, "agents")
    assert rows(report, "agent", "queue", "answered", "share_pct", "talk_s", "acd_s", "aht_s", "asa_s") == [
        ("Ana", "sales", 1, 100.0, 90, 90, 90, 5),  # the only answered sales call
        ("Ana", "support", 2, 50.0, 300, 150, 150, 20),  # 2 of the 4 support calls answered; (10 + 30) / 2
        ("Luis", "support", 1, 25.0, 60, 60, 60, 20),
        ("PJSIP/100", None, 1, 100.0, 30, 30, 30, 4),  # a dial: no queue, the ring time is its wait
        (None, "support", 1, 25.0, 0, None, None, 50),  # answered, agent and talk time unknown
    ]
    assert report.totals is not None
    totals = report.totals
    assert (totals["agent"], totals["answered"], totals["talk_s"]) == ("total", 6, 480)
    assert totals["acd_s"] == pytest.approx(96.0)  # 480 s over the 5 answered calls whose talk is known
    assert totals["asa_s"] == pytest.approx(119 / 6)  # (5 + 10 + 30 + 20 + 50 + 4) / 6
    assert "share_pct" not in totals and "queue" not in totals


def test_agents_leave_out_outbound_legs_running_calls_and_calls_nobody_answered(cdr: CdrBuilder) -> None:
    agents = {row["agent"] for row in run(cdr, "agents").rows}
    assert "PJSIP/+34600111222@trunk" not in agents
    assert sum(row["answered"] for row in run(cdr, "agents").rows) == 6


def test_an_overflow_dial_after_a_queue_counts_under_that_queue_as_inbound_by_queue_does(database: Path) -> None:
    cdr = CdrBuilder(database)
    cdr.add("2025-03-10 08:00:00", queue="sales", queue_status="ANSWERED", queue_wait=5, talk_time=90, agent="Ana")
    cdr.add("2025-03-10 08:10:00", queue="sales", queue_status="TIMEOUT", queue_wait=60, dialled="PJSIP/op",
            dial_status="ANSWER", ring_time=4, talk_time=50, agent="PJSIP/op")  # the overflow: its wait is the 60 s queued
    cdr.add("2025-03-10 08:20:00", queue="sales", queue_status="FULL", queue_wait=0.5, dialled="PJSIP/op",
            dial_status="ANSWER", ring_time=6, talk_time=30, agent="PJSIP/op")
    cdr.add("2025-03-10 08:30:00", dialled="PJSIP/op", dial_status="ANSWER", ring_time=2, talk_time=10,
            agent="PJSIP/op")  # a dial alone
    cdr.close()
    assert rows(run(cdr, "agents"), "agent", "queue", "answered", "share_pct", "asa_s") == [
        ("Ana", "sales", 1, 33.3, 5), ("PJSIP/op", "sales", 2, 66.7, 33), ("PJSIP/op", None, 1, 100.0, 2)]
    by_queue = {row["key"]: row["answered"] for row in run(cdr, "inbound", by="queue").rows}
    assert by_queue == {"sales": 3, None: 1}


def test_agents_chart_the_answered_calls_of_each_agent_busiest_first(cdr: CdrBuilder) -> None:
    [chart] = run(cdr, "agents", charts=True).charts
    assert dict(zip(chart.labels, chart.values)) == {"Ana": 3, "Luis": 1, "PJSIP/100": 1, "-": 1}
    assert chart.labels[0] == "Ana"


def test_consolidated_crosses_queue_and_outcome(cdr: CdrBuilder) -> None:
    report = run(cdr, "consolidated", by=("queue", "outcome"))
    assert [c.key for c in report.columns][:3] == ["queue", "outcome", "calls"]
    assert rows(report, "queue", "outcome", "calls", "offered", "answered", "abandoned", "asr_pct", "sl_pct",
                "dur_s", "acd_s", "asa_s") == [
        (None, "answered", 2, 1, 1, 0, 100.0, 100.0, 30, 30, 4),  # the dial; the campaign leg is never offered
        ("sales", "answered", 1, 1, 1, 0, 100.0, 100.0, 90, 90, 5),
        ("support", "abandoned", 1, 1, 0, 1, 0.0, 0.0, 0, None, None),
        ("support", "answered", 4, 4, 4, 0, 100.0, 50.0, 360, 120, 27.5),  # waits 10, 30, 20, 50: two within 20 s
        ("support", "in_progress", 1, 0, 0, 0, None, None, 0, None, None),
    ]
    totals = report.totals
    assert totals is not None
    assert (totals["queue"], totals["calls"], totals["offered"], totals["answered"], totals["abandoned"]) == \
        ("total", 9, 7, 6, 1)
    assert (totals["asr_pct"], totals["abandon_pct"], totals["sl_pct"]) == (85.7, 14.3, 57.1)  # 6/7, 1/7, 4/7
    assert (totals["dur_s"], totals["acd_s"], totals["aht_s"]) == (480, 96, 96)


def test_consolidated_thresholds_move_short_abandons_and_the_service_level(cdr: CdrBuilder) -> None:
    from agi.storage.call_measures import Thresholds
    totals = run(cdr, "consolidated", by=("queue",), thresholds=Thresholds(short_abandon=40, service_level=30)).totals
    assert totals is not None
    assert totals["short_abandoned"] == 1  # the 40 s abandon is now short
    assert totals["sl_pct"] == 83.3  # waits 5, 10, 30, 20, 4 within 30 s: 5 of (7 - 1)
    assert totals["abandon_pct"] == 0.0


def test_consolidated_by_weekday_and_half_hour_in_the_report_zone(cdr: CdrBuilder) -> None:
    report = run(cdr, "consolidated", by=("weekday", "interval30"))
    tz = MADRID[0]
    assert rows(report, "weekday", "interval30", "calls") == [
        ("Mon", datetime(2025, 3, 10, 9, 0, tzinfo=tz), 3),  # 08:00, 08:10, 08:20 UTC
        ("Mon", datetime(2025, 3, 10, 9, 30, tzinfo=tz), 3),
        ("Mon", datetime(2025, 3, 10, 10, 0, tzinfo=tz), 3),  # 09:00, 09:10, 09:20 UTC
    ]
    assert [c.kind for c in report.columns[:2]] == ["text", "time"]


def test_the_chart_by_weekday_has_every_weekday_of_the_range_a_quiet_one_at_0(cdr: CdrBuilder) -> None:
    """Calls on a Monday only, over Saturday 8 to Thursday 20 March: the
    chart has every weekday the range holds, the quiet ones at 0, as a
    quiet day or hour is; over two days, only those two weekdays."""
    week = run(cdr, "consolidated", since="2025-03-08", by=("weekday",), charts=True)
    [chart] = week.charts
    assert chart.labels == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert chart.values == [9, 0, 0, 0, 0, 0, 0]
    tz, name = MADRID
    two_days = Filters(moment("2025-03-09", NOW, tz), moment("2025-03-11", NOW, tz), (), None, tz, name)
    [chart] = run_report(cdr.path, "consolidated", two_days, NOW, by=("weekday",), charts=True).charts
    assert (chart.labels, chart.values) == (["Mon", "Sun"], [9, 0])


def test_consolidated_with_one_grouping_and_its_charts(cdr: CdrBuilder) -> None:
    report = run(cdr, "consolidated", by=("agent",), charts=True)
    assert [row["agent"] for row in report.rows] == [None, "Ana", "Luis", "PJSIP/+34600111222@trunk", "PJSIP/100"]
    [chart] = report.charts
    assert sum(chart.values) == 9 and chart.labels[0] == "-"
    two = run(cdr, "consolidated", by=("queue", "hour"), charts=True)
    assert [c.title for c in two.charts] == ["Calls by queue", "Calls by hour"]
    # every hour of the day has its bar, a quiet one 0, as on the inbound page
    assert dict(zip(two.charts[1].labels, two.charts[1].values)) == {
        **{f"{h:02d}": 0 for h in range(24)}, "09": 6, "10": 3}


def test_a_chart_by_day_has_a_zero_for_each_day_of_the_range_without_calls(database: Path) -> None:
    cdr = CdrBuilder(database)
    for start in ("2025-03-07 09:00:00", "2025-03-07 10:00:00", "2025-03-10 09:00:00"):  # Friday, Friday, Monday
        cdr.add(start, queue="support", queue_status="ANSWERED", queue_wait=10, talk_time=60, agent="Ana")
    cdr.close()
    tz, name = MADRID
    filters = Filters(datetime(2025, 3, 6, 23, tzinfo=timezone.utc), datetime(2025, 3, 11, 23, tzinfo=timezone.utc),
                      (), None, tz, name)
    report = run_report(cdr.path, "consolidated", filters, NOW, by=("day",), charts=True)
    [chart] = report.charts
    assert dict(zip(chart.labels, chart.values)) == {  # the closed weekend is 0, not left out
        "2025-03-07": 2, "2025-03-08": 0, "2025-03-09": 0, "2025-03-10": 1, "2025-03-11": 0}
    assert [row["day"] for row in report.rows] == ["2025-03-07", "2025-03-10"]  # the table lists the days with calls
    inbound = run_report(cdr.path, "inbound", filters, NOW, by="day", charts=True)
    asr = inbound.charts[0]
    assert dict(zip(asr.labels, asr.values)) == {  # a ratio of no calls has no value: the line breaks
        "2025-03-07": 100.0, "2025-03-08": None, "2025-03-09": None, "2025-03-10": 100.0, "2025-03-11": None}


def test_the_two_intervals_of_the_night_the_clocks_go_back_are_two_bars_labelled_with_their_offsets(
        database: Path) -> None:
    # Madrid, 2025-10-26: 02:00 to 03:00 happens at 00:00 UTC (+02:00), then again at 01:00 UTC (+01:00)
    cdr = CdrBuilder(database)
    for start in ("2025-10-26 00:05:00", "2025-10-26 00:10:00", "2025-10-26 01:05:00", "2025-10-26 01:35:00"):
        cdr.add(start, queue="support", queue_status="ANSWERED", queue_wait=10, talk_time=60, agent="Ana")
    cdr.close()
    for by in (("interval30",), ("agent", "interval30")):
        report = run(cdr, "consolidated", by=by, charts=True)
        chart = report.charts[-1]
        assert dict(zip(chart.labels, chart.values)) == {
            "2025-10-26 02:00+02": 2, "2025-10-26 02:00+01": 1, "2025-10-26 02:30+01": 1}
    inbound = run(cdr, "inbound", by="interval30", charts=True)
    assert inbound.charts[0].labels == ["2025-10-26 02:00+02", "2025-10-26 02:00+01", "2025-10-26 02:30+01"]
    # Lord Howe Island, 2025-04-06: 02:00 (+11:00) becomes 01:30 (+10:30); the hour from 01:00 has a repeated half
    cdr = CdrBuilder(database)
    cdr.add("2025-04-05 14:10:00", queue="support", queue_status="ANSWERED", agent="Ana")  # 01:10+11:00
    cdr.add("2025-04-05 15:10:00", queue="support", queue_status="ANSWERED", agent="Ana")  # 01:40+10:30, again
    cdr.close()
    tz, name = zone("Australia/Lord_Howe")
    filters = Filters(moment("2025-04-06", NOW, tz), moment("2025-04-06T03:00", NOW, tz), (), None, tz, name)
    [chart] = run_report(cdr.path, "consolidated", filters, NOW, by=("interval60",), charts=True).charts
    assert dict(zip(chart.labels, chart.values)) == {"2025-04-06 01:00": 1, "2025-04-06 01:00+10:30": 1}


@pytest.mark.parametrize("by", [(), ("queue", "day", "hour"), ("queue", "queue"), ("caller",), ("status",)])
def test_consolidated_takes_one_or_two_different_groupings_it_knows(cdr: CdrBuilder, by: tuple[str, ...]) -> None:
    with pytest.raises(ReportError, match="one or two different groupings"):
        run(cdr, "consolidated", by=by)


def test_the_call_log_shows_caller_name_agent_hangup_cause_wait_and_talk(cdr: CdrBuilder) -> None:
    [row] = [r for r in run(cdr, "calls").rows if r["caller_name"]]
    assert (row["caller_name"], row["agent"], row["hangup_cause"], row["wait_s"], row["talk_s"]) == \
        ("Eva Díaz", "Ana", "16", 30, 200)
    dial = next(r for r in run(cdr, "calls").rows if r["agent"] == "PJSIP/100")
    assert (dial["wait_s"], dial["talk_s"], dial["hangup_cause"]) == (4, 30, None)


def test_a_chart_of_names_draws_the_15_largest_groups_and_says_so(database: Path) -> None:
    cdr = CdrBuilder(database)
    for n in range(34):  # flow-00 has 34 calls, flow-01 33... flow-33 one
        for _ in range(34 - n):
            cdr.add("2025-03-10 08:00:00", flow=f"flow-{n:02d}", queue=f"q-{n:02d}", queue_status="ANSWERED",
                    queue_wait=5, talk_time=30, agent=f"agent-{n:02d}")
    cdr.close()
    inbound = run(cdr, "inbound", by="flow", charts=True)
    asr = inbound.charts[0]
    assert asr.title == "ASR by flow (the 15 of 34 with most offered calls)"
    assert list(asr.labels) == [f"flow-{n:02d}" for n in range(15)]
    assert len(inbound.rows) == 34  # the table keeps every flow
    [by_queue] = run(cdr, "consolidated", by=("queue",), charts=True).charts
    assert by_queue.title == "Calls by queue (the 15 of 34 with most calls)"
    assert list(by_queue.labels) == [f"q-{n:02d}" for n in range(15)]
    [agents] = run(cdr, "agents", charts=True).charts
    assert agents.title == "Answered calls per agent (the 15 of 34 with most answered calls)"
