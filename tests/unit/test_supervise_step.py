"""The ``supervise`` step: supervisors listen to, whisper to, or barge into
an agent's call with ChanSpy, and every session is on record."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from agi.flowtest.memory import MemoryLists, MemorySupervisors
from agi.services import Services
from agi.steps.supervise import SuperviseNode, channel_prefix, channels_expression
from support.step_runner import cdr, commands, details, flow_errors, path, run

BOSS = "+34600111222"


def flow(options: str = "") -> str:
    return f"""\
version: 1
name: spy
start: listen
steps:
  listen:
    supervise:
      pin_prompt: enter-pin
      agent_prompt: enter-agent
      agents: {{"7": "Local/agent-ana@agents/n"}}
      extensions: {{pattern: "^2[0-9]{{2}}$", interface: "PJSIP/{{digits}}"}}
      mode_prompt: modes
      not_on_call_prompt: not-on-call
      {options}
    on: {{done: bye, refused: bye, not_on_call: bye, unknown_agent: bye}}
  bye:
    hangup:
"""


def call(tmp_path: Path, dtmf: list[str | None], *, on_call: tuple[str, ...] = ("PJSIP/201",),
         sessions: tuple[tuple[float, str], ...] = (), options: str = "", **given: Any) -> tuple[Any, Services]:
    services = Services(lists=MemoryLists({"supervisors": [BOSS]}, "ES"),
                        supervisors=MemorySupervisors({BOSS: "4321"}))
    result = run(tmp_path, flow(options), caller=given.pop("caller", BOSS), dtmf=dtmf, services=services,
                 on_call=on_call, spy_sessions=sessions, **given)
    return result, services


def test_a_supervisor_listens_until_the_agents_call_ends_and_the_session_is_recorded(tmp_path: Path) -> None:
    result, services = call(tmp_path, ["4321", "201"], sessions=((95, "agent"),))
    assert path(result) == ["listen:done", "bye:done"]
    found = details(result, "listen")
    assert (found["supervisor"], found["agent"], found["modes"], found["ended"]) == \
        (BOSS, "PJSIP/201", ["listen"], "the call ended")
    assert found["stretches"] == [{"mode": "listen", "seconds": 95}] and found["duration"] == 95
    assert cdr(result, "supervisor") == (BOSS,)
    assert services.supervisors.audit_log[-1] == {  # type: ignore[union-attr]
        "number": BOSS, "action": "supervise", "result": "ok", "detail": "PJSIP/201: listen 95s"}


def test_keys_switch_modes_and_every_stretch_is_kept(tmp_path: Path) -> None:
    result, _ = call(tmp_path, ["4321", "201", "5", "6", "*"], sessions=((20, "key"), (10, "key"), (5, "key")))
    spies = [c for c in commands(result) if c.startswith('EXEC "ChanSpy"')]
    assert spies == ['EXEC "ChanSpy" "PJSIP/201-,bqESx(#)"', 'EXEC "ChanSpy" "PJSIP/201-,bqESwx(#)"',
                     'EXEC "ChanSpy" "PJSIP/201-,bqESBx(#)"']
    found = details(result, "listen")
    assert [(s["mode"], s["seconds"]) for s in found["stretches"]] == [("listen", 20), ("whisper", 10), ("barge", 5)]
    assert found["modes"] == ["listen", "whisper", "barge"] and found["ended"] == "supervisor left"


def test_the_audit_entry_gives_each_stretch_in_whole_seconds(tmp_path: Path) -> None:
    """A ChanSpy run lasts fractions of a second too: the audit entry once
    read 'listen 35.417s, whisper 12.2s', not as docs/steps.md shows it."""
    result, services = call(tmp_path, ["4321", "201", "5", "*"], sessions=((35.417, "key"), (12.5001, "key")))
    assert [s["seconds"] for s in details(result, "listen")["stretches"]] == [35.417, 12.5]
    assert services.supervisors.audit_log[-1]["detail"] == "PJSIP/201: listen 35s, whisper 13s"  # type: ignore[union-attr]


def test_a_supervisor_who_hangs_up_while_listening_ends_the_session(tmp_path: Path) -> None:
    result, services = call(tmp_path, ["4321", "201"], sessions=((42, "hangup"),))
    assert path(result) == ["listen:hangup"] and result.call["status"] == "caller_hangup"
    assert details(result, "listen")["ended"] == "supervisor hung up"
    assert services.supervisors.audit_log[-1]["detail"] == "PJSIP/201: listen 42s"  # type: ignore[union-attr]


def test_an_agent_who_is_not_on_a_call_is_refused(tmp_path: Path) -> None:
    result, _ = call(tmp_path, ["4321", "202"])
    assert path(result)[0] == "listen:not_on_call"
    assert details(result, "listen")["refused"] == "the agent is not on a call"
    assert not any(c.startswith('EXEC "ChanSpy"') for c in commands(result))
    assert 'STREAM FILE "not-on-call" ""' in commands(result)


def test_a_local_agent_is_found_by_its_code_and_spied_on_by_its_channels(tmp_path: Path) -> None:
    result, _ = call(tmp_path, ["4321", "7"], on_call=("Local/agent-ana@agents/n",), sessions=((3, "agent"),))
    assert 'GET FULL VARIABLE "${BRIDGEPEER}" "Local/agent-ana@agents-00000001;1"' in commands(result)
    assert 'EXEC "ChanSpy" "Local/agent-ana@agents-,bqESx(#)"' in commands(result)


@pytest.mark.parametrize("dtmf, caller, why", [
    (["4321"], "+34600999999", "caller ID not in the supervisor list"),
    (["1", "2", "3"], BOSS, "wrong PIN"),
])
def test_no_one_but_an_authorised_supervisor_listens(tmp_path: Path, dtmf: list[str | None], caller: str,
                                                     why: str) -> None:
    result, _ = call(tmp_path, dtmf, caller=caller)
    assert path(result)[0] == "listen:refused" and details(result, "listen")["refused"] == why
    assert not any("ChanSpy" in c or "BRIDGEPEER" in c for c in commands(result))


def test_keys_that_name_no_agent_end_without_listening(tmp_path: Path) -> None:
    result, _ = call(tmp_path, ["4321", "999", "12"])
    assert path(result)[0] == "listen:unknown_agent"


def test_no_key_twice_at_the_agent_prompt_ends_as_unknown_agent(tmp_path: Path) -> None:
    result, _ = call(tmp_path, ["4321", "", ""])
    assert path(result)[0] == "listen:unknown_agent"
    assert not [c for c in commands(result) if c.startswith('EXEC "ChanSpy"')]


def test_the_starting_mode_and_the_modes_allowed(tmp_path: Path) -> None:
    result, _ = call(tmp_path, ["4321", "201", "6", "5", "*"], sessions=((1, "key"), (1, "key")),
                     options="mode: whisper\n      modes: [whisper, listen]")
    spies = [c for c in commands(result) if c.startswith('EXEC "ChanSpy"')]
    assert spies == ['EXEC "ChanSpy" "PJSIP/201-,bqESwx(#)"']  # 6 (barge) is not allowed: the session ends


def test_modes_without_listen_start_in_the_first_of_them_when_no_mode_is_given(tmp_path: Path) -> None:
    assert flow_errors(tmp_path, flow("modes: [whisper, barge]")) == []
    result, _ = call(tmp_path, ["4321", "201"], sessions=((3, "agent"),), options="modes: [whisper, barge]")
    spies = [c for c in commands(result) if c.startswith('EXEC "ChanSpy"')]
    assert spies == ['EXEC "ChanSpy" "PJSIP/201-,bqESwx(#)"']


@pytest.mark.parametrize("options, message", [
    ("mode: barge\n      modes: [listen]", "mode barge is not one of modes"),
    ("extensions: {pattern: '(', interface: 'PJSIP/{digits}'}", "invalid regular expression"),
    ("extensions: {pattern: '^2[0-9]{2}$', interface: 'IAX2/user:secret@pbx/{digits}'}",
     "extensions.interface: 'IAX2/user:secret@pbx/{digits}' names no interface"),
    ("extensions: {pattern: '^2[0-9]{2}$', interface: 'PJSIP/{digits},x'}",
     "extensions.interface: 'PJSIP/{digits},x' names no interface"),
])
def test_options_that_cannot_work_are_flow_errors(tmp_path: Path, options: str, message: str) -> None:
    text = flow(options).replace('      extensions: {pattern: "^2[0-9]{2}$", interface: "PJSIP/{digits}"}\n', "") \
        if "extensions" in options else flow(options)
    assert any(message in e for e in flow_errors(tmp_path, text)), flow_errors(tmp_path, text)


def test_an_agent_interface_that_could_break_the_arguments_is_refused(tmp_path: Path) -> None:
    assert flow_errors(tmp_path, flow().replace('"7": "Local/agent-ana@agents/n"', '"7": "PJSIP/1,x"'))


@pytest.mark.parametrize("interface, prefix, expression", [
    ("PJSIP/201", "PJSIP/201-", "${CHANNELS(^PJSIP/201-)}"),
    ("Local/agent-ana@agents/n", "Local/agent-ana@agents-", "${CHANNELS(^Local/agent-ana@agents-)}"),
    ("PJSIP/+34911.x", "PJSIP/+34911.x-", "${CHANNELS(^PJSIP/[+]34911[.]x-)}"),
])
def test_an_agents_channels_are_found_by_name(interface: str, prefix: str, expression: str) -> None:
    assert channel_prefix(interface) == prefix and channels_expression(interface) == expression


def test_keys_past_what_is_asked_never_reach_the_extension_pattern() -> None:
    """No Asterisk answers GET DATA with more keys than asked for; a peer
    that did had them matched against the pattern, for as long as a
    backtracking one took (for ever on 64 keys)."""
    node = SuperviseNode.from_config({"lists": ["boss"], "pin_prompt": "p", "agent_prompt": "a",
                                      "extensions": {"pattern": "^(2+)+3$", "interface": "PJSIP/{digits}"}})
    started = time.process_time()
    assert node.interface_of("2" * 64) is None
    assert time.process_time() - started < 1
    assert node.interface_of("23") == "PJSIP/23"


@pytest.mark.parametrize("step", [
    'supervise: {pin_prompt: enter-pin, agent_prompt: enter-agent, agents: {"7": PJSIP/201}}',
    'override: {pin_prompt: enter-pin, schedules: {"1": office_hours}, action_prompt: act, '
    'open_prompt: now-open, closed_prompt: now-closed}',
])
def test_a_supervisor_step_after_the_caller_hung_up_is_a_hangup_not_a_refusal(tmp_path: Path, step: str) -> None:
    text = f"""\
version: 1
name: spy
start: menu
steps:
  menu:
    menu: {{prompt: main, choices: {{"1": who}}}}
    on: {{hangup: who, timeout: who, invalid: who}}
  who:
    {step}
"""
    (tmp_path / "schedules.yaml").write_text(
        "version: 1\nschedules:\n  office_hours:\n    timezone: Europe/Madrid\n    hours: {mon-fri: '09:00-18:00'}\n")
    services = Services(lists=MemoryLists({"supervisors": [BOSS]}, "ES"),
                        supervisors=MemorySupervisors({BOSS: "4321"}))
    for caller in (BOSS, "+34600999888"):  # listed or not: nobody is left to let in or refuse
        result = run(tmp_path, text, caller=caller, services=services, hangup_after=0)
        assert path(result) == ["menu:hangup", "who:hangup"]
        assert "refused" not in details(result, "who")
        assert services.supervisors.audit_log == []  # type: ignore[union-attr]
