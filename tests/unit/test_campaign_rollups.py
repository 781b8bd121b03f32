"""The campaign report reads the campaign rollups (agi/storage/rollups.py,
schema version 7) and gives exactly what the calls give, on both backends,
whatever the grouping, zone, range and what is pending; a database from
before version 7 is read from the calls until it is upgraded and rolled."""
from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from support import table_rows
from support.cdr_builder import CdrBuilder, random_starts, utc

from agi.db.location import Database, PostgresUrl
from agi.reports import run_report
from agi.reports.campaign import CAMPAIGN_GROUPS
from agi.reports.db import CdrReader
from agi.reports.model import Filters
from agi.reports.render import render
from agi.reports.rollup_plan import Plan, plan
from agi.reports.timerange import zone
from agi.storage import rollups
from agi.storage.call_measures import DEFAULT_THRESHOLDS
from agi.storage.migrations import upgrade
from agi.storage.rollups import roll_database

#: After every call of the data: every quarter hour has ended.
LATER = datetime(2025, 11, 1, tzinfo=timezone.utc)
OUT: dict[str, Any] = {"direction": "outbound"}
#: What may become of a leg (and a few calls that are no legs).
FATES: list[dict[str, Any]] = [
    {**OUT, "robinson": "clear", "dial_status": "ANSWER", "talk_time": 61.2345},
    {**OUT, "robinson": "clear", "dial_status": "ANSWER", "talk_time": 0.0005},
    {**OUT, "dial_status": "ANSWER"},  # no talk time known
    {**OUT, "dial_status": "BUSY"}, {**OUT, "dial_status": "NOANSWER", "ring_time": 45.0},
    {**OUT, "dial_status": "CONGESTION"}, {**OUT, "dial_status": "CANCEL"},
    {**OUT, "robinson": "listed", "robinson_list": "robinson"}, {**OUT, "robinson": "error"},
    {**OUT, "blocked": "vip-blocklist"},
    {**OUT, "steps": [("hours", "schedule", "closed", {})]},
    {**OUT, "steps": [("hours", "schedule", "holiday", {})]},
    {**OUT, "steps": [("hours", "schedule", "error", {})]},
    {**OUT, "steps": [("hours", "schedule", "open", {})], "dial_status": "ANSWER", "talk_time": 12.5},
    {**OUT, "status": "caller_hangup"}, {**OUT, "status": "error"},
    {**OUT, "status": "in_progress", "duration": None},  # still running: no leg yet
    {"dial_status": "ANSWER", "talk_time": 99.0},  # an inbound call: no leg
]


def fill(cdr: CdrBuilder, day: str, count: int, seed: int) -> None:
    """``count`` calls, most of them campaign legs, over the UTC day ``day`` and the next."""
    rng = random.Random(seed)
    for started in random_starts(rng, day, count):
        columns = dict(rng.choice(FATES))
        cdr.add(started, flow=rng.choice(["campaign", "renewals", None]),
                flow_version=rng.choice(["a1b2c3d4e5f6", "0f0f0f0f0f0f"]), **columns)


@pytest.fixture
def legs(database: Database) -> Database:
    """Legs around both nights the clocks change in Europe, rolled up."""
    cdr = CdrBuilder(database)
    fill(cdr, "2025-03-29", 500, seed=1)
    fill(cdr, "2025-10-25", 300, seed=2)
    cdr.close()
    upgrade(database)
    rolled, pending = roll_database(database, DEFAULT_THRESHOLDS, now=LATER)
    assert rolled > 300 and pending == 0
    return database


def route(database: Database, filters: Filters, by: str = "flow") -> Plan:
    with CdrReader(database) as reader, reader.snapshot():
        return plan(reader, filters, None, (by,))


def same_both_ways(database: Database, filters: Filters, by: str) -> list[dict[str, Any]]:
    """The campaign report from the rollups and from the calls alone: the same rows and totals."""
    found = [run_report(database, "campaign", filters, LATER, by=by, rollups=rollups) for rollups in (True, False)]
    assert found[0].rows == found[1].rows, (by, filters)
    assert found[0].totals == found[1].totals, (by, filters)
    return list(found[0].rows)


