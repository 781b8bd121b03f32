"""The ``campaign`` and ``callbacks`` reports on hand-built databases (both
backends), every figure worked out by hand in the comments."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from support.cdr_builder import CdrBuilder
from support.table_rows import insert

from agi.reports import ReportError, run_report
from agi.reports.model import Filters, Report
from agi.reports.timerange import moment, zone

NOW = datetime(2025, 3, 11, 12, 0, tzinfo=timezone.utc)
MADRID = zone("Europe/Madrid")


def run(path: Any, kind: str, since: str | None = None, flows: tuple[str, ...] = (),
        versions: tuple[str, ...] = (), **options: Any) -> Report:
    tz, name = MADRID
    filters = Filters(moment(since, NOW, tz) if since else None, None, flows, None, tz, name, versions)
    return run_report(path, kind, filters, NOW, **options)


def rows(report: Report, *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(row[key] for key in keys) for row in report.rows]


@pytest.fixture
def legs(database: Path) -> Path:
    """Campaign legs of 10 and 11 March (UTC times)."""
    cdr = CdrBuilder(database)
    out: dict[str, Any] = {"flow": "campaign", "direction": "outbound", "robinson": "clear"}
    cdr.add("2025-03-10 09:00:00", **out, dial_status="ANSWER", talk_time=40)
    cdr.add("2025-03-10 09:05:00", **out, dial_status="ANSWER", talk_time=80)
    cdr.add("2025-03-10 09:10:00", **out, dial_status="BUSY")
    cdr.add("2025-03-10 09:15:00", **out, dial_status="NOANSWER", ring_time=45)
    cdr.add("2025-03-10 09:20:00", **out, dial_status="CONGESTION")
    cdr.add("2025-03-10 09:25:00", **{**out, "robinson": "listed"}, robinson_list="robinson")
    cdr.add("2025-03-10 09:30:00", **{**out, "robinson": "error"}, robinson_list="do_not_call")  # fail closed
    cdr.add("2025-03-10 09:35:00", **out, steps=[("hours", "schedule", "closed", {})])
    cdr.add("2025-03-10 09:40:00", flow="campaign", direction="outbound",  # no do-not-call check at all
            steps=[("hours", "schedule", "holiday", {})])
    cdr.add("2025-03-10 09:45:00", **out, dial_status="ANSWER", steps=[("hours", "schedule", "open", {})])
    cdr.add("2025-03-10 10:00:00", **out, status="in_progress", duration=None)  # still running: not counted
    cdr.add("2025-03-10 10:05:00", dial_status="ANSWER", talk_time=99)  # an inbound call: not a leg
    cdr.add("2025-03-10 11:00:00", flow="campaign2", direction="outbound", blocked="block")
    cdr.add("2025-03-11 09:00:00", flow="campaign2", direction="outbound", dial_status="ANSWER", talk_time=20,
            blocked="vip", steps=[("hours", "schedule", "closed", {}), ("call", "dial", "answer", {})])  # dialled
    cdr.close()
    return cdr.path


def test_campaign_legs_blocked_dialled_and_answered_per_flow(legs: Path) -> None:
    report = run(legs, "campaign")
    assert rows(report, "key", "attempts", "blocked_list", "blocked_hours", "dialled", "answered", "busy",
                "no_answer", "failed", "asr_pct", "talk_s", "acd_s") == [
        # answered: 2 with talk 40 + 80, one with no talk time known: ACD 120 / 2
        ("campaign", 10, 2, 2, 6, 3, 1, 1, 1, 50.0, 120, 60),
        ("campaign2", 2, 1, 0, 1, 1, 0, 0, 0, 100.0, 20, 20),
    ]
    totals = report.totals
    assert totals is not None
    assert (totals["attempts"], totals["blocked_list"], totals["blocked_hours"], totals["dialled"],
            totals["answered"], totals["asr_pct"], totals["talk_s"]) == (12, 3, 2, 7, 4, 57.1, 140)
    assert totals["acd_s"] == pytest.approx(140 / 3)


def test_a_row_whose_answered_legs_have_no_talk_time_known_talks_0_s_as_inbound_does(database: Path) -> None:
    cdr = CdrBuilder(database)
    cdr.add("2025-03-10 09:00:00", flow="campaign", direction="outbound", dial_status="ANSWER", talk_time=40)
    cdr.add("2025-03-10 10:00:00", flow="campaign", direction="outbound", dial_status="ANSWER")
    cdr.add("2025-03-10 11:00:00", flow="campaign", direction="outbound", dial_status="BUSY")
    cdr.close()
    report = run(cdr.path, "campaign", by="hour")
    assert rows(report, "answered", "talk_s", "acd_s") == [(1, 40, 40), (1, 0, None), (0, 0, None)]


def test_a_schedule_step_that_failed_or_was_hung_up_on_is_not_the_hours(database: Path) -> None:
    cdr = CdrBuilder(database)
    out: dict[str, Any] = {"flow": "campaign", "direction": "outbound", "robinson": "clear"}
    for outcome in ("closed", "error", "hangup", "open"):
        cdr.add("2025-03-10 09:00:00", **out, steps=[("hours", "schedule", outcome, {})])
    cdr.close()
    assert rows(run(cdr.path, "campaign"), "key", "attempts", "blocked_list", "blocked_hours", "dialled") == [
        ("campaign", 4, 0, 1, 0)]


def test_campaign_by_day_and_hour_in_the_report_zone(legs: Path) -> None:
    assert rows(run(legs, "campaign", by="day"), "key", "attempts", "answered") == [
        ("2025-03-10", 11, 3), ("2025-03-11", 1, 1)]
    # 09:00 to 09:45 UTC on the 10th and 09:00 on the 11th are 10 in Madrid; 11:00 UTC is 12
    assert rows(run(legs, "campaign", by="hour"), "key", "attempts") == [("10", 11), ("12", 1)]


def test_campaign_filters_and_a_group_it_does_not_know(legs: Path) -> None:
    assert rows(run(legs, "campaign", since="2025-03-11"), "key", "attempts") == [("campaign2", 1)]
    assert rows(run(legs, "campaign", flows=("campaign2",)), "key", "attempts") == [("campaign2", 2)]
    with pytest.raises(ReportError, match="choose one of flow, day, hour"):
        run(legs, "campaign", by="agent")


def test_campaign_charts_what_became_of_the_legs_and_the_asr(legs: Path) -> None:
    results, asr = run(legs, "campaign", charts=True).charts
    assert dict(zip(results.labels, results.values)) == {
        "blocked by a list": 3, "blocked by the hours": 2, "answered": 4, "busy": 1, "no answer": 1,
        "other dial status": 1}
    assert dict(zip(asr.labels, asr.values)) == {"campaign": 50.0, "campaign2": 100.0}


@pytest.fixture
def requests(database: Path) -> Path:
    """Callback requests of 9 to 11 March, and the call that made the first."""
    cdr = CdrBuilder(database)
    cdr.add("2025-03-10 07:59:00", flow="customer_care", call_id="1741593540.1", flow_version="abcdef123456")
    cdr.close()

    def request(at: str, queue: str, source: str, status: str, done: str | None = None, attempts: int = 0,
                flow: str = "support_line", call_id: str | None = None) -> dict[str, Any]:
        return {"requested_at": at, "number": "+34600111222", "queue": queue, "source": source, "status": status,
                "done_at": done, "attempts": attempts, "flow": flow, "call_id": call_id}
    insert(database, "callbacks", [
        request("2025-03-10T08:00:00.000Z", "support", "missed", "done", "2025-03-10T08:30:00.000Z", 1,
                "customer_care", "1741593540.1"),  # 1800 s to callback
        request("2025-03-10T09:00:00.000Z", "support", "keypad", "done", "2025-03-10T11:00:00.000Z", 2,
                "customer_care"),  # 7200 s
        request("2025-03-10T10:00:00.000Z", "support", "missed", "pending", flow="customer_care"),  # 26 h old
        request("2025-03-10T11:00:00.000Z", "sales", "keypad", "cancelled", "2025-03-10T11:30:00.000Z", 3),
        request("2025-03-10T11:30:00.000Z", "sales", "missed", "pending"),  # 24.5 h old
        request("2025-03-09T20:00:00.000Z", "support", "missed", "pending"),  # before 10 March in Madrid
        request("2025-03-11T08:00:00.000Z", "support", "keypad", "done", "2025-03-11T08:10:00.000Z"),  # 600 s
    ])
    return database


def test_callbacks_requested_done_pending_and_time_to_callback_per_queue(requests: Path) -> None:
    report = run(requests, "callbacks", since="2025-03-10")
    assert rows(report, "key", "requested", "done", "done_pct", "cancelled", "pending", "attempts",
                "avg_to_callback_s", "max_to_callback_s", "oldest_pending_s") == [
        ("support", 4, 3, 75.0, 0, 1, 3, 3200.0, 7200.0, 93600.0),  # (1800 + 7200 + 600) / 3; 26 h
        ("sales", 2, 0, 0.0, 1, 1, 3, None, None, 88200.0),  # 24.5 h
    ]
    totals = report.totals
    assert totals is not None
    assert (totals["requested"], totals["done"], totals["cancelled"], totals["pending"], totals["done_pct"],
            totals["avg_to_callback_s"], totals["oldest_pending_s"]) == (6, 3, 1, 2, 50.0, 3200.0, 93600.0)


def test_callbacks_by_day_source_and_flow(requests: Path) -> None:
    assert rows(run(requests, "callbacks", by="day"), "key", "requested") == [
        ("2025-03-09", 1), ("2025-03-10", 5), ("2025-03-11", 1)]  # 20:00 UTC on the 9th is 21:00 in Madrid
    assert rows(run(requests, "callbacks", since="2025-03-10", by="source"), "key", "requested", "done") == [
        ("keypad", 3, 2), ("missed", 3, 1)]
    assert rows(run(requests, "callbacks", by="flow"), "key", "requested") == [
        ("support_line", 4), ("customer_care", 3)]


def test_callbacks_filters_pick_requests_by_flow_and_by_the_version_of_the_call_that_made_them(
        requests: Path) -> None:
    assert run(requests, "callbacks", flows=("customer_care",)).totals["requested"] == 3  # type: ignore[index]
    assert rows(run(requests, "callbacks", versions=("abcdef12",)), "key", "requested") == [("support", 1)]
    with pytest.raises(ReportError, match="choose one of queue, source, flow, day"):
        run(requests, "callbacks", by="agent")


def test_callbacks_chart_the_requests_by_status(requests: Path) -> None:
    states, waits = run(requests, "callbacks", since="2025-03-10", charts=True).charts
    assert dict(zip(states.labels, states.values)) == {"done": 3, "cancelled": 1, "pending": 2}
    assert dict(zip(waits.labels, waits.values)) == {"support": 3200.0, "sales": None}  # none done: no average, not 0 s


def test_charts_by_hour_or_day_leave_no_value_where_there_was_nothing_to_measure(legs: Path, requests: Path) -> None:
    [_, asr] = run(legs, "campaign", by="hour", charts=True).charts
    assert list(asr.labels) == [f"{h:02d}" for h in range(24)]  # every hour of the day
    measured = {row["key"]: row["asr_pct"] for row in run(legs, "campaign", by="hour").rows}
    assert dict(zip(asr.labels, asr.values)) == {**{f"{h:02d}": None for h in range(24)}, **measured}
    [_, waits] = run(requests, "callbacks", since="2025-03-08", by="day", charts=True).charts
    assert dict(zip(waits.labels, waits.values)) == {  # the 8th had no request, the 9th's is pending: no average
        "2025-03-08": None, "2025-03-09": None, "2025-03-10": 4500.0, "2025-03-11": 600.0}
