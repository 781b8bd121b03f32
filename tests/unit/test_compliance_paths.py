"""``agiflow validate``'s compliance checks over a whole flow library: no
path from a do-not-call hit reaches a step that can place a call, and no
path reaches a recording without consent, across ``goto`` into other flows,
menu choices, branches, split shares, webhook and lookup outcomes and error
branches, for every application docs/compliance.md names."""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from agi.call_guard import DIALLING_APPS, HIDDEN_CODE_APPS, RECORDING_APPS
from agi.loading.compliance_paths import compliance_problems
from agi.loading.loader import load_flow_file, load_flows
from agi.steps.exec_app import ExecNode

DNC_RULE = "a robinson step must never lead to a dial when the number is listed or cannot be checked"
CONSENT_RULE = "a consent step must never lead to a recording when the caller has not consented"

CAMPAIGN = """\
version: 1
name: campaign
start: dnc
steps:
  dnc:
    robinson: {list: robinson}
    on: {clear: call, listed: %s}
  call:
    dial: "PJSIP/{{ call.called }}@trunk"
%s"""


def library(tmp_path: Path, *flows: str) -> list[tuple[str, int, str]]:
    """Load the flows (one file each): (file name, line, message) of every error."""
    folder = tmp_path / "flows"
    folder.mkdir(exist_ok=True)
    for number, text in enumerate(flows):
        (folder / f"f{number}.yaml").write_text(textwrap.dedent(text))
    _, errors = load_flows([folder])
    return [(Path(e.file).name, e.line, e.message) for e in errors]


def messages(tmp_path: Path, *flows: str) -> list[str]:
    return [message for _, _, message in library(tmp_path, *flows)]


def campaign(listed: str, extra: str) -> str:
    return CAMPAIGN % (listed, textwrap.indent(textwrap.dedent(extra), "  "))


DIALER = """\
version: 1
name: dialer
start: again
steps:
  again:
    dial: "PJSIP/{{ call.called }}@backup"
"""


# -- do-not-call: across flows -------------------------------------------------------

def test_a_listed_number_that_goes_to_another_flow_that_dials_is_refused(tmp_path: Path) -> None:
    found = library(tmp_path, campaign("handover", """\
          handover:
            goto: dialer
        """), DIALER)
    assert found == [("f0.yaml", 7, "step 'dnc': outcome 'listed' leads to step 'again' of flow 'dialer' "
                                     "(through goto at step 'handover' of flow 'campaign'), which dials; "
                      + DNC_RULE)]


def test_a_chain_of_gotos_is_followed_to_the_dial(tmp_path: Path) -> None:
    hop = """\
        version: 1
        name: hop
        start: note
        steps:
          note:
            set: {cdr: {hop: "1"}}
            next: onwards
          onwards:
            goto: dialer
        """
    found = messages(tmp_path, campaign("handover", "  handover:\n    goto: hop\n"), hop, DIALER)
    assert found == ["step 'dnc': outcome 'listed' leads to step 'again' of flow 'dialer' (through goto at step "
                     "'handover' of flow 'campaign', step 'onwards' of flow 'hop'), which dials; " + DNC_RULE]


def checks_in_a_row(count: int, last: str) -> str:
    """A flow of ``count`` do-not-call checks, each leading to the next
    whatever it finds, then ``last``."""
    checks = "".join(f"  c{n}:\n    robinson: {{list: robinson}}\n"
                     f"    on: {{clear: c{n + 1}, listed: c{n + 1}, error: c{n + 1}, hangup: c{n + 1}}}\n"
                     for n in range(count))
    return f"version: 1\nname: checks\nstart: c0\nsteps:\n{checks}  c{count}:\n{last}"