ZONES = ("Europe/Madrid", "UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns")
RANGES: dict[str, dict[str, datetime]] = {
    "everything": {},
    "spring forward, unaligned": {"since": datetime(2025, 3, 29, 7, 7, 7, tzinfo=timezone.utc),
                                  "until": datetime(2025, 3, 31, 16, 52, 1, 500000, tzinfo=timezone.utc)},
    "fall back day in Madrid": {"since": datetime(2025, 10, 25, 22, 0, tzinfo=timezone.utc),
                                "until": datetime(2025, 10, 26, 23, 0, tzinfo=timezone.utc)},
    "within a quarter hour": {"since": datetime(2025, 3, 30, 9, 1, tzinfo=timezone.utc),
                              "until": datetime(2025, 3, 30, 9, 14, tzinfo=timezone.utc)},
}


def test_the_campaign_report_from_the_rollups_equals_the_calls_by_flow_day_and_hour_in_every_zone(
        legs: Database) -> None:
    for name in ZONES:
        tz, tz_name = zone(name)
        for bounds in RANGES.values():
            for by in CAMPAIGN_GROUPS:
                filters = Filters(tz=tz, tz_name=tz_name, **bounds)
                assert route(legs, filters, by).rolled is not None or bounds == RANGES["within a quarter hour"]
                same_both_ways(legs, filters, by)
    whole = route(legs, Filters(tz=zone("Europe/Madrid")[0]), "hour")
    assert whole.raw == () and whole.rolled is not None  # nothing pending: every leg read from the rollups
    rows = same_both_ways(legs, Filters(), "flow")
    assert {row["key"] for row in rows} == {"campaign", "renewals", None}
    assert all(row[name] for row in rows for name in ("blocked_list", "blocked_hours", "busy", "failed", "talk_s"))


def test_the_fall_back_day_has_25_hours_of_legs_from_the_rollups(legs: Database) -> None:
    tz, tz_name = zone("Europe/Madrid")
    rows = same_both_ways(legs, Filters(tz=tz, tz_name=tz_name, **RANGES["fall back day in Madrid"]), "day")
    assert [row["key"] for row in rows] == ["2025-10-26"]
    assert sum(row["attempts"] for row in same_both_ways(legs, Filters(tz=tz, tz_name=tz_name), "hour")) == \
        sum(row["attempts"] for row in same_both_ways(legs, Filters(), "flow"))


def test_flows_and_versions_filter_the_campaign_rollups_as_the_calls(legs: Database) -> None:
    for filters in (Filters(flows=("campaign",)), Filters(flows=("campaign", "renewals")),
                    Filters(flow_versions=("a1b2",)), Filters(flows=("renewals",), flow_versions=("0f0f0f0f0f0f",))):
        assert route(legs, filters).rolled is not None
        for by in CAMPAIGN_GROUPS:
            same_both_ways(legs, filters, by)


def test_zones_and_callers_the_rollups_cannot_serve_read_the_calls(legs: Database) -> None:
    odd = timezone(timedelta(minutes=20))
    assert route(legs, Filters(tz=odd), "hour").rolled is None
    assert route(legs, Filters(tz=odd), "flow").rolled is not None
    same_both_ways(legs, Filters(tz=odd), "hour")
    assert route(legs, Filters(caller="600111222")).rolled is None


