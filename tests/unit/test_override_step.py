"""The ``override`` step: night mode from a phone, for supervisors only."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from agi.flowtest.memory import MemoryLists, MemoryOverrides, MemorySupervisors
from agi.services import Services
from agi.storage.cdr_schema import ensure_schema
from agi.storage.overrides import SqliteOverrides
from agi.storage.supervisors import SqliteSupervisors
from support.step_runner import AT, cdr, commands, details, flow_errors, path, run

BOSS = "+34600111222"
SCHEDULES = """\
version: 1
schedules:
  office_hours:
    timezone: Europe/Madrid
    hours: {mon-fri: "09:00-18:00"}
  campaign_hours:
    timezone: Europe/Madrid
    hours: {mon-fri: "10:00-20:00"}
"""


def flow(options: str = "") -> str:
    return f"""\
version: 1
name: night
timezone: Europe/Madrid
start: change
steps:
  change:
    override:
      pin_prompt: enter-pin
      wrong_pin: wrong-pin
      refused_prompt: refused
      schedules: {{"1": office_hours, "2": campaign_hours}}
      schedule_prompt: pick
      action_prompt: what
      duration_prompt: hours
      open_prompt: now-open
      closed_prompt: now-closed
      cleared_prompt: cleared
      until_prompt: until
      {options}
    on: {{set: bye, cleared: bye, refused: bye, cancelled: bye}}
  bye:
    hangup:
