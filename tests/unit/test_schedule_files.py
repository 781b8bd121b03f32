"""Schedules files in the flows folder: a mistake is reported with its file
and line, like any flow error, and flows may only name schedules that exist."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from agi.loading.loader import load_flows, load_schedules
from support.flows_folder import FlowsFolder

ROOT = Path(__file__).resolve().parents[2]

SCHEDULES = """\
version: 1
schedules:
  office_hours:
    timezone: Europe/Madrid
    hours:
      mon-fri: ["09:00-14:00", "16:00-19:00"]
    holidays: {country: ES, subdiv: MD}
    exceptions:
      12-24: 09:00-14:00
    closures:
      2025-08-11..2025-08-14: inventory
"""

FLOW = """\
version: 1
name: front
start: hours
steps:
  hours:
    schedule: office_hours
    on: {open: menu, closed: bye, holiday: bye, inventory: bye}
  menu:
    play: welcome
  bye:
    hangup:
"""


def errors_in(folder: Path) -> list[str]:
    flows, errors = load_flows([folder])
    assert not errors or not flows.flows
    return [str(e) for e in errors]


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_shipped_office_hours_load_beside_the_shipped_flows() -> None:
    flows, errors = load_flows([ROOT / "flows"])
    assert errors == []
    office = flows.schedules["office_hours"]
    assert office.timezone == "Europe/Madrid"
    assert office.holidays is not None and (office.holidays.country, office.holidays.subdiv) == ("ES", "MD")
    assert len(office.weekly[0]) == 2 and any(e.span.text == "12-24" for e in office.exceptions)


def test_a_flow_in_one_file_uses_a_schedule_from_another_with_its_closure_outcome(flows_folder: FlowsFolder) -> None:
    flows_folder.write("schedules.yaml", SCHEDULES)
    flows_folder.write("front.yaml", FLOW)
    flows, errors = load_flows([flows_folder.path])
    assert errors == []
    assert set(flows.schedules) == {"office_hours"}
    step = flows.get("front").steps["hours"]
    assert step.node.outcomes() == ("open", "closed", "holiday", "inventory")
    assert step.transitions["inventory"] == "bye"


def test_the_long_form_names_the_schedule_too(flows_folder: FlowsFolder) -> None:
    flows_folder.write("schedules.yaml", SCHEDULES)
    flows_folder.write("front.yaml", FLOW.replace("schedule: office_hours", "schedule: {name: office_hours}"))
    assert errors_in(flows_folder.path) == []


def test_a_step_naming_an_unknown_schedule_is_an_error_at_its_line(flows_folder: FlowsFolder) -> None:
    flows_folder.write("schedules.yaml", SCHEDULES)
    flow = flows_folder.write("front.yaml", FLOW.replace("schedule: office_hours", "schedule: ofice_hours")
                 .replace(", inventory: bye", ""))
    assert errors_in(flows_folder.path) == [
        f"{flow}:6: step 'hours': schedule.name: unknown schedule 'ofice_hours'; known: office_hours"]


def test_a_closure_outcome_the_schedule_does_not_declare_is_an_unknown_outcome(flows_folder: FlowsFolder) -> None:
    flows_folder.write("schedules.yaml", SCHEDULES.replace("inventory", "closure"))
    flow = flows_folder.write("front.yaml", FLOW)
    assert errors_in(flows_folder.path) == [
        f"{flow}:7: step 'hours': unknown outcome 'inventory'; allowed: open, closed, holiday, closure, hangup, error"]


def test_a_flow_naming_a_broken_schedule_is_told_so_not_that_it_is_unknown(flows_folder: FlowsFolder) -> None:
    schedules = flows_folder.write("schedules.yaml", SCHEDULES.replace('"16:00-19:00"', '"26:00-19:00"'))
    flow = flows_folder.write("front.yaml", FLOW.replace(", inventory: bye", ""))
    assert errors_in(flows_folder.path) == [
        f"{flow}:6: step 'hours': schedule.name: schedule 'office_hours' has errors of its own (see its schedules file)",
        f"{schedules}:6: schedule 'office_hours': '26:00' is not a time of day HH:MM (00:00 to 23:59)",
    ]


@pytest.mark.parametrize("zone", ["Europe/" + "x" * 300, "A/" * 3000 + "B", "localtime"],
                         ids=["long", "many-parts", "the-machines"])
def test_a_timezone_no_file_can_be_named_after_is_an_unknown_timezone(flows_folder: FlowsFolder, zone: str) -> None:
    """Once an OSError or RecursionError traceback; ``localtime``, the
    machine's own zone where a file of that name links to it, was taken."""
    path = flows_folder.write("schedules.yaml", f"version: 1\nschedules:\n  odd:\n    timezone: {zone}\n"
                                                "    hours: {mon-fri: 09:00-14:00}\n")
    assert errors_in(flows_folder.path) == [
        f"{path}:4: schedule 'odd': unknown timezone '{zone}' (use an IANA name such as Europe/Madrid)"]


