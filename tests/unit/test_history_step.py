"""The ``history`` step: what a caller's earlier calls make of this one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from agi.flowtest.memory import CaseCall, MemoryHistory
from agi.services import CallHistorySummary, HistoryQuery, HistoryUnavailable, Services
from support.step_runner import AT, cdr, details, flow_errors, path, run

CALLER = "+34600111222"


def history_flow(options: str = "", then: str = "") -> str:
    return f"""\
version: 1
name: h
timezone: Europe/Madrid
start: memory
steps:
  memory:
    history: {options or 'null'}
    on: {{new: first_time, returning: again, repeat: again, abandoned_recently: again}}
  first_time:
    play: agiflow/welcome
  again:
    play: "{then or 'agiflow/welcome-back'}"
"""


def calls(*entries: tuple[timedelta, dict[str, Any]]) -> list[CaseCall]:
    """Earlier calls of CALLER, each ``ago`` before the call's moment."""
    return [CaseCall(AT - ago, **columns) for ago, columns in entries]


def run_with(tmp_path: Path, earlier: list[CaseCall] | str, flow: str | None = None, caller: str = CALLER,
             pending: tuple[str, ...] = ()) -> Any:
    services = Services(history=MemoryHistory(earlier, CALLER, pending))
    return run(tmp_path, flow or history_flow(), caller=caller, services=services)


def test_a_caller_never_heard_from_is_new(tmp_path: Path) -> None:
    result = run_with(tmp_path, [])
    assert path(result) == ["memory:new", "first_time:next"]
    assert cdr(result, "history") == ("new",)
    assert details(result, "memory") == {
        "number": CALLER, "window": 604800, "calls": 0, "first_call": None, "last_call": None,
        "last_outcome": None, "last_queue": None, "last_agent": None, "callback_pending": False}


def test_a_caller_who_called_once_this_week_is_returning(tmp_path: Path) -> None:
    result = run_with(tmp_path, calls((timedelta(days=2), {"queue": "support", "queue_status": "ANSWERED",
                                                           "agent": "Ana", "agent_interface": "PJSIP/201"})))
    assert path(result)[0] == "memory:returning"
    found = details(result, "memory")
    assert (found["calls"], found["last_outcome"], found["last_queue"], found["last_agent"]) == \
        (1, "answered", "support", "Ana")
    assert found["last_call"] == "2025-03-08T08:30:00.000Z"


def test_two_earlier_calls_make_a_repeat_caller_by_default(tmp_path: Path) -> None:
    result = run_with(tmp_path, calls((timedelta(hours=5), {}), (timedelta(days=1), {})))
    assert path(result)[0] == "memory:repeat"
    assert details(result, "memory")["first_call"] == "2025-03-09T08:30:00.000Z"


def test_repeat_takes_the_number_of_earlier_calls_the_step_gives(tmp_path: Path) -> None:
    earlier = calls((timedelta(hours=5), {}), (timedelta(days=1), {}))
    assert path(run_with(tmp_path, earlier, history_flow("{repeat: 3}")))[0] == "memory:returning"


def test_calls_outside_the_window_are_not_counted(tmp_path: Path) -> None:
    earlier = calls((timedelta(days=8), {}), (timedelta(days=9), {}))
    assert path(run_with(tmp_path, earlier))[0] == "memory:new"
    assert path(run_with(tmp_path, earlier, history_flow("{window: 30d}")))[0] == "memory:repeat"


def test_a_caller_who_abandoned_within_the_hour_is_abandoned_recently(tmp_path: Path) -> None:
    earlier = calls((timedelta(minutes=20), {"queue": "support", "queue_status": "ABANDONED",
                                             "status": "caller_hangup"}),
                    (timedelta(days=1), {}), (timedelta(days=2), {}))
    result = run_with(tmp_path, earlier)
    assert path(result)[0] == "memory:abandoned_recently"
    assert details(result, "memory")["last_outcome"] == "abandoned"


def test_an_abandon_longer_ago_than_recent_is_only_a_return(tmp_path: Path) -> None:
    earlier = calls((timedelta(minutes=90), {"queue_status": "ABANDONED"}))
    assert path(run_with(tmp_path, earlier))[0] == "memory:returning"
    assert path(run_with(tmp_path, earlier, history_flow("{recent: 2h}")))[0] == "memory:abandoned_recently"


def test_a_caller_who_hung_up_while_a_dial_rang_abandoned_too(tmp_path: Path) -> None:
    earlier = calls((timedelta(minutes=5), {"dial_status": "CANCEL"}))
    assert path(run_with(tmp_path, earlier))[0] == "memory:abandoned_recently"