"""


def call(tmp_path: Path, dtmf: list[str | None], *, caller: str = BOSS, supervisors: Any = None,
         options: str = "", overrides: Any = None) -> tuple[Any, Services]:
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    memory = overrides if overrides is not None else MemoryOverrides([])
    services = Services(lists=MemoryLists({"supervisors": [BOSS]}, "ES"), overrides=memory, override_changes=memory,
                        supervisors=supervisors if supervisors is not None else MemorySupervisors({BOSS: "4321"}))
    return run(tmp_path, flow(options), caller=caller, dtmf=dtmf, services=services), services


def test_a_supervisor_closes_the_office_for_three_hours(tmp_path: Path) -> None:
    result, services = call(tmp_path, ["4321", "1", "2", "3"])
    assert path(result) == ["change:set", "bye:done"]
    stored = services.overrides.active("office_hours", AT + timedelta(hours=1))  # type: ignore[union-attr]
    assert stored is not None and (stored.state, stored.until) == ("closed", AT + timedelta(hours=3))
    found = details(result, "change")
    assert (found["supervisor"], found["schedule"], found["action"], found["state"]) == \
        (BOSS, "office_hours", "closed", "closed")
    assert found["until"] == (AT + timedelta(hours=3)).isoformat()
    assert cdr(result, "supervisor") == (BOSS,)
    sent = commands(result)
    said = sent.index('STREAM FILE "now-closed" ""')
    assert sent[said:said + 3] == ['STREAM FILE "now-closed" ""', 'STREAM FILE "until" ""',
                                   f'SAY DATETIME "{int((AT + timedelta(hours=3)).timestamp())}" "" '
                                   '"A \'digits/at\' HM" "Europe/Madrid"']
    assert services.supervisors.audit_log[-1]["detail"].startswith("office_hours: closed until")  # type: ignore[union-attr]


def test_the_pin_never_reaches_the_details_or_the_cdr(tmp_path: Path) -> None:
    result, _ = call(tmp_path, ["9999", "4321", "1", "1", "#"])
    assert "9999" not in repr(result.steps) and "4321" not in repr(result.steps) and "4321" not in repr(result.call)
    assert details(result, "change")["pin_attempts"] == 2


def test_hash_alone_keeps_the_default_duration_and_long_ones_are_capped(tmp_path: Path) -> None:
    result, services = call(tmp_path, ["4321", "2", "1", "#"])
    assert services.overrides.active("campaign_hours", AT).until == AT + timedelta(hours=12)  # type: ignore[union-attr]
    result, services = call(tmp_path, ["4321", "2", "1", "900"], options="max_duration: 2d")
    assert services.overrides.active("campaign_hours", AT).until == AT + timedelta(days=2)  # type: ignore[union-attr]


def test_clearing_removes_the_override_and_says_the_state_the_hours_give(tmp_path: Path) -> None:
    memory = MemoryOverrides([])
    call(tmp_path, ["4321", "1", "2", "#"], overrides=memory)
    result, services = call(tmp_path, ["4321", "1", "3"], overrides=memory)
    assert path(result)[0] == "change:cleared"
    assert services.overrides.active("office_hours", AT) is None  # type: ignore[union-attr]
    assert details(result, "change")["state"] == "open"  # Monday 09:30 in Madrid
    assert 'STREAM FILE "cleared" ""' in commands(result) and 'STREAM FILE "now-open" ""' in commands(result)


@pytest.mark.parametrize("caller, why", [("anonymous", "withheld caller ID"),
                                         ("+34600999999", "caller ID not in the supervisor list")])
def test_callers_who_are_not_supervisors_are_refused_before_any_pin(tmp_path: Path, caller: str, why: str) -> None:
    result, _ = call(tmp_path, ["4321"], caller=caller)
    assert path(result)[0] == "change:refused"
    assert details(result, "change")["refused"] == why
    assert commands(result)[0] == 'STREAM FILE "refused" ""'


def test_wrong_pins_are_refused_after_the_attempts_and_the_number_locks_across_calls(tmp_path: Path) -> None:
    supervisors = MemorySupervisors({BOSS: "4321"})
    result, _ = call(tmp_path, ["1", "2", "3"], supervisors=supervisors)
    assert path(result)[0] == "change:refused" and details(result, "change")["refused"] == "wrong PIN"
    assert commands(result).count('STREAM FILE "wrong-pin" ""') == 2
    result, _ = call(tmp_path, ["5", "6", "4321"], supervisors=supervisors)  # the 5th wrong PIN locks
    assert details(result, "change")["refused"] == "too many wrong PINs: locked"
    # no PIN can pass once locked: none is asked for after the one that locked it
    assert details(result, "change")["pin_attempts"] == 2
    sent = [c for c in commands(result) if c.startswith(("GET DATA", "STREAM FILE"))]
    assert sent == ['GET DATA "enter-pin" "6000" "12"', 'STREAM FILE "wrong-pin" ""', 'GET DATA "enter-pin" "6000" "12"',
                    'STREAM FILE "wrong-pin" ""', 'STREAM FILE "refused" ""']
    assert [e["result"] for e in supervisors.audit_log if e["action"] == "pin"] == ["wrong"] * 5


@pytest.mark.parametrize("supervisors, why", [("unavailable", "the PIN cannot be checked"),
                                              (MemorySupervisors({}), "no PIN set")])
def test_it_fails_closed_when_pins_cannot_be_checked(tmp_path: Path, supervisors: Any, why: str) -> None:
    result, _ = call(tmp_path, ["4321", "1", "2", "#"],
                     supervisors=MemorySupervisors(supervisors) if isinstance(supervisors, str) else supervisors)
    assert path(result)[0] == "change:refused"
    assert details(result, "change")["refused"].startswith(why)


def test_no_choice_cancels_and_changes_nothing(tmp_path: Path) -> None:
    result, services = call(tmp_path, ["4321", "9", "9", "9"])
    assert path(result)[0] == "change:cancelled"
    assert services.overrides.active("office_hours", AT) is None  # type: ignore[union-attr]


def test_no_valid_number_of_hours_cancels_and_changes_nothing(tmp_path: Path) -> None:
    """Wrong hours at every try (0 hours) are no answer to the
    duration question: nothing changes (the default duration was set);
    no key at all keeps the default, as documented."""
    result, services = call(tmp_path, ["4321", "1", "2", "0", "000", "0#"])
    assert path(result)[0] == "change:cancelled"
    assert services.overrides.active("office_hours", AT) is None  # type: ignore[union-attr]
    assert sum(1 for c in commands(result) if c.startswith('GET DATA "hours"')) == 3
    result, services = call(tmp_path, ["4321", "1", "2", "", ""])
    assert path(result)[0] == "change:set"
    assert services.overrides.active("office_hours", AT).until == AT + timedelta(hours=12)  # type: ignore[union-attr]


def test_a_question_is_asked_again_once_after_no_key_and_twice_after_a_wrong_key(tmp_path: Path) -> None:
    for keys, asked in ((["", ""], 2), (["9", "", "9", "9"], 4)):
        result, _ = call(tmp_path, ["4321", *keys])
        assert path(result)[0] == "change:cancelled"
        assert sum(1 for c in commands(result) if c.startswith('GET DATA "pick"')) == asked


def test_with_one_schedule_no_schedule_is_asked(tmp_path: Path) -> None:
    text = flow().replace('schedules: {"1": office_hours, "2": campaign_hours}', 'schedules: {"1": office_hours}')
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    memory = MemoryOverrides([])
    services = Services(lists=MemoryLists({"supervisors": [BOSS]}, "ES"), overrides=memory, override_changes=memory,
                        supervisors=MemorySupervisors({BOSS: "4321"}))
    result = run(tmp_path, text, caller=BOSS, dtmf=["4321", "1", "#"], services=services)
    assert path(result)[0] == "change:set" and 'GET DATA "pick" "6000" "1"' not in commands(result)


def test_the_change_is_stored_in_the_database_with_who_and_how(tmp_path: Path) -> None:
    database = tmp_path / "db" / "agiflow.db"
    database.parent.mkdir()
    ensure_schema(sqlite_utils.Database(database))
    pins = SqliteSupervisors(database)
    pins.set_pin(BOSS, "4321", AT, "ana")
    overrides = SqliteOverrides(database)
    result, _ = call(tmp_path, ["4321", "1", "2", "2"], supervisors=pins, overrides=overrides)
    stored = SqliteOverrides(database, readonly=True).active("office_hours", AT + timedelta(minutes=1))
    assert stored is not None and (stored.state, stored.set_by, stored.set_how) == ("closed", BOSS, "phone")
    assert stored.reason == "set by phone"
    assert [(r["action"], r["result"]) for r in pins.audit_log()] == [("set_pin", "ok"), ("pin", "ok"),
                                                                       ("override", "ok")]


def test_a_store_that_cannot_be_written_is_an_error(tmp_path: Path) -> None:
    class Broken(MemoryOverrides):
        def set(self, override: Any, now: Any, wanted: Any = None) -> None:
            from agi.services import OverridesUnavailable
            raise OverridesUnavailable("database is locked")

    result, _ = call(tmp_path, ["4321", "1", "2", "#"], overrides=Broken([]))
    assert path(result)[0] == "change:error"
    assert "database is locked" in details(result, "change")["error"]


def test_a_change_that_cannot_be_stored_is_logged_as_a_warning(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """A supervisor's change that was not made says why in the log, as a PIN
    that cannot be checked or an audit entry that cannot be written do; the
    log had only ``call ended: error at change:error``."""
    class Broken(MemoryOverrides):
        def set(self, override: Any, now: Any, wanted: Any = None) -> None:
            from agi.services import OverridesUnavailable
            raise OverridesUnavailable("database is locked")

    caplog.set_level(logging.WARNING, "agiflow.call")
    call(tmp_path, ["4321", "1", "2", "#"], overrides=Broken([]))
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "override of office_hours by +34600111222 not made" in warning and "database is locked" in warning


def test_the_shipped_night_mode_tells_the_supervisor_a_change_was_not_saved(tmp_path: Path) -> None:
    """A change the database did not take is said to the supervisor, and
    the call ends as the flow meant: it once ended in error, sending the
    supervisor to the dialplan's fallback queue."""
    class Broken(MemoryOverrides):
        def set(self, override: Any, now: Any, wanted: Any = None) -> None:
            from agi.services import OverridesUnavailable
            raise OverridesUnavailable("database is locked")

    shipped = Path(__file__).parents[2] / "flows"
    (tmp_path / "schedules.yaml").write_text((shipped / "schedules.yaml").read_text())
    broken = Broken([])
    services = Services(lists=MemoryLists({"supervisors": [BOSS]}, "ES"), overrides=broken, override_changes=broken,
                        supervisors=MemorySupervisors({BOSS: "4321"}))
    result = run(tmp_path, (shipped / "night_mode.yaml").read_text(), caller=BOSS, dtmf=["4321", "1", "2", "#"],
                 services=services)
    assert path(result)[-3:] == ["change:error", "not_saved:next", "hangup:done"]
    assert 'STREAM FILE "agiflow/override-not-saved" ""' in commands(result)
    assert result.call["status"] == "completed"