def test_legs_and_schedule_steps_written_after_the_roll_count_from_the_calls_until_rolled_again(
        legs: Database) -> None:
    before = same_both_ways(legs, Filters(), "flow")
    cdr = CdrBuilder(legs)
    cdr.add("2025-03-30 09:20:00", flow="campaign", direction="outbound", dial_status="ANSWER", talk_time=10.001)
    cdr.close()
    [leg] = table_rows.select(legs, "SELECT id, started_at FROM calls WHERE flow = 'renewals' AND direction = "
                                    "'outbound' AND status = 'caller_hangup' AND dial_status IS NULL AND robinson IS NULL "
                                    "AND blocked IS NULL AND steps = 0 ORDER BY started_at LIMIT 1")
    table_rows.execute(legs, "INSERT INTO call_steps (call, seq, flow, step, type, outcome, details) "
                             "VALUES (:call, 1, 'renewals', 'hours', 'schedule', 'closed', '{}')", {"call": leg["id"]})
    quarter = rollups.quarter_of(leg["started_at"])
    assert quarter is not None
    pending = {(part.since, part.until) for part in route(legs, Filters()).raw}
    assert pending == {(utc("2025-03-30 09:15:00"), utc("2025-03-30 09:30:00")), (quarter, quarter + rollups.QUARTER)}
    after = {row["key"]: row for row in same_both_ways(legs, Filters(), "flow")}
    was = {row["key"]: row for row in before}
    assert after["campaign"]["answered"] == was["campaign"]["answered"] + 1
    assert after["renewals"]["blocked_hours"] == was["renewals"]["blocked_hours"] + 1
    for by in CAMPAIGN_GROUPS:
        same_both_ways(legs, Filters(tz=zone("Europe/Madrid")[0]), by)
    assert roll_database(legs, DEFAULT_THRESHOLDS, now=LATER) == (2, 0)
    assert route(legs, Filters()).raw == ()
    assert {row["key"]: row for row in same_both_ways(legs, Filters(), "flow")} == after


def test_every_format_is_the_same_with_and_without_the_campaign_rollups(legs: Database) -> None:
    tz, name = zone("Europe/Madrid")
    filters = Filters(datetime(2025, 3, 29, 5, 3, tzinfo=timezone.utc), datetime(2025, 10, 27, tzinfo=timezone.utc),
                      tz=tz, tz_name=name)
    for by in CAMPAIGN_GROUPS:
        for fmt in ("table", "csv", "json", "html"):
            outputs = [render(run_report(legs, "campaign", filters, LATER, by=by, charts=fmt == "html",
                                         rollups=rollups), fmt) for rollups in (True, False)]
            assert outputs[0] == outputs[1], (by, fmt)


def _as_version_6(database: Database) -> None:
    """Take a database back to what version 6 left: no campaign rollups, the
    pending quarter hours in the table ``call_rollups_pending``, step
    triggers for menu steps only."""
    def old(statement: str) -> str:
        return statement.replace("IN ('menu', 'schedule')", "= 'menu'").replace(" rollups_pending", " call_rollups_pending")
    if isinstance(database, PostgresUrl):
        statements: tuple[str, ...] = (*map(old, rollups.POSTGRES_TRIGGERS),)
    else:
        statements = (*rollups.SQLITE_DROP_TRIGGERS,
                      *map(old, (*rollups.SQLITE_TRIGGERS, *rollups.SQLITE_STEP_TRIGGERS)))
    for statement in ("DROP TABLE campaign_rollups", "DROP VIEW call_rollups_pending",
                      "ALTER TABLE call_rollups_state DROP COLUMN counted_by",
                      "ALTER TABLE rollups_pending RENAME TO call_rollups_pending", *statements,
                      "DELETE FROM agiflow_schema WHERE version = 7"):
        table_rows.execute(database, statement)


