"""``fcr`` and ``tracking``: callers told apart by their E.164 number, on
calls whose figures are worked out by hand, on both backends."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from support.cdr_builder import CdrBuilder, utc

from agi.reports import run_report
from agi.reports.callers import caller_identity
from agi.reports.model import Filters, Report
from agi.reports.timerange import moment, zone

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=timezone.utc)
MADRID = zone("Europe/Madrid")
ANSWERED: dict[str, Any] = {"queue": "sales", "queue_status": "ANSWERED", "queue_wait": 10, "talk_time": 100}


@pytest.fixture
def cdr(database: Path) -> CdrBuilder:
    return CdrBuilder(database)


def run(cdr: CdrBuilder, kind: str, since: str | None = None, until: str | None = None, **options: Any) -> Report:
    tz, name = MADRID
    filters = Filters(moment(since, NOW, tz) if since else None, moment(until, NOW, tz, end=True) if until else None,
                      tz=tz, tz_name=name)
    return run_report(cdr.path, kind, filters, NOW, **options)


def test_one_caller_whatever_the_spelling_of_the_number() -> None:
    identity = caller_identity("ES")
    assert identity("+34600111222", "+34600111222") == "+34600111222"
    assert identity("0034600111222", None) == "+34600111222"  # a row written before caller_e164
    assert identity("600111222", None) == "+34600111222"
    assert identity("alice", None) == "alice"  # no phone number: the caller ID as written
    assert identity("anonymous", None) is None and identity("", None) is None


def add_first_calls(cdr: CdrBuilder) -> None:
    """The period is Monday 10 March in Madrid: 09 March 23:00 to 10 March 23:00 UTC."""
    cdr.add("2025-03-10 08:00:00", caller="+34600000001", caller_e164="+34600000001", **ANSWERED)  # A
    cdr.add("2025-03-10 20:00:00", caller="0034600000001")  # A again 12 h later (an old row): repeated
    cdr.add("2025-03-10 09:00:00", caller="600000002", caller_e164="+34600000002", **ANSWERED)  # B
    cdr.add("2025-03-11 10:00:00", caller="600000002", caller_e164="+34600000002")  # 25 h later: resolved
    cdr.add("2025-03-10 10:00:00", caller="600000003", queue="sales", queue_status="ABANDONED",
            queue_wait=30)  # C: unreached, although...
    cdr.add("2025-03-10 11:00:00", caller="600000003", **ANSWERED)  # ...answered an hour later
    cdr.add("2025-03-09 22:00:00", caller="600000004", **ANSWERED)  # D, before the period
    cdr.add("2025-03-10 09:00:00", caller="600000004", **ANSWERED)  # D's first call in it: resolved
    cdr.add("2025-03-10 12:00:00", caller="600000005", blocked="block")  # E: unreached
    cdr.add("2025-03-10 22:30:00", caller="600000007", **ANSWERED)  # G, 23:30 in Madrid
    cdr.add("2025-03-11 05:00:00", caller="600000007")  # after the period, within 24 h: repeated
    cdr.add("2025-03-10 13:00:00", caller="anonymous", **ANSWERED)  # no caller
    cdr.add("2025-03-10 14:00:00", caller="600000008", flow="campaign", direction="outbound",
            dial_status="ANSWER")  # a campaign leg: no caller of ours


def test_fcr_is_the_share_of_answered_first_calls_not_followed_by_another_call(cdr: CdrBuilder) -> None:
    add_first_calls(cdr)
    totals = run(cdr, "fcr", since="2025-03-10", until="2025-03-10").totals
    assert totals is not None
    assert (totals["callers"], totals["answered"], totals["unreached"]) == (6, 4, 2)  # A B C D E G; C E
    assert (totals["resolved"], totals["repeated"], totals["open"], totals["repeat_calls"]) == (2, 2, 0, 2)
    assert totals["fcr_pct"] == 50.0  # B and D of A, B, D, G


def test_fcr_groups_by_the_outcome_of_the_first_call(cdr: CdrBuilder) -> None:
    add_first_calls(cdr)
    rows = {row["key"]: row for row in run(cdr, "fcr", since="2025-03-10", until="2025-03-10", by="outcome").rows}
    assert {key: row["callers"] for key, row in rows.items()} == {"answered": 4, "abandoned": 1, "blocked": 1}
    assert rows["abandoned"]["fcr_pct"] is None and rows["abandoned"]["unreached"] == 1


def test_an_answered_first_call_whose_window_has_not_ended_is_open(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-20 11:00:00", caller="600000009", **ANSWERED)  # an hour before NOW
    cdr.add("2025-03-20 11:30:00", caller="600000010", status="in_progress", duration=None)  # still running
    totals = run(cdr, "fcr", since="2025-03-20").totals
    assert totals is not None
    assert (totals["callers"], totals["open"], totals["unreached"], totals["resolved"]) == (2, 1, 1, 0)
    assert totals["fcr_pct"] is None


def add_tracked(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-05 08:00:00", caller="0034611111111")  # X, before the period (an old row)
    cdr.add("2025-03-10 08:00:00", caller="+34611111111", caller_e164="+34611111111", **ANSWERED)
    cdr.add("2025-03-10 09:00:00", caller="+34611111111", caller_e164="+34611111111", queue="sales",
            queue_status="TIMEOUT", queue_wait=300)
    cdr.add("2025-03-10 10:00:00", caller="611111111", dial_status="CANCEL", ring_time=12)  # an old row
    cdr.add("2025-03-10 08:30:00", caller="612222222", caller_e164="+34612222222")  # Y: new
    cdr.add("2025-03-10 08:40:00", caller="anonymous")
    cdr.add("2025-03-10 08:50:00", caller="612222222", flow="campaign", direction="outbound")


def test_tracking_adds_up_each_callers_calls_whatever_the_spelling(cdr: CdrBuilder) -> None:
    add_tracked(cdr)
    rows = {row["caller"]: row for row in run(cdr, "tracking", since="2025-03-10").rows}
    assert set(rows) == {"+34611111111", "+34612222222"}
    x, y = rows["+34611111111"], rows["+34612222222"]
    assert (x["calls"], x["answered"], x["wait_s"], x["max_wait_s"], x["talk_s"]) == (3, 1, 322, 300, 100)
    assert (x["last_outcome"], x["last_call"], x["first_call"]) == (
        "abandoned", utc("2025-03-10 10:00:00"), utc("2025-03-10 08:00:00"))
    assert (y["calls"], y["answered"], y["wait_s"], y["talk_s"], y["last_outcome"]) == (1, 0, None, 0,
                                                                                          "self_service")


def test_tracking_marks_callers_who_called_before_the_period_as_returning(cdr: CdrBuilder) -> None:
    add_tracked(cdr)
    report = run(cdr, "tracking", since="2025-03-10", charts=True)
    assert {row["caller"]: row["returning"] for row in report.rows} == {"+34611111111": True,
                                                                        "+34612222222": False}
    assert (report.charts[1].labels, report.charts[1].values) == (["new", "returning"], [1, 1])
    everything = run(cdr, "tracking")  # no start: nobody called before it
    assert [row["returning"] for row in everything.rows] == [False, False]
    assert [row["calls"] for row in everything.rows] == [4, 1]


def test_the_new_and_returning_chart_counts_every_caller_the_limit_only_cuts_the_table(cdr: CdrBuilder) -> None:
    """``--limit 1`` lists the caller with most calls (a returning one); the
    chart of new and returning callers still counts both callers of the
    range, as its title says: it once counted the listed one alone."""
    add_tracked(cdr)
    report = run(cdr, "tracking", since="2025-03-10", limit=1, charts=True)
    assert [row["caller"] for row in report.rows] == ["+34611111111"]
    assert (report.charts[1].labels, report.charts[1].values) == (["new", "returning"], [1, 1])
    few = run(cdr, "tracking", since="2025-03-10", min_calls=2, charts=True)  # --min-calls selects callers
    assert few.charts[1].values == [0, 1]


def test_tracking_orders_by_calls_then_latest_call_and_keeps_the_limit(cdr: CdrBuilder) -> None:
    add_tracked(cdr)
    cdr.add("2025-03-10 11:00:00", caller="613333333", caller_e164="+34613333333")
    assert [r["caller"] for r in run(cdr, "tracking", since="2025-03-10").rows] == [
        "+34611111111", "+34613333333", "+34612222222"]
    assert [r["caller"] for r in run(cdr, "tracking", since="2025-03-10", limit=1).rows] == ["+34611111111"]
    assert [r["caller"] for r in run(cdr, "tracking", since="2025-03-10", min_calls=2).rows] == ["+34611111111"]


def test_a_wider_window_turns_a_later_call_into_a_call_again(cdr: CdrBuilder) -> None:
    add_first_calls(cdr)
    totals = run(cdr, "fcr", since="2025-03-10", until="2025-03-10", window_hours=48).totals
    assert totals is not None
    assert (totals["resolved"], totals["repeated"], totals["repeat_calls"]) == (1, 3, 3)  # B's call 25 h later


def tracked(cdr: CdrBuilder, **options: Any) -> dict[str, dict[str, Any]]:
    return {row["caller"]: row for row in run(cdr, "tracking", **options).rows}


def fcr_totals(cdr: CdrBuilder, **options: Any) -> dict[str, Any]:
    totals = run(cdr, "fcr", **options).totals
    assert totals is not None
    return totals


def test_the_last_call_of_a_tie_is_the_one_with_the_greatest_call_id_whatever_the_spelling(cdr: CdrBuilder) -> None:
    # two calls that started at the same millisecond, one from an old row (no caller_e164)
    cdr.add("2025-03-10 08:00:00", caller="+34611111111", caller_e164="+34611111111", call_id="1741593600.2",
            flow="sales", **ANSWERED)
    cdr.add("2025-03-10 08:00:00", caller="611111111", call_id="1741593600.1", flow="support",
            queue="support", queue_status="ABANDONED", queue_wait=30)
    # and two of one spelling
    cdr.add("2025-03-10 09:00:00", caller="612222222", caller_e164="+34612222222", call_id="1741597200.1",
            flow="sales", **ANSWERED)
    cdr.add("2025-03-10 09:00:00", caller="0034612222222", caller_e164="+34612222222", call_id="1741597200.10",
            flow="billing", queue="billing", queue_status="ABANDONED", queue_wait=30)
    rows = tracked(cdr, since="2025-03-10")
    x, y = rows["+34611111111"], rows["+34612222222"]
    assert (x["calls"], x["last_outcome"], x["last_flow"]) == (2, "answered", "sales")
    assert (y["calls"], y["last_outcome"], y["last_flow"]) == (2, "abandoned", "billing")  # ".10" after ".1"


def test_the_first_call_of_a_tie_is_the_one_with_the_least_call_id(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00", caller="+34611111111", caller_e164="+34611111111", call_id="1741593600.2",
            flow="sales", **ANSWERED)
    cdr.add("2025-03-10 08:00:00", caller="611111111", call_id="1741593600.1", flow="support",
            queue="support", queue_status="ABANDONED", queue_wait=30)
    rows = run(cdr, "fcr", since="2025-03-10", until="2025-03-10").rows
    assert [(r["key"], r["callers"], r["unreached"]) for r in rows] == [("support", 1, 1, )]


def test_three_spellings_and_old_rows_are_one_caller_and_no_numbers_stay_as_written(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00", caller="+34600111222", caller_e164="+34600111222", **ANSWERED)
    cdr.add("2025-03-10 09:00:00", caller="0034600111222", caller_e164="+34600111222")
    cdr.add("2025-03-10 10:00:00", caller="600111222", caller_e164="+34600111222")
    cdr.add("2025-03-10 11:00:00", caller="0034600111222")  # old rows: no caller_e164
    cdr.add("2025-03-10 12:00:00", caller="600111222", **ANSWERED)
    cdr.add("2025-03-10 13:00:00", caller="+34600111222")
    cdr.add("2025-03-10 08:30:00", caller="alice", **ANSWERED)  # no phone number
    cdr.add("2025-03-10 09:30:00", caller="alice")
    cdr.add("2025-03-10 10:30:00", caller="anonymous", **ANSWERED)  # withheld: no caller
    cdr.add("2025-03-10 10:40:00", caller="", **ANSWERED)
    cdr.add("2025-03-10 10:50:00", caller=None, **ANSWERED)  # type: ignore[arg-type]
    rows = tracked(cdr, since="2025-03-10")
    assert set(rows) == {"+34600111222", "alice"}
    me = rows["+34600111222"]
    assert (me["calls"], me["answered"], me["talk_s"], me["wait_s"]) == (6, 2, 200, 20)
    assert (me["first_call"], me["last_call"]) == (utc("2025-03-10 08:00:00"), utc("2025-03-10 13:00:00"))
    assert (rows["alice"]["calls"], rows["alice"]["answered"]) == (2, 1)
    totals = fcr_totals(cdr, since="2025-03-10", until="2025-03-10")
    assert (totals["callers"], totals["repeated"], totals["repeat_calls"]) == (2, 2, 6)


def test_a_caller_whose_only_rows_are_old_is_still_one_caller(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00", caller="0034600333444", **ANSWERED)
    cdr.add("2025-03-10 09:00:00", caller="600333444")
    cdr.add("2025-03-09 09:00:00", caller="+34600333444")  # before the period: returning
    rows = tracked(cdr, since="2025-03-10")
    assert list(rows) == ["+34600333444"]
    assert (rows["+34600333444"]["calls"], rows["+34600333444"]["returning"]) == (2, True)
    assert fcr_totals(cdr, since="2025-03-10", until="2025-03-10")["repeated"] == 1


def test_a_call_exactly_one_window_after_the_first_is_a_call_again_and_a_millisecond_later_is_not(
        cdr: CdrBuilder) -> None:
    cdr.add("2025-03-10 08:00:00.123", caller="611000001", caller_e164="+34611000001", **ANSWERED)
    cdr.add("2025-03-11 08:00:00.123", caller="611000001", caller_e164="+34611000001")  # 24 h to the ms
    cdr.add("2025-03-10 09:00:00.500", caller="611000002", caller_e164="+34611000002", **ANSWERED)
    cdr.add("2025-03-11 09:00:00.501", caller="611000002", caller_e164="+34611000002")  # 1 ms late
    totals = fcr_totals(cdr, since="2025-03-10", until="2025-03-10")
    assert (totals["repeated"], totals["resolved"], totals["repeat_calls"]) == (1, 1, 1)
    totals = fcr_totals(cdr, since="2025-03-10", until="2025-03-10", window_hours=1.5)
    assert (totals["repeated"], totals["resolved"]) == (0, 2)


def test_a_window_that_ends_now_is_over(cdr: CdrBuilder) -> None:
    cdr.add("2025-03-19 12:00:00", caller="611000001", caller_e164="+34611000001", **ANSWERED)  # NOW - 24 h
    cdr.add("2025-03-19 12:00:00.001", caller="611000002", caller_e164="+34611000002", **ANSWERED)
    totals = fcr_totals(cdr, since="2025-03-19")
    assert (totals["resolved"], totals["open"]) == (1, 1)


def test_first_calls_start_in_the_range_and_calls_again_are_looked_for_one_window_past_it(cdr: CdrBuilder) -> None:
    # the range is 10 March in Madrid: [09 March 23:00, 10 March 23:00) UTC
    cdr.add("2025-03-09 22:59:59.999", caller="611000001", caller_e164="+34611000001", **ANSWERED)  # before
    cdr.add("2025-03-09 23:00:00", caller="611000001", caller_e164="+34611000001", **ANSWERED)  # first
    cdr.add("2025-03-10 22:59:59.999", caller="611000002", caller_e164="+34611000002", **ANSWERED)  # first
    cdr.add("2025-03-11 22:59:59.999", caller="611000002", caller_e164="+34611000002")  # again, past the range
    cdr.add("2025-03-10 23:00:00", caller="611000003", caller_e164="+34611000003", **ANSWERED)  # after it
    totals = fcr_totals(cdr, since="2025-03-10", until="2025-03-10")
    assert (totals["callers"], totals["resolved"], totals["repeated"]) == (2, 1, 1)
    rows = tracked(cdr, since="2025-03-10", until="2025-03-10")
    assert {k: (r["calls"], r["returning"]) for k, r in rows.items()} == {
        "+34611000001": (1, True), "+34611000002": (1, False)}


def test_waits_add_up_to_the_millisecond_whatever_order_the_database_adds_them_in(cdr: CdrBuilder) -> None:
    for second, wait in enumerate((38.1, 0.1, 22.3)):  # 60.50000000000001 in some orders
        cdr.add(f"2025-03-10 08:00:0{second}", caller="611000001", caller_e164="+34611000001",
                queue="sales", queue_status="ABANDONED", queue_wait=wait)
    cdr.add("2025-03-10 09:00:00", caller="0034611000001", queue="sales", queue_status="ABANDONED", queue_wait=0.7)
    (row,) = run(cdr, "tracking", since="2025-03-10").rows
    assert row["wait_s"] == 61.2


def test_tracking_sums_each_calls_seconds_in_whole_milliseconds_as_inbound_does(cdr: CdrBuilder) -> None:
    for second in range(7):  # 7 x 33.333 s = 233.331 s; the exact 233.3331 s would show 233.333
        cdr.add(f"2025-03-10 08:00:0{second}", caller="+34611000002", caller_e164="+34611000002", queue="sales",
                queue_status="ANSWERED", queue_wait=1.0004, talk_time=33.3333)
    (row,) = run(cdr, "tracking", since="2025-03-10").rows
    totals = run(cdr, "inbound", since="2025-03-10").totals
    assert totals is not None
    assert row["talk_s"] == totals["dur_s"] == 233.331
    assert row["wait_s"] == 7.0  # each wait is 1.000 s to the millisecond
