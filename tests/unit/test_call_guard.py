"""The channel's compliance guard at run time: once a do-not-call check says
``listed`` or ``error``, nothing that can place a call is sent for the rest
of the call, whatever the flow says; no recording command is sent without
consent. The flows here are built without the library's path checks
(``flow_from_document``), as a flow the validator missed would be, and run
through the simulated Asterisk."""
from __future__ import annotations

import io
import json
import logging
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from agi.loading.loader import flow_from_document, load_flows
from agi.call_guard import CallGuard, app_kinds
from agi.channel import Channel, CommandRefused
from agi.engine.model import FlowSet
from agi.lists.admin import ListAdmin
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.lists.store import SqliteNumberLists
from agi.loading.yamlio import load_yaml
from agi.protocol.wire import CommandError
from agi.services import Services
from agi.storage.callbacks import MemoryCallbackRequests
from agi.sim import SimTransport, SimulatedAsterisk, run_sync
from agi.simulate import SimulationResult, simulate

AT = datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc)
LISTED_NUMBER = "600111222"
CLEAR_NUMBER = "612345678"


@pytest.fixture
def lists(tmp_path: Path) -> Services:
    path = tmp_path / "lists.db"
    with ListAdmin(path) as admin:
        admin.import_entries("robinson", read_entries(io.StringIO(f"{LISTED_NUMBER},asked\n"), Normaliser("ES"),
                                                      ReadReport()))
    return Services(lists=SqliteNumberLists(path, "ES"), default_region="ES")


def unchecked(*texts: str) -> FlowSet:
    """Flows built one by one, without the library's compliance checks."""
    flows = {}
    for number, text in enumerate(texts):
        flow, errors = flow_from_document(load_yaml(textwrap.dedent(text)), f"f{number}.yaml", {})
        assert flow is not None, errors
        flows[flow.name] = flow
    return FlowSet(flows)


def call(flows: FlowSet, name: str, services: Services | None = None, **options: Any) -> SimulationResult:
    options.setdefault("caller", "600000001")
    flow = flows.get(name)
    assert flow is not None
    return simulate(flow, flows, at=AT, services=services or Services(), **options)


def sent(result: SimulationResult) -> list[str]:
    return [e.command for e in result.exchanges]


def path(result: SimulationResult) -> list[str]:
    return [f"{s['step']}:{s['outcome']}" for s in result.steps]


def details(result: SimulationResult, step: str) -> dict[str, Any]:
    [row] = [s for s in result.steps if s["step"] == step]
    return dict(json.loads(row["details"]))


CAMPAIGN = """\
version: 1
name: campaign
start: dnc
steps:
  dnc:
    robinson: {list: robinson%s}
    on: {clear: call, listed: handover, error: handover}
  call:
    dial: "PJSIP/{{ call.called }}@trunk"
  handover:
    goto: dialer
"""
DIALER = """\
version: 1
name: dialer
start: again
steps:
  again:
    %s
"""


#: A dialer flow that checks a clear number again, then dials it.
RECHECK = """\
version: 1
name: dialer
start: dnc2
steps:
  dnc2:
    robinson: {list: robinson, number: "612345678"}
    on: {clear: call}
  call:
    dial: PJSIP/612345678@trunk
"""


def campaign(options: str = "", dialer: str = 'dial: "PJSIP/{{ call.called }}@backup"') -> FlowSet:
    return unchecked(CAMPAIGN % options, DIALER % dialer)


# -- do-not-call ------------------------------------------------------------------------

def test_a_listed_number_is_never_dialled_even_by_another_flow_after_a_goto(
        lists: Services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "agiflow.call")
    result = call(campaign(), "campaign", lists, called=LISTED_NUMBER)
    assert path(result) == ["dnc:listed", "handover:transfer", "again:error"]
    assert not [c for c in sent(result) if c.startswith("EXEC")]
    message = ("Dial refused: a do-not-call check of this call said listed; nothing that can place a call is "
               "sent for the rest of the call")
    assert details(result, "again")["error"] == message
    assert (result.call["robinson"], result.call["refused_commands"]) == ("listed", "Dial (do-not-call)")
    assert result.call["status"] == "error"
    assert any(r.levelno == logging.WARNING and message in r.getMessage() and result.call["call_id"] in r.getMessage()
               for r in caplog.records)


def test_a_check_that_fails_blocks_every_later_dial(tmp_path: Path) -> None:
    result = call(campaign(), "campaign", Services(lists=None), called=CLEAR_NUMBER)
    assert path(result) == ["dnc:error", "handover:transfer", "again:error"]
    assert "said error" in details(result, "again")["error"]
    assert result.call["refused_commands"] == "Dial (do-not-call)"


@pytest.mark.parametrize("step, app", [("queue: support", "Queue"),
                                       ("exec: {app: dIaL, options: PJSIP/100}", "dIaL"),
                                       ("exec: {app: ORIGINATE, options: 'PJSIP/100,exten,ctx,s,1'}", "ORIGINATE"),
                                       ("exec: {app: Gosub, options: 'dial-sub,s,1'}", "Gosub"),
                                       ("exec: {app: Page, options: PJSIP/100}", "Page")])
def test_no_application_that_can_place_a_call_is_sent_after_a_hit_in_any_case(
        lists: Services, step: str, app: str) -> None:
    result = call(campaign(dialer=step), "campaign", lists, called=LISTED_NUMBER)
    assert path(result)[-1] == "again:error"
    assert not [c for c in sent(result) if c.startswith("EXEC")]
    assert result.call["refused_commands"] == f"{app} (do-not-call)"


def test_a_clear_number_is_dialled_and_nothing_is_refused(lists: Services) -> None:
    result = call(campaign(), "campaign", lists, called=CLEAR_NUMBER)
    assert path(result) == ["dnc:clear", "call:answer"]
    assert 'EXEC "Dial" "PJSIP/612345678@trunk"' in sent(result)
    assert (result.call["refused_commands"], result.call["recording_commands"]) == (None, 0)


def test_a_number_other_than_the_one_checked_is_not_dialled(lists: Services) -> None:
    """The flow checks the number called, then asks for another and dials it:
    the check covered only the first."""
    flows = unchecked(CAMPAIGN.replace("  call:\n", "  ask:\n    input: {prompt: enter-number, "
                                       "max_digits: 9, variable: TARGET}\n    next: call\n  call:\n")
                      .replace("clear: call", "clear: ask")
                      .replace('dial: "PJSIP/{{ call.called }}@trunk"', 'dial: "PJSIP/{{ vars.TARGET }}@trunk"')
                      % "", DIALER % "hangup:")
    result = call(flows, "campaign", lists, called=CLEAR_NUMBER, dtmf=[LISTED_NUMBER])
    assert path(result)[:3] == ["dnc:clear", "ask:next", "call:error"]
    assert not any("Dial" in command for command in sent(result))
    assert f"it calls {LISTED_NUMBER}, which no do-not-call check of this call covered" in \
        details(result, "call")["error"]
    assert result.call["refused_commands"] == "Dial (do-not-call)"