@pytest.mark.parametrize("stored", ["+34600111222", "34600111222", "600111222", "0034600111222"])
@pytest.mark.parametrize("calling", ["+34600111222", "600111222", "0034600111222"])
def test_every_spelling_of_the_same_number_is_the_same_caller(tmp_path: Path, stored: str, calling: str) -> None:
    earlier = [CaseCall(AT - timedelta(days=1), caller=stored)]
    result = run_with(tmp_path, earlier, caller=calling)
    assert path(result)[0] == "memory:returning"
    assert details(result, "memory")["number"] == "+34600111222"


def test_another_number_is_another_caller(tmp_path: Path) -> None:
    earlier = [CaseCall(AT - timedelta(days=1), caller="+34600999999")]
    assert path(run_with(tmp_path, earlier))[0] == "memory:new"


@pytest.mark.parametrize("caller", ["anonymous", "", "unknown", "Restricted"])
def test_a_withheld_caller_is_new_and_nothing_is_looked_up(tmp_path: Path, caller: str) -> None:
    result = run_with(tmp_path, "unavailable", caller=caller)
    assert path(result)[0] == "memory:new"
    assert details(result, "memory")["anonymous"] is True


def test_a_caller_id_that_is_not_a_number_is_new(tmp_path: Path) -> None:
    result = run_with(tmp_path, "unavailable", caller="12")
    assert path(result)[0] == "memory:new"
    assert "invalid_number" in details(result, "memory")


def test_an_unreadable_history_fails_open_to_new_and_says_why(tmp_path: Path) -> None:
    result = run_with(tmp_path, "unavailable")
    assert path(result) == ["memory:new", "first_time:next"]
    assert cdr(result, "history", "status") == ("error", "completed")
    assert details(result, "memory")["error"] == "the history is unavailable in this test case"


def test_on_error_error_gives_the_error_outcome(tmp_path: Path) -> None:
    flow = history_flow("{on_error: error}").replace("abandoned_recently: again}", "abandoned_recently: again, error: again}")
    result = run_with(tmp_path, "unavailable", flow)
    assert path(result) == ["memory:error", "again:next"]


def test_a_server_without_a_database_fails_open(tmp_path: Path) -> None:
    result = run(tmp_path, history_flow(), caller=CALLER, services=Services())
    assert path(result)[0] == "memory:new"
    assert "not available" in details(result, "memory")["error"]


def test_a_pending_callback_is_in_the_history(tmp_path: Path) -> None:
    flow = history_flow(then="{{ 'cb-pending' if history.callback_pending else 'none' }}")
    result = run_with(tmp_path, calls((timedelta(hours=2), {})), flow, pending=("+34600111222",))
    assert details(result, "memory")["callback_pending"] is True
    assert 'STREAM FILE "cb-pending" ""' in [e.command for e in result.exchanges]


def test_later_steps_read_what_was_found_as_history(tmp_path: Path) -> None:
    flow = history_flow(then="agent-{{ history.last_agent }}-{{ history.calls }}-{{ history.outcome }}")
    earlier = calls((timedelta(days=1), {"agent": "Ana"}), (timedelta(days=3), {"agent": "Luis"}))
    result = run_with(tmp_path, earlier, flow)
    assert 'STREAM FILE "agent-Ana-2-repeat" ""' in [e.command for e in result.exchanges]


def test_history_before_any_history_step_is_a_new_caller(tmp_path: Path) -> None:
    flow = """\
version: 1
name: h
start: say
steps:
  say:
    play: "calls-{{ history.calls }}-{{ history.outcome }}-{{ history.last_abandoned }}"
"""
    result = run(tmp_path, flow)
    assert 'STREAM FILE "calls-0--0" ""' in [e.command for e in result.exchanges]


class _Recording:
    def __init__(self) -> None:
        self.queries: list[HistoryQuery] = []

    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        self.queries.append(query)
        return CallHistorySummary()


def test_the_lookup_asks_for_the_window_the_spellings_and_leaves_this_call_out(tmp_path: Path) -> None:
    history = _Recording()
    result = run(tmp_path, history_flow("{window: 12h, timeout: 0.2}"), caller="600111222",
                 services=Services(history=history))
    [query] = history.queries
    assert query.spellings == ("+34600111222", "34600111222", "600111222", "0034600111222")
    assert (query.since, query.until) == (AT - timedelta(hours=12), AT)
    assert query.exclude_call == result.call["call_id"] and query.timeout == 0.2


class _Failing:
    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        raise HistoryUnavailable("no answer from the database within 0.5 s")


