"""Application arguments built from templates, in every step that builds
them (exec, dial, queue, voicemail, consent's MixMonitor): text from the
caller stays inside the argument it was put in, or the step ends with
``error`` before anything reaches Asterisk.

What an application reads is taken from the command line the way Asterisk
does it: res_agi.c's parse_args, then AST_STANDARD_APP_ARGS (modelled in
agi/protocol/appargs.py and checked on a real Asterisk by tests/e2e)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agi.protocol import appargs
from agi.services import RecordingSettings, Services
from agi.sim.parse_args import parse_args
from agi.simulate import SimulationResult
from support.step_runner import cdr, commands, details, flow_errors, path, run

#: Caller IDs an attacker can send (the From header of a SIP call).
NASTY = ['x,1,U(evil),30', 'a"b', "a\\b", "a|b", "(x", "x]", "a,b,c"]
#: Inserted text that cannot be escaped.
UNESCAPABLE = ["sub^evil", "${SHELL(id)}", "$[1+1]"]


def one_step(step: str, on: str = "") -> str:
    return f"""\
version: 1
name: args
start: step
steps:
  step:
    {step}
    on: {{error: sorry{on}}}
  sorry:
    play: agiflow/try-later
"""


def app_reads(result: SimulationResult, app: str, declared: int = appargs.UNLIMITED) -> list[str]:
    """The arguments ``app`` read from the one EXEC of it."""
    [line] = [c for c in commands(result) if c.startswith(f'EXEC "{app}"')]
    verb, name, options = parse_args(line)
    assert (verb, name) == ("EXEC", app)
    return appargs.split(options, declared)


def refused(result: SimulationResult, app: str) -> str:
    """The step ended with error and sent no EXEC of ``app``: the error."""
    assert path(result)[0] == "step:error"
    assert not any(c.startswith(f'EXEC "{app}"') for c in commands(result))
    return str(details(result, "step")["error"])


def run_flow(tmp_path: Path, step: str, caller: str, **options: Any) -> SimulationResult:
    return run(tmp_path, one_step(step), caller=caller, **options)


# -- exec ----------------------------------------------------------------------

@pytest.mark.parametrize("caller", NASTY)
def test_an_exec_args_item_from_the_caller_is_one_argument(tmp_path: Path, caller: str) -> None:
    result = run_flow(tmp_path, 'exec: {app: Dial, args: ["PJSIP/{{ call.caller }}", 30, t]}', caller)
    assert app_reads(result, "Dial") == [f"PJSIP/{caller}", "30", "t"]


def test_the_issue_example_cannot_add_dial_options(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'exec: {app: Dial, args: ["PJSIP/{{ call.caller }}", 30]}', "x,1,U(evil),30")
    assert commands(result)[0] == 'EXEC "Dial" "PJSIP/x\\\\,1\\\\,U\\\\(evil\\\\)\\\\,30,30"'
    assert app_reads(result, "Dial", 4) == ["PJSIP/x,1,U(evil),30", "30"]


def test_written_exec_args_items_are_escaped_too(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'exec: {app: Dial, args: [PJSIP/100, 30, "U(sub^a,b)", ""]}', "600111222")
    assert commands(result)[0] == 'EXEC "Dial" "PJSIP/100,30,U\\\\(sub^a\\\\,b\\\\),"'
    assert app_reads(result, "Dial", 4) == ["PJSIP/100", "30", "U(sub^a,b)", ""]


@pytest.mark.parametrize("caller", NASTY)
def test_a_value_inserted_into_exec_options_stays_in_its_argument(tmp_path: Path, caller: str) -> None:
    result = run_flow(tmp_path, 'exec: {app: Dial, options: "PJSIP/{{ call.caller }},30,t"}', caller)
    assert app_reads(result, "Dial") == [f"PJSIP/{caller}", "30", "t"]


def test_text_written_in_exec_options_is_the_argument_string_as_written(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'exec: {app: Dial, options: "PJSIP/{{ call.caller }},30,U(sub^a\\\\,b)"}', "100")
    assert commands(result)[0] == 'EXEC "Dial" "PJSIP/100,30,U(sub^a\\\\,b)"'


@pytest.mark.parametrize("value", UNESCAPABLE)
@pytest.mark.parametrize("field", ["args: [\"{{ call.caller }}\"]", 'options: "x,{{ call.caller }}"'])
def test_exec_refuses_inserted_text_asterisk_would_evaluate_or_split(tmp_path: Path, field: str, value: str) -> None:
    result = run_flow(tmp_path, f"exec: {{app: Verbose, {field}}}", value)
    assert "inserted value" in refused(result, "Verbose")


def test_a_filter_result_is_an_inserted_value_too(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'exec: {app: Verbose, options: "1,{{ call.caller | lower }}"}', "A,B")
    assert app_reads(result, "Verbose") == ["1", "a,b"]
    result = run_flow(tmp_path, 'exec: {app: Verbose, options: "1,{{ call.caller ~ \'^\' }}"}', "a")
    assert "'^'" in refused(result, "Verbose")


# -- dial ----------------------------------------------------------------------

@pytest.mark.parametrize("caller", NASTY)
def test_a_dial_destination_from_the_caller_is_one_argument(tmp_path: Path, caller: str) -> None:
    result = run_flow(tmp_path, 'dial: {destination: "PJSIP/{{ call.caller }}", timeout: 20, options: t}', caller)
    assert app_reads(result, "Dial", 4) == [f"PJSIP/{caller}", "20", "t"]
    assert cdr(result, "dialled") == (f"PJSIP/{caller}",)


def test_an_inserted_ampersand_cannot_add_a_destination(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'dial: "PJSIP/{{ call.caller }}"', "100&Local/x@evil")
    assert "'&'" in refused(result, "Dial")


@pytest.mark.parametrize("step, app", [
    ('exec: {app: Dial, args: ["PJSIP/{{ call.caller }}@trunk", 30]}', "Dial"),
    ('exec: {app: dial, options: "PJSIP/{{ call.caller }}@trunk,30"}', "dial"),
    ('exec: {app: RetryDial, args: [agiflow/busy, 5, 3, "PJSIP/{{ call.caller }}"]}', "RetryDial"),
    ('exec: {app: Page, args: ["PJSIP/{{ call.caller }}"]}', "Page"),
    ('exec: {app: VoiceMail, args: ["{{ call.caller }}@default", u]}', "VoiceMail"),
    ('exec: {app: Exec, options: "Dial(PJSIP/{{ call.caller }})"}', "Exec"),
    ('exec: {app: ExecIf, args: ["$[1]?Dial(PJSIP/{{ call.caller }})"]}', "ExecIf"),
])
def test_an_inserted_ampersand_cannot_add_a_destination_or_mailbox_through_exec(
        tmp_path: Path, step: str, app: str) -> None:
    result = run_flow(tmp_path, step, "100&Local/x@evil")
    assert "'&'" in refused(result, app)


def test_an_inserted_ampersand_is_data_for_other_applications(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'exec: {app: Verbose, args: [1, "{{ call.caller }}"]}', "a&b")
    assert app_reads(result, "Verbose", 2) == ["1", "a&b"]


def test_a_written_ampersand_still_joins_destinations(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'dial: "PJSIP/100&PJSIP/{{ call.caller }}"', "200")
    assert app_reads(result, "Dial", 4) == ["PJSIP/100&PJSIP/200"]


@pytest.mark.parametrize("value", ["t)G(evil", "a,b", "x^y", 'a"b', "a\\b", "[x"] + UNESCAPABLE)
def test_dial_options_refuse_inserted_syntax(tmp_path: Path, value: str) -> None:
    result = run_flow(tmp_path, 'dial: {destination: PJSIP/100, options: "U(sub^{{ call.caller }})"}', value)
    assert "options: the inserted value" in refused(result, "Dial")


@pytest.mark.parametrize("options", ["t,30", "U(sub", 'A("x'])
def test_dial_options_that_would_swallow_or_start_an_argument_are_refused(tmp_path: Path, options: str) -> None:
    result = run_flow(tmp_path, f"dial: {{destination: PJSIP/100, options: '{{{{ call.caller }}}}{options}'}}", "t")
    assert refused(result, "Dial").startswith(f"options 't{options}' ")


@pytest.mark.parametrize("step", ["dial: {destination: PJSIP/100, options: 't,30'}", "queue: {name: q, options: 'b(sub'}",
                                  "voicemail: {mailbox: 1@default, options: 'u\"'}"])
def test_written_options_that_can_never_be_sent_fail_validation(tmp_path: Path, step: str) -> None:
    errors = flow_errors(tmp_path, one_step(step))
    assert len(errors) == 1 and "options" in errors[0], errors


def test_dial_options_with_an_inserted_plain_value_are_sent_as_written(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'dial: {destination: PJSIP/100, options: "tU(sub^{{ call.caller }})"}', "600")
    assert app_reads(result, "Dial", 4) == ["PJSIP/100", "", "tU(sub^600)"]


# -- queue and voicemail -------------------------------------------------------

@pytest.mark.parametrize("caller", NASTY)
def test_queue_arguments_from_the_caller_stay_in_their_place(tmp_path: Path, caller: str) -> None:
    step = ('queue: {name: "q{{ call.caller }}", url: "http://crm/?c={{ call.caller }}", '
            'announce: "x{{ call.caller }}", gosub: "sub,600", rule: "r{{ call.caller }}", '
            "timeout: 30, position: 2, options: t}")
    result = run_flow(tmp_path, step, caller, queue_statuses=["TIMEOUT"])
    assert app_reads(result, "Queue", 9) == [f"q{caller}", "t", f"http://crm/?c={caller}", f"x{caller}", "30", "",
                                             "sub,600", f"r{caller}", "2"]
    assert cdr(result, "queue") == (f"q{caller}",)


def test_a_queue_gosub_gets_an_inserted_plain_value_as_one_subroutine_argument(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'queue: {name: q, gosub: "sub,{{ call.caller }},fixed"}', "+34 600-111",
                      queue_statuses=["TIMEOUT"])
    assert app_reads(result, "Queue", 9)[6] == "sub,+34 600-111,fixed"


@pytest.mark.parametrize("value", [v for v in NASTY if v != "a|b"])
def test_a_queue_gosub_refuses_inserted_text_queue_and_gosub_would_split(tmp_path: Path, value: str) -> None:
    """Queue() cuts its gosub argument at the first comma into the context
    and the subroutine's arguments, and Gosub splits those again (commas,
    brackets, quotes, backslashes): a caller name ``x,1,U(evil),30`` in
    ``sub,{{ ... }}`` reached the agent's subroutine as four arguments
    (Asterisk 22.11). Such a value is refused, as in option letters."""
    result = run_flow(tmp_path, 'queue: {name: q, gosub: "sub,{{ call.caller }}"}', value)
    assert "gosub: the inserted value" in refused(result, "Queue")


@pytest.mark.parametrize("value", UNESCAPABLE)
def test_queue_refuses_inserted_text_asterisk_would_evaluate_or_split(tmp_path: Path, value: str) -> None:
    result = run_flow(tmp_path, 'queue: "{{ call.caller }}"', value)
    assert "queue name: the inserted value" in refused(result, "Queue")


@pytest.mark.parametrize("caller", NASTY)
def test_a_mailbox_from_the_caller_is_one_argument(tmp_path: Path, caller: str) -> None:
    result = run_flow(tmp_path, 'voicemail: {mailbox: "{{ call.caller }}@default", options: u}', caller)
    assert app_reads(result, "VoiceMail", 2) == [f"{caller}@default", "u"]


def test_an_inserted_ampersand_cannot_add_a_mailbox(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'voicemail: "{{ call.caller }}@default"', "100@default&200")
    assert "'&'" in refused(result, "VoiceMail")


# -- consent's MixMonitor ------------------------------------------------------

def test_a_recordings_folder_with_separators_reaches_mixmonitor_as_one_file_name(tmp_path: Path) -> None:
    services = Services(recordings=RecordingSettings(directory='/rec/a,b "c" (d)'))
    step = "consent: {policy: notify, notice: agiflow/recording-notice}"
    result = run(tmp_path, one_step(step, ", notified: sorry"), services=services)
    [file, options] = app_reads(result, "MixMonitor", 3)
    assert file.startswith('/rec/a,b "c" (d)/2') and options == "b"
    assert cdr(result, "recording") == (file,)


def recorded_after_consent(step: str) -> str:
    """A flow that takes consent (notify, record: false), then runs ``step``."""
    return f"""\