@pytest.mark.parametrize("last", ["    hangup:\n", "    dial: PJSIP/100\n"], ids=["valid", "dials"])
def test_thousands_of_checks_in_a_row_are_followed_in_linear_time(tmp_path: Path, last: str) -> None:
    """A search from every check's outcomes walked the rest of the flow each
    time: 10 s of CPU for 2,500 checks in a row, while a server reloading
    them held every call."""
    count = 2500
    if "dial" in last:
        found = messages(tmp_path, checks_in_a_row(count, last))
        assert len(found) == 3 * count  # listed, hangup and error of every check
        assert found[0] == f"step 'c0': outcome 'error' leads to step 'c{count}', which dials; " + DNC_RULE
        return
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "checks.yaml").write_text(checks_in_a_row(count, last))
    flows, errors = load_flows([tmp_path / "flows"])
    assert errors == []
    started = time.process_time()  # the search alone: loading the file takes longer, and grows linearly
    assert compliance_problems(flows.flows) == []
    assert time.process_time() - started < 5


def test_a_long_chain_of_gotos_is_named_in_short(tmp_path: Path) -> None:
    hops = [f"""\
        version: 1
        name: hop{n}
        start: onwards
        steps:
          onwards:
            goto: {f"hop{n + 1}" if n < 11 else "dialer"}
        """ for n in range(12)]
    found = messages(tmp_path, campaign("handover", "  handover:\n    goto: hop0\n"), *hops, DIALER)
    route = ", ".join(f"step 'onwards' of flow 'hop{n}'" for n in range(9))
    assert found == ["step 'dnc': outcome 'listed' leads to step 'again' of flow 'dialer' (through goto at step "
                     f"'handover' of flow 'campaign', {route} and more), which dials; " + DNC_RULE]


def test_a_flow_reached_from_a_listed_number_is_guarded_from_its_start_even_if_it_checks_again(
        tmp_path: Path) -> None:
    rechecks = """\
        version: 1
        name: rechecks
        start: dnc2
        steps:
          dnc2:
            robinson: {list: robinson}
            on: {clear: call, listed: stop, error: stop}
          call:
            dial: "PJSIP/{{ call.called }}@trunk"
          stop:
            hangup:
        """
    found = messages(tmp_path, campaign("again", "  again:\n    goto: rechecks\n"), rechecks)
    assert found == ["step 'dnc': outcome 'listed' leads to step 'call' of flow 'rechecks' (through goto at step "
                     "'again' of flow 'campaign'), which dials; " + DNC_RULE]


def test_a_goto_back_into_the_same_flow_is_followed(tmp_path: Path) -> None:
    found = messages(tmp_path, campaign("restart", "  restart:\n    goto: campaign\n"))
    assert found == ["step 'dnc': outcome 'listed' leads to step 'call' of flow 'campaign' (through goto at step "
                     "'restart' of flow 'campaign'), which dials; " + DNC_RULE]


def test_a_flow_that_dials_but_is_reached_only_from_clear_is_accepted(tmp_path: Path) -> None:
    clear_only = """\
        version: 1
        name: campaign
        start: dnc
        steps:
          dnc:
            robinson: {list: robinson}
            on: {clear: onwards, listed: stop, error: stop}
          onwards:
            goto: dialer
          stop:
            hangup: {cause: 21}
        """
    assert messages(tmp_path, clear_only, DIALER) == []


# -- do-not-call: every kind of step between -----------------------------------------

@pytest.mark.parametrize("between", [
    "menu: {prompt: m, choices: {'1': call}}\n    on: {timeout: stop, invalid: stop}",
    "branch: {cases: [{if: \"call.caller == '1'\", next: stop}], else: call}",
    "split: [{percent: 50, next: stop}, {percent: 50, next: call}]",
    "split: {a: 50, b: 50}\n    on: {a: stop, b: call}",
    "webhook: {url: 'https://crm.example/hit'}\n    on: {ok: stop, failed: call}",
    "lookup: {list: vip}\n    on: {found: call, missing: stop, anonymous: stop}",
    "play: sorry\n    on: {error: call}\n    next: stop",
    "play: sorry\n    on: {hangup: call}\n    next: stop",
    "consent: {notice: n, ask: q}\n    on: {accepted: call, declined: stop}",
])
def test_every_outcome_of_every_step_between_the_hit_and_the_dial_is_followed(
        tmp_path: Path, between: str) -> None:
    found = messages(tmp_path, campaign("middle", f"  middle:\n    {between}\n  stop:\n    hangup:\n"))
    assert found == ["step 'dnc': outcome 'listed' leads to step 'call', which dials; " + DNC_RULE]


