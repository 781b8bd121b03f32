"""The definitions of docs/reports.md (offered, answered, abandoned, short
abandons, wait, talk, ASR, service level, abandonment rate, DUR, ACD,
ASA, AHT, outcomes), on a day of calls whose every figure is worked out
by hand here, on both backends (the ``database`` fixture)."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from support.cdr_builder import CdrBuilder, menu

from agi.reports import ReportError, run_report
from agi.reports.aggregate import (Thresholds, abandon_rate, acd, aggregate, aht, asa, asr, combine,
                                   service_level)
from agi.reports.db import CdrReader
from agi.reports.model import Filters, Report
from agi.reports.percent import percent
from agi.reports.timerange import zone
from agi.storage.call_measures import DEFAULT_THRESHOLDS
from agi.storage.migrations import upgrade
from agi.storage.rollups import roll_database

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=timezone.utc)
MADRID = zone("Europe/Madrid")


@pytest.fixture
def cdr(database: Path) -> CdrBuilder:
    builder = CdrBuilder(database)
    add_day(builder)
    return builder


def add_day(cdr: CdrBuilder) -> None:
    """Sixteen calls of Monday 10 March 2025 (UTC times; Madrid is UTC+1)."""
    sales: dict[str, Any] = {"queue": "sales"}
    hangup: dict[str, Any] = {"status": "caller_hangup"}
    cdr.add("2025-03-10 08:00:00", **sales, queue_status="ANSWERED", queue_wait=10, talk_time=100, agent="Ana")  # 1
    cdr.add("2025-03-10 08:05:00", **sales, queue_status="ANSWERED", queue_wait=30, talk_time=200, agent="Ben")  # 2
    cdr.add("2025-03-10 08:10:00", **sales, **hangup, queue_status="ABANDONED", queue_wait=3)  # 3: a short abandon
    cdr.add("2025-03-10 08:20:00", **sales, **hangup, queue_status="ABANDONED", queue_wait=40)  # 4
    cdr.add("2025-03-10 08:30:00", **sales, **hangup, queue_status="TIMEOUT", queue_wait=300)  # 5: hung up after
    cdr.add("2025-03-10 08:40:00", **sales, **hangup, queue_status="FULL", queue_wait=0)  # 6: never queued
    cdr.add("2025-03-10 08:50:00", dialled="+34911", dial_status="ANSWER", ring_time=8, talk_time=60,
            agent="PJSIP/100")  # 7
    cdr.add("2025-03-10 09:00:00", **hangup, dialled="+34911", dial_status="CANCEL", ring_time=12)  # 8
    cdr.add("2025-03-10 09:10:00", dialled="+34911", dial_status="BUSY")  # 9: never rang
    cdr.add("2025-03-10 09:20:00", **hangup, steps=[menu("main", "hangup")])  # 10
    cdr.add("2025-03-10 09:30:00")  # 11: self-service
    cdr.add("2025-03-10 09:40:00", blocked="block")  # 12
    cdr.add("2025-03-10 09:50:00", status="error", error="step failed")  # 13
    cdr.add("2025-03-10 10:00:00", **sales, status="in_progress", duration=None)  # 14
    cdr.add("2025-03-10 10:10:00", flow="campaign", direction="outbound", dialled="+34600", dial_status="ANSWER",
            ring_time=5, talk_time=50)  # 15: a campaign leg
    cdr.add("2025-03-10 10:20:00", **sales, queue_status="ANSWERED", queue_wait=15, direction="inbound")  # 16


def run(cdr: CdrBuilder, kind: str, **options: Any) -> Report:
    tz, name = MADRID
    return run_report(cdr.path, kind, Filters(tz=tz, tz_name=name), NOW, **options)


def by_key(report: Report) -> dict[Any, dict[str, Any]]:
    return {row["key"]: dict(row) for row in report.rows}


def test_inbound_figures_follow_the_definitions(cdr: CdrBuilder) -> None:
    totals = run(cdr, "inbound").totals
    assert totals is not None
    # offered: 1-5, 7, 8, 16; answered: 1, 2, 7, 16; abandoned: 3, 4, 8; short: 3 (3 s)
    assert (totals["offered"], totals["answered"], totals["abandoned"], totals["short_abandoned"]) == (8, 4, 3, 1)
    assert totals["asr_pct"] == 50.0  # 4 / 8
    assert totals["abandon_pct"] == 28.6  # (3 - 1) / (8 - 1)
    assert totals["sl_pct"] == 42.9  # 1, 7 and 16 waited 20 s at most: 3 / (8 - 1)
    assert totals["dur_s"] == 360  # 100 + 200 + 60: call 16's talk time is unknown
    assert totals["acd_s"] == 120  # 360 / 3
    assert totals["aht_s"] == 120  # talk time only: Asterisk gives AGI no hold or wrap-up
    assert totals["asa_s"] == pytest.approx(15.75)  # (10 + 30 + 8 + 15) / 4


def test_inbound_per_queue_counts_dials_under_no_queue(cdr: CdrBuilder) -> None:
    rows = by_key(run(cdr, "inbound", by="queue"))
    sales, dials = rows["sales"], rows[None]
    assert (sales["offered"], sales["answered"], sales["abandoned"], sales["short_abandoned"]) == (6, 3, 2, 1)
    assert (sales["asr_pct"], sales["abandon_pct"], sales["sl_pct"]) == (50.0, 20.0, 40.0)  # 3/6, 1/5, 2/5
    assert (sales["dur_s"], sales["acd_s"], sales["asa_s"]) == (300, 150, pytest.approx(55 / 3))
    assert (dials["offered"], dials["answered"], dials["abandoned"], dials["sl_pct"]) == (2, 1, 1, 50.0)
    assert (dials["dur_s"], dials["asa_s"]) == (60, 8)  # a dial's wait is its ring time


def test_thresholds_move_short_abandons_and_the_service_level(cdr: CdrBuilder) -> None:
    totals = run(cdr, "inbound", thresholds=Thresholds(short_abandon=12, service_level=30)).totals
    assert totals is not None
    assert totals["short_abandoned"] == 2  # 3 s and the 12 s ring of call 8
    assert totals["sl_pct"] == pytest.approx(round(100 * 4 / 6, 1))  # 10, 30, 8 and 15 s: 4 / (8 - 2)
    assert totals["abandon_pct"] == pytest.approx(round(100 * 1 / 6, 1))


def test_a_queue_timeout_or_a_full_queue_then_a_hangup_is_not_an_abandon(cdr: CdrBuilder) -> None:
    outcomes = {row["started"].strftime("%H:%M"): row["outcome"] for row in run(cdr, "calls").rows}
    assert outcomes["09:30"] == "not_answered" and outcomes["09:40"] == "not_answered"  # TIMEOUT, FULL
    assert outcomes["10:10"] == "not_answered"  # a busy target never rang
    assert (outcomes["09:10"], outcomes["09:20"], outcomes["10:00"]) == ("abandoned", "abandoned", "abandoned")


def test_inbound_reports_leave_out_campaign_legs_and_running_calls(cdr: CdrBuilder) -> None:
    summary = by_key(run(cdr, "summary", by="direction"))
    assert (summary["inbound"]["calls"], summary["outbound"]["calls"]) == (15, 1)
    assert (summary["outbound"]["offered"], summary["outbound"]["answered"]) == (0, 0)
    assert set(by_key(run(cdr, "inbound", by="flow"))) == {"support"}


def test_summary_counts_every_call_with_the_inbound_measures(cdr: CdrBuilder) -> None:
    totals = run(cdr, "summary").totals
    assert totals is not None
    assert (totals["calls"], totals["offered"], totals["answered"], totals["abandoned"]) == (16, 8, 4, 3)
    assert (totals["hung_up"], totals["failed"]) == (6, 1)  # calls 3, 4, 5, 6, 8, 10; call 13
    assert totals["total_s"] == 15 * 60 and totals["asa_s"] == pytest.approx(15.75)


def test_an_inbound_call_is_answered_or_abandoned_exactly_when_its_outcome_says_so(cdr: CdrBuilder) -> None:
    tz, name = MADRID
    with CdrReader(cdr.path, tz) as reader:
        groups = aggregate(reader, Filters(tz=tz, tz_name=name), ("outcome", "direction"))
    counted = {group.key: group.sums for group in groups}
    for (outcome, direction), sums in counted.items():
        if direction == "inbound" and outcome != "in_progress":
            assert sums["answered"] == (sums["calls"] if outcome == "answered" else 0), outcome
            assert sums["abandoned"] == (sums["calls"] if outcome == "abandoned" else 0), outcome
    assert {key: sums["calls"] for key, sums in counted.items()} == {
        ("answered", "inbound"): 4, ("answered", "outbound"): 1, ("abandoned", "inbound"): 3,
        ("not_answered", "inbound"): 3, ("ivr_hangup", "inbound"): 1, ("self_service", "inbound"): 1,
        ("blocked", "inbound"): 1, ("failed", "inbound"): 1, ("in_progress", "inbound"): 1}


def test_agents_weekdays_and_hours_are_dimensions(cdr: CdrBuilder) -> None:
    agents = by_key(run(cdr, "inbound", by="agent"))
    assert (agents["Ana"]["answered"], agents["Ben"]["answered"], agents["PJSIP/100"]["answered"]) == (1, 1, 1)
    assert agents["Ben"]["sl_pct"] == 0.0 and agents["Ana"]["acd_s"] == 100
    assert set(by_key(run(cdr, "summary", by="weekday"))) == {"Mon"}
    hours = {key: row["calls"] for key, row in by_key(run(cdr, "summary", by="hour")).items()}
    assert hours == {"09": 7, "10": 6, "11": 3}  # Madrid time


def test_ratios_are_made_from_sums_never_from_averages() -> None:
    small = {"offered": 1, "answered": 1, "abandoned": 0, "short_abandoned": 0, "answered_in_sl": 1,
             "wait_answered_s": 10.0, "waits_answered": 1, "talk_s": 10.0, "talked": 1}
    large = {"offered": 9, "answered": 3, "abandoned": 6, "short_abandoned": 3, "answered_in_sl": 0,
             "wait_answered_s": 270.0, "waits_answered": 3, "talk_s": 600.0, "talked": 3}
    both = {key: small[key] + large[key] for key in small}
    assert asr(both) == 40.0  # 4 / 10, not the mean of 100 % and 33 %
    assert abandon_rate(both) == 42.9  # 3 / 7, to one decimal
    assert service_level(both) == 14.3  # 1 / 7
    assert acd(both) == pytest.approx(610 / 4) and aht(both) == acd(both)
    assert asa(both) == 70.0
    empty = dict.fromkeys(small, 0)
    assert (asr(empty), abandon_rate(empty), service_level(empty), acd(empty), asa(empty)) == (None,) * 5


def test_combine_adds_counts_and_keeps_the_extremes(cdr: CdrBuilder) -> None:
    tz, name = MADRID
    with CdrReader(cdr.path, tz) as reader:
        filters = Filters(tz=tz, tz_name=name)
        per_queue = aggregate(reader, filters, ("queue",))
        (whole,) = aggregate(reader, filters, ())
    assert combine(g.sums for g in per_queue) == dict(whole.sums)


def test_an_unknown_dimension_is_a_report_error(cdr: CdrBuilder) -> None:
    with CdrReader(cdr.path) as reader, pytest.raises(ReportError, match="cannot group by"):
        aggregate(reader, Filters(), ("caller",))


def test_intervals_keep_the_two_hours_of_the_night_the_clocks_go_back_apart(database: Path) -> None:
    cdr = CdrBuilder(database)
    cdr.add("2025-10-26 00:10:00")  # 02:10 CEST
    cdr.add("2025-10-26 01:10:00")  # 02:10 CET, one real hour later
    cdr.add("2025-10-26 01:20:00")  # 02:20 CET
    tz, name = MADRID
    with CdrReader(cdr.path, tz) as reader:
        groups = aggregate(reader, Filters(tz=tz, tz_name=name), ("interval15",))
    starts = [(g.key[0].isoformat(), g.sums["calls"]) for g in groups]
    assert starts == [("2025-10-26T02:00:00+02:00", 1), ("2025-10-26T02:00:00+01:00", 1),
                      ("2025-10-26T02:15:00+01:00", 1)]
    hours = by_key(run(cdr, "summary", by="hour"))
    assert hours["02"]["calls"] == 3  # the hour of the day counts both


@pytest.mark.parametrize("rolled", [False, True], ids=["calls", "rollups"])
def test_an_hour_whose_clocks_go_back_half_an_hour_keeps_its_local_start_each_time(database: Path,
                                                                                  rolled: bool) -> None:
    cdr = CdrBuilder(database)  # Lord Howe, 6 April 2025: 02:00 (UTC+11) becomes 01:30 (UTC+10:30)
    cdr.add("2025-04-05 14:10:00")  # 01:10 +11
    cdr.add("2025-04-05 14:40:00")  # 01:40 +11
    cdr.add("2025-04-05 15:10:00")  # 01:40 +10:30: the half hour again
    cdr.add("2025-04-05 15:40:00")  # 02:10 +10:30
    cdr.close()
    if rolled:
        upgrade(cdr.path)
        roll_database(cdr.path, DEFAULT_THRESHOLDS, now=NOW)
    tz, name = zone("Australia/Lord_Howe")
    report = run_report(cdr.path, "summary", Filters(tz=tz, tz_name=name), NOW, by="interval60")
    assert [(row["key"].isoformat(), row["calls"]) for row in report.rows] == [
        ("2025-04-06T01:00:00+11:00", 2), ("2025-04-06T01:00:00+10:30", 1), ("2025-04-06T02:00:00+10:30", 1)]
    halves = run_report(cdr.path, "summary", Filters(tz=tz, tz_name=name), NOW, by="interval30")
    assert [row["key"].isoformat() for row in halves.rows] == [
        "2025-04-06T01:00:00+11:00", "2025-04-06T01:30:00+11:00", "2025-04-06T01:30:00+10:30",
        "2025-04-06T02:00:00+10:30"]


def test_an_hour_whose_clocks_go_forward_half_an_hour_keeps_its_local_start(database: Path) -> None:
    cdr = CdrBuilder(database)  # Lord Howe, 5 October 2025: 02:00 (UTC+10:30) becomes 02:30 (UTC+11)
    cdr.add("2025-10-04 15:10:00")  # 01:40 +10:30
    cdr.add("2025-10-04 15:40:00")  # 02:40 +11: the half hour left of the hour from 02:00
    tz, name = zone("Australia/Lord_Howe")
    report = run_report(cdr.path, "summary", Filters(tz=tz, tz_name=name), NOW, by="interval60")
    assert [row["key"].isoformat() for row in report.rows] == ["2025-10-05T01:00:00+10:30",
                                                               "2025-10-05T02:00:00+11:00"]


def test_intervals_follow_a_zone_whose_offset_is_not_whole_hours(database: Path) -> None:
    cdr = CdrBuilder(database)
    cdr.add("2025-03-10 03:40:00")  # 09:10 in Kolkata (UTC+5:30)
    cdr.add("2025-03-10 04:25:00")  # 09:55
    cdr.add("2025-03-10 04:35:00")  # 10:05
    tz, name = zone("Asia/Kolkata")
    with CdrReader(cdr.path, tz) as reader:
        hours = aggregate(reader, Filters(tz=tz, tz_name=name), ("interval60",))
        halves = aggregate(reader, Filters(tz=tz, tz_name=name), ("interval30",))
    assert [(g.key[0].strftime("%H:%M"), g.sums["calls"]) for g in hours] == [("09:00", 2), ("10:00", 1)]
    assert [(g.key[0].strftime("%H:%M"), g.sums["calls"]) for g in halves] == [
        ("09:00", 1), ("09:30", 1), ("10:00", 1)]


def test_the_call_log_shows_the_wait_in_the_queue_else_the_ring_time(cdr: CdrBuilder) -> None:
    waits = {row["started"].strftime("%H:%M"): row["wait_s"] for row in run(cdr, "calls").rows}
    assert (waits["09:00"], waits["09:50"], waits["10:00"], waits["10:30"]) == (10, 8, 12, None)


def test_a_queue_that_never_took_the_caller_in_is_no_wait_and_the_dial_after_it_is(database: Path) -> None:
    cdr = CdrBuilder(database)
    full: dict[str, Any] = {"queue": "sales", "queue_status": "FULL", "queue_wait": 0}
    cdr.add("2025-03-10 08:00:00", **full, status="caller_hangup", dial_status="CANCEL", ring_time=12)  # overflow
    cdr.add("2025-03-10 08:10:00", **full, dial_status="ANSWER", ring_time=30, talk_time=50, agent="PJSIP/100")
    cdr.add("2025-03-10 08:20:00", queue="sales", queue_status="ANSWERED", ring_time=4, talk_time=20)  # wait unknown
    totals = run(cdr, "inbound").totals
    assert totals is not None
    assert (totals["offered"], totals["answered"], totals["abandoned"], totals["short_abandoned"]) == (3, 2, 1, 0)
    assert (totals["abandon_pct"], totals["sl_pct"], totals["asa_s"]) == (33.3, 0.0, 30)  # 12 s and 30 s rang
    waits = {row["started"].strftime("%H:%M"): row["wait_s"] for row in run(cdr, "calls").rows}
    assert (waits["09:00"], waits["09:10"], waits["09:20"]) == (12, 30, None)


def test_a_caller_who_left_with_a_key_was_offered_and_not_answered_but_did_not_abandon(database: Path) -> None:
    # A key of the queue's context (EXITWITHKEY), or one that ends a ringing
    # Dial() with the d option, while the caller is still on the line; the
    # dial was recorded as CANCEL, an abandon.
    cdr = CdrBuilder(database)
    cdr.add("2025-03-10 08:00:00", dialled="+34911", dial_status="EXITWITHKEY", ring_time=12)
    cdr.add("2025-03-10 08:10:00", queue="sales", queue_status="EXITWITHKEY", queue_wait=30)
    cdr.add("2025-03-10 08:20:00", status="caller_hangup", dialled="+34911", dial_status="CANCEL", ring_time=3)
    totals = run(cdr, "inbound").totals
    assert totals is not None
    assert (totals["offered"], totals["answered"], totals["abandoned"]) == (3, 0, 1)
    outcomes = {row["started"].strftime("%H:%M"): row["outcome"] for row in run(cdr, "calls").rows}
    assert (outcomes["09:00"], outcomes["09:10"], outcomes["09:20"]) == ("not_answered", "not_answered", "abandoned")
    waits = {row["started"].strftime("%H:%M"): row["wait_s"] for row in run(cdr, "calls").rows}
    assert (waits["09:00"], waits["09:10"]) == (12, 30)


def test_percentages_round_halves_up_from_the_exact_ratio(database: Path) -> None:
    cdr = CdrBuilder(database)
    for n in range(16):  # 1 of 16 answered: 6.25 %
        answered = n == 0
        cdr.add(f"2025-03-10 08:{n:02d}:00", queue="sales", queue_status="ANSWERED" if answered else "TIMEOUT",
                queue_wait=10 if answered else 60, talk_time=30 if answered else None, agent="Ana" if answered else None)
    totals = run(cdr, "inbound").totals
    assert totals is not None
    assert (totals["asr_pct"], totals["sl_pct"], totals["abandon_pct"]) == (6.3, 6.3, 0.0)
    assert [row["asr_pct"] for row in run(cdr, "consolidated", by=("queue",)).rows] == [6.3]
    assert (percent(1, 80), percent(3, 2000), percent(2, 3), percent(1, 0)) == (1.3, 0.2, 66.7, None)


def test_percentages_of_counts_are_the_exact_ratio_rounded_halves_up() -> None:
    """Counts take a path in whole numbers: it gives what the exact ratio gives, every halfway case included."""
    def exact(part: int | float, whole: int | float) -> float:
        return math.floor(Fraction(part) * 1000 / Fraction(whole) + Fraction(1, 2)) / 10
    pairs = [(part, whole) for whole in range(1, 161) for part in range(-whole, 2 * whole + 1)]
    pairs += [(10**12 + 5, 2 * 10**13), (1, 2000), (3, 2000), (7, 16)]
    assert [percent(part, whole) for part, whole in pairs] == [exact(part, whole) for part, whole in pairs]
    assert (percent(1.0, 16), percent(0.5, 1), percent(True, 2)) == (6.3, 50.0, 50.0)


@pytest.mark.parametrize("rolled", [False, True], ids=["calls", "rollups"])
def test_inbound_leaves_running_calls_out_of_its_rows(cdr: CdrBuilder, rolled: bool) -> None:
    cdr.add("2025-03-10 11:00:00", flow="lonely", status="in_progress", duration=None)  # the flow's only call
    cdr.add("2025-03-10 12:00:00", status="in_progress", duration=None, flow_version="15cd46f76111")
    cdr.add("2025-03-10 11:30:00", status="caller_hangup", flow_version="15cd46f76111")
    cdr.close()
    if rolled:
        upgrade(cdr.path)
        roll_database(cdr.path, DEFAULT_THRESHOLDS, now=NOW)
    assert "lonely" not in by_key(run(cdr, "inbound", by="flow"))
    assert "lonely" in by_key(run(cdr, "summary", by="flow"))  # summary counts every call
    intervals = {row["key"].strftime("%H:%M") for row in run(cdr, "inbound", by="interval15").rows}
    assert "13:00" not in intervals and "12:30" in intervals  # Madrid times: running call 14 is alone at 11:00
    assert "11:00" not in intervals
    version = by_key(run(cdr, "inbound", by="version"))["support@15cd46f76111"]
    assert version["last"].strftime("%H:%M") == "12:30"  # the running call of 13:00 is left out
