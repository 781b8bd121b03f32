"""``agiflow schedule`` at the terminal: list, show, override and clear,
through click's CliRunner, with the clock fixed and a real SQLite file."""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

import agi.cli.schedule as schedule_cli
from agi.cli.main import cli
from agi.storage.overrides import SqliteOverrides
from support.flows_folder import FlowsFolder

MADRID = ZoneInfo("Europe/Madrid")
#: Monday 2025-03-10 10:00 in Madrid: the office is open.
NOW = datetime(2025, 3, 10, 10, 0, tzinfo=MADRID)

SCHEDULES = """\
version: 1
schedules:
  office_hours:
    timezone: Europe/Madrid
    hours:
      mon-thu: ["09:00-14:00", "16:00-19:00"]
      fri: 08:00-15:00
    holidays: {country: ES, subdiv: MD}
  night_line:
    timezone: America/New_York
    hours: {daily: 22:00-06:00}
"""


@pytest.fixture
def workdir(tmp_path: Path, flows_folder: FlowsFolder, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with config.yaml, a flows folder with the schedules, and
    the clock stopped at NOW."""
    flows_folder.write("schedules.yaml", SCHEDULES)
    (tmp_path / "config.yaml").write_text("flows: flows\ndatabase: var/agiflow.db\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(schedule_cli, "now", lambda: NOW)
    monkeypatch.setattr(schedule_cli, "_user", lambda: "ana")
    return tmp_path


def agiflow(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_list_shows_every_schedule_its_state_and_no_override(workdir: Path) -> None:
    result = agiflow("schedule", "list")
    assert result.exit_code == 0, result.output
    # 10:00 in Madrid is 05:00 in New York: the night line's Sunday range still runs.
    assert result.stdout.splitlines() == [
        "schedule      timezone          now   override",
        "night_line    America/New_York  open  none",
        "office_hours  Europe/Madrid     open  none",
    ]


def test_show_gives_state_reason_override_and_the_changes_of_the_coming_week(workdir: Path) -> None:
    result = agiflow("schedule", "show", "office_hours")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "office_hours (Europe/Madrid) at Mon 2025-03-10 10:00 CET: open",
        "  reason: Monday hours 09:00-14:00",
        "  override: none",
        "  next changes (7 days):",
    ]
    assert lines[4].split() == ["Mon", "2025-03-10", "14:00", "CET", "closed", "outside", "Monday", "hours",
                                "09:00-14:00,", "16:00-19:00"]
    assert len(lines) == 4 + 3 + 3 * 4 + 2 + 1   # rest of Monday, Tue-Thu, Friday, Monday 09:00 again
    assert lines[-1].split()[:5] == ["Mon", "2025-03-17", "09:00", "CET", "open"]


def test_show_at_a_moment_in_the_schedules_timezone(workdir: Path) -> None:
    result = agiflow("schedule", "show", "office_hours", "--at", "2025-05-02T10:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == [
        "office_hours (Europe/Madrid) at Fri 2025-05-02 10:00 CEST: holiday",
        "  reason: holiday: Fiesta de la Comunidad de Madrid (ES-MD)",
    ]


def test_override_closes_now_until_a_relative_time_and_show_and_list_say_so(workdir: Path) -> None:
    result = agiflow("schedule", "override", "office_hours", "closed", "--until", "2h", "--reason", "fire drill")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("office_hours: closed until Mon 2025-03-10 12:00 CET, "
                             "then open (Monday hours 09:00-14:00)\n")
    [stored] = SqliteOverrides(workdir / "var" / "agiflow.db").all_active(NOW)
    assert (stored.schedule, stored.state, stored.reason) == ("office_hours", "closed", "fire drill")
    assert stored.until == datetime(2025, 3, 10, 12, 0, tzinfo=MADRID)

    shown = agiflow("schedule", "show", "office_hours").stdout.splitlines()
    assert shown[0].endswith(": closed")
    assert shown[1] == "  reason: manual override: closed until 2025-03-10 12:00 CET (fire drill)"
    assert shown[2] == ("  override: closed until Mon 2025-03-10 12:00 CET (fire drill), "
                        "set by ana by cli at Mon 2025-03-10 10:00 CET")
    assert shown[4].split()[:5] == ["Mon", "2025-03-10", "12:00", "CET", "open"]
    assert "closed until Mon 2025-03-10 12:00 CET (fire drill)" in agiflow("schedule", "list").stdout


def test_override_until_a_time_of_day_and_a_second_override_replaces_the_first(workdir: Path) -> None:
    assert agiflow("schedule", "override", "office_hours", "closed", "--until", "18:00").exit_code == 0
    result = agiflow("schedule", "override", "office_hours", "open", "--until", "2025-03-10T22:00")
    assert result.exit_code == 0, result.output
    [stored] = SqliteOverrides(workdir / "var" / "agiflow.db").all_active(NOW)
    assert stored.state == "open" and stored.until == datetime(2025, 3, 10, 22, 0, tzinfo=MADRID)


def test_an_override_shows_no_more_once_it_has_ended(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    agiflow("schedule", "override", "office_hours", "closed", "--until", "30m")
    monkeypatch.setattr(schedule_cli, "now", lambda: NOW.replace(minute=30))
    shown = agiflow("schedule", "show", "office_hours").stdout.splitlines()
    assert shown[0].endswith(": open") and shown[2] == "  override: none"


def test_clear_removes_the_override_and_says_when_there_was_none(workdir: Path) -> None:
    agiflow("schedule", "override", "office_hours", "closed", "--until", "2h")
    result = agiflow("schedule", "clear", "office_hours")
    assert result.exit_code == 0, result.output
    assert result.stdout == ("office_hours: override removed; it was closed until Mon 2025-03-10 12:00 CET, "
                             "set by ana by cli at Mon 2025-03-10 10:00 CET\n")
    assert SqliteOverrides(workdir / "var" / "agiflow.db").all_active(NOW) == []
    assert agiflow("schedule", "clear", "office_hours").stdout == "office_hours: no override in force\n"


def test_clearing_a_misspelt_schedule_is_an_error_not_a_schedule_without_override(workdir: Path) -> None:
    agiflow("schedule", "override", "office_hours", "closed", "--until", "2h")
    result = agiflow("schedule", "clear", "ofice_hours")
    assert result.exit_code == 2, result.output
    assert "no schedule named 'ofice_hours' in " in result.stderr
    assert "and no override stored for it (known: night_line, office_hours)" in result.stderr
    assert len(SqliteOverrides(workdir / "var" / "agiflow.db").all_active(NOW)) == 1


def test_the_override_of_a_schedule_no_longer_in_the_folder_can_be_cleared(workdir: Path) -> None:
    agiflow("schedule", "override", "night_line", "open", "--until", "2h")
    (workdir / "flows" / "schedules.yaml").write_text(SCHEDULES.split("  night_line:")[0])
    result = agiflow("schedule", "clear", "night_line")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("night_line: override removed; it was open until ")


@pytest.mark.parametrize("args, hint, message", [
    (["show", "ofice_hours"], "NAME", "no schedule named 'ofice_hours'"),
    (["override", "ofice_hours", "closed", "--until", "2h"], "NAME", "known: night_line, office_hours"),
    (["override", "office_hours", "closed", "--until", "yesterday"], "--until", "is not a time"),
    (["override", "office_hours", "closed", "--until", "2025-03-10T09:00"], "--until", "is not in the future"),
    (["show", "office_hours", "--at", "soon"], "--at", "is not a time"),
    (["show", "office_hours", "--at", ""], "--at", "is not a time"),  # once the state now
    (["override", "office_hours", "closed", "--until", "2h", "--from", ""], "--from", "is not a time"),
])
def test_mistakes_are_usage_errors_naming_the_option(workdir: Path, args: list[str], hint: str, message: str) -> None:
    result = agiflow("schedule", *args)
    assert result.exit_code == 2
    assert hint in result.stderr and message in result.stderr
    assert not (workdir / "var" / "agiflow.db").exists() or args[0] == "show"


def test_override_state_must_be_open_or_closed(workdir: Path) -> None:
    result = agiflow("schedule", "override", "office_hours", "holiday", "--until", "2h")
    assert result.exit_code == 2 and "'open', 'closed'" in result.stderr


def test_a_broken_schedules_file_is_reported_with_its_line_and_exit_1(workdir: Path) -> None:
    (workdir / "flows" / "schedules.yaml").write_text(SCHEDULES.replace("Europe/Madrid", "Europe/Madird"))
    result = agiflow("schedule", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{workdir / 'flows' / 'schedules.yaml'}:4: schedule 'office_hours': unknown timezone")


def test_an_empty_flows_folder_has_no_schedules(workdir: Path) -> None:
    (workdir / "flows" / "schedules.yaml").unlink()
    result = agiflow("schedule", "list")
    assert result.exit_code == 0 and result.stdout.startswith("no schedules in ")



@pytest.mark.parametrize("args", [["schedule", "list"], ["schedule", "show", "office_hours"],
                                  ["schedule", "override", "office_hours", "closed", "--until", "2h"],
                                  ["schedule", "clear", "office_hours"],
                                  ["callbacks", "dial", "--spool", "spool", "--channel", "PJSIP/{number}",
                                   "--schedule", "office_hours", "--dry-run"]])
def test_a_flows_folder_that_does_not_exist_is_named_as_such(workdir: Path, args: list[str]) -> None:
    """A mistyped ``flows`` in the config read as a folder with no schedules:
    ``schedule list`` said ``no schedules in PATH``, the others ``no schedule
    named 'office_hours' in PATH (known: none)``, the config's mistake unsaid."""
    (workdir / "config.yaml").write_text("flows: flws\ndatabase: var/agiflow.db\n", encoding="utf-8")
    agiflow("lists", "create", "robinson")
    result = agiflow(*args)
    assert f"{workdir / 'flws'} (no such folder: check 'flows' in the config)" in result.output, result.output


def test_show_and_list_say_who_set_the_override_how_and_when(workdir: Path) -> None:
    from agi.services import Override
    from agi.storage.overrides import SqliteOverrides
    SqliteOverrides(workdir / "var" / "agiflow.db").set(
        Override("office_hours", "open", NOW + timedelta(hours=3), "", None, "+34600111222", "phone"), NOW)
    shown = agiflow("schedule", "show", "office_hours").stdout.splitlines()
    assert shown[2] == ("  override: open until Mon 2025-03-10 13:00 CET, "
                        "set by +34600111222 by phone at Mon 2025-03-10 10:00 CET")
    assert "set by +34600111222 by phone" in agiflow("schedule", "list").stdout


def test_an_until_of_zero_is_not_in_the_future_even_when_the_clock_moves(workdir: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    readings = iter(NOW + timedelta(seconds=second) for second in range(100))
    monkeypatch.setattr(schedule_cli, "now", lambda: next(readings))
    result = agiflow("schedule", "override", "office_hours", "closed", "--until", "0m")
    assert result.exit_code == 2
    assert "--until" in result.stderr and "Mon 2025-03-10 10:00 CET is not in the future" in result.stderr
    assert not (workdir / "var" / "agiflow.db").exists()


def test_an_override_reason_made_from_a_caller_puts_no_escape_sequence_on_the_terminal(workdir: Path) -> None:
    """An override step's reason is templated ("by {{ call.caller_name }}"):
    a caller name's OSC sequence once reached the terminal of whoever ran
    ``agiflow schedule show`` or ``list`` (its window title changed)."""
    from agi.services import Override
    SqliteOverrides(workdir / "var" / "agiflow.db").set(
        Override("office_hours", "closed", NOW + timedelta(hours=3), "by Eve\x1b]0;pwned\x07\x9b2J\r\n", None,
                 "+34600111222", "phone\x1b[2J"), NOW)
    for command in (["show", "office_hours"], ["list"], ["clear", "office_hours"]):
        output = agiflow("schedule", *command).stdout
        assert "by Eve" in output and not any(c in output for c in "\x1b\x07\x9b\r"), (command, output)


def test_an_override_waits_at_most_5_seconds_for_a_lock_then_fails(
        workdir: Path, database: Any) -> None:
    """cli.md: exit 1 when the database is locked for more than 5 seconds.
    On PostgreSQL a lock held elsewhere held the command for 30 s."""
    from support import table_rows
    from agi.db.location import PostgresUrl
    from agi.storage.migrations import upgrade
    where = database.url if isinstance(database, PostgresUrl) else "var/agiflow.db"
    (workdir / "config.yaml").write_text(f"flows: flows\ndatabase: {where}\n", encoding="utf-8")
    configured = database if isinstance(database, PostgresUrl) else workdir / "var" / "agiflow.db"
    if isinstance(configured, Path):
        configured.parent.mkdir(exist_ok=True)
    upgrade(configured)
    with table_rows.write_locked(configured, "schedule_overrides"):
        started = time.monotonic()
        result = agiflow("schedule", "override", "office_hours", "closed", "--until", "2h")
        waited = time.monotonic() - started
    assert result.exit_code == 1 and "error: " in result.stderr, result.output
    assert 4 < waited < 10
    assert agiflow("schedule", "override", "office_hours", "closed", "--until", "2h").exit_code == 0



def test_clear_waits_5_seconds_for_a_lock_held_elsewhere_on_postgresql_as_an_override_change_does(
        workdir: Path, postgres_url: Any) -> None:
    """database.md: a command that changes overrides waits 5 s for a lock held
    elsewhere. ``schedule clear`` first reads the override it removes, and that
    read failed after its 1 s statement timeout under an ACCESS EXCLUSIVE lock."""
    import psycopg

    from agi.db import postgres as pg
    from agi.storage.migrations import upgrade
    (workdir / "config.yaml").write_text(f"flows: flows\ndatabase: '{postgres_url.url}'\n", encoding="utf-8")
    upgrade(postgres_url)
    assert agiflow("schedule", "override", "office_hours", "closed", "--until", "2h").exit_code == 0
    with psycopg.connect(**pg.parameters(postgres_url)) as other:
        other.execute("LOCK TABLE schedule_overrides IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        result = agiflow("schedule", "clear", "office_hours")
        waited = time.monotonic() - started
    assert result.exit_code == 1 and "lock timeout" in result.stderr, result.output
    assert 4 < waited < 10, waited
    assert agiflow("schedule", "clear", "office_hours").exit_code == 0
