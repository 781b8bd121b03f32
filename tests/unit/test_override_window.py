"""A schedule override holds from its start (when it was set, or
``--from``) until its end, and for no moment outside: ``schedule show
--at``, ``simulate --at``, the server and ``agiflow test`` agree."""
from __future__ import annotations

import json
import sqlite3
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

import agi.cli.schedule as schedule_cli
from agi.cli.main import cli
from agi.hours.evaluate import changes, state_at
from agi.loading.loader import load_schedules
from agi.services import Override
from agi.storage.overrides import SqliteOverrides

MADRID = ZoneInfo("Europe/Madrid")
#: Monday 2025-03-10 10:00 in Madrid: the office is open (09:00-14:00).
NOW = datetime(2025, 3, 10, 10, 0, tzinfo=MADRID)
SCHEDULES = """\
version: 1
schedules:
  office_hours:
    timezone: Europe/Madrid
    hours: {mon-fri: ["09:00-14:00", "16:00-19:00"]}
"""
FLOW = """\
version: 1
name: front
timezone: Europe/Madrid
start: hours
steps:
  hours:
    schedule: office_hours
    on: {open: welcome, closed: closed_msg, holiday: closed_msg}
  welcome:
    play: welcome
  closed_msg:
    play: closed
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "schedules.yaml").write_text(SCHEDULES, encoding="utf-8")
    (tmp_path / "flows" / "front.yaml").write_text(FLOW, encoding="utf-8")
    (tmp_path / "config.yaml").write_text("flows: flows\ndatabase: var/agiflow.db\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(schedule_cli, "now", lambda: NOW)
    monkeypatch.setattr(schedule_cli, "_user", lambda: "ana")
    return tmp_path


def agiflow(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def madrid(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=MADRID)


# -- the database --------------------------------------------------------------------

def test_an_override_applies_from_when_it_was_set_until_its_end(tmp_path: Path) -> None:
    store = SqliteOverrides(tmp_path / "a.db")
    store.set(Override("office_hours", "closed", madrid(10, 12)), now=madrid(10, 10))
    assert store.active("office_hours", madrid(10, 9, 59)) is None  # before it was set
    assert store.active("office_hours", madrid(10, 10)).state == "closed"
    assert store.active("office_hours", madrid(10, 11, 59)).start == madrid(10, 10)
    assert store.active("office_hours", madrid(10, 12)) is None  # ended: never applies again
    assert store.all_active(madrid(10, 9)) == []


def test_an_override_with_a_start_applies_only_from_it(tmp_path: Path) -> None:
    store = SqliteOverrides(tmp_path / "a.db")
    store.set(Override("office_hours", "open", madrid(11, 22), "campaign", madrid(11, 19)), now=madrid(10, 10))
    assert store.active("office_hours", madrid(11, 18, 59)) is None
    assert store.active("office_hours", madrid(11, 19)).reason == "campaign"
    assert store.unexpired("office_hours", madrid(10, 10)).start == madrid(11, 19)
    assert store.unexpired("office_hours", madrid(11, 22)) is None
    with pytest.raises(ValueError, match="must start before it ends"):
        store.set(Override("office_hours", "open", madrid(11, 19), start=madrid(11, 19)), now=madrid(10, 10))


OLD_TABLE = ("CREATE TABLE schedule_overrides (schedule TEXT PRIMARY KEY, state TEXT NOT NULL CHECK (state IN "
             "('open', 'closed')), until REAL NOT NULL, reason TEXT NOT NULL DEFAULT '', set_at REAL NOT NULL)")


def old_database(path: Path) -> None:
    """A database made before overrides had a start: one row set at 10:00."""
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_TABLE)
        conn.execute("INSERT INTO schedule_overrides VALUES ('office_hours', 'closed', ?, 'drill', ?)",
                     (madrid(10, 12).timestamp(), madrid(10, 10).timestamp()))


def test_an_old_database_is_read_with_each_row_starting_when_it_was_set(tmp_path: Path) -> None:
    old_database(tmp_path / "old.db")
    reader = SqliteOverrides(tmp_path / "old.db", readonly=True)
    assert reader.active("office_hours", madrid(10, 9)) is None
    assert reader.active("office_hours", madrid(10, 11)) == \
        Override("office_hours", "closed", madrid(10, 12), "drill", madrid(10, 10))


def test_an_old_database_gets_the_start_column_once_with_old_rows_starting_when_set(tmp_path: Path) -> None:
    old_database(tmp_path / "old.db")
    SqliteOverrides(tmp_path / "old.db").ensure_schema()
    SqliteOverrides(tmp_path / "old.db").ensure_schema()  # a second time changes nothing
    with sqlite3.connect(tmp_path / "old.db") as conn:
        assert conn.execute("SELECT start, set_at FROM schedule_overrides").fetchall() == \
            [(madrid(10, 10).timestamp(), madrid(10, 10).timestamp())]
        conn.execute("INSERT INTO schedule_overrides (schedule, state, until, reason, set_at, start) "
                     "VALUES ('night', 'open', ?, '', ?, NULL)",
                     (madrid(10, 12).timestamp(), madrid(10, 10).timestamp()))
    reader = SqliteOverrides(tmp_path / "old.db", readonly=True)
    assert reader.active("office_hours", madrid(10, 9)) is None
    assert reader.active("night", madrid(1, 0)).start is None  # no start: from the beginning


# -- the schedule's state ---------------------------------------------------------------

def test_before_an_override_starts_its_start_is_the_next_change(tmp_path: Path) -> None:
    (tmp_path / "schedules.yaml").write_text(SCHEDULES, encoding="utf-8")
    schedule = load_schedules([tmp_path])[0]["office_hours"]
    override = Override("office_hours", "closed", madrid(10, 13), "drill", madrid(10, 11))
    state = state_at(schedule, madrid(10, 10), override)
    assert (state.outcome, state.rule, state.next_change, state.next_outcome) == \
        ("open", "weekly", madrid(10, 11), "closed")
    assert [(when, then.outcome) for when, then in changes(schedule, madrid(10, 10), madrid(10, 17), override)] == \
        [(madrid(10, 11), "closed"), (madrid(10, 13), "open"), (madrid(10, 14), "closed"), (madrid(10, 16), "open")]
    assert state_at(schedule, madrid(10, 12), override).rule == "override"
    assert state_at(schedule, madrid(10, 13), override).rule == "weekly"


# -- agiflow schedule -------------------------------------------------------------------

def test_show_at_a_moment_before_the_override_was_set_shows_the_schedule_alone(workdir: Path) -> None:
    assert agiflow("schedule", "override", "office_hours", "closed", "--until", "2h").exit_code == 0
    shown = agiflow("schedule", "show", "office_hours", "--at", "2025-03-10T09:30").stdout.splitlines()
    assert shown[0] == "office_hours (Europe/Madrid) at Mon 2025-03-10 09:30 CET: open"
    set_by = ", set by ana by cli at Mon 2025-03-10 10:00 CET"
    assert shown[2] == ("  override: closed from Mon 2025-03-10 10:00 CET until Mon 2025-03-10 12:00 CET, "
                        "not yet in force" + set_by)
    assert shown[4].split()[:5] == ["Mon", "2025-03-10", "10:00", "CET", "closed"]
    inside = agiflow("schedule", "show", "office_hours", "--at", "2025-03-10T11:00").stdout.splitlines()
    assert inside[0].endswith(": closed") and inside[2] == "  override: closed until Mon 2025-03-10 12:00 CET" + set_by
    after = agiflow("schedule", "show", "office_hours", "--at", "2025-03-10T12:00").stdout.splitlines()
    assert after[0].endswith(": open") and after[2] == "  override: none"


def test_override_from_a_later_moment_applies_only_from_then(workdir: Path) -> None:
    result = agiflow("schedule", "override", "office_hours", "open", "--from", "2025-03-10T19:00",
                     "--until", "2025-03-10T22:00", "--reason", "campaign")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("office_hours: open from Mon 2025-03-10 19:00 CET until Mon 2025-03-10 22:00 CET, "
                             "then closed (outside Monday hours 09:00-14:00, 16:00-19:00)\n")
    listed = agiflow("schedule", "list").stdout
    assert "office_hours  Europe/Madrid  open  open from Mon 2025-03-10 19:00 CET until " \
           "Mon 2025-03-10 22:00 CET (campaign), not yet in force" in listed
    assert agiflow("schedule", "show", "office_hours", "--at", "2025-03-10T20:00").stdout.splitlines()[0] \
        .endswith(": open")
    assert agiflow("schedule", "show", "office_hours", "--at", "2025-03-10T22:30").stdout.splitlines()[0] \
        .endswith(": closed")


@pytest.mark.parametrize("args, message", [
    (["--from", "2025-03-10T22:00", "--until", "2025-03-10T21:00"], "is not before --until"),
    (["--from", "3h", "--until", "2h"], "is not before --until"),
    (["--from", "soon", "--until", "2h"], "is not a time"),
])
def test_override_from_must_come_before_until(workdir: Path, args: list[str], message: str) -> None:
    result = agiflow("schedule", "override", "office_hours", "closed", *args)
    assert result.exit_code == 2
    assert "Invalid value for --from" in result.stderr and message in result.stderr


# -- agiflow simulate and agiflow test -----------------------------------------------------

def test_simulate_at_a_moment_before_the_override_was_set_takes_the_schedule_alone(workdir: Path) -> None:
    assert agiflow("schedule", "override", "office_hours", "closed", "--until", "2h").exit_code == 0

    def outcome(at: str) -> str:
        result = agiflow("simulate", "front", "--caller", "600111222", "--at", at, "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["path"][0]

    assert outcome("2025-03-10T09:30") == "hours:open"
    assert outcome("2025-03-10T11:00") == "hours:closed"
    assert outcome("2025-03-10T12:30") == "hours:open"


def test_a_test_case_override_applies_from_its_from_until_its_until(workdir: Path) -> None:
    cases = workdir / "flows" / "front.tests.yaml"
    cases.write_text(textwrap.dedent("""\
        version: 1
        flow: front
        defaults:
          overrides: {office_hours: {state: closed, from: 2025-03-10T11:00, until: 2025-03-10T12:00}}
        cases:
          - {name: before, at: 2025-03-10T10:59, expect: {path_includes: ["hours:open"]}}
          - {name: inside, at: 2025-03-10T11:00, expect: {path_includes: ["hours:closed"]}}
          - {name: after, at: 2025-03-10T12:00, expect: {path_includes: ["hours:open"]}}
        """), encoding="utf-8")
    result = agiflow("test", str(cases))
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("3 passed\n")


def test_a_test_case_override_from_after_its_until_is_an_error(workdir: Path) -> None:
    cases = workdir / "flows" / "front.tests.yaml"
    cases.write_text(textwrap.dedent("""\
        version: 1
        flow: front
        cases:
          - name: upside down
            at: 2025-03-10T10:00
            overrides: {office_hours: {state: closed, from: 2025-03-10T12:00, until: 2025-03-10T11:00}}
            expect: {status: completed}
        """), encoding="utf-8")
    result = agiflow("test", str(cases))
    assert result.exit_code == 2
    assert f"{cases}:6: case 'upside down': overrides.office_hours: from must be before until" in result.output


def test_an_override_that_ended_never_applies_whatever_moment_is_asked(tmp_path: Path) -> None:
    store = SqliteOverrides(tmp_path / "a.db")
    store.set(Override("office_hours", "closed", madrid(10, 12)), now=madrid(10, 10))
    later = madrid(10, 12) + timedelta(days=30)
    assert store.active("office_hours", later) is None
    store.set(Override("night", "open", madrid(20, 12)), now=madrid(20, 11))  # cleans up what has ended
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert [r[0] for r in conn.execute("SELECT schedule FROM schedule_overrides")] == ["night"]