def test_a_version_6_database_reads_the_calls_until_upgraded_and_counted_again(legs: Database) -> None:
    _as_version_6(legs)
    with CdrReader(legs) as reader, reader.snapshot():
        assert reader.schema_version() == 6 and reader.rollup_thresholds() is None
    assert route(legs, Filters()) == Plan(None, (Filters(),))
    reports = [same_both_ways(legs, Filters(), by) for by in CAMPAIGN_GROUPS]
    assert [m.version for m in upgrade(legs)] == [7]
    with CdrReader(legs) as reader, reader.snapshot():
        assert reader.schema_version() == 7 and reader.rollup_thresholds() is None  # counted again first
    assert route(legs, Filters()).rolled is None
    assert roll_database(legs, DEFAULT_THRESHOLDS, now=LATER)[1] == 0
    assert route(legs, Filters()).raw == ()
    assert [same_both_ways(legs, Filters(), by) for by in CAMPAIGN_GROUPS] == reports
    assert table_rows.select(legs, "SELECT count(*) AS n FROM campaign_rollups")[0]["n"] > 300
    [leg] = table_rows.select(legs, "SELECT id FROM calls WHERE direction = 'outbound' AND steps = 0 "
                                    "ORDER BY started_at LIMIT 1")
    table_rows.execute(legs, "INSERT INTO call_steps (call, seq, flow, step, type, outcome, details) "
                             "VALUES (:call, 1, 'campaign', 'hours', 'schedule', 'open', '{}')", {"call": leg["id"]})
    assert route(legs, Filters()).raw != ()  # the upgraded trigger marks schedule steps


#: What an agiflow of schema version 6, still running beside an upgraded
#: one, runs to roll the rollups: to count them all again, and to mark a
#: quarter hour rolled.
VERSION_6_ROLL = ("DELETE FROM call_rollups_pending",
                  "INSERT INTO call_rollups_pending (bucket) SELECT DISTINCT started_at FROM calls",
                  "DELETE FROM call_rollups_pending WHERE bucket = '2025-03-30T09:15:00.000Z'")


def test_an_older_agiflow_beside_an_upgraded_one_reads_what_is_pending_but_cannot_roll(legs: Database) -> None:
    _as_version_6(legs)
    table_rows.execute(legs, "INSERT INTO call_rollups_pending (bucket) VALUES ('2025-03-30T09:15:00.000Z')")
    upgrade(legs)
    def pending(table: str) -> list[str]:
        return sorted(row["bucket"] for row in table_rows.select(legs, f"SELECT bucket FROM {table}"))
    before = pending("rollups_pending")
    assert "2025-03-30T09:15:00.000Z" in before and pending("call_rollups_pending") == before
    for statement in VERSION_6_ROLL:
        with pytest.raises((sqlite3.Error, psycopg.Error)):
            table_rows.execute(legs, statement)
    assert pending("rollups_pending") == before
    assert roll_database(legs, DEFAULT_THRESHOLDS, now=LATER)[1] == 0  # the upgraded agiflow rolls
    assert table_rows.select(legs, "SELECT count(*) AS n FROM call_rollups_pending") == [{"n": 0}]



def test_rollups_counted_by_newer_definitions_are_left_to_them_and_older_ones_counted_again(legs: Database) -> None:
    with CdrReader(legs) as reader, reader.snapshot():
        assert reader.rollup_thresholds() == DEFAULT_THRESHOLDS
    table_rows.execute(legs, "UPDATE calls SET talk_time = 1 WHERE direction = 'outbound'")  # every quarter pending
    table_rows.execute(legs, f"UPDATE call_rollups_state SET counted_by = {rollups.COUNTED_BY + 1}")
    pending = table_rows.select(legs, "SELECT count(*) AS n FROM rollups_pending")[0]["n"]
    assert pending > 100
    assert roll_database(legs, DEFAULT_THRESHOLDS, now=LATER) == (0, pending)  # a newer agiflow counts them
    with CdrReader(legs) as reader, reader.snapshot():
        assert reader.rollup_thresholds() is None  # nor read by this one
    table_rows.execute(legs, f"UPDATE call_rollups_state SET counted_by = {rollups.COUNTED_BY - 1}")
    rolled, left = roll_database(legs, DEFAULT_THRESHOLDS, now=LATER)
    assert rolled > pending and left == 0  # every quarter hour with calls counted again
    assert table_rows.select(legs, "SELECT counted_by FROM call_rollups_state") == [{"counted_by": rollups.COUNTED_BY}]
    assert route(legs, Filters()).raw == ()
    for by in CAMPAIGN_GROUPS:
        same_both_ways(legs, Filters(), by)