@pytest.mark.parametrize("destination, refused", [
    ("PJSIP/612345678@trunk,30", False),
    ("PJSIP/0034612345678@trunk,30,D(w12345678#)", False),  # the options are no destination
    ("SIP/+34612345678", False),
    ("PJSIP/operator,30", False),  # no phone number: an agent, an extension
    ("PJSIP/1001&PJSIP/612345678@trunk", False),
    ("PJSIP/612345679@trunk,30", True),
    ("PJSIP/612345678@trunk&PJSIP/600111222@trunk", True),
    ("PJSIP/${CALLERID(num)}@trunk,30", True),  # with AGIEXECFULL=yes Asterisk builds the number
    ("PJSIP/$[${N} + 1]@trunk", True),
    # visual separators: a trunk that drops them calls the number
    ("PJSIP/612-345-678@trunk,30", False),
    ("PJSIP/(612) 345.678@trunk", False),
    ("PJSIP/600-111-222@trunk,30", True),
    ("PJSIP/600.111.222@trunk", True),
    ("PJSIP/+34 600 11 12 22@trunk", True),
    ("PJSIP/trunk/sip:612345678@192.168.100.200:5060", False),  # the host's address is no number
    ("PJSIP/trunk/sip:600111222@192.168.100.200", True),
    # four groups of digits are an address only as a host (after @) and
    # only with parts up to 255: a landline written 91.123.45.67 is a number
    ("PJSIP/91.123.45.67@trunk", True),
    ("PJSIP/34.600.111.222@trunk", True),
    ("PJSIP/612345678@600.111.222.333", True),
    ("IAX2/guest@10.0.0.1/612345678", False),
    # a SIP URI's user part may escape its characters: PJSIP reads %31 as 1 and calls the number
    ("PJSIP/trunk/sip:600%31%311222@carrier.example", True),
    ("PJSIP/trunk/sip:%36%30%30%31%31%31%32%32%32@carrier.example", True),
    ("PJSIP/trunk/sip:%2B34612345678@carrier.example", False),
    ("PJSIP/trunk/sip:612%33%34%35678@carrier.example;user=phone", False),
])
def test_after_a_clear_check_only_the_number_checked_may_be_called(destination: str, refused: bool) -> None:
    guard = CallGuard()
    assert guard.admit("EXEC", ("Dial", "PJSIP/600111222@trunk")) is None, "no check yet: nothing compared"
    guard.check_started()
    guard.check_result("clear", "+34612345678", Normaliser("ES").number)
    assert (guard.admit("EXEC", ("Dial", destination)) is not None) is refused
    assert guard.admit("EXEC", ("Transfer", "PJSIP/699999999@trunk")) is not None
    assert guard.admit("EXEC", ("RetryDial", "agiflow/busy,5,3,PJSIP/612345678@trunk")) is None
    assert guard.admit("EXEC", ("Queue", "support")) is None
    assert guard.admit("EXEC", ("ParkAndAnnounce", ",,PARKED,PJSIP/612345678@trunk")) is None
    assert guard.admit("EXEC", ("ParkAndAnnounce", ",,PARKED,PJSIP/699999999@trunk")) is not None
    assert guard.admit("EXEC", ("AddQueueMember", "support,PJSIP/612345678@trunk")) is None
    # Originate's new channel runs the application it names with the data given: an Originate
    # of Dial calls what that Dial would, as an Exec of it does
    assert guard.admit("EXEC", ("Originate", "PJSIP/201,app,Dial,PJSIP/612345678@trunk")) is None
    assert guard.admit("EXEC", ("Originate", "PJSIP/201,app,Dial,PJSIP/699999999@trunk\\,30,30")) is not None
    assert guard.admit("EXEC", ("Originate", "PJSIP/201,APP,Exec,Dial(PJSIP/699999999@trunk)")) is not None
    assert guard.admit("EXEC", ("Originate", "PJSIP/201,exten,Dial,s")) is None  # type exten: Dial is a context
    assert guard.admit("EXEC", ("AddQueueMember", "support,PJSIP/699999999@trunk,0")) is not None
    # an Exec of Dial calls what its Dial would
    assert (guard.admit("EXEC", ("Exec", f"Dial({destination})")) is not None) is refused
    assert guard.admit("EXEC", ("ExecIf", "$[${X}=1]?Dial(PJSIP/612345678@trunk):Dial(PJSIP/699999999@t)")) \
        is not None
    assert guard.admit("EXEC", ("ExecIf", "1,Dial,PJSIP/699999999@trunk")) is not None  # ExecIf(expr,app,args)
    assert guard.admit("EXEC", ("ExecIf", '$["?"="?"]?Dial(PJSIP/699999999@trunk)')) is not None


def test_a_checked_number_covers_its_national_form_with_its_trunk_prefix() -> None:
    """France writes +33612345678 nationally as 06 12 34 56 78: a flow that
    checks the national number a dialer sent and dials it as it came dials
    the number it checked. Another national number is still refused."""
    guard = CallGuard()
    guard.check_started()
    guard.check_result("clear", "+33612345678", Normaliser("FR").number)
    assert guard.admit("EXEC", ("Dial", "PJSIP/0612345678@trunk,45")) is None
    assert guard.admit("EXEC", ("Dial", "PJSIP/0033612345678@trunk")) is None
    assert guard.admit("EXEC", ("Dial", "PJSIP/0612345679@trunk")) is not None
    assert guard.admit("EXEC", ("Dial", "PJSIP/0712345678@trunk")) is not None


@pytest.mark.parametrize("checked", ["100", "12", "s"])
def test_a_check_of_what_is_no_phone_number_covers_no_number(checked: str) -> None:
    """With on_error: allow, a check of an extension or a short code lets the
    call through as unchecked; its digits are no phone number (fewer than 7),
    so they cover no destination: 600111100 does not end like a checked
    number because it ends in 100."""
    guard = CallGuard()
    guard.check_started()
    guard.check_result("unchecked", checked, Normaliser("ES").number)
    assert guard.admit("EXEC", ("Dial", "PJSIP/600111100@trunk")) is not None
    assert guard.admit("EXEC", ("Dial", "PJSIP/600111112@trunk")) is not None
    assert guard.admit("EXEC", ("Dial", "PJSIP/operator")) is None


def test_no_callback_request_is_taken_after_a_hit(lists: Services) -> None:
    """A request is dialled later by ``agiflow callbacks dial``, which may
    check other lists: after a hit the call leaves none."""
    flows = unchecked((CAMPAIGN % "").replace("listed: handover", "listed: later") + """\
  later:
    callback: {confirm: cb-confirm, enter: cb-enter}
""", DIALER % "hangup:")
    collector = MemoryCallbackRequests()
    services = Services(lists=lists.lists, callbacks=collector, default_region="ES")
    result = call(flows, "campaign", services, called=LISTED_NUMBER, dtmf=["1"])
    assert path(result) == ["dnc:listed", "later:error"]
    assert "no callback request: a do-not-call check of this call said listed" in details(result, "later")["error"]
    assert collector.rows == [] and not [c for c in sent(result) if c.startswith("GET DATA")]


def test_on_error_allow_lets_an_unchecked_number_be_dialled(tmp_path: Path) -> None:
    result = call(campaign(", on_error: allow"), "campaign", Services(lists=None), called=CLEAR_NUMBER)
    assert path(result) == ["dnc:clear", "call:answer"]
    assert result.call["robinson"] == "unchecked" and result.call["refused_commands"] is None


def test_a_check_that_never_finishes_blocks_dials(lists: Services) -> None:
    flows = unchecked((CAMPAIGN % ', number: "{{ vars.MISSING }}"').replace("listed: handover", "listed: call"),
                      DIALER % "hangup:")
    result = call(flows, "campaign", lists, called=CLEAR_NUMBER)
    assert path(result) == ["dnc:error", "handover:transfer", "again:done"]
    flows = unchecked((CAMPAIGN % ', number: "{{ vars.MISSING }}"').replace("error: handover", "error: call"),
                      DIALER % "hangup:")
    result = call(flows, "campaign", lists, called=CLEAR_NUMBER)
    assert path(result) == ["dnc:error", "call:error"]
    assert "a do-not-call check of this call said error" in details(result, "call")["error"]


def test_a_later_check_that_says_clear_does_not_lift_the_block(lists: Services) -> None:
    result = call(unchecked(CAMPAIGN % "", RECHECK), "campaign", lists, called=LISTED_NUMBER)
    assert path(result) == ["dnc:listed", "handover:transfer", "dnc2:clear", "call:error"]
    assert not [c for c in sent(result) if c.startswith("EXEC")]


# -- consent ----------------------------------------------------------------------------