@pytest.mark.parametrize("outcome", ["error", "hangup"])
def test_error_and_hangup_of_the_check_are_guarded_too(tmp_path: Path, outcome: str) -> None:
    flow = campaign("stop", "  stop:\n    hangup:\n").replace("listed: stop}", f"listed: stop, {outcome}: call}}")
    assert messages(tmp_path, flow) == [
        f"step 'dnc': outcome '{outcome}' leads to step 'call', which dials; " + DNC_RULE]


@pytest.mark.parametrize("app", sorted(DIALLING_APPS - HIDDEN_CODE_APPS) + ["DIAL", "dial", "Dial", "tRaNsFeR"])
def test_every_application_that_places_a_call_is_a_dial_in_any_case(tmp_path: Path, app: str) -> None:
    found = messages(tmp_path, campaign("place", f"  place:\n    exec: {{app: {app}, options: x}}\n"))
    assert found == ["step 'dnc': outcome 'listed' leads to step 'place', which dials; " + DNC_RULE]


@pytest.mark.parametrize("app", sorted(HIDDEN_CODE_APPS) + ["GOSUB"])
def test_every_application_that_runs_code_agiflow_cannot_see_may_dial(tmp_path: Path, app: str) -> None:
    found = messages(tmp_path, campaign("place", f"  place:\n    exec: {{app: {app}, options: x}}\n"))
    assert found == ["step 'dnc': outcome 'listed' leads to step 'place', which runs code agiflow cannot see, "
                     "which may dial; " + DNC_RULE]


def test_a_callback_request_is_dialled_later_so_it_may_not_follow_a_hit(tmp_path: Path) -> None:
    step = "  later:\n    callback: {confirm: cb-confirm, enter: cb-enter}\n"
    found = messages(tmp_path, campaign("later", step))
    assert found == ["step 'dnc': outcome 'listed' leads to step 'later', which dials; " + DNC_RULE]


def test_a_queue_rings_its_members_so_it_dials(tmp_path: Path) -> None:
    found = messages(tmp_path, campaign("agents", "  agents:\n    queue: support\n"))
    assert found == ["step 'dnc': outcome 'listed' leads to step 'agents', which dials; " + DNC_RULE]


@pytest.mark.parametrize("step", ["play: sorry", "exec: {app: Playback, options: sorry}", "hangup: {cause: 21}",
                                  "voicemail: 100@default", "exec: {app: VoiceMail, options: 100@default}",
                                  "set: {cdr: {result: do_not_call}}"])
def test_steps_that_place_no_call_may_follow_a_hit(tmp_path: Path, step: str) -> None:
    assert messages(tmp_path, campaign("after", f"  after:\n    {step}\n")) == []


def test_an_error_on_a_next_line_points_at_it(tmp_path: Path) -> None:
    flow = """\
        version: 1
        name: campaign
        start: dnc
        steps:
          dnc:
            robinson: {list: robinson}
            on:
              clear: bye
              error: bye
              listed: sorry
          sorry:
            play: sorry
            next: call
          call:
            exec: {app: Dial, args: [PJSIP/100]}
          bye:
            hangup:
        """
    assert [(line, message.split(",")[0]) for _, line, message in library(tmp_path, flow)] == [
        (10, "step 'dnc': outcome 'listed' leads to step 'call'")]


# -- consent ------------------------------------------------------------------------

CONSENT = """\
version: 1
name: care
start: consent
steps:
  consent:
    consent: {notice: n, ask: q}
    on: {accepted: recorded, declined: %s}
  recorded:
    exec: {app: MixMonitor, options: "call.wav,b"}
    next: talk
  talk:
    dial: PJSIP/agent
%s"""


def care(declined: str, extra: str = "") -> str:
    return CONSENT % (declined, textwrap.indent(textwrap.dedent(extra), "  "))


def test_a_declined_caller_routed_to_mixmonitor_is_refused(tmp_path: Path) -> None:
    found = library(tmp_path, care("recorded"))
    assert found == [("f0.yaml", 7, "step 'consent': outcome 'declined' leads to step 'recorded', which records "
                                    "the call; " + CONSENT_RULE)]