def test_each_bad_value_is_reported_at_its_own_line(flows_folder: FlowsFolder) -> None:
    path = flows_folder.write("schedules.yaml", """\
        version: 1
        schedules:
          broken:
            timezone: Europe/Madird
            hours:
              mon-fry: 09:00-14:00
              tue: ["09:00-14:00", "13:00-15:00"]
              wed: 9-14
            holidays:
              country: ES
              subdiv: XX
            exceptions:
              2025-02-30: 09:00-10:00
            closures:
              2025-08-15..2025-08-01: inventory
              2025-09-01: open
        """)
    assert errors_in(flows_folder.path) == [
        f"{path}:4: schedule 'broken': unknown timezone 'Europe/Madird' (use an IANA name such as Europe/Madrid)",
        f"{path}:6: schedule 'broken': 'mon-fry' is not a weekday or range of weekdays; use mon, tue, wed, "
        "thu, fri, sat, sun, ranges such as mon-fri, lists such as sat,sun, or daily",
        f"{path}:7: schedule 'broken': hours: 09:00-14:00 and 13:00-15:00 overlap on Tuesday",
        f"{path}:8: schedule 'broken': '9' is not a time of day HH:MM (00:00 to 23:59)",
        f"{path}:11: schedule 'broken': holidays: ES has no subdivision 'XX'; known: AN, AR, AS, CB, CE, CL, "
        "CM, CN, CT, EX, GA, IB, MC, MD, ML, NC, PV, RI, VC, Barcelona",
        f"{path}:13: schedule 'broken': '2025-02-30' is not a day of the calendar",
        f"{path}:15: schedule 'broken': '2025-08-15..2025-08-01': the range ends before it starts",
        f"{path}:16: schedule 'broken': closures: 'open' cannot be a closure's outcome; use closed, "
        "closure or a label of your own such as inventory",
    ]


def test_a_range_that_starts_and_ends_at_the_same_time_is_refused_not_a_day_overnight(
        flows_folder: FlowsFolder) -> None:
    path = flows_folder.write("schedules.yaml", """\
        version: 1
        schedules:
          odd:
            timezone: Europe/Madrid
            hours:
              mon: 09:00-09:00
              tue: 00:00-00:00
        """)
    assert errors_in(flows_folder.path) == [
        f"{path}:{line}: schedule 'odd': '{text}' starts and ends at the same time; use 00:00-24:00 for the whole day"
        for line, text in ((6, "09:00-09:00"), (7, "00:00-00:00"))]


def test_an_unknown_key_names_the_allowed_ones(flows_folder: FlowsFolder) -> None:
    path = flows_folder.write("schedules.yaml", SCHEDULES.replace("    holidays:", "    hollidays:")
                 .replace("      12-24: 09:00-14:00", "      12-24: {hours: 09:00-14:00, label: Eve}"))
    assert errors_in(flows_folder.path) == [
        f"{path}:7: schedule 'office_hours': unknown key 'hollidays'; allowed: closures, description, "
        "exceptions, holidays, hours, timezone",
        f"{path}:9: schedule 'office_hours': exceptions.12-24: unknown key 'label'; allowed: hours, name",
    ]