CARE = """\
version: 1
name: care
timezone: Europe/Madrid
start: consent
steps:
  consent:
    consent: {notice: n, ask: q, record: false}
    on: {accepted: sneak, declined: sneak}
  sneak:
    exec: {app: %s, options: "/rec/call.wav,b"}
    next: bye
  bye:
    play: bye
"""


@pytest.mark.parametrize("app", ["MixMonitor", "mixmonitor", "MONITOR", "Record", "Dictate"])
def test_a_declined_caller_is_never_recorded_whatever_the_flow_says(app: str) -> None:
    result = call(unchecked(CARE % app), "care", dtmf=["2"])
    assert path(result) == ["consent:declined", "sneak:error"]
    assert not [c for c in sent(result) if c.startswith("EXEC")]
    assert details(result, "sneak")["error"] == f"{app} refused: recording needs consent and the caller did not consent"
    assert (result.call["consent"], result.call["recording_commands"], result.call["refused_commands"]) == \
        ("declined", 0, f"{app} (no consent)")


def test_an_accepting_caller_may_be_recorded_by_a_later_step_and_it_is_counted() -> None:
    result = call(unchecked(CARE % "MixMonitor"), "care", dtmf=["1"])
    assert path(result) == ["consent:accepted", "sneak:next", "bye:next"]
    assert 'EXEC "MixMonitor" "/rec/call.wav,b"' in sent(result)
    assert (result.call["recording_commands"], result.call["refused_commands"]) == (1, None)


def test_the_consent_steps_own_recording_is_counted() -> None:
    result = call(unchecked((CARE % "Wait").replace(", record: false", "")), "care", dtmf=["1"])
    assert result.call["recording"] and result.call["recording_commands"] == 1


def test_default_accepted_is_the_flows_policy_so_no_answer_may_be_recorded() -> None:
    result = call(unchecked((CARE % "MixMonitor").replace("record: false", "record: false, default: accepted")),
                  "care")
    assert path(result) == ["consent:accepted", "sneak:next", "bye:next"]
    assert (result.call["consent"], result.call["recording_commands"]) == ("no_answer", 1)


def test_a_flow_without_consent_records_nothing() -> None:
    flows = unchecked("""\
        version: 1
        name: sneaky
        start: record
        steps:
          record:
            exec: {app: MixMonitor, options: "{{ call.id }}.wav,b"}
        """)
    result = call(flows, "sneaky")
    assert path(result) == ["record:error"]
    assert details(result, "record")["error"] == "MixMonitor refused: recording needs consent and no consent step has run"


@pytest.mark.parametrize("step", ["dial: {destination: PJSIP/agent, options: \"{{ vars.get('OPTS', 'tx') }}\"}",
                                  "queue: {name: support, options: \"{{ vars.get('OPTS', 'X') }}\"}"])
def test_one_touch_recording_options_a_template_gives_need_consent(step: str) -> None:
    """Dial's or Queue's x or X, given by a template the validator cannot
    read, would let a party record the call with a key: refused with no
    consent, sent nothing."""
    flows = unchecked(f"""\
        version: 1
        name: sneaky
        start: talk
        steps:
          talk:
            {step}
        """)
    result = call(flows, "sneaky")
    assert path(result) == ["talk:error"]
    assert "recording needs consent" in details(result, "talk")["error"]
    assert not any(line.startswith(("EXEC \"Dial\"", "EXEC \"Queue\"")) for line in sent(result))
    assert result.call["refused_commands"] in ("Dial (no consent)", "Queue (no consent)")


def test_a_recording_run_through_exec_needs_consent_and_is_counted() -> None:
    """Exec(MixMonitor(...)) is a recording command: refused without consent
    (it was sent, and not even counted), counted with it."""
    text = """\
        version: 1
        name: sneaky
        start: record
        steps:
          record:
            exec: {app: Exec, options: "MixMonitor({{ call.id }}.wav)"}
            on: {error: again}
          again:
            exec: {app: ExecIf, options: "1?Record(x.wav)"}
        """
    result = call(unchecked(text), "sneaky")
    assert path(result) == ["record:error", "again:error"]
    assert not [e.command for e in result.exchanges if e.command.startswith("EXEC")]
    assert result.call["refused_commands"] == "Exec (no consent), ExecIf (no consent)"
    assert result.call["recording_commands"] == 0
    consented = text.replace("start: record", "start: consent").replace(
        "        steps:\n", "        steps:\n          consent:\n            consent: {policy: notify, notice: n, "
                            "record: false}\n            on: {notified: record}\n")
    result = call(unchecked(consented), "sneaky")  # sent; the simulator has no Exec (-2)
    assert path(result) == ["consent:notified", "record:error", "again:next"]
    assert (result.call["recording_commands"], result.call["refused_commands"]) == (2, None)


def test_a_withdrawn_consent_stops_later_recordings() -> None:
    flows = unchecked("""\
        version: 1
        name: twice
        timezone: Europe/Madrid
        start: first
        steps:
          first:
            consent: {notice: n, ask: q}
            on: {accepted: second, declined: second}
          second:
            consent: {notice: n, ask: q}
            on: {accepted: again, declined: again}
          again:
            exec: {app: MixMonitor, options: "x.wav"}
        """)
    result = call(flows, "twice", dtmf=["1", "2"])
    assert path(result) == ["first:accepted", "second:declined", "again:error"]
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == ["MixMonitor", "StopMixMonitor"]
    assert (result.call["recording_commands"], result.call["refused_commands"]) == (1, "MixMonitor (no consent)")


WITHDRAWN = """\
version: 1
name: withdrawn
start: first
steps:
  first:
    consent: {notice: n, ask: q, record: false}
    on: {accepted: record, declined: bye}
  record:
    exec: {app: MixMonitor, args: ["{{ call.id }}.wav", b]}
    next: second
  second:
    consent: %s
    on: {%s: bye}
  bye:
    play: beep
"""


@pytest.mark.parametrize(("second", "outcome"), [("{notice: n, ask: q}", "declined"), ("{policy: never}", "never")])
def test_a_withdrawn_consent_stops_a_recording_an_exec_started(second: str, outcome: str) -> None:
    """The pattern of steps.md's exec example (consent with ``record: false``,
    then an ``exec`` of MixMonitor): a later consent that ends declined or
    ``never`` stops that recording too, before the flow goes on."""
    result = call(unchecked(WITHDRAWN % (second, outcome)), "withdrawn", dtmf=["1", "2"])
    assert path(result) == ["first:accepted", "record:next", f"second:{outcome}", "bye:next"]
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == ["MixMonitor", "StopMixMonitor"]
    assert details(result, "second")["stopped_recording"] == f"{result.call['call_id']}.wav"
    assert sent(result).index('EXEC "StopMixMonitor" ""') < sent(result).index('STREAM FILE "beep" ""')


@pytest.mark.parametrize("notice", ["rec/{{ 1 // (vars.get('Z', '0') | int) }}", "rec/{{ 'a\\nb' }}"])
def test_a_later_consent_that_fails_stops_the_earlier_recording(notice: str) -> None:
    """A later consent step whose notice template fails, or renders what
    cannot be sent, ends with error: the caller could not answer, so the
    recording an earlier consent started is stopped, as for a notice that
    cannot be played (it ran on, with the CDR's consent at no_answer)."""
    flows = unchecked("""\
        version: 1
        name: failing
        start: first
        steps:
          first:
            consent: {notice: n, ask: q}
            on: {accepted: second}
          second:
            consent: {notice: "%s", ask: q}
            on: {error: bye}
          bye:
            play: beep
        """ % notice)
    result = call(flows, "failing", dtmf=["1"])
    assert path(result) == ["first:accepted", "second:error", "bye:next"]
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == ["MixMonitor", "StopMixMonitor"]
    assert details(result, "second")["stopped_recording"] == result.call["recording"]
    assert result.call["consent"] == "no_answer"


