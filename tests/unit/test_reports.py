"""The report numbers, on CDR databases built in each test (real SQLite
files and PostgreSQL databases: the ``database`` fixture)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from support.cdr_builder import CdrBuilder, menu, utc

from agi.reports import ReportError, run_report
from agi.safe_text import isolated
from agi.reports.model import Filters, Report
from agi.reports.render import render
from agi.reports.timerange import moment, zone

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=timezone.utc)
MADRID = zone("Europe/Madrid")


@pytest.fixture
def cdr(database: Path) -> CdrBuilder:
    return CdrBuilder(database)


def run(cdr: CdrBuilder, kind: str, since: str | None = None, until: str | None = None,
        flows: tuple[str, ...] = (), caller: str | None = None, **options: Any) -> Report:
    tz, name = MADRID
    filters = Filters(moment(since, NOW, tz) if since else None, moment(until, NOW, tz, end=True) if until else None,
                      flows, caller, tz, name)
    return run_report(cdr.path, kind, filters, NOW, **options)


def by_key(report: Report, key: str = "key") -> dict[Any, dict[str, Any]]:
    return {row[key]: dict(row) for row in report.rows}


def add_mixed_day(cdr: CdrBuilder) -> None:
    """Five finished calls of one morning, one of each kind, and one running."""
    cdr.add("2025-03-10 08:00:00", queue="support", queue_status="ANSWERED", queue_wait=30,
            talk_time=100, duration=140)
    cdr.add("2025-03-10 08:10:00", flow="sales", dialled="+34911", dial_status="ANSWER",
            talk_time=200, duration=230)
    cdr.add("2025-03-10 08:20:00", queue="support", queue_status="TIMEOUT", queue_wait=300, duration=320)
    cdr.add("2025-03-10 08:30:00", status="caller_hangup", duration=15, steps=[menu("menu", "hangup")])
    cdr.add("2025-03-10 08:40:00", duration=35)  # a message, then the flow ended
    cdr.add("2025-03-10 08:50:00", status="in_progress", duration=None)


def test_asr_counts_answered_calls_over_the_calls_offered_to_a_queue_or_a_dial(cdr: CdrBuilder) -> None:
    add_mixed_day(cdr)
    report = run(cdr, "inbound")
    assert report.totals is not None
    assert (report.totals["offered"], report.totals["answered"], report.totals["asr_pct"]) == (3, 2, 66.7)
    support = by_key(report)["support"]
    assert (support["offered"], support["answered"], support["asr_pct"]) == (2, 1, 50.0)
    assert by_key(report)["sales"]["asr_pct"] == 100.0


def test_acd_is_the_talk_time_of_answered_calls_over_those_calls(cdr: CdrBuilder) -> None:
    add_mixed_day(cdr)
    cdr.add("2025-03-10 09:00:00", queue="support", queue_status="ANSWERED", queue_wait=5, duration=90)
    totals = run(cdr, "inbound").totals
    assert totals is not None
    assert totals["acd_s"] == pytest.approx(150.0)  # (100 + 200) / 2: the answered call with no talk time is left out
    assert totals["dur_s"] == pytest.approx(100 + 200)  # talk time, not the calls' durations
    assert totals["answered"] == 3


def test_asa_counts_the_waits_of_answered_calls_only(cdr: CdrBuilder) -> None:
    add_mixed_day(cdr)
    assert by_key(run(cdr, "inbound"))["support"]["asa_s"] == pytest.approx(30.0)  # not the 300 s timeout
    assert by_key(run(cdr, "summary"))["support"]["asa_s"] == pytest.approx(30.0)


def test_each_call_has_one_outcome(cdr: CdrBuilder) -> None:
    add_mixed_day(cdr)
    cdr.add("2025-03-10 09:00:00", queue="support", status="caller_hangup", queue_status="ABANDONED", queue_wait=40,
            duration=50)
    cdr.add("2025-03-10 09:01:00", queue="support", queue_status="TIMEOUT", callback="600111222", duration=60)
    cdr.add("2025-03-10 09:02:00", blocked="block", duration=3)
    cdr.add("2025-03-10 09:03:00", status="error", duration=2, error="step failed")
    cdr.add("2025-03-10 09:04:00", flow=None, status="unknown_flow", duration=0)
    cdr.add("2025-03-10 09:05:00", status="interrupted", queue="support", duration=7)
    cdr.add("2025-03-10 09:06:00", robinson="listed", robinson_list="robinson", duration=4)
    report = run(cdr, "summary", by="outcome", charts=True)
    outcomes = {key: row["calls"] for key, row in by_key(report).items()}
    *_, hours, chart = report.charts  # after the charts over time
    assert dict(zip(chart.labels, chart.values)) == outcomes and sum(hours.values) == 13
    assert outcomes == {"answered": 2, "not_answered": 1, "ivr_hangup": 1, "self_service": 1, "in_progress": 1,
                        "abandoned": 1, "callback": 1, "blocked": 1, "failed": 2, "interrupted": 1,
                        "do_not_call": 1}


def test_a_caller_who_hangs_up_in_the_ivr_is_not_an_abandoned_queue_call(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:30:00", status="caller_hangup", duration=15, steps=[menu("menu", "hangup")])
    cdr.add("2025-03-10 08:31:00", queue="support", status="caller_hangup", queue_status="ABANDONED", queue_wait=70,
            duration=80)
    row = by_key(run(cdr, "inbound"))["support"]
    assert (row["offered"], row["abandoned"], row["answered"]) == (1, 1, 0)
    log = {r["outcome"] for r in run(cdr, "calls").rows}
    assert log == {"ivr_hangup", "abandoned"}


def test_queue_and_dial_steps_that_saw_the_caller_leave_make_an_abandoned_call(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00", queue="support", queue_status="ABANDONED", queue_wait=50, duration=60)
    cdr.add("2025-03-10 08:01:00", dialled="+34911", dial_status="CANCEL", duration=20)
    cdr.add("2025-03-10 08:02:00", dialled="+34911", dial_status="BUSY", duration=10)
    assert [r["outcome"] for r in run(cdr, "calls").rows] == ["not_answered", "abandoned", "abandoned"]
    assert run(cdr, "inbound").totals["abandoned"] == 2  # type: ignore[index]


def test_a_call_that_crosses_midnight_counts_on_the_day_it_started(cdr: CdrBuilder) -> None:
    # 23:58 in Madrid on the 10th (22:58 UTC), talking until 00:08 on the 11th
    cdr.add("2025-03-10 22:58:00", queue="support", queue_status="ANSWERED", talk_time=540, duration=600)
    cdr.add("2025-03-10 23:30:00", duration=20)  # 00:30 on the 11th in Madrid
    days = by_key(run(cdr, "summary", by="day"))
    assert days["2025-03-10"]["calls"] == 1 and days["2025-03-10"]["total_s"] == 600
    assert days["2025-03-11"]["calls"] == 1
    only_10th = run(cdr, "calls", since="2025-03-10", until="2025-03-10")
    assert [r["duration_s"] for r in only_10th.rows] == [600]


def test_hours_follow_the_zone_across_the_change_to_summer_time(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-30 00:30:00")  # 01:30 CET
    cdr.add("2025-03-30 01:30:00")  # 03:30 CEST: 02:xx does not exist that night
    cdr.add("2025-03-30 01:45:00")
    hours = {key: row["calls"] for key, row in by_key(run(cdr, "summary", by="hour")).items()}
    assert hours == {"01": 1, "03": 2}


def test_interrupted_and_running_calls(cdr: CdrBuilder) -> None:
    add_mixed_day(cdr)
    cdr.add("2025-03-10 09:00:00", status="interrupted", duration=12,
            error="the server stopped before the call ended", steps=[menu("menu", "2")])
    listed = run(cdr, "calls", statuses=("interrupted",))
    assert [(r["status"], r["error"]) for r in listed.rows] == [
        ("interrupted", "the server stopped before the call ended")]
    summary = by_key(run(cdr, "summary", by="status"))
    assert summary["interrupted"]["failed"] == 1 and summary["in_progress"]["calls"] == 1
    assert run(cdr, "inbound").totals["offered"] == 3  # type: ignore[index]  # the running call is not offered
    assert run(cdr, "summary").totals["calls"] == 7  # type: ignore[index]
    assert by_key(run(cdr, "ivr"), "choice")["2"]["times"] == 1  # its menu still counts


def test_time_range_and_filters_select_calls(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-09 22:59:59", caller="+34600111222")  # 23:59:59 on the 9th in Madrid
    cdr.add("2025-03-09 23:00:00", caller="+34600111333")  # midnight of the 10th
    cdr.add("2025-03-10 12:00:00", caller="+34911222333", flow="sales")
    cdr.add("2025-03-10 23:00:00", caller="[*]?", flow="sales")  # midnight of the 11th
    assert len(run(cdr, "calls", since="2025-03-10", until="2025-03-10").rows) == 2
    assert len(run(cdr, "calls", since="2025-03-10T12:00:00+01:00").rows) == 2
    assert len(run(cdr, "calls", flows=("sales", "support")).rows) == 4
    assert [r["caller"] for r in run(cdr, "calls", caller="+34600*").rows] == ["+34600111333", "+34600111222"]
    assert [r["caller"] for r in run(cdr, "calls", caller="[*]*").rows] == ["[*]?"]
    assert run(cdr, "calls", caller="+34600").rows == []
    assert len(run(cdr, "calls", limit=1).rows) == 1


def test_tracking_shows_attempts_waits_talk_and_the_last_outcome_per_caller(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00", caller="A", queue="support", queue_status="TIMEOUT", queue_wait=120, duration=130)
    cdr.add("2025-03-10 09:00:00", caller="A", queue="support", queue_status="ANSWERED", queue_wait=30,
            talk_time=200, duration=240)
    cdr.add("2025-03-10 10:00:00", caller="A", status="caller_hangup", duration=10)
    cdr.add("2025-03-10 08:00:00", caller="B", duration=10)
    cdr.add("2025-03-10 08:00:00", caller="", duration=10)
    rows = by_key(run(cdr, "tracking"), "caller")
    assert set(rows) == {"A", "B"}
    a = rows["A"]
    assert (a["calls"], a["answered"], a["wait_s"], a["max_wait_s"], a["talk_s"]) == (3, 1, 150, 120, 200)
    assert a["last_outcome"] == "ivr_hangup" and a["last_call"] == utc("2025-03-10 10:00:00")
    assert [r["caller"] for r in run(cdr, "tracking", min_calls=2).rows] == ["A"]
    b = rows["B"]
    assert (b["answered"], b["wait_s"], b["talk_s"]) == (0, None, 0)  # no talk is 0 s, as inbound's DUR


def test_ivr_counts_choices_timeouts_and_invalid_entries_per_menu(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00", steps=[menu("main", "1")])
    cdr.add("2025-03-10 08:01:00", steps=[menu("main", "1", timeouts=1)])
    cdr.add("2025-03-10 08:02:00", steps=[menu("main", "2", invalid=2)])
    cdr.add("2025-03-10 08:03:00", steps=[menu("main", "timeout", timeouts=3)])
    cdr.add("2025-03-10 08:04:00", status="caller_hangup", steps=[menu("main", "hangup")])
    cdr.add("2025-03-10 08:05:00", steps=[("play", "play", "next", {}), menu("main", "invalid", invalid=3),
                                          menu("main", "1")])  # the menu ran twice in one call
    report = run(cdr, "ivr")
    assert [(r["choice"], r["times"], r["share_pct"], r["timeouts"], r["invalid"], r["retried"]) for r in report.rows] == [
        ("1", 3, 42.9, 1, 0, 1), ("2", 1, 14.3, 0, 2, 1), ("timeout", 1, 14.3, 3, 0, 1),
        ("invalid", 1, 14.3, 0, 3, 1), ("hangup", 1, 14.3, 0, 0, 0)]
    assert report.totals is not None and report.totals["times"] == 7


def test_ivr_flow_filter_selects_the_flow_the_menu_belongs_to(cdr: CdrBuilder) -> None:
    key = cdr.add("2025-03-10 08:00:00", flow="entry", steps=[menu("main", "1")])
    cdr.conn.execute("UPDATE call_steps SET flow = 'support' WHERE call = ?", (key,))  # a menu reached by goto
    assert [r["flow"] for r in run(cdr, "ivr", flows=("support",)).rows] == ["support"]
    assert run(cdr, "ivr", flows=("entry",)).rows == []


def test_compliance_counts_do_not_call_hits_consent_and_recordings(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00", robinson="clear", dialled="+34911")
    cdr.add("2025-03-10 08:01:00", robinson="listed", robinson_list="robinson")
    cdr.add("2025-03-10 08:02:00", robinson="listed", robinson_list="internal")
    cdr.add("2025-03-10 08:03:00", robinson="error", robinson_list="robinson")
    cdr.add("2025-03-10 08:04:00", consent="accepted", recording="/rec/1.wav")
    cdr.add("2025-03-10 08:05:00", consent="declined")
    cdr.add("2025-03-10 08:06:00", consent="no_answer", recording="/rec/2.wav")  # must never happen
    cdr.add("2025-03-10 08:07:00", blocked="anonymous")
    rows = {(r["section"], r["item"], r["list"]): (r["calls"], r["share_pct"]) for r in run(cdr, "compliance").rows}
    assert rows[("calls", "all calls", None)] == (8, 100.0)
    assert rows[("robinson", "checked", None)] == (4, 50.0)
    assert rows[("robinson", "listed", "robinson")] == (1, 25.0)
    assert rows[("robinson", "listed", "internal")] == (1, 25.0)
    assert rows[("robinson", "error", "robinson")] == (1, 25.0)
    assert rows[("consent", "accepted", None)] == (1, pytest.approx(33.3))
    assert rows[("consent", "no_answer", None)] == (1, pytest.approx(33.3))
    assert rows[("recording", "recorded", None)] == (2, 25.0)
    assert rows[("recording", "without consent", None)] == (1, 50.0)
    assert rows[("blocked", "blocked", "anonymous")] == (1, 12.5)


def test_compliance_counts_every_recording_command_sent_whichever_step_sent_it(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00", consent="accepted", recording="/rec/1.wav", recording_commands=1)
    cdr.add("2025-03-10 08:01:00", consent="declined", recording_commands=1)  # an exec, not the consent step
    cdr.add("2025-03-10 08:02:00", recording_commands=2)  # no consent step at all
    cdr.add("2025-03-10 08:03:00", consent="declined", recording_commands=0,
            refused_commands="MixMonitor (no consent), Dial (do-not-call)")
    cdr.add("2025-03-10 08:04:00", robinson="listed", robinson_list="robinson", recording_commands=0,
            refused_commands="Dial (do-not-call)")
    cdr.add("2025-03-10 08:05:00", consent="no_answer", recording="/rec/2.wav")  # written before the counts existed
    rows = {(r["section"], r["item"]): (r["calls"], r["share_pct"]) for r in run(cdr, "compliance").rows}
    assert rows[("recording", "recorded")] == (4, pytest.approx(66.7))
    assert rows[("recording", "without consent")] == (3, 75.0)
    assert rows[("refused", "do-not-call")] == (2, pytest.approx(33.3))
    assert rows[("refused", "no consent")] == (1, pytest.approx(16.7))


def test_compliance_shows_the_refused_rows_when_nothing_was_refused(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00", recording_commands=0)
    rows = {(r["section"], r["item"]): r["calls"] for r in run(cdr, "compliance").rows}
    assert (rows[("refused", "do-not-call")], rows[("refused", "no consent")]) == (0, 0)
    assert (rows[("recording", "recorded")], rows[("recording", "without consent")]) == (0, 0)


def test_an_empty_database_gives_empty_reports(cdr: CdrBuilder) -> None:
    for kind in ("calls", "summary", "inbound", "fcr", "tracking", "ivr"):
        assert run(cdr, kind).rows == []
    assert run(cdr, "compliance").rows[0]["calls"] == 0


def test_a_missing_or_foreign_database_is_a_clear_error(tmp_path: Path) -> None:
    filters = Filters()
    with pytest.raises(ReportError, match="no CDR database"):
        run_report(tmp_path / "none.db", "calls", filters, NOW)
    (tmp_path / "other.db").write_bytes(b"")
    with pytest.raises(ReportError, match="no table calls"):
        run_report(tmp_path / "other.db", "calls", filters, NOW)


@pytest.mark.sqlite_only  # the title's wording, the same over both backends
def test_ivr_chart_titles_write_counts_with_the_tables_thousands_separators(cdr: CdrBuilder) -> None:
    for n in range(1000):
        cdr.add(f"2025-03-10 08:{n // 60 % 60:02d}:{n % 60:02d}", steps=[menu("main", "1")])
    cdr.add("2025-03-10 09:00:00", steps=[menu("main", "2")])
    report = run(cdr, "ivr", charts=True)
    assert [chart.title for chart in report.charts] == [f"Menu {isolated('main')} ({isolated('support')}): 1,001 times"]


@pytest.mark.sqlite_only  # the title's wording, the same over both backends
def test_the_ivr_page_says_when_it_charts_only_the_busiest_menus(cdr: CdrBuilder) -> None:
    """Of 14 menus the page charts 12, and the first chart's title says
    so: the page once showed 12 menus as if they were all."""
    for n in range(14):
        for _ in range(20 - n):
            cdr.add("2025-03-10 08:00:00", steps=[menu(f"menu{n:02d}", "1")])
    titles = [chart.title for chart in run(cdr, "ivr", charts=True).charts]
    assert len(titles) == 12
    assert titles[0] == f"Menu {isolated('menu00')} ({isolated('support')}): 20 times (the 12 busiest of 14 menus)"
    assert titles[1] == f"Menu {isolated('menu01')} ({isolated('support')}): 19 times"


def test_the_compliance_page_says_how_many_calls_were_recorded_without_consent_not_how_many_rows(
        cdr: CdrBuilder) -> None:
    for n in range(3):
        cdr.add(f"2025-03-10 08:0{n}:00", consent="declined", recording=f"/rec/{n}.wav")
    page = render(run(cdr, "compliance", charts=True), "html")
    assert page.count('<tr class="flagged"') == 1  # the one "without consent" row
    assert "3 calls recorded without consent (highlighted)" in page
    assert "1 highlighted" not in page
    cdr.add("2025-03-10 09:00:00", consent="declined", recording="/rec/3.wav")
    calls = render(run(cdr, "calls", charts=True), "html")  # a row per call: the note counts the rows
    assert calls.count('<tr class="flagged"') == 4 and "4 highlighted: a recording was made without consent" in calls