def test_a_max_duration_under_12_hours_needs_no_default_duration(tmp_path: Path) -> None:
    """``default_duration`` defaults to 12 hours, or to ``max_duration`` when that is shorter."""
    from agi.loading.loader import load_flows
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    (tmp_path / "flow.yaml").write_text(flow("max_duration: 6h"))
    assert load_flows([tmp_path])[1] == []
    _, services = call(tmp_path, ["4321", "2", "1", "#"], options="max_duration: 6h")
    assert services.overrides.active("campaign_hours", AT).until == AT + timedelta(hours=6)  # type: ignore[union-attr]


def test_a_default_duration_over_7_days_needs_no_max_duration(tmp_path: Path) -> None:
    """``max_duration`` defaults to 7 days, or to ``default_duration`` when that
    is longer: ``default_duration: 10d`` alone was refused as longer than a
    max_duration not written."""
    from agi.loading.loader import load_flows
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    (tmp_path / "flow.yaml").write_text(flow("default_duration: 10d"))
    assert load_flows([tmp_path])[1] == []
    _, services = call(tmp_path, ["4321", "2", "1", "#"], options="default_duration: 10d")
    assert services.overrides.active("campaign_hours", AT).until == AT + timedelta(days=10)  # type: ignore[union-attr]
    (tmp_path / "flow.yaml").write_text(flow("default_duration: 400d"))
    assert [e.message for e in load_flows([tmp_path])[1]] == \
        ["step 'change': override.default_duration: default_duration is longer than 365 days"]