def test_a_withdrawn_consent_stops_every_recording_running_not_only_one() -> None:
    """The consent step's MixMonitor and an exec's both record the call;
    StopMixMonitor without an id stops one MixMonitor of the channel
    (app_mixmonitor.c), so a withdrawal sends it once for each: one alone
    left the other recording after the caller declined."""
    flows = unchecked(WITHDRAWN.replace("record: false", "record: true") % ("{notice: n, ask: q}", "declined"))
    result = call(flows, "withdrawn", dtmf=["1", "2"])
    assert path(result) == ["first:accepted", "record:next", "second:declined", "bye:next"]
    recording = result.call["recording"]
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == [
        "MixMonitor", "MixMonitor", "StopMixMonitor", "StopMixMonitor"]
    assert details(result, "second")["stopped_recording"] == f"{recording}, {result.call['call_id']}.wav"
    assert sent(result).index('STREAM FILE "beep" ""') > max(
        i for i, c in enumerate(sent(result)) if c == 'EXEC "StopMixMonitor" ""')
    again = call(unchecked(WITHDRAWN.replace("record: false", "record: true").replace(
        "    on: {%s: bye}", "    on: {%s: third}\n  third:\n    consent: {policy: never}\n    on: {never: bye}")
        % ("{notice: n, ask: q}", "declined")), "withdrawn", dtmf=["1", "2"])
    assert [c.split('"')[1] for c in sent(again) if c.startswith("EXEC")].count("StopMixMonitor") == 2
    assert "stopped_recording" not in details(again, "third")  # nothing was left to stop


@pytest.mark.parametrize(("app", "options"), [("Exec", "MixMonitor(extra.wav,b)"),
                                              ("TryExec", "MixMonitor(extra.wav,b)"),
                                              ("ExecIf", "1?MixMonitor(extra.wav,b)"),
                                              ("Exec", "Exec(MixMonitor(extra.wav,b))")])
def test_a_withdrawn_consent_stops_a_recording_an_exec_of_exec_started(app: str, options: str) -> None:
    """``Exec(MixMonitor(...))`` records as an exec of MixMonitor does (it
    needs consent and is counted), so a withdrawal stops it too: with one
    StopMixMonitor, Asterisk stopped the newest (the Exec's) and the
    consent's recording went on after the caller declined."""
    flows = unchecked(WITHDRAWN.replace("record: false", "record: true").replace(
        'exec: {app: MixMonitor, args: ["{{ call.id }}.wav", b]}', f'exec: {{app: {app}, options: "{options}"}}')
        % ("{notice: n, ask: q}", "declined"))
    result = call(flows, "withdrawn", dtmf=["1", "2"], app_results={app: 0})
    assert path(result) == ["first:accepted", "record:next", "second:declined", "bye:next"]
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == [
        "MixMonitor", app, "StopMixMonitor", "StopMixMonitor"]
    assert details(result, "second")["stopped_recording"] == f"{result.call['recording']}, extra.wav"


@pytest.mark.parametrize(("second", "outcome"), [("{notice: n, ask: q}", "declined"), ("{policy: never}", "never")])
@pytest.mark.parametrize("talk", ["{app: Dial, args: [PJSIP/agent, 30, tx]}", "{app: Queue, args: [support, X]}",
                                  '{app: Exec, options: "Dial(PJSIP/agent,30,x)"}'])
def test_a_withdrawn_consent_stops_what_one_touch_recording_may_have_started(
        talk: str, second: str, outcome: str) -> None:
    """After a Dial or Queue with one-touch recording (x, X...), a party may
    have started a MixMonitor of the call with a key, which goes on after
    the bridge: a later consent that ends declined or never sends one
    StopMixMonitor for it too, and a consent given again still starts its
    own recording."""
    flows = unchecked(WITHDRAWN.replace('{app: MixMonitor, args: ["{{ call.id }}.wav", b]}', talk)
                      % (second, outcome))
    app = talk.split(",")[0].split(": ")[1]
    result = call(flows, "withdrawn", dtmf=["1", "2"], app_results={app: 0})
    assert path(result) == ["first:accepted", "record:next", f"second:{outcome}", "bye:next"]
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == [app, "StopMixMonitor"]
    assert details(result, "second")["stopped_one_touch"] == app
    again = unchecked(WITHDRAWN.replace('{app: MixMonitor, args: ["{{ call.id }}.wav", b]}', talk)
                      % ("{policy: notify, notice: n}", "notified"))
    result = call(again, "withdrawn", dtmf=["1"], app_results={app: 0})
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == [app, "MixMonitor"]


#: Consent, a pause of the recording (an exec) for a card number, then consent again to resume it.
PAUSED_FOR_A_CARD = """\
    version: 1
    name: pci
    start: consent
    steps:
      consent:
        consent: {notice: n, ask: q}
        on: {accepted: pause}
      pause:
        exec: %s
        next: resume
      resume:
        consent: {policy: notify, notice: resumed}
        on: {notified: bye}
      bye:
        play: beep
    """


def test_an_exec_of_stopmixmonitor_stops_the_newest_recording() -> None:
    """``Exec(StopMixMonitor())`` stops the newest recording as a
    StopMixMonitor does: a consent given again starts a new one."""
    flows = unchecked(PAUSED_FOR_A_CARD % "{app: Exec, options: StopMixMonitor()}")
    result = call(flows, "pci", dtmf=["1"], app_results={"Exec": 0})
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == ["MixMonitor", "Exec", "MixMonitor"]
    assert "already_recording" not in details(result, "resume")