def test_a_slow_database_is_a_new_caller_with_the_reason(tmp_path: Path) -> None:
    result = run(tmp_path, history_flow(), caller=CALLER, services=Services(history=_Failing()))
    assert path(result)[0] == "memory:new"
    assert details(result, "memory")["error"] == "no answer from the database within 0.5 s"


@pytest.mark.parametrize("options, message", [
    ("{window: 400d}", "history.window: the window is longer than 366 days"),
    ("{window: 1h, recent: 2h}", "history.recent: recent is longer than the window"),
])
def test_windows_that_cannot_work_are_flow_errors(tmp_path: Path, options: str, message: str) -> None:
    assert any(message in error for error in flow_errors(tmp_path, history_flow(options)))


def test_a_recent_over_366_days_without_a_window_is_named_as_written(tmp_path: Path) -> None:
    """The window then defaults to ``recent``; the error names the option
    the flow gives, not the window it never wrote."""
    errors = flow_errors(tmp_path, history_flow("{recent: 367d}"))
    assert [e for e in errors if "366 days" in e] == ["step 'memory': history.recent: recent is longer than 366 days"]


def test_a_window_shorter_than_the_default_recent_needs_no_recent(tmp_path: Path) -> None:
    """``recent`` defaults to an hour, or to the window when that is shorter."""
    assert flow_errors(tmp_path, history_flow("{window: 30m}")) == []
    earlier = calls((timedelta(minutes=20), {"queue_status": "ABANDONED"}))
    assert path(run_with(tmp_path, earlier, history_flow("{window: 30m}")))[0] == "memory:abandoned_recently"


def test_a_recent_longer_than_the_default_window_needs_no_window(tmp_path: Path) -> None:
    """``window`` defaults to 7 days, or to ``recent`` when that is longer:
    ``{recent: 10d}`` alone was refused as longer than a window not written."""
    assert flow_errors(tmp_path, history_flow("{recent: 10d}")) == []
    earlier = calls((timedelta(days=9), {"queue_status": "ABANDONED"}))
    assert path(run_with(tmp_path, earlier, history_flow("{recent: 10d}")))[0] == "memory:abandoned_recently"


@pytest.mark.parametrize("options", ["{window: 7 days}", "{repeat: 0}", "{timeout: 10}", "{on_error: block}",
                                     "{window: 0}", "{recent: 1y}"])
def test_bad_options_are_refused(tmp_path: Path, options: str) -> None:
    assert flow_errors(tmp_path, history_flow(options))


def test_the_moment_of_the_call_is_utc_in_the_query(tmp_path: Path) -> None:
    history = _Recording()
    run(tmp_path, history_flow(), caller=CALLER, services=Services(history=history),
        at=datetime(2025, 7, 1, 10, 0, tzinfo=timezone.utc))
    assert history.queries[0].until == datetime(2025, 7, 1, 10, 0, tzinfo=timezone.utc)


TEXT_OF_THE_LAST_CALL = """\
version: 1
name: h
start: memory
steps:
  memory:
    history:
    on: {new: say, returning: say, repeat: say, abandoned_recently: say}
  say:
    play: "{{ history.last_outcome | upper }}-{{ history.last_status }}-{{ history.last_queue }}-x"
    next: route
  route:
    branch:
      cases: [{if: "history.last_outcome.startswith('aband') or history.last_status.endswith('hangup')",
               next: back, label: abandoned}]
      else: done
  back:
    play: agiflow/welcome-back
  done:
    hangup:
"""


def test_what_the_last_call_says_is_text_that_templates_may_call_text_methods_on(tmp_path: Path) -> None:
    assert flow_errors(tmp_path, TEXT_OF_THE_LAST_CALL) == []
    earlier = calls((timedelta(minutes=20), {"queue": "support", "queue_status": "ABANDONED",
                                             "status": "caller_hangup"}))
    result = run_with(tmp_path, earlier, TEXT_OF_THE_LAST_CALL)
    assert path(result) == ["memory:abandoned_recently", "say:next", "route:abandoned", "back:next"]
    assert 'STREAM FILE "ABANDONED-caller_hangup-support-x" ""' in [e.command for e in result.exchanges]


def test_a_caller_with_no_earlier_call_has_an_empty_last_outcome_and_status_not_none(tmp_path: Path) -> None:
    result = run_with(tmp_path, [], TEXT_OF_THE_LAST_CALL)
    assert path(result) == ["memory:new", "say:next", "route:else", "done:done"]
    assert 'STREAM FILE "---x" ""' in [e.command for e in result.exchanges]
    assert details(result, "memory")["last_outcome"] is None