@pytest.mark.parametrize("options, message", [
    ("keys: {open: '1', closed: '1', clear: '3'}", "three different keys"),
    ("default_duration: 3d\n      max_duration: 1d", "longer than max_duration"),
])
def test_options_that_cannot_work_are_flow_errors(tmp_path: Path, options: str, message: str) -> None:
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    assert any(message in e for e in flow_errors(tmp_path, flow(options)))


@pytest.mark.parametrize("options", ["max_duration: 366d", "max_duration: 53w", "max_duration: 31622400",
                                     "max_duration: 99999999999999999999w\n      default_duration: 1h"])
def test_a_max_duration_over_365_days_is_a_flow_error_at_its_line(tmp_path: Path, options: str) -> None:
    from agi.loading.loader import load_flows
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    (tmp_path / "flow.yaml").write_text(flow(options))
    errors = [str(e) for e in load_flows([tmp_path])[1]]
    assert errors == [f"{tmp_path / 'flow.yaml'}:7: step 'change': override.max_duration: "
                      "max_duration is longer than 365 days"]


def test_a_max_duration_of_365_days_is_allowed(tmp_path: Path) -> None:
    from agi.loading.loader import load_flows
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    (tmp_path / "flow.yaml").write_text(flow("max_duration: 365d\n      default_duration: 52w"))
    assert load_flows([tmp_path])[1] == []


def test_an_unknown_schedule_is_a_flow_error(tmp_path: Path) -> None:
    from agi.loading.loader import load_flows
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    (tmp_path / "flow.yaml").write_text(flow().replace("campaign_hours}", "nope}"))
    errors = [e.message for e in load_flows([tmp_path])[1]]
    assert errors == ["step 'change': override.schedules: unknown schedule 'nope'"]