@pytest.mark.parametrize("app", sorted(RECORDING_APPS) + ["MIXMONITOR", "mixMonitor"])
def test_every_recording_application_after_a_decline_is_refused_in_any_case(tmp_path: Path, app: str) -> None:
    found = messages(tmp_path, care("sneak", f"  sneak:\n    exec: {{app: {app}, options: x.wav}}\n"))
    assert found == ["step 'consent': outcome 'declined' leads to step 'sneak', which records the call; "
                     + CONSENT_RULE]


@pytest.mark.parametrize("args", ['[support, t, "", "agiflow/a,agiflow/b", "", "", recsub]',
                                  '[PJSIP/1, "30", "t,U(recsub)"]'])
def test_exec_args_are_judged_each_as_one_argument_as_they_are_sent(tmp_path: Path, args: str) -> None:
    """A comma written inside an item stays in that argument (it is escaped),
    so Queue's gosub argument keeps its place and Dial's options stay options."""
    app = "Queue" if args.startswith("[support") else "Dial"
    found = messages(tmp_path, care("sneak", f"  sneak:\n    exec: {{app: {app}, args: {args}}}\n"))
    assert found == ["step 'consent': outcome 'declined' leads to step 'sneak', which runs code agiflow cannot "
                     "see, which may record; " + CONSENT_RULE]


@pytest.mark.parametrize("exec_", ["{app: ChanSpy, options: \"PJSIP/201,qr(spied)\"}",
                                   "{app: ExtenSpy, args: [201@agents, bqr]}", "{app: Page, args: [PJSIP/a, r]}"])
def test_an_application_whose_r_option_records_is_held_to_consent(tmp_path: Path, exec_: str) -> None:
    found = messages(tmp_path, care("sneak", f"  sneak:\n    exec: {exec_}\n"))
    assert found == ["step 'consent': outcome 'declined' leads to step 'sneak', which records the call; "
                     + CONSENT_RULE]
    alone = f"version: 1\nname: spy\nstart: listen\nsteps:\n  listen:\n    exec: {exec_}\n"
    (tmp_path / "alone").mkdir()
    assert [m.split(";")[0] for m in messages(tmp_path / "alone", alone)] == [
        "step 'listen' records the call, but a path from the start of flow 'spy' reaches it through no consent step"]


@pytest.mark.parametrize("exec_", ["{app: ChanSpy, options: \"PJSIP/201,(r)\"}",
                                   "{app: ChanSpy, options: \"PJSIP/201,q\\U00080000\"}",
                                   "{app: MeetMe, args: [\"1234\", \"(r)\"]}"])
def test_option_letters_are_read_as_asterisk_reads_them(tmp_path: Path, exec_: str) -> None:
    """A ``(`` that follows no option is an option itself (``(r)`` is ``r``),
    and each byte of a character outside ASCII is read as a letter (F2,
    the first byte of U+80000, is ``r``): parse_options in main/app.c."""
    test_an_application_whose_r_option_records_is_held_to_consent(tmp_path, exec_)


def test_an_originate_whose_new_channel_records_this_call_needs_consent(tmp_path: Path) -> None:
    """``Originate(PJSIP/201,app,ChanSpy,<this call's channel>,qr)``: the
    supervisor's phone records the call it listens to, this one."""
    test_an_application_whose_r_option_records_is_held_to_consent(
        tmp_path, '{app: Originate, args: [PJSIP/201, app, ChanSpy, "PJSIP/trunk-00000001,qr"]}')


@pytest.mark.parametrize("options", ["(F)", "t\u0192"])
def test_dial_options_read_as_f_alone_run_dialplan(tmp_path: Path, options: str) -> None:
    found = messages(tmp_path, care("sneak", f"  sneak:\n    exec: {{app: Dial, args: [PJSIP/agent, 30, \"{options}\"]}}\n"))
    assert found == ["step 'consent': outcome 'declined' leads to step 'sneak', which runs code agiflow cannot "
                     "see, which may record; " + CONSENT_RULE]