version: 1
name: args
start: consent
steps:
  consent:
    consent: {{policy: notify, notice: agiflow/recording-notice, record: false}}
    on: {{notified: step}}
  step:
    {step}
    on: {{error: sorry}}
  sorry:
    play: agiflow/try-later
"""


#: Caller IDs that would put a recording outside the folder the flow names.
CLIMBING = ["../../../../etc/asterisk/extensions", "a/../../b", "..", ".hidden", "x/y"]


@pytest.mark.parametrize("caller", CLIMBING)
@pytest.mark.parametrize("step, app", [
    ('exec: {app: MixMonitor, args: ["/var/spool/asterisk/monitor/{{ call.caller }}.wav", b]}', "MixMonitor"),
    ('exec: {app: mixmonitor, options: "/var/spool/asterisk/monitor/{{ call.caller }}/x.wav,b"}', "mixmonitor"),
    ('exec: {app: Record, args: ["/var/spool/asterisk/monitor/{{ call.caller }}.wav", 3, 60]}', "Record"),
    ('exec: {app: Exec, options: "MixMonitor(/var/spool/asterisk/monitor/{{ call.caller }}.wav)"}', "Exec"),
])
def test_a_recording_file_name_from_the_caller_cannot_leave_its_folder(
        tmp_path: Path, caller: str, step: str, app: str) -> None:
    result = run(tmp_path, recorded_after_consent(step), caller=caller)
    assert path(result)[:2] == ["consent:notified", "step:error"]
    assert not any(c.startswith(f'EXEC "{app}"') for c in commands(result))
    assert "inserted value" in str(details(result, "step")["error"])


def test_a_recording_file_name_from_the_caller_with_no_slash_or_leading_dot_is_recorded(tmp_path: Path) -> None:
    step = 'exec: {app: MixMonitor, args: ["/var/spool/asterisk/monitor/{{ call.caller }}.wav", b]}'
    result = run(tmp_path, recorded_after_consent(step), caller="600111222")
    assert app_reads(result, "MixMonitor", 3) == ["/var/spool/asterisk/monitor/600111222.wav", "b"]
    assert cdr(result, "recording_commands") == (1,)


def test_a_slash_inserted_into_an_application_that_records_nothing_is_data(tmp_path: Path) -> None:
    result = run_flow(tmp_path, 'exec: {app: Verbose, args: [1, "{{ call.caller }}"]}', "../a/b")
    assert app_reads(result, "Verbose", 2) == ["1", "../a/b"]


# -- AGI command arguments -----------------------------------------------------

@pytest.mark.parametrize("caller", NASTY + ["a&b", "x y"])
def test_set_and_play_send_caller_text_as_one_agi_argument(tmp_path: Path, caller: str) -> None:
    result = run_flow(tmp_path, 'set: {variables: {WHO: "{{ call.caller }}"}}\n    next: say\n  say:\n'
                      '    play: "x/{{ call.caller }}"', caller)
    lines = [parse_args(c) for c in commands(result)]
    assert ["SET", "VARIABLE", "WHO", caller] in lines
    assert ["STREAM", "FILE", f"x/{caller}", ""] in lines
    assert result.variables["WHO"] == caller