def test_a_change_whose_audit_entry_cannot_be_written_still_stands_and_says_so(tmp_path: Path) -> None:
    """The override is stored before its audit entry: when only the audit
    entry fails, the change was made, so the supervisor hears the new state
    and the outcome is ``set``, with ``audit_error`` in the details; never
    ``error`` (which says nothing changed)."""
    class NoAudit(MemorySupervisors):
        def audit(self, number: str, action: str, result: str, at: Any, call_id: str, detail: str = "") -> None:
            if action == "override":
                from agi.services import SupervisorsUnavailable
                raise SupervisorsUnavailable("database is locked")
            super().audit(number, action, result, at, call_id, detail)

    result, services = call(tmp_path, ["4321", "1", "2", "3"], supervisors=NoAudit({BOSS: "4321"}))
    assert services.overrides.active("office_hours", AT) is not None  # type: ignore[union-attr]
    assert path(result)[0] == "change:set"
    assert "database is locked" in details(result, "change")["audit_error"]
    assert 'STREAM FILE "now-closed" ""' in commands(result)


def test_a_change_that_waited_past_its_timeout_is_not_made_later(tmp_path: Path) -> None:
    """The server's database threads may be busy: the step stops waiting
    after its timeout and says ``error`` (nothing changed). The change,
    still queued for a thread, must then not be made when a thread
    finally takes it; this offload gives up first and runs the work late,
    as a busy pool does."""
    from agi.services import OffloadTimeout

    late: list[Any] = []

    async def busy_pool(timeout: float, work: Any, *args: Any) -> Any:
        if getattr(work, "__name__", "") == "check_pin":
            return work(*args)
        late.append((work, args))
        raise OffloadTimeout(f"no answer from the database within {timeout:g}s")

    memory = MemoryOverrides([])
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    services = Services(lists=MemoryLists({"supervisors": [BOSS]}, "ES"), overrides=memory, override_changes=memory,
                        supervisors=MemorySupervisors({BOSS: "4321"}), offload=busy_pool)
    result = run(tmp_path, flow(), caller=BOSS, dtmf=["4321", "1", "2", "3"], services=services)
    assert path(result)[0] == "change:error"
    for work, args in late:  # a thread takes the queued change at last
        try:
            work(*args)
        except Exception:
            pass
    assert memory.active("office_hours", AT) is None


def test_a_pin_check_that_answers_after_the_step_gave_up_is_neither_audited_nor_counted(tmp_path: Path) -> None:
    """A PIN check waits for its number's row lock (another node checking the
    same number, a long transaction): the step refuses the supervisor after
    its 3 s and the check goes on in its thread. Once it got the lock, it
    wrote 'pin ok' to the audit log for a supervisor who had been refused,
    and a wrong PIN counted towards a lock the caller never heard of."""
    from agi.services import OffloadTimeout

    late: list[Any] = []

    async def slow_pool(timeout: float, work: Any, *args: Any) -> Any:
        late.append((work, args))
        raise OffloadTimeout(f"no answer from the database within {timeout:g}s")

    database = tmp_path / "pins.db"
    ensure_schema(sqlite_utils.Database(database))
    pins = SqliteSupervisors(database)
    pins.set_pin(BOSS, "4321", AT, "ana")
    (tmp_path / "schedules.yaml").write_text(SCHEDULES)
    memory = MemoryOverrides([])
    services = Services(lists=MemoryLists({"supervisors": [BOSS]}, "ES"), overrides=memory, override_changes=memory,
                        supervisors=pins, offload=slow_pool)
    result = run(tmp_path, flow(), caller=BOSS, dtmf=["4321", "1", "2", "3"], services=services)
    assert path(result)[0] == "change:refused"
    for work, args in late:  # the thread gets its answer at last
        try:
            work(*args)
        except Exception:
            pass
    assert [entry["action"] for entry in pins.audit_log()] == ["set_pin"]
    assert [(pin["number"], pin["failures"]) for pin in pins.pins()] == [(BOSS, 0)]