def test_an_unknown_country_and_a_missing_timezone_are_errors(flows_folder: FlowsFolder) -> None:
    path = flows_folder.write("schedules.yaml", SCHEDULES.replace("country: ES, subdiv: MD", "country: XX"))
    assert errors_in(flows_folder.path) == [
        f"{path}:7: schedule 'office_hours': holidays: no public holidays known for country 'XX'; "
        "use an ISO 3166 code such as ES, FR, GB, US"]
    path.write_text(SCHEDULES.replace("    timezone: Europe/Madrid\n", ""))
    assert errors_in(flows_folder.path) == [f"{path}:3: schedule 'office_hours': 'timezone' is required"]


def test_the_same_date_in_a_closure_and_an_exception_is_ambiguous(flows_folder: FlowsFolder) -> None:
    path = flows_folder.write("schedules.yaml", SCHEDULES.replace("      12-24: 09:00-14:00\n",
                                                                "      2025-08-12: 09:00-14:00\n"))
    assert errors_in(flows_folder.path) == [
        f"{path}:9: schedule 'office_hours': exceptions: '2025-08-12' overlaps '2025-08-11..2025-08-14' (line 11)"]


def test_a_schedule_defined_twice_names_the_first_place(flows_folder: FlowsFolder) -> None:
    first = flows_folder.write("a.yaml", SCHEDULES)
    second = flows_folder.write("b.yaml", SCHEDULES)
    assert errors_in(flows_folder.path) == [f"{second}:3: schedule 'office_hours' is also defined at {first}:3"]


def test_a_schedules_file_needs_its_version_and_a_yaml_error_has_its_line(flows_folder: FlowsFolder) -> None:
    path = flows_folder.write("schedules.yaml", SCHEDULES.replace("version: 1\n", ""))
    assert errors_in(flows_folder.path) == [f"{path}:1: 'version' is required"]
    path.write_text(SCHEDULES.replace("      mon-fri:", "      mon-fri: [", 1))
    [error] = errors_in(flows_folder.path)
    assert error.startswith(f"{path}:") and "invalid YAML" in error


def test_a_huge_file_beside_the_schedules_is_not_read_whole_to_tell_what_it_is(flows_folder: FlowsFolder) -> None:
    flows_folder.write("schedules.yaml", SCHEDULES)
    with open(flows_folder.path / "huge.yaml", "wb") as huge:  # 100 MB, refused for its size
        huge.truncate(100 * 1024 * 1024)
    tracemalloc.start()
    try:
        schedules, errors = load_schedules([flows_folder.path])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert errors == [] and set(schedules) == {"office_hours"}
    assert peak < 10 * 1024 * 1024, peak  # once the whole file, twice: as bytes and as text


def test_schedules_load_on_their_own_while_a_flow_is_broken(flows_folder: FlowsFolder) -> None:
    flows_folder.write("schedules.yaml", SCHEDULES)
    flows_folder.write("broken.yaml", "version: 1\nname: x\nstart: a\nsteps: {a: {play: [}}\n")
    schedules, errors = load_schedules([flows_folder.path])
    assert errors == [] and set(schedules) == {"office_hours"}
    flows, flow_errors = load_flows([flows_folder.path])
    assert flow_errors and not flows.schedules


def test_a_yearly_range_over_the_new_year_says_how_to_write_it(flows_folder: FlowsFolder) -> None:
    path = flows_folder.write("schedules.yaml", SCHEDULES.replace("      12-24: 09:00-14:00\n",
                                                                "      12-24..01-06: []\n"))
    assert errors_in(flows_folder.path) == [
        f"{path}:9: schedule 'office_hours': '12-24..01-06': the range ends before it starts; a yearly range "
        "stays within one year: write 12-24..12-31 and 01-01..01-06"]
