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


# -- the range of times ---------------------------------------------------------------

OUT_OF_RANGE = ["0001-01-01T00:30+01:00", "9999-12-31T23:59-01:00", "9999-12-31", "0001-12-31T23:00",
                "99999999d", "999999999999999999999d", "9999999999m"]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
@pytest.mark.parametrize("args", [
    ["simulate", "clock", "--caller", "600111222", "--at"],
    ["schedule", "show", "office_hours", "--at"],
    ["schedule", "override", "office_hours", "open", "--until"],
    ["schedule", "override", "office_hours", "open", "--until", "2h", "--from"],
    ["report", "calls", "--since"],
    ["report", "summary", "--until"],
    ["callbacks", "list", "--since"],
    ["supervisors", "audit", "--since"],
])
def test_every_command_refuses_a_time_out_of_range_with_a_usage_error(workdir: Path, args: list[str],
                                                                       text: str) -> None:
    if args[0] == "simulate" and text[-1] in "dm":
        pytest.skip("--at takes no duration")
    if args[0] in ("report", "callbacks", "supervisors"):
        agiflow("db", "upgrade")
    result = agiflow(*args, text)
    assert result.exit_code == 2, result.output
    assert f"'{text}'" in result.stderr and "is out of range: times go from 0002-01-01 to 9998-12-31" \
        in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_times_at_the_ends_of_the_range_are_read() -> None:
    assert moments.parse("0002-01-01T00:00+23:59", MADRID) == datetime(1, 12, 31, 0, 1, tzinfo=UTC)
    assert moments.parse("9998-12-31T23:59-23:59", MADRID) == datetime(9999, 1, 1, 23, 58, tzinfo=UTC)
    assert moments.shifted(utc(2025, 3, 1), "1d", days=1) == utc(2025, 3, 2)
    with pytest.raises(moments.OutOfRange, match="'9e9m' from now is out of range"):
        moments.shifted(utc(2025, 3, 1), "9e9m", minutes=9_000_000_000)
    with pytest.raises(moments.OutOfRange, match="'3000000d' ago is out of range"):
        moments.shifted(utc(2025, 3, 1), "3000000d", back=True, days=3_000_000)


def test_a_test_file_reports_a_time_out_of_range_at_its_line(workdir: Path) -> None:
    cases = workdir / "flows" / "clock.tests.yaml"
    cases.write_text("version: 1\nflow: clock\ncases:\n"
                     "  - name: far\n    at: 9999-12-31T23:59:59-01:00\n    expect: {status: completed}\n"
                     "  - name: override\n    at: 2025-03-10T10:00\n"
                     "    overrides: {office_hours: {state: open, until: '0001-01-01T00:30+01:00'}}\n"
                     "    expect: {status: completed}\n", encoding="utf-8")
    result = agiflow("test", str(cases))
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{cases}:5: case 'far': at: '9999-12-31 23:59:59-01:00' is out of range" in result.output
    assert f"{cases}:9: case 'override': until: '0001-01-01T00:30+01:00' is out of range" in result.output


@pytest.mark.parametrize("written, reason", [
    ("2025-13-45", "month must be in 1..12"),
    ("2025-02-30T10:00:00", "day is out of range for month"),
    ("0000-01-01", "year 0 is out of range"),
    ("2025-03-10 10:00:00 +99:00", "its UTC offset must be less than 24 hours"),
])
def test_a_yaml_time_the_calendar_has_not_is_an_error_at_its_line(workdir: Path, written: str, reason: str) -> None:
    cases = workdir / "flows" / "clock.tests.yaml"
    cases.write_text(f"version: 1\nflow: clock\ncases:\n  - name: odd\n    at: {written}\n"
                     "    expect: {status: completed}\n", encoding="utf-8")
    result = agiflow("test", str(cases))
    assert result.exit_code == 2, result.output
    assert f"{cases}:5: '{written}' is not a valid date and time: {reason}" in result.output
    flow = workdir / "flows" / "clock.yaml"
    flow.write_text(FLOW.replace("start: tag", f"description: {written}\nstart: tag"), encoding="utf-8")
    validated = agiflow("validate", str(flow))
    assert f"{flow}:4: '{written}' is not a valid date and time: {reason}" in validated.output


@pytest.mark.parametrize("written", [".inf", "-.inf", ".nan", ".NaN", "1.0e+400"])
def test_a_number_that_is_not_finite_is_an_error_at_its_line(workdir: Path, written: str) -> None:
    cases = workdir / "flows" / "clock.tests.yaml"
    cases.write_text(f"version: 1\nflow: clock\ncases:\n  - name: odd\n    queue_wait: {written}\n"
                     "    expect: {status: completed}\n", encoding="utf-8")
    result = agiflow("test", str(cases))
    assert result.exit_code == 2, result.output
    assert f"{cases}:5: '{written}' is not a finite number" in result.output
    (workdir / "config.yaml").write_text(f"flows: flows\nserver:\n  drain_timeout: {written}\n", encoding="utf-8")
    validated = agiflow("validate")
    assert validated.exit_code == 2 and f"config.yaml:3: '{written}' is not a finite number" in validated.output


@pytest.mark.parametrize("option", ["queue_wait: 86401", "talk_time: 1.0e+300",
                                    "spy_sessions: [{seconds: 99999999999, ends: key}]"])
def test_a_test_input_that_moves_the_clock_more_than_a_day_is_an_error(workdir: Path, option: str) -> None:
    cases = workdir / "flows" / "clock.tests.yaml"
    cases.write_text(f"version: 1\nflow: clock\ncases:\n  - name: long\n    {option}\n"
                     "    expect: {status: completed}\n", encoding="utf-8")
    result = agiflow("test", str(cases))
    assert result.exit_code == 2, result.output
    assert f"{cases}:5: case 'long'" in result.output and "86400" in result.output
