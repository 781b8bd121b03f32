"""The ``reports:`` section of config.yaml (zone, short abandon, service
level), the zone reports default to, and ranges that hold no time."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.cdr_builder import CdrBuilder

from agi.cli.main import cli
from agi.config import ConfigError, load_config
from agi.reports.default_zone import default_zone_name
from agi.storage.call_measures import Thresholds


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def flow(name: str, timezone: str | None = None) -> str:
    zone = f"timezone: {timezone}\n" if timezone else ""
    return f"version: 1\nname: {name}\n{zone}start: bye\nsteps:\n  bye: {{type: hangup}}\n"


def test_the_reports_section_sets_the_zone_and_the_thresholds(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "config.yaml", "reports:\n  timezone: Europe/Madrid\n"
                                                         "  short_abandon: 3\n  service_level: 30\n"))
    assert config.reports.timezone == "Europe/Madrid"
    assert config.reports.thresholds == Thresholds(short_abandon=3, service_level=30)
    defaults = load_config(write(tmp_path / "empty.yaml", "log_level: INFO\n")).reports
    assert defaults.timezone is None and defaults.thresholds == Thresholds(5, 20)
    zero = load_config(write(tmp_path / "zero.yaml", "reports:\n  short_abandon: -0.0\n")).reports.thresholds
    assert f"{zero.short_abandon:g}" == "0"  # written as 0 wherever it is shown, never -0


@pytest.mark.parametrize("text, message", [
    ("reports:\n  timezone: Madrid\n", "2: reports.timezone: unknown time zone 'Madrid'"),
    ("reports:\n  timezone: localtime\n", "2: reports.timezone: unknown time zone 'localtime'"),
    ("reports:\n  timezone: Europe/" + "x" * 300 + "\n", "2: reports.timezone: unknown time zone"),
    ("reports:\n  timezone: " + "A/" * 3000 + "B\n", "2: reports.timezone: unknown time zone"),
    ("reports:\n  short_abandon: -1\n", "reports.short_abandon"),
    ("reports:\n  service_level: soon\n", "reports.service_level"),
    ("reports:\n  zone: UTC\n", "zone"),
])
def test_a_bad_reports_section_is_refused_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path / "config.yaml", text))


def test_the_default_zone_is_the_configured_one_then_the_flows_one_then_utc(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    assert default_zone_name(None, flows) == "UTC"  # no flows
    write(flows / "a.yaml", flow("a", "Europe/Madrid"))
    write(flows / "b.yaml", flow("b", "Europe/Madrid"))
    write(flows / "hours.yaml", "schedules:\n  office:\n    timezone: America/New_York\n")
    write(flows / "broken.yaml", "version: 1\nname: [\n")
    write(flows / "notes.yaml", "owner: support team\n")  # no steps: no flow
    assert default_zone_name(None, flows) == "Europe/Madrid"
    assert default_zone_name("Asia/Tokyo", flows) == "Asia/Tokyo"
    write(flows / "c.yaml", flow("c"))  # no timezone: UTC, so the flows disagree
    assert default_zone_name(None, flows) == "UTC"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def day(database: Path) -> CdrBuilder:
    """Two answered calls at 23:30 UTC on 10 March, waits of 10 and 25 s."""
    cdr = CdrBuilder(database)
    for wait in (10, 25):
        cdr.add("2025-03-10 23:30:00", queue="sales", queue_status="ANSWERED", queue_wait=wait, talk_time=60)
    cdr.close()
    return cdr


def test_reports_count_in_the_configured_zone_and_thresholds(day: CdrBuilder, tmp_path: Path) -> None:
    config = write(tmp_path / "config.yaml", "reports:\n  timezone: Europe/Madrid\n  service_level: 30\n")
    code, out = invoke("inbound", "--db", str(day.path), "-c", str(config), "--by", "day", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["filters"]["timezone"] == "Europe/Madrid"
    assert [(r["key"], r["sl_pct"]) for r in doc["rows"]] == [("2025-03-11", 100.0)]  # 00:30 in Madrid
    assert (doc["options"]["service_level_s"], doc["options"]["short_abandon_s"]) == (30, 5)
    code, out = invoke("inbound", "--db", str(day.path), "-c", str(config), "--by", "day", "--format", "json",
                       "--tz", "UTC")
    assert [(r["key"], r["sl_pct"]) for r in json.loads(out)["rows"]] == [("2025-03-10", 100.0)]


def test_reports_count_in_the_flows_zone_when_nothing_else_says(day: CdrBuilder, tmp_path: Path) -> None:
    write(tmp_path / "flows" / "a.yaml", flow("a", "America/New_York"))
    config = write(tmp_path / "config.yaml", "flows: flows\n")
    code, out = invoke("summary", "--db", str(day.path), "-c", str(config), "--by", "hour", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and doc["filters"]["timezone"] == "America/New_York"
    assert [r["key"] for r in doc["rows"]] == ["19"]  # 23:30 UTC is 19:30 EDT
    assert doc["totals"]["answered"] == 2 and doc["totals"]["asa_s"] == 17.5


@pytest.mark.parametrize("since, until, message", [
    ("2025-03-12", "2025-03-10", "error: the time range is reversed: --since 2025-03-12T00:00:00.000Z is after "
                                 "--until 2025-03-11T00:00:00.000Z"),
    ("2025-03-11", "2025-03-10", "error: the time range is empty: --since and --until are both "
                                 "2025-03-11T00:00:00.000Z"),
    ("now", "now", "error: the time range is empty"),
])
def test_a_range_that_holds_no_time_exits_2_with_one_line(day: CdrBuilder, since: str, until: str,
                                                          message: str) -> None:
    code, out = invoke("summary", "--db", str(day.path), "--tz", "UTC", "--since", since, "--until", until)
    assert code == 2 and out.startswith(message) and out.count("\n") == 1, out