@pytest.mark.parametrize("app", ["Gosub", "AGI", "System", "Exec", "Stasis"])
def test_code_agiflow_cannot_see_after_a_decline_is_refused(tmp_path: Path, app: str) -> None:
    found = messages(tmp_path, care("sneak", f"  sneak:\n    exec: {{app: {app}, options: x}}\n"))
    assert found == ["step 'consent': outcome 'declined' leads to step 'sneak', which runs code agiflow cannot "
                     "see, which may record; " + CONSENT_RULE]


@pytest.mark.parametrize("step", ['dial: {destination: PJSIP/agent, options: "tU(record-agent)"}',
                                  'dial: {destination: PJSIP/agent, options: "b(pre^s^1)"}',
                                  "queue: {name: support, gosub: record-member}",
                                  'queue: {name: support, options: "tF(after^s^1)"}',
                                  'queue: {name: support, options: "tF"}',
                                  'dial: {destination: PJSIP/agent, options: "tF"}',
                                  'dial: {destination: PJSIP/agent, options: "e"}',
                                  'exec: {app: Dial, args: [PJSIP/agent, 30, "U(rec)"]}',
                                  'exec: {app: Queue, args: [support, t, "", "", 300, "", record-member]}',
                                  "dial: {destination: Local/agent@agents/n}",
                                  "dial: {destination: AudioSocket/10.0.0.5:9092/x}",
                                  'exec: {app: Dial, args: ["UnicastRTP/10.0.0.5:4000"]}',
                                  'exec: {app: Page, args: ["PJSIP/a&Local/b@paging"]}',
                                  "exec: {app: Originate, args: [PJSIP/100, exten, ctx, s, 1]}"])
def test_a_dial_or_queue_whose_options_run_dialplan_is_refused_after_a_decline(tmp_path: Path, step: str) -> None:
    found = messages(tmp_path, care("sneak", f"  sneak:\n    {step}\n"))
    assert found == ["step 'consent': outcome 'declined' leads to step 'sneak', which runs code agiflow cannot "
                     "see, which may record; " + CONSENT_RULE]


@pytest.mark.parametrize("step", ["dial: {destination: PJSIP/agent, options: \"{{ vars.get('DIAL_OPTS', 't') }}\"}",
                                  "queue: {name: support, options: \"{{ vars.get('QUEUE_OPTS') | default('t') }}\"}",
                                  "exec: {app: ChanSpy, args: [PJSIP/201, \"{{ vars.get('SPY_OPTS', 'q') }}\"]}",
                                  "exec: {app: Dial, args: [PJSIP/agent, 30, \"{{ vars.get('DIAL_OPTS', 't') }}\"]}"])
def test_the_text_of_a_template_is_not_read_as_option_letters(tmp_path: Path, step: str) -> None:
    """Options a template gives are judged by the guard once rendered; the
    letters of the template itself (the e of get, the F... of default, the r
    of vars) are no options of Dial, Queue or ChanSpy."""
    assert messages(tmp_path, care("sneak", f"  sneak:\n    {step}\n")) == []


@pytest.mark.parametrize("step, what", [
    ("dial: {destination: PJSIP/agent, options: \"tU({{ vars.get('SUB', 'x') }})\"}", "runs code agiflow cannot see, "
     "which may record"),
    ("exec: {app: ChanSpy, args: [PJSIP/201, \"q{% if vars.get('R') %}r{% endif %}\"]}", "records the call"),
    # a template alone where Queue takes a subroutine to run still names one
    ("exec: {app: Queue, args: [support, t, '', '', 300, '', \"{{ vars.get('SUB', 'rec') }}\"]}",
     "runs code agiflow cannot see, which may record"),
])
def test_options_written_around_a_template_are_still_judged(tmp_path: Path, step: str, what: str) -> None:
    found = messages(tmp_path, care("sneak", f"  sneak:\n    {step}\n"))
    assert found[0] == f"step 'consent': outcome 'declined' leads to step 'sneak', which {what}; " + CONSENT_RULE


@pytest.mark.parametrize("step", ['dial: {destination: PJSIP/agent, options: tx}',
                                  'dial: {destination: PJSIP/agent, options: X}',
                                  'queue: {name: support, options: tx}',
                                  'queue: {name: support, options: W}',
                                  'exec: {app: Dial, args: [PJSIP/agent, 30, x]}'])
