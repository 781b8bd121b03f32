"""The ``schedule`` step as a caller meets it: the branch taken at the
moment of the call, the reason kept in the call's step details, and a
manual override read from the SQLite database on every call.

Flows run through ``agi.simulate.simulate`` against the simulated Asterisk;
overrides live in a real SQLite file.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agi.config import Config
from agi.engine.model import FlowSet
from agi.services_from_config import simulation_services
from agi.storage.overrides import SqliteOverrides
from agi.services import Override, Services
from agi.simulate import SimulationResult, simulate
from support.flows_folder import FlowsFolder

MADRID = ZoneInfo("Europe/Madrid")
MONDAY_10 = datetime(2025, 3, 10, 10, 0, tzinfo=MADRID)

SCHEDULES = """\
version: 1
schedules:
  office_hours:
    timezone: Europe/Madrid
    hours:
      mon-thu: ["09:00-14:00", "16:00-19:00"]
      fri: 08:00-15:00
    holidays: {country: ES, subdiv: MD}
    closures:
      2025-08-11..2025-08-14: {outcome: inventory, name: Stock-take}
"""

FLOW = """\
version: 1
name: front
timezone: UTC
start: hours
steps:
  hours:
    schedule: office_hours
    on: {open: welcome, closed: closed_msg, holiday: holiday_msg, inventory: inventory_msg}
  welcome:
    play: agiflow/welcome
  closed_msg:
    play: agiflow/office-closed
  holiday_msg:
    play: agiflow/holiday
  inventory_msg:
    play: agiflow/inventory
