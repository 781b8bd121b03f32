"""A time written without an offset means the same thing everywhere: a
wall-clock time in the flow's (or schedule's, or report's) zone, its first
occurrence when the clock shows it twice, an error when the clock skips it."""
from __future__ import annotations

import json
import textwrap
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

import agi.cli.schedule as schedule_cli
from agi.cli.main import cli
from agi.hours import moments
from agi.reports.timerange import TimeError, moment as report_moment

MADRID = ZoneInfo("Europe/Madrid")
UTC = timezone.utc


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("2025-03-10T09:30", utc(2025, 3, 10, 8, 30)),           # winter: +01:00
    ("2025-07-10 09:30:00", utc(2025, 7, 10, 7, 30)),        # summer: +02:00
    ("2025-10-26T02:30", utc(2025, 10, 26, 0, 30)),          # twice: the first time, still +02:00
    ("2025-10-26T02:30+01:00", utc(2025, 10, 26, 1, 30)),    # the second time, with its offset
    ("2025-03-10T08:30Z", utc(2025, 3, 10, 8, 30)),
    ("2025-03-10", utc(2025, 3, 9, 23, 0)),                  # a date: its midnight
])
def test_a_time_is_read_in_the_zone_unless_it_gives_an_offset(text: str, expected: datetime) -> None:
    assert moments.parse(text, MADRID).astimezone(UTC) == expected


def test_a_time_the_clock_skips_is_an_error_that_says_how_to_write_it() -> None:
    with pytest.raises(moments.SkippedTime) as error:
        moments.parse("2025-03-30T02:30", MADRID)
    assert str(error.value) == ("2025-03-30 02:30 does not exist in Europe/Madrid: the clocks go forward over it; "
                                "write the time with its UTC offset (e.g. 2025-03-30T02:30+01:00)")
    assert moments.parse("2025-03-30T02:30+01:00", MADRID) == utc(2025, 3, 30, 1, 30)


def test_a_date_whose_midnight_is_skipped_starts_when_the_clocks_jump() -> None:
    santiago = ZoneInfo("America/Santiago")  # 2025-09-07 00:00 -> 01:00
    assert moments.day_start(date(2025, 9, 7), santiago) == datetime(2025, 9, 7, 1, 0, tzinfo=santiago)


# -- the same rule in every command --------------------------------------------------

FLOW = """\
version: 1
name: clock
timezone: Europe/Madrid
start: tag
steps:
  tag:
    set: {cdr: {local: "{{ now.strftime('%H:%M %z') }}"}}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "clock.yaml").write_text(FLOW, encoding="utf-8")
    (tmp_path / "flows" / "schedules.yaml").write_text(
        "version: 1\nschedules:\n  office_hours:\n    timezone: Europe/Madrid\n    hours: {mon-fri: 09:00-14:00}\n",
        encoding="utf-8")
    (tmp_path / "config.yaml").write_text("flows: flows\ndatabase: var/agiflow.db\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(schedule_cli, "now", lambda: datetime(2025, 3, 1, tzinfo=UTC))
    return tmp_path


def agiflow(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def simulated_clock(at: str) -> str:
    result = agiflow("simulate", "clock", "--caller", "600111222", "--at", at, "--format", "json")
    assert result.exit_code == 0, result.output
    return str(json.loads(json.loads(result.stdout)["cdr"]["fields"])["local"])


def test_simulate_reads_a_time_without_offset_in_the_flows_timezone(workdir: Path) -> None:
    assert simulated_clock("2025-03-10T09:30") == "09:30 +0100"
    assert simulated_clock("2025-07-10T09:30") == "09:30 +0200"
    assert simulated_clock("2025-10-26T02:30") == "02:30 +0200"
    assert simulated_clock("2025-03-10T09:30Z") == "10:30 +0100"


def test_agiflow_test_reads_at_like_simulate(workdir: Path) -> None:
    cases = workdir / "flows" / "clock.tests.yaml"
    cases.write_text(textwrap.dedent("""\
        version: 1
        flow: clock
        cases:
          - {name: winter, at: 2025-03-10T09:30, expect: {fields: {local: "09:30 +0100"}}}
          - {name: repeated hour, at: "2025-10-26T02:30", expect: {fields: {local: "02:30 +0200"}}}
        """), encoding="utf-8")
    result = agiflow("test", str(cases))
    assert result.exit_code == 0, result.output


def test_schedule_show_reads_at_like_simulate(workdir: Path) -> None:
    shown = agiflow("schedule", "show", "office_hours", "--at", "2025-10-26T02:30").stdout.splitlines()
    assert shown[0] == "office_hours (Europe/Madrid) at Sun 2025-10-26 02:30 CEST: closed"


def test_every_command_refuses_a_time_the_clock_skips(workdir: Path) -> None:
    skipped = "2025-03-30T02:30"
    simulated = agiflow("simulate", "clock", "--caller", "600111222", "--at", skipped)
    assert simulated.exit_code == 2 and "does not exist in Europe/Madrid" in simulated.stderr
    shown = agiflow("schedule", "show", "office_hours", "--at", skipped)
    assert shown.exit_code == 2 and "does not exist in Europe/Madrid" in shown.stderr
    overridden = agiflow("schedule", "override", "office_hours", "open", "--until", skipped)
    assert overridden.exit_code == 2 and "does not exist in Europe/Madrid" in overridden.stderr
    cases = workdir / "flows" / "clock.tests.yaml"
    cases.write_text(f"version: 1\nflow: clock\ncases:\n  - name: spring\n    at: {skipped}\n"
                     "    expect: {status: completed}\n", encoding="utf-8")
    tested = agiflow("test", str(cases))
    assert tested.exit_code == 2
    assert f"{cases}:5: case 'spring': at: 2025-03-30 02:30 does not exist in Europe/Madrid" in tested.output
    with pytest.raises(TimeError, match="does not exist in Europe/Madrid"):
        report_moment(skipped, utc(2025, 4, 1), MADRID)


def test_report_filters_read_a_time_without_offset_in_the_report_zone() -> None:
    assert report_moment("2025-10-26T02:30", utc(2025, 11, 1), MADRID) == utc(2025, 10, 26, 0, 30)
    assert report_moment("2025-03-10", utc(2025, 4, 1), MADRID) == utc(2025, 3, 9, 23, 0)