def test_a_dial_or_queue_with_one_touch_recording_is_a_recording(tmp_path: Path, step: str) -> None:
    """Dial's and Queue's x, X, w and W let a party start a MixMonitor of
    the call with a key (features.conf's automixmon): after a decline, and
    with no consent before it, the flow would have agiflow enable it."""
    found = messages(tmp_path, care("sneak", f"  sneak:\n    {step}\n"))
    assert found == ["step 'consent': outcome 'declined' leads to step 'sneak', which records the call; "
                     + CONSENT_RULE]
    alone = f"version: 1\nname: alone\nstart: sneak\nsteps:\n  sneak:\n    {step}\n"
    (tmp_path / "alone").mkdir()
    assert messages(tmp_path / "alone", alone) == [
        "step 'sneak' records the call, but a path from the start of flow 'alone' reaches it through no consent "
        "step; every flow is an entry, and recording needs a consent step that gives consent first"]


def test_a_plain_dial_or_queue_after_a_decline_is_fine(tmp_path: Path) -> None:
    assert messages(tmp_path, care("talk")) == []
    assert messages(tmp_path, care("agents", '  agents:\n    queue: {name: support, options: "tL(60000)"}\n')) == []


def test_a_decline_that_goes_to_another_flow_that_records_is_refused(tmp_path: Path) -> None:
    recorder = """\
        version: 1
        name: recorder
        start: consent
        steps:
          consent:
            consent: {notice: n, ask: q}
            on: {accepted: rec, declined: rec}
          rec:
            exec: {app: MixMonitor, options: x.wav}
        """
    found = messages(tmp_path, care("elsewhere", "  elsewhere:\n    goto: recorder\n"), recorder)
    assert found == ["step 'consent': outcome 'declined' leads to step 'rec', which records the call; "
                     + CONSENT_RULE]


def test_a_decline_followed_by_a_second_consent_that_accepts_may_record(tmp_path: Path) -> None:
    again = """\
      again:
        consent: {notice: n, ask: q}
        on: {accepted: recorded, declined: talk}
    """
    assert messages(tmp_path, care("again", again)) == []


@pytest.mark.parametrize("policy, outcome", [("never", "never"), ("ask", "hangup"), ("ask", "error")])
def test_never_hangup_and_error_of_consent_are_no_consent(tmp_path: Path, policy: str, outcome: str) -> None:
    options = "policy: never" if policy == "never" else "notice: n, ask: q"
    own = "never: talk" if policy == "never" else "accepted: recorded, declined: talk"
    flow = care("talk").replace("consent: {notice: n, ask: q}", f"consent: {{{options}}}") \
        .replace("accepted: recorded, declined: talk", f"{own}, {outcome}: recorded" if policy != "never"
                 else "never: talk, hangup: talk")
    if policy == "never":
        flow = flow.replace("never: talk, hangup: talk", "never: recorded")
    assert messages(tmp_path, flow) == [f"step 'consent': outcome '{outcome}' leads to step 'recorded', which "
                                        "records the call; " + CONSENT_RULE]


def test_a_flow_that_records_with_no_consent_step_is_refused(tmp_path: Path) -> None:
    flow = """\
        version: 1
        name: sneaky
        start: record
        steps:
          record:
            exec: {app: MixMonitor, options: "{{ call.id }}.wav,b"}
            next: queue
          queue:
            queue: support
        """
    assert library(tmp_path, flow) == [
        ("f0.yaml", 5, "step 'record' records the call, but a path from the start of flow 'sneaky' reaches it "
                       "through no consent step; every flow is an entry, and recording needs a consent step that "
                       "gives consent first")]


def test_every_flow_is_an_entry_so_consent_in_another_flow_does_not_count(tmp_path: Path) -> None:
    front = """\
        version: 1
        name: front
        start: consent
        steps:
          consent:
            consent: {notice: n, ask: q}
            on: {accepted: handover, declined: bye}
          handover:
            goto: back
          bye:
            hangup:
        """
    back = """\
        version: 1
        name: back
        start: rec
        steps:
          rec:
            exec: {app: Record, options: "msg.wav"}
        """
    assert [m.split(",")[0] for m in messages(tmp_path, front, back)] == [
        "step 'rec' records the call"]