"""


@pytest.fixture
def flows(flows_folder: FlowsFolder) -> FlowSet:
    flows_folder.write("schedules.yaml", SCHEDULES)
    flows_folder.write("front.yaml", FLOW)
    return flows_folder.load()


def call(flows: FlowSet, at: datetime, services: Services | None = None) -> SimulationResult:
    return simulate(flows.flows["front"], flows, caller="600111222", at=at, services=services)


def hours_step(result: SimulationResult) -> tuple[str, dict[str, Any]]:
    [row] = [s for s in result.steps if s["step"] == "hours"]
    return row["outcome"], json.loads(row["details"])


def played(result: SimulationResult) -> list[str]:
    return [e.command for e in result.exchanges if e.command.startswith("STREAM FILE")]


@pytest.mark.parametrize("at, outcome, sound", [
    (MONDAY_10, "open", "agiflow/welcome"),
    (datetime(2025, 3, 10, 15, 0, tzinfo=MADRID), "closed", "agiflow/office-closed"),
    (datetime(2025, 5, 2, 10, 0, tzinfo=MADRID), "holiday", "agiflow/holiday"),
    (datetime(2025, 8, 12, 10, 0, tzinfo=MADRID), "inventory", "agiflow/inventory"),
])
def test_the_caller_takes_the_branch_of_the_schedules_state_at_the_moment_of_the_call(
        flows: FlowSet, at: datetime, outcome: str, sound: str) -> None:
    result = call(flows, at)
    assert hours_step(result)[0] == outcome
    assert played(result) == [f'STREAM FILE "{sound}" ""']
    assert result.call["path"].startswith(f"hours:{outcome} > ")


def test_the_step_records_state_reason_and_next_change_in_its_details(flows: FlowSet) -> None:
    _, details = hours_step(call(flows, MONDAY_10))
    assert details == {
        "schedule": "office_hours", "state": "open", "rule": "weekly",
        "reason": "Monday hours 09:00-14:00",
        "next_change": "2025-03-10T14:00:00+01:00", "next_state": "closed",
    }


def test_the_schedules_timezone_counts_not_the_flows(flows: FlowSet) -> None:
    # The flow says UTC; 08:30 UTC is 09:30 in Madrid, open.
    assert hours_step(call(flows, datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc)))[0] == "open"


def test_an_override_in_the_database_changes_the_next_call_and_ends_on_time(flows: FlowSet, tmp_path: Path) -> None:
    database = tmp_path / "agiflow.db"
    writer = SqliteOverrides(database)
    services = Services(overrides=SqliteOverrides(database, readonly=True))
    assert hours_step(call(flows, MONDAY_10, services))[0] == "open"

    until = MONDAY_10 + timedelta(hours=1)
    writer.set(Override("office_hours", "closed", until, "fire drill"), now=MONDAY_10)
    outcome, details = hours_step(call(flows, MONDAY_10 + timedelta(minutes=1), services))
    assert outcome == "closed"
    assert details["rule"] == "override"
    assert details["reason"] == "manual override: closed until 2025-03-10 11:00 CET (fire drill)"
    assert details["override_until"] == "2025-03-10T10:00:00+00:00"
    assert details["next_change"] == "2025-03-10T11:00:00+01:00" and details["next_state"] == "open"

    assert hours_step(call(flows, until, services))[0] == "open"          # expired exactly at until
    writer.set(Override("office_hours", "open", until + timedelta(days=1)), now=MONDAY_10)
    assert hours_step(call(flows, MONDAY_10.replace(hour=15), services))[0] == "open"
    writer.clear("office_hours")
    assert hours_step(call(flows, MONDAY_10.replace(hour=15), services))[0] == "closed"


def test_an_override_set_to_start_later_is_the_next_change_of_a_call_before_it(flows: FlowSet, tmp_path: Path) -> None:
    database = tmp_path / "agiflow.db"
    start = MONDAY_10 + timedelta(hours=1)
    SqliteOverrides(database).set(Override("office_hours", "closed", start + timedelta(hours=1), "drill", start),
                                  now=MONDAY_10)
    services = Services(overrides=SqliteOverrides(database, readonly=True))
    outcome, details = hours_step(call(flows, MONDAY_10, services))
    assert (outcome, details["rule"]) == ("open", "weekly") and "override_until" not in details
    assert details["next_change"] == "2025-03-10T11:00:00+01:00" and details["next_state"] == "closed"
    outcome, details = hours_step(call(flows, start, services))
    assert (outcome, details["rule"], details["next_change"]) == ("closed", "override", "2025-03-10T12:00:00+01:00")


def test_an_override_of_another_schedule_changes_nothing(flows: FlowSet, tmp_path: Path) -> None:
    database = tmp_path / "agiflow.db"
    SqliteOverrides(database).set(Override("night_line", "closed", MONDAY_10 + timedelta(hours=1)), now=MONDAY_10)
    services = Services(overrides=SqliteOverrides(database, readonly=True))
    assert hours_step(call(flows, MONDAY_10, services))[0] == "open"


def test_unreadable_overrides_are_logged_and_the_schedule_alone_decides(
        flows: FlowSet, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    services = Services(overrides=SqliteOverrides(broken, readonly=True))
    with caplog.at_level(logging.WARNING, logger="agiflow.call"):
        result = call(flows, MONDAY_10, services)
    outcome, details = hours_step(result)
    assert outcome == "open" and details["rule"] == "weekly"
    assert "not a database" in details["override_error"]
    assert result.call["status"] == "completed"
    assert any("cannot read overrides" in r.getMessage() and "office_hours" in r.getMessage()
               for r in caplog.records)


def test_overrides_are_read_while_another_connection_holds_a_write_transaction(
        flows: FlowSet, tmp_path: Path) -> None:
    database = tmp_path / "agiflow.db"
    writer = SqliteOverrides(database)
    writer.set(Override("office_hours", "closed", MONDAY_10 + timedelta(hours=1)), now=MONDAY_10)
    busy = sqlite3.connect(database, isolation_level=None)
    assert busy.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    busy.execute("BEGIN IMMEDIATE")
    busy.execute("CREATE TABLE cdr_like (x)")  # the CDR writer in the middle of a batch
    try:
        services = Services(overrides=SqliteOverrides(database, readonly=True, busy_timeout=0.05))
        assert hours_step(call(flows, MONDAY_10, services))[0] == "closed"
    finally:
        busy.execute("ROLLBACK")
        busy.close()


def test_simulations_read_overrides_only_when_the_database_exists(flows: FlowSet, tmp_path: Path) -> None:
    database = tmp_path / "var" / "agiflow.db"
    assert simulation_services(Config(database=database)).overrides is None
    assert not database.exists()
    SqliteOverrides(database).set(Override("office_hours", "closed", MONDAY_10 + timedelta(hours=1)), now=MONDAY_10)
    services = simulation_services(Config(database=database))
    assert hours_step(call(flows, MONDAY_10, services))[0] == "closed"