def test_an_exec_of_mixmonitor_that_failed_is_no_recording_to_stop() -> None:
    """Exec answers what the application it ran answered: an Exec of a
    MixMonitor that answered -1 started no recording."""
    flows = unchecked(WITHDRAWN.replace(
        'exec: {app: MixMonitor, args: ["{{ call.id }}.wav", b]}', 'exec: {app: Exec, options: "MixMonitor()"}')
        % ("{notice: n, ask: q}", "declined"))
    result = call(flows, "withdrawn", dtmf=["1", "2"], app_results={"Exec": -1})
    assert "StopMixMonitor" not in [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")]


def test_a_consent_after_the_flow_stopped_the_recording_starts_a_new_one() -> None:
    """A flow that pauses the recording for a card number (an exec of
    StopMixMonitor), then takes consent again to resume it: no recording
    runs any more, so the second consent starts one (it once took the
    stopped recording for a running one and recorded nothing)."""
    flows = unchecked(PAUSED_FOR_A_CARD % "{app: StopMixMonitor}")
    result = call(flows, "pci", dtmf=["1"])
    assert path(result) == ["consent:accepted", "pause:next", "resume:notified", "bye:next"]
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == [
        "MixMonitor", "StopMixMonitor", "MixMonitor"]
    assert "already_recording" not in details(result, "resume")
    assert result.call["recording_commands"] == 2


def test_a_recording_resumed_in_the_same_second_gets_a_file_of_its_own() -> None:
    """The file is named from the second consent was given; MixMonitor
    truncates a file it is given again (app_mixmonitor.c opens it with
    O_TRUNC), so a recording paused and resumed within one second wrote
    over the first part. The second file of the call in one second ends
    with ``-2``."""
    flows = unchecked("""\
        version: 1
        name: quick
        start: consent
        steps:
          consent:
            consent: {policy: notify, notice: n}
            on: {notified: pause}
          pause:
            exec: {app: StopMixMonitor}
            next: resume
          resume:
            consent: {policy: notify, notice: n}
            on: {notified: bye}
          bye:
            play: beep
        """)
    result = call(flows, "quick")
    files = [c.split('"')[3].split(",")[0] for c in sent(result) if c.startswith('EXEC "MixMonitor"')]
    assert len(files) == 2 and files[0].endswith(".wav")
    assert files[1] == files[0].removesuffix(".wav") + "-2.wav"
    assert (details(result, "consent")["recording"], details(result, "resume")["recording"]) == tuple(files)
    assert result.call["recording"] == files[1]


def test_a_stopmixmonitor_without_an_id_stops_the_recording_started_last() -> None:
    """StopMixMonitor without an id stops the channel's newest MixMonitor
    (Asterisk 22 finds a channel's datastores newest first): after the
    consent's recording and an exec's, it stops the exec's, so the consent's
    still runs when consent is given again, and a withdrawal stops it. The
    details named the exec's file as the one running, then as the one stopped."""
    flows = unchecked("""\
        version: 1
        name: paused
        start: consent
        steps:
          consent:
            consent: {notice: n, ask: q}
            on: {accepted: second}
          second:
            exec: {app: MixMonitor, args: ["second-{{ call.id }}.wav"]}
            next: pause
          pause:
            exec: {app: StopMixMonitor}
            next: resume
          resume:
            consent: {policy: notify, notice: resumed}
            on: {notified: withdraw}
          withdraw:
            consent: {policy: never}
            on: {never: bye}
          bye:
            play: beep
        """)
    result = call(flows, "paused", dtmf=["1"])
    assert path(result) == ["consent:accepted", "second:next", "pause:next", "resume:notified", "withdraw:never",
                            "bye:next"]
    recording = result.call["recording"]
    assert details(result, "resume")["recording"] == recording
    assert details(result, "resume")["already_recording"] is True
    assert details(result, "withdraw")["stopped_recording"] == recording
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == [
        "MixMonitor", "MixMonitor", "StopMixMonitor", "StopMixMonitor"]


def test_a_stopmixmonitor_with_an_id_leaves_the_recording_to_a_withdrawal() -> None:
    """StopMixMonitor with an id stops only the recording of that id, if
    any (one sent as written, ``${MID}``, matches none): the recording the
    consent started is still stopped when the caller withdraws."""
    flows = unchecked("""\
        version: 1
        name: byid
        start: consent
        steps:
          consent:
            consent: {notice: n, ask: q}
            on: {accepted: pause}
          pause:
            exec: {app: StopMixMonitor, args: ["${MID}"]}
            next: again
          again:
            consent: {notice: n, ask: q}
            on: {declined: bye}
          bye:
            play: beep
        """)
    result = call(flows, "byid", dtmf=["1", "2"])
    assert path(result) == ["consent:accepted", "pause:next", "again:declined", "bye:next"]
    assert [c for c in sent(result) if c.startswith("EXEC")][-1] == 'EXEC "StopMixMonitor" ""'
    assert details(result, "again")["stopped_recording"] == result.call["recording"]


@pytest.mark.parametrize("pause", ['{app: StopMixMonitor, options: " "}', '{app: StopMixMonitor, args: ["\\t"]}',
                                   '{app: Exec, options: "StopMixMonitor( )"}'])
def test_a_stopmixmonitor_given_only_blanks_stops_no_recording(pause: str) -> None:
    """StopMixMonitor reads its one argument whole as an id: a space or a
    tab is an id no recording has (app_mixmonitor.c finds none and stops
    nothing), not the absence of one: the recording runs on, and a
    withdrawal must still stop it."""
    flows = unchecked(f"""\
        version: 1
        name: blank
        start: consent
        steps:
          consent:
            consent: {{notice: n, ask: q}}
            on: {{accepted: pause}}
          pause:
            exec: {pause}
            next: again
          again:
            consent: {{notice: n, ask: q}}
            on: {{declined: bye}}
          bye:
            play: beep
        """)
    result = call(flows, "blank", dtmf=["1", "2"], app_results={"Exec": 0})
    assert path(result) == ["consent:accepted", "pause:next", "again:declined", "bye:next"]
    assert [c for c in sent(result) if c.startswith("EXEC")][-1] == 'EXEC "StopMixMonitor" ""'
    assert details(result, "again")["stopped_recording"] == result.call["recording"]


def test_a_mixmonitor_asterisk_refused_is_not_taken_for_a_running_recording() -> None:
    """An exec of MixMonitor that Asterisk answers with -1 (no file name:
    app_mixmonitor.c records nothing) leaves no recording running, so a
    later consent that gives consent starts one (it once said
    already_recording and the call went unrecorded), and a later decline
    has nothing to stop."""
    flows = unchecked("""\
        version: 1
        name: broken
        start: consent
        steps:
          consent:
            consent: {notice: n, ask: q, record: false}
            on: {accepted: record}
          record:
            exec: {app: MixMonitor}
            next: again
          again:
            consent: {policy: notify, notice: resumed}
            on: {notified: bye}
          bye:
            play: beep
        """)
    result = call(flows, "broken", dtmf=["1"])
    assert path(result) == ["consent:accepted", "record:next", "again:notified", "bye:next"]
    assert details(result, "record")["result"] == -1
    assert [c.split('"')[1] for c in sent(result) if c.startswith("EXEC")] == ["MixMonitor", "MixMonitor"]
    assert "already_recording" not in details(result, "again")
    assert result.call["recording"] == details(result, "again")["recording"]


def test_code_agiflow_cannot_see_is_refused_after_a_decline_but_not_before_any_consent() -> None:
    result = call(unchecked(CARE % "Gosub"), "care", dtmf=["2"])
    assert path(result) == ["consent:declined", "sneak:error"]
    assert result.call["refused_commands"] == "Gosub (no consent)"
    flows = unchecked("""\
        version: 1
        name: crm
        start: lookup
        steps:
          lookup:
            exec: {app: Gosub, options: "crm-lookup,s,1"}
        """)
    assert path(call(flows, "crm")) == ["lookup:next"]


def test_options_that_run_dialplan_are_judged_as_sent_even_when_validation_cannot_see_them(tmp_path: Path) -> None:
    (tmp_path / "care.yaml").write_text(textwrap.dedent("""\
        version: 1
        name: care
        start: consent
        steps:
          consent:
            consent: {notice: n, ask: q, record: false}
            on: {accepted: options, declined: options}
          options:
            set: {variables: {OPTS: "tU(record-agent)"}}
            next: agent
          agent:
            exec: {app: Dial, args: [PJSIP/agent, 30, "{{ vars.OPTS }}"]}
        """))
    flows, errors = load_flows([tmp_path])
    assert errors == []
    result = call(flows, "care", dtmf=["2"])
    assert path(result) == ["consent:declined", "options:next", "agent:error"]
    assert result.call["refused_commands"] == "Dial (no consent)"
    assert path(call(flows, "care", dtmf=["1"])) == ["consent:accepted", "options:next", "agent:next"]


# -- the guard and the channel ----------------------------------------------------------

def _channel() -> tuple[Channel, SimTransport]:
    transport = SimTransport(SimulatedAsterisk())
    return Channel(transport), transport


def test_record_file_is_refused_without_consent_and_counted_with_it() -> None:
    channel, transport = _channel()
    with pytest.raises(CommandRefused, match="RECORD FILE refused: recording needs consent"):
        run_sync(channel.command("RECORD FILE", "/tmp/x", "wav", "#", 1000))
    assert transport.exchanges == []
    channel.guard.set_consent(True)
    run_sync(channel.command("RECORD FILE", "/tmp/x", "wav", "#", 1000))
    assert [e.command for e in transport.exchanges] == ['RECORD FILE "/tmp/x" "wav" "#" "1000"']
    assert channel.guard.cdr_values() == {"recording_commands": 1, "refused_commands": "RECORD FILE (no consent)"}


def test_applications_are_matched_in_any_case_and_verbs_only_go_out_in_capitals() -> None:
    channel, transport = _channel()
    channel.guard.check_started()
    channel.guard.check_result("listed")
    for app in ("Dial", "dial", "DIAL", " dIaL "):
        with pytest.raises(CommandRefused):
            run_sync(channel.exec_app(app, "PJSIP/100"))
    for verb in ("exec", "Exec", "EXEC  "):
        with pytest.raises(CommandError):  # the wire sends no verb Asterisk could read otherwise
            run_sync(channel.command(verb, "Dial", "PJSIP/100"))
    run_sync(channel.exec_app("Playback", "hello"))
    assert [e.command for e in transport.exchanges] == ['EXEC "Playback" "hello"']


def test_a_listed_result_stays_whatever_a_later_check_says() -> None:
    guard = CallGuard()
    guard.check_started()
    guard.check_result("clear")
    assert guard.admit("EXEC", ("Dial", "x")) is None
    guard.check_started()
    guard.check_result("error")
    guard.check_started()
    guard.check_result("clear")
    refusal = guard.admit("EXEC", ("Dial", "x"))
    assert refusal is not None and "said error" in refusal.message


@pytest.mark.parametrize("app, argument, kinds", [
    ("Dial", "PJSIP/1,30,tT", {"dials"}),
    ("Dial", "PJSIP/1,30,tU(rec^x)", {"dials", "hidden"}),
    # F alone (Dial, Queue) sends the called party on in this extension's dialplan after the call,
    # Dial's e runs the h extension on it: dialplan agiflow cannot see
    ("Dial", "PJSIP/1,30,tF", {"dials", "hidden"}),
    ("Dial", "PJSIP/1,30,e", {"dials", "hidden"}),
    ("Dial", "PJSIP/1,30,A(beep)r(ring)", {"dials"}),  # an e or F inside another option's brackets is not one
    ("Dial", "PJSIP/Fred-e,30,t", {"dials"}),  # nor are letters of the destination
    ("Queue", "support,tF", {"dials", "hidden"}),
    ("Queue", "support,te", {"dials"}),  # Queue has no e option
    ("RetryDial", "agiflow/busy,5,3,PJSIP/100,30,F", {"dials", "hidden"}),
    ("Queue", "support,t,,,300,,record-member", {"dials", "hidden"}),
    ("Queue", "support,t,,,300", {"dials"}),
    ("MixMonitor", "x.wav,b", {"records"}),
    # one-touch recording: the called (x, w) or calling (X, W) party starts a MixMonitor with a key
    ("Dial", "PJSIP/1,30,tx", {"dials", "records"}),
    ("Dial", "PJSIP/1,30,X", {"dials", "records"}),
    ("Dial", "PJSIP/1,30,(w)", {"dials", "records"}),
    ("Dial", "PJSIP/1,30,W", {"dials", "records"}),
    ("Dial", "PJSIP/1,30,D(x)", {"dials"}),  # an x inside another option's brackets is not one
    ("Dial", "PJSIP/x,30,t", {"dials"}),  # nor is a letter of the destination
    ("RetryDial", "agiflow/busy,5,3,PJSIP/100,30,X", {"dials", "records"}),
    ("Queue", "support,tx", {"dials", "records"}),
    ("Queue", "support,X", {"dials", "records"}),
    ("Exec", "Dial(PJSIP/1,30,x)", {"dials", "hidden", "records"}),
    ("StopMixMonitor", "", set()),
    ("VoiceMail", "100@default", set()),
    ("ChanSpy", "PJSIP/100,q", set()),
    ("ChanSpy", "PJSIP/100,qr(spied)", {"records"}),  # r records the call listened to
    ("ExtenSpy", "201@agents,bqr", {"records"}),
    ("ChanSpy", "PJSIP/100,qg(ring)e(201:202)", set()),  # an r inside another option's brackets is not r
    # option letters as parse_options (main/app.c) reads them: a ( after no option is an option itself,
    # so (r) is r; each byte is read as its low seven bits, so F2 (U+80000...) is r, C6 (ƒ) is F, E5 e
    ("ChanSpy", "PJSIP/100,(r)", {"records"}),
    ("ChanSpy", "PJSIP/100,q\U00080000", {"records"}),
    ("ChanSpy", "PJSIP/100,\\(r\\)", set()),  # its last argument is read unparsed: \ takes (r\) and no ) ends it
    ("ExtenSpy", "201@agents,g(x)(r)", {"records"}),
    ("MeetMe", "1234,(r)", {"records"}),
    ("Page", "PJSIP/a,(r)", {"dials", "records"}),
    ("Dial", "PJSIP/1,30,(F)", {"dials", "hidden"}),
    ("Dial", "PJSIP/1,30,t\u0192", {"dials", "hidden"}),
    ("Dial", "PJSIP/1,30,t\u5000", {"dials", "hidden"}),
    ("RetryDial", "agiflow/busy,5,3,PJSIP/100,30,(F)", {"dials", "hidden"}),
    ("Queue", "support,t(F)", {"dials"}),  # t's argument
    ("Queue", "support,(F)", {"dials", "hidden"}),
    ("Bridge", "PJSIP/201-00000001,F", {"hidden"}),  # F alone: the bridged party goes on in this dialplan
    ("Page", "PJSIP/a&PJSIP/b,r", {"dials", "records"}),  # r records the page
    ("Playback", "U(x)", set()),
    ("Dial", "Local/100@agents/n,30", {"dials", "hidden"}),  # a Local channel runs dialplan
    ("Dial", "PJSIP/200&LOCAL/100@agents,30", {"dials", "hidden"}),
    ("RetryDial", "agiflow/busy,5,3,Local/100@agents", {"dials", "hidden"}),  # announce,sleep,retries,dialargs
    ("RetryDial", "local/busy,5,3,PJSIP/100", {"dials"}),  # the prompt is no channel
    ("Page", "PJSIP/a&PJSIP/b,b(page-sub^s^1)", {"dials", "hidden"}),
    ("Page", "Local/all@paging", {"dials", "hidden"}),
    # channels that hand the call's audio to an outside program, as the AudioSocket application does
    ("Dial", "AudioSocket/10.0.0.5:9092/40325ec2-5efd-4bd3-805f-53576e581d13,30", {"dials", "hidden"}),
    ("Dial", "PJSIP/100&audiosocket/10.0.0.5:9092/x", {"dials", "hidden"}),
    ("Dial", "UnicastRTP/10.0.0.5:4000", {"dials", "hidden"}),
    ("Page", "MulticastRTP/basic/239.0.0.1:1234", {"dials", "hidden"}),
    ("Dial", "WebSocket/media1/c(ulaw)", {"dials", "hidden"}),
    ("Transfer", "AudioSocket/10.0.0.5:9092/x", {"dials", "hidden"}),
    ("RetryDial", "agiflow/busy,5,3,UnicastRTP/10.0.0.5:4000", {"dials", "hidden"}),
    ("Page", "PJSIP/a&PJSIP/b,d", {"dials"}),
    ("Originate", "PJSIP/100,exten,ctx,s,1", {"dials", "hidden"}),
    # an Originate of type app has its new channel run the application: judged as an Exec of it
    ("Originate", "PJSIP/201,app,ChanSpy,PJSIP/trunk-00000001\\,qr", {"dials", "hidden", "records"}),
    ("Originate", "PJSIP/201,APP,Exec,ChanSpy(PJSIP/trunk-00000001\\,(r))", {"dials", "hidden", "records"}),
    ("Originate", "PJSIP/201,app,ChanSpy,PJSIP/trunk-00000001\\,q", {"dials", "hidden"}),
    ("Originate", "PJSIP/201,exten,MixMonitor,s,1", {"dials", "hidden"}),  # a context named MixMonitor
    ("ExternalIVR", "/usr/local/bin/ivr,n", {"hidden"}),  # a program, as System
    ("DISA", "no-password,outbound", {"dials", "hidden"}),  # the context's dialplan runs on the keys
    ("JACK", "i(in)", {"hidden"}),  # the audio to outside programs, as AudioSocket
    ("StasisBroadcast", "timeout=500,app_filter=^sales", {"hidden"}),  # hands the call to ARI, as Stasis
    ("WaitForCondition", "#,#{SHELL(originate)}", {"hidden"}),  # evaluates functions: SHELL runs a program
    ("MeetMe", "1234,r", {"records"}),  # r records the conference
    ("MeetMe", "1234,dM(hold)", set()),
    ("Bridge", "PJSIP/201-00000001,F(after^s^1)", {"hidden"}),  # the other party runs dialplan
    ("Bridge", "PJSIP/201-00000001,x", set()),
    # ParkAndAnnounce(lot,options,announce,dial) calls its dial argument to announce the parked call
    ("ParkAndAnnounce", ",,PARKED,PJSIP/100", {"dials"}),
    ("ParkAndAnnounce", ",r,agiflow/parked:PARKED,Local/ops@announce", {"dials", "hidden"}),
    ("ParkAndAnnounce", "Local/lot,,PARKED,PJSIP/100", {"dials"}),  # the lot's name is no channel
    # AddQueueMember adds an interface the queue then rings for every caller who waits in it
    ("AddQueueMember", "support,PJSIP/600111222@trunk", {"dials"}),
    ("addqueuemember", "support,Local/ana@agents/n,0", {"dials", "hidden"}),
    # MixMonitor's third argument is a command it runs once the recording ends, as System does
    ("MixMonitor", "x.wav,b,/usr/local/bin/after-call ^{MIXMONITOR_FILENAME}", {"records", "hidden"}),
    ("MixMonitor", "x.wav,b,", {"records"}),
    # Exec and its kin run the application written in their argument: it is judged too
    ("Exec", "MixMonitor(/tmp/x.wav,b)", {"hidden", "records"}),
    ("TryExec", "Monitor(wav,x)", {"hidden", "records"}),
    ("Exec", "Dial(PJSIP/100,30)", {"hidden", "dials"}),
    ("ExecIf", "$[${X}=1]?Playback(x):MixMonitor(y.wav)", {"hidden", "records"}),
    ("ExecIf", "$[${X}=1]?Record(x.wav)", {"hidden", "records"}),
    ("ExecIfTime", "9:00-17:00,mon-fri,*,*?Queue(support)", {"hidden", "dials"}),
    # ExecIf as app_exec.c reads it: the older ExecIf(expr,app,args) when a comma comes before
    # the first ? or there is none; a ? or : inside brackets or quotes does not split it
    ("ExecIf", "1,MixMonitor,x.wav", {"hidden", "records"}),
    ("ExecIf", "$[${X}=1],Dial,PJSIP/100,30", {"hidden", "dials"}),
    ("ExecIf", '$["a?b"="c"]?MixMonitor(x.wav)', {"hidden", "records"}),
    ("ExecIf", "$[${X}=1?]?Record(x.wav)", {"hidden", "records"}),
    ("ExecIf", '1?Playback("a:b"):MixMonitor(x.wav)', {"hidden", "records"}),
    ("ExecIf", "1?Set(A=[b:c]):Record(x.wav)", {"hidden", "records"}),
    ("ExecIf", "1,Playback,a?MixMonitor(x.wav)", {"hidden"}),  # the older syntax: Playback(a?MixMonitor(x.wav))
    ("Exec", "Exec(ChanSpy(PJSIP/1,qr))", {"hidden", "records"}),
    ("Exec", "Playback(hello)", {"hidden"}),
    ("Exec", "${APP}", {"hidden"}),
    ("Exec", "Exec(" * 50 + "Playback(x)" + ")" * 50, {"hidden", "dials", "records"}),  # too deep to read
])
def test_what_each_application_can_do(app: str, argument: str, kinds: set[str]) -> None:
    assert app_kinds(app, argument) == kinds


def test_a_check_that_never_finished_is_not_lifted_by_a_later_clear() -> None:
    guard = CallGuard()
    guard.check_started()  # its number template failed: no result
    guard.check_started()
    guard.check_result("clear")
    refusal = guard.admit("EXEC", ("Dial", "x"))
    assert refusal is not None and "did not finish" in refusal.message


def test_a_never_finished_check_then_a_clear_one_dials_nothing(lists: Services) -> None:
    flows = unchecked(CAMPAIGN % ', number: "{{ vars.MISSING }}"', RECHECK)
    result = call(flows, "campaign", lists, called=CLEAR_NUMBER)
    assert path(result) == ["dnc:error", "handover:transfer", "dnc2:clear", "call:error"]
    assert not [c for c in sent(result) if c.startswith("EXEC")]
    assert (result.call["refused_commands"], result.call["robinson"]) == ("Dial (do-not-call)", "error")
    assert ('SET VARIABLE "ROBINSON" "error"' in sent(result)
            and 'SET VARIABLE "ROBINSON" "clear"' not in sent(result))


def test_after_a_hit_a_later_clear_check_leaves_the_variable_and_the_cdr_saying_listed(lists: Services) -> None:
    recheck = """\
        version: 1
        name: dialer
        start: dnc2
        steps:
          dnc2:
            robinson: {list: robinson, number: "612345678"}
            on: {clear: bye}
          bye:
            hangup: {cause: 21}
        """
    result = call(unchecked(CAMPAIGN % "", recheck), "campaign", lists, called=LISTED_NUMBER)
    assert path(result) == ["dnc:listed", "handover:transfer", "dnc2:clear", "bye:done"]
    assert 'SET VARIABLE "ROBINSON" "clear"' not in sent(result)
    assert result.variables["ROBINSON"] == "listed"
    assert (result.call["robinson"], result.call["robinson_list"], result.call["dialled"]) == \
        ("listed", "robinson", "+34600111222")
    assert details(result, "dnc2")["result"] == "clear" and details(result, "dnc2")["call_result"] == "listed"


@pytest.mark.parametrize("setter", ['exec: {app: Set, args: ["{{ vars.NAME }}=clear"]}',
                                    'exec: {app: MSet, options: "A=1,{{ vars.NAME }}=clear"}',
                                    'exec: {app: Set, options: "ARRAY({{ vars.NAME }})=clear"}',
                                    # MSet reads its arguments as Dial does: the escapes of args go
                                    'exec: {app: MSet, args: ["ARRAY({{ vars.NAME }})=clear"]}',
                                    'exec: {app: MSet, args: [A=1, "{{ vars.NAME }}=clear"]}',
                                    # Read blanks it, or puts the keys there: a dialplan that dials
                                    # unless it says listed would dial
                                    'exec: {app: Read, args: ["{{ vars.NAME }}", beep, "1"]}'])
def test_after_a_hit_no_command_sets_the_check_variable_from_a_name_a_template_builds(
        lists: Services, setter: str) -> None:
    """The validator does not see a name a template builds; the guard,
    which sees the command as sent, refuses it while a check blocks the
    call: the dialplan dials on ${ROBINSON}."""
    flow = f"""\
        version: 1
        name: fake
        start: name
        steps:
          name:
            set: {{variables: {{NAME: ROBINSON}}}}
            next: dnc
          dnc:
            robinson: {{list: robinson}}
            on: {{listed: fake}}
          fake:
            {setter}
            on: {{error: bye}}
          bye:
            hangup: {{cause: 21}}
        """
    result = call(unchecked(flow), "fake", lists, called=LISTED_NUMBER, app_results={"Exec": 0})
    assert path(result) == ["name:next", "dnc:listed", "fake:error", "bye:done"]
    assert result.variables["ROBINSON"] == "listed"
    assert not [c for c in sent(result) if c.startswith("EXEC") and "clear" in c]
    refusal = details(result, "fake")["error"]
    assert "ROBINSON" in refusal and "listed" in refusal
    assert result.call["refused_commands"].endswith("(do-not-call)")


def test_a_check_variable_may_be_set_while_no_check_blocks(lists: Services) -> None:
    guard = CallGuard()
    guard.check_started()
    guard.check_result("clear", "+34612345678")
    guard.result_variables["ROBINSON"] = "clear"
    assert guard.admit("EXEC", ("Set", "ROBINSON=x")) is None
    assert guard.admit("SET VARIABLE", ("ROBINSON", "x")) is None
    guard.check_started()
    guard.check_result("listed", "+34600111222")
    guard.result_variables["ROBINSON"] = "listed"
    assert guard.admit("SET VARIABLE", ("ROBINSON", "listed")) is None  # the check's own write
    assert guard.admit("SET VARIABLE", ("__ROBINSON", "clear")) is not None
    assert guard.admit("SET VARIABLE", ("OTHER", "clear")) is None
    assert guard.admit("EXEC", ("ExecIf", "1?Set(GLOBAL(ROBINSON)=clear)")) is not None


@pytest.mark.parametrize("second", ['number: "600111222", variable: ALT_DNC',
                                    'number: "{{ vars.MISSING }}", variable: ALT_DNC',
                                    'number: "600111222", variable: ALT_DNC, on_error: allow'])
def test_a_hit_under_another_variable_leaves_no_earlier_check_saying_clear(lists: Services, second: str) -> None:
    """A first check says clear in ROBINSON, a second, of another number,
    says listed (or never finishes) in a variable of its own: the dialplan
    may dial on ${ROBINSON}, so it says the blocking result too (it said
    clear for a call the guard blocks)."""
    flow = f"""\
        version: 1
        name: two
        start: dnc
        steps:
          dnc:
            robinson: {{list: robinson}}
            on: {{clear: alternate}}
          alternate:
            robinson: {{list: robinson, {second}}}
            on: {{clear: call}}
          call:
            dial: "PJSIP/{{{{ call.called }}}}@trunk"
        """
    result = call(unchecked(flow), "two", lists, called=CLEAR_NUMBER)
    blocked = "error" if "MISSING" in second else "listed"
    assert path(result)[:2] == ["dnc:clear", f"alternate:{'error' if 'MISSING' in second else 'listed'}"]
    assert (result.variables["ROBINSON"], result.variables["ALT_DNC"]) == (blocked, blocked)
    assert sent(result).index('SET VARIABLE "ROBINSON" "clear"') < sent(result).index(
        f'SET VARIABLE "ROBINSON" "{blocked}"')


def test_long_application_arguments_that_all_differ_are_not_remembered() -> None:
    """The guard remembered what the last 1,024 arguments it read run,
    however long: a Dial or Queue argument holding a caller's text (8 KB
    lines with max_command_line 8191) stayed in memory."""
    import tracemalloc
    app_kinds("Dial", "PJSIP/warm-up,30")
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(600):  # 2.4 MB if remembered
            app_kinds("Dial", f"PJSIP/{n:08d}" + "x" * 4000 + ",30,U(sub)")
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1 << 20


def test_a_number_that_only_ends_like_the_one_checked_is_not_dialled(lists: Services) -> None:
    """The flow checks a German number, clear, then dials its last nine
    digits: on a Spanish trunk that is 600111222, a listed number that
    merely ends like the number checked."""
    flows = unchecked((CAMPAIGN % "").replace('dial: "PJSIP/{{ call.called }}@trunk"',
                                             'dial: "PJSIP/{{ call.called[-9:] }}@trunk"'), DIALER % "hangup:")
    result = call(flows, "campaign", lists, called="+4930" + LISTED_NUMBER)
    assert path(result)[:2] == ["dnc:clear", "call:error"]
    assert not any("Dial" in command for command in sent(result))
    assert f"it calls {LISTED_NUMBER}, which no do-not-call check of this call covered" in \
        details(result, "call")["error"]


@pytest.mark.parametrize("checked, destination, refused", [
    # the number checked however the region dials it: E.164, the international prefix, national digits
    ("+34612345678", "PJSIP/+34612345678@trunk", False),
    ("+34612345678", "PJSIP/0034612345678@trunk", False),
    ("+34612345678", "PJSIP/34612345678@trunk", False),
    ("+34612345678", "PJSIP/612 345 678@trunk", False),
    ("+34612345678", "PJSIP/trunk/sip:%2B34612345678@carrier.example", False),
    # another number that only ends like it, or like its national form
    ("+4930612345678", "PJSIP/612345678@trunk", True),  # the Spanish 612345678
    ("+34612345678", "PJSIP/+33612345678@trunk", True),
    ("+34612345678", "PJSIP/0033612345678@trunk", True),
    ("+34612345678", "PJSIP/0049612345678@trunk", True),
    ("+34612345678", "PJSIP/+1612345678@trunk", True),
    ("+34612345678", "PJSIP/2345678@trunk", True),  # its last seven digits are no call to it
    ("+34612345678", "PJSIP/4612345678@trunk", True),
    ("+12125551234", "PJSIP/+412125551234@trunk", True),  # +41: a Swiss number ending in the US one
    ("+12125551234", "PJSIP/00412125551234@trunk", True),
    ("+33612345678", "PJSIP/612345678@trunk", True),  # in Spain: +34612345678
    ("+33612345678", "PJSIP/0033612345678@trunk", False),
])
def test_a_destination_is_covered_only_when_it_is_the_number_checked(checked: str, destination: str,
                                                                      refused: bool) -> None:
    """A phone number in a destination is read as the lists read numbers
    (E.164, in the default region): a number that only ends like the one
    checked is another number and is refused."""
    guard = CallGuard()
    guard.check_started()
    guard.check_result("clear", checked, Normaliser("ES").number)
    assert (guard.admit("EXEC", ("Dial", destination)) is not None) is refused


@pytest.mark.parametrize("called", [LISTED_NUMBER + "#", "*31#" + LISTED_NUMBER, "#31#" + LISTED_NUMBER])
def test_a_check_that_could_not_read_the_number_covers_no_phone_number(lists: Services, called: str) -> None:
    """A listed number with a key around it (``#`` that ends an entry, a
    ``*31#`` that withholds the caller ID) is no phone number to the check,
    which on_error: allow lets through as unchecked; the trunk still calls
    the listed number in it, so the check covers none."""
    result = call(campaign(", on_error: allow"), "campaign", lists, called=called)
    assert path(result)[:2] == ["dnc:clear", "call:error"]
    assert result.call["robinson"] == "unchecked"
    assert not any("Dial" in command for command in sent(result))
    assert f"it calls {LISTED_NUMBER}, which no do-not-call check of this call covered" in \
        details(result, "call")["error"]


@pytest.mark.parametrize("argument, refused", [
    ("PJSIP/201,exten,from-internal,612345678,1", False),
    ("PJSIP/201,exten,from-internal,0034612345678", False),
    ("PJSIP/201,exten,from-internal,s,1", False),  # no phone number: the dialplan's own
    ("PJSIP/201,exten,from-internal,600111222,1", True),
    ("PJSIP/201,EXTEN,from-internal,600-111-222,1,30", True),
    ("PJSIP/201,exten,from-internal,${NUMBER},1", True),  # AGIEXECFULL=yes: Asterisk builds it
    ("PJSIP/201,app,Playback,600111222", False),  # type app: the application's data is no extension
])
def test_an_originate_of_type_exten_calls_its_extension(lists: Services, argument: str, refused: bool) -> None:
    """A click-to-call rings the agent, then sends the answered channel to
    an extension of the dialplan, which dials it: after a clear check of
    612345678, an Originate to the extension 600111222 calls a number no
    check covered."""
    flows = unchecked((CAMPAIGN % "").replace('dial: "PJSIP/{{ call.called }}@trunk"',
                                             f'exec: {{app: Originate, options: "{argument}"}}'), DIALER % "hangup:")
    result = call(flows, "campaign", lists, called=CLEAR_NUMBER, app_results={"Originate": 0})
    assert path(result)[:2] == ["dnc:clear", "call:error" if refused else "call:next"]
    assert any(command.startswith('EXEC "Originate"') for command in sent(result)) is not refused
    assert (result.call["refused_commands"] == "Originate (do-not-call)") is refused
    guard = CallGuard()
    guard.check_started()
    guard.check_result("clear", "+34" + CLEAR_NUMBER, Normaliser("ES").number)
    assert (guard.admit("EXEC", ("Exec", f"Originate({argument})")) is not None) is refused