def test_code_agiflow_cannot_see_is_allowed_before_any_consent(tmp_path: Path) -> None:
    flow = """\
        version: 1
        name: crm
        start: lookup
        steps:
          lookup:
            exec: {app: Gosub, options: "crm-lookup,s,1"}
            next: queue
          queue:
            queue: support
        """
    assert messages(tmp_path, flow) == []


def test_a_single_file_load_checks_its_own_paths(tmp_path: Path) -> None:
    file = tmp_path / "one.yaml"
    file.write_text(care("recorded"))
    flow, errors = load_flow_file(file)
    assert flow is None
    assert [e.message.split(";")[0] for e in errors] == [
        "step 'consent': outcome 'declined' leads to step 'recorded', which records the call"]


def test_an_exec_whose_application_is_a_template_counts_as_everything() -> None:
    node = ExecNode("{{ vars.APP }}")
    assert (node.dials(), node.records(), node.runs_hidden_code()) == (True, True, True)


def test_the_shipped_flows_still_validate() -> None:
    _, errors = load_flows([Path(__file__).resolve().parents[2] / "flows"])
    assert errors == []


@pytest.mark.parametrize("setter", ["set: {variables: {ROBINSON: clear}}",
                                    "input: {prompt: p, variable: ROBINSON, max_digits: 9}",
                                    "exec: {app: Playback, options: beep, result_variable: ROBINSON}",
                                    "exec: {app: set, options: ROBINSON=clear}",
                                    "exec: {app: MSet, args: [A=1, ROBINSON=clear]}",
                                    # Exec and its kin run the Set written in their argument
                                    "exec: {app: Exec, options: Set(ROBINSON=clear)}",
                                    "exec: {app: TryExec, options: 'MSet(A=1,ROBINSON=clear)'}",
                                    "exec: {app: ExecIf, options: '1?Playback(beep):Set(ROBINSON=clear)'}",
                                    "exec: {app: ExecIf, options: '1,Set,ROBINSON=clear'}",
                                    # applications that put the keys they read into the variable named first
                                    "exec: {app: Read, options: 'ROBINSON,beep,1'}",
                                    "exec: {app: ReadExten, args: [ROBINSON, beep]}",
                                    "exec: {app: ReceiveMF, options: ROBINSON}",
                                    "exec: {app: ReceiveSF, options: 'ROBINSON,10'}",
                                    "exec: {app: Exec, options: Read(ROBINSON)}"])
def test_only_a_do_not_call_check_may_set_the_variable_the_dialplan_dials_on(tmp_path: Path, setter: str) -> None:
    flow = f"""\
        version: 1
        name: leg
        start: dnc
        steps:
          dnc:
            robinson: {{list: robinson}}
            on: {{clear: bye, listed: fake}}
          fake:
            {setter}
            next: bye
          bye:
            hangup:
        """
    found = library(tmp_path, flow)
    if "Exec" in setter:  # code agiflow cannot see after listed is an error of its own
        found = [error for error in found if "leads to step 'fake'" not in error[2]]
    assert found == [("f0.yaml", 8, "step 'fake' sets variable 'ROBINSON', which step 'dnc' of "
                                    "flow 'leg' sets to its do-not-call result; only a do-not-call check may set "
                                    "it, since the dialplan reads it to decide whether to dial")]


@pytest.mark.parametrize(("setter", "written"), [
    ("set: {variables: {__ROBINSON: clear}}", "__ROBINSON"),
    ("set: {variables: {_ROBINSON: clear}}", "_ROBINSON"),
    ("set: {variables: {GLOBAL(ROBINSON): clear}}", "GLOBAL(ROBINSON)"),
    ("exec: {app: Set, args: [__ROBINSON=clear]}", "__ROBINSON"),
    ("exec: {app: Set, options: GLOBAL(ROBINSON)=clear}", "GLOBAL(ROBINSON)"),
    ("input: {prompt: p, variable: _ROBINSON, max_digits: 9}", "_ROBINSON"),
    # functions whose write sets the channel variable their argument names
    ("set: {variables: {ARRAY(ROBINSON): clear}}", "ARRAY(ROBINSON)"),
    ("set: {variables: {'ARRAY(X,ROBINSON)': 'a,clear'}}", "ARRAY(X,ROBINSON)"),
    ("set: {variables: {array(ROBINSON): clear}}", "array(ROBINSON)"),
    ("set: {variables: {PUSH(ROBINSON): clear}}", "PUSH(ROBINSON)"),
    ("set: {variables: {UNSHIFT(__ROBINSON): clear}}", "UNSHIFT(__ROBINSON)"),
    ("set: {variables: {MASTER_CHANNEL(ROBINSON): clear}}", "MASTER_CHANNEL(ROBINSON)"),
    ("set: {variables: {LOCAL(ROBINSON): clear}}", "LOCAL(ROBINSON)"),
    ("exec: {app: Set, options: 'EXPORT(PJSIP/trunk-00000001,ROBINSON)=clear'}",
     "EXPORT(PJSIP/trunk-00000001,ROBINSON)"),
    ("exec: {app: Set, options: 'MASTER_CHANNEL(GLOBAL(_ROBINSON))=clear'}", "MASTER_CHANNEL(GLOBAL(_ROBINSON))")])
def test_the_variable_is_refused_also_under_an_inheritance_mark_or_as_a_global(tmp_path: Path, setter: str,
                                                                              written: str) -> None:
    """``${ROBINSON}`` reads what ``__ROBINSON`` or ``_ROBINSON`` set (Asterisk
    drops the marks), on a channel without it, ``GLOBAL(ROBINSON)``, and
    what a function writing the variable its argument names sets:
    ``ARRAY(ROBINSON)=clear`` sets ``ROBINSON`` to ``clear``."""
    flow = f"""\
        version: 1
        name: leg
        start: dnc
        steps:
          dnc:
            robinson: {{list: robinson}}
            on: {{clear: bye, listed: fake}}
          fake:
            {setter}
            next: bye
          bye:
            hangup:
        """
    assert library(tmp_path, flow) == [("f0.yaml", 8, f"step 'fake' sets variable '{written}', which step 'dnc' of "
                                        "flow 'leg' sets to its do-not-call result; only a do-not-call check may set "
                                        "it, since the dialplan reads it to decide whether to dial")]


def test_a_variable_that_only_ends_like_the_checks_is_not_refused(tmp_path: Path) -> None:
    flow = """\
        version: 1
        name: leg
        start: dnc
        steps:
          dnc:
            robinson: {list: robinson}
            on: {clear: bye, listed: fake}
          fake:
            set: {variables: {___ROBINSON: a, XROBINSON: b, CDR(ROBINSON): c, "HASH(ROBINSON,x)": d}}
            next: bye
          bye:
            hangup:
        """
    assert library(tmp_path, flow) == []


def test_several_checks_may_share_the_variable(tmp_path: Path) -> None:
    flow = """\
        version: 1
        name: leg
        start: dnc
        steps:
          dnc:
            robinson: {list: robinson}
            on: {clear: again}
          again:
            robinson: {list: internal_dnc, number: "{{ call.caller }}"}
            on: {clear: call}
          call:
            dial: PJSIP/100
        """
    assert library(tmp_path, flow) == []


@pytest.mark.parametrize("options", ['"MixMonitor(x.wav,b)"', '"$[${X}=1]?Playback(x):Record(y.wav)"',
                                     "'$[\"${X}\"=\"?\"]?MixMonitor(y.wav)'", '"$[${X}=1],MixMonitor,y.wav"'])
def test_a_recording_run_through_exec_is_a_recording(tmp_path: Path, options: str) -> None:
    """ExecIf is read as Asterisk reads it: a ``?`` in quotes or brackets
    does not end the condition, and ``ExecIf(expr,app,args)``, the older
    syntax, runs ``app``."""
    app = "ExecIf" if "?" in options or "],M" in options else "Exec"
    found = library(tmp_path, f"""\
        version: 1
        name: x
        start: rec
        steps:
          rec:
            exec: {{app: {app}, options: {options}}}
        """)
    assert [(line, message.split(";")[0]) for _, line, message in found] == [
        (5, "step 'rec' records the call, but a path from the start of flow 'x' reaches it through no consent step")]
