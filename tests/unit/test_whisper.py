"""Whisper to the agent: ``queue`` and ``dial`` play prompts chosen per call
to the agent alone, before the caller is connected (Queue()'s
announceoverride, Dial()'s A() or U() with the agiflow-whisper subroutine)."""
from __future__ import annotations

from pathlib import Path

import pytest

from agi.loading.loader import load_flows
from support.dialplan_conf import parse
from support.step_runner import commands, details, flow_errors, path, run

REPO = Path(__file__).resolve().parents[2]


def flow(step: str) -> str:
    return f"""\
version: 1
name: w
start: vip
steps:
  vip:
    set: {{variables: {{VIP: "yes"}}}}
    next: agent
  agent:
    {step}
"""


WHISPERS = """[agiflow/whisper-vip, {play: agiflow/whisper-repeat, if: "history.calls >= 2"},
              "{{ 'agiflow/whisper-recorded' if vars.get('VIP') == 'yes' else '' }}"]"""


def sent(result: object, app: str) -> str:
    [command] = [c for c in commands(result) if c.startswith(f'EXEC "{app}"')]  # type: ignore[arg-type]
    return command


def test_queue_whispers_go_after_the_announcement_in_announceoverride(tmp_path: Path) -> None:
    result = run(tmp_path, flow(f"queue: {{name: support, timeout: 60, announce: agiflow/caller-waiting, "
                                f"whisper: {WHISPERS}}}"))
    assert sent(result, "Queue") == \
        'EXEC "Queue" "support,,,agiflow/caller-waiting&agiflow/whisper-vip&agiflow/whisper-recorded,60"'
    assert details(result, "agent")["whisper"] == ["agiflow/whisper-vip", "agiflow/whisper-recorded"]


def test_queue_whispers_alone_fill_announceoverride(tmp_path: Path) -> None:
    result = run(tmp_path, flow("queue: {name: support, whisper: [agiflow/whisper-vip]}"))
    assert sent(result, "Queue") == 'EXEC "Queue" "support,,,agiflow/whisper-vip"'


def test_a_dial_plays_one_whisper_with_a(tmp_path: Path) -> None:
    result = run(tmp_path, flow("dial: {destination: PJSIP/201, timeout: 15, options: t, "
                                "whisper: [agiflow/whisper-vip]}"))
    assert sent(result, "Dial") == 'EXEC "Dial" "PJSIP/201,15,tA(agiflow/whisper-vip)"'
    assert details(result, "agent")["whisper"] == ["agiflow/whisper-vip"]


def test_a_dial_plays_several_whispers_through_the_agiflow_whisper_subroutine(tmp_path: Path) -> None:
    result = run(tmp_path, flow(f"dial: {{destination: PJSIP/201, whisper: {WHISPERS}}}"))
    assert sent(result, "Dial") == \
        'EXEC "Dial" "PJSIP/201,,U(agiflow-whisper^agiflow/whisper-vip&agiflow/whisper-recorded)"'


def test_no_whisper_chosen_sends_the_application_unchanged(tmp_path: Path) -> None:
    step = "dial: {destination: PJSIP/201, whisper: [{play: agiflow/whisper-repeat, if: 'history.calls > 5'}]}"
    result = run(tmp_path, flow(step))
    assert sent(result, "Dial") == 'EXEC "Dial" "PJSIP/201"'
    assert details(result, "agent")["whisper"] == []


@pytest.mark.parametrize("sound", ["a:b", "a&b", "a,b", "a^b", "a(b)", "a b", "-x"])
@pytest.mark.parametrize("step", ["queue: {{name: support, whisper: ['{{{{ vars.S }}}}']}}",
                                  "dial: {{destination: PJSIP/1, whisper: ['{{{{ vars.S }}}}']}}"])
def test_a_whisper_that_could_reach_the_caller_or_break_the_arguments_is_an_error(
        tmp_path: Path, sound: str, step: str) -> None:
    text = flow(step.format()).replace('VIP: "yes"', f'S: "{sound}"')
    result = run(tmp_path, text)
    assert path(result)[-1] == "agent:error"
    assert "whisper sound" in details(result, "agent")["error"]
    assert not any(c.startswith("EXEC") for c in commands(result))


def test_a_dial_whose_options_already_play_to_the_called_party_refuses_a_whisper(tmp_path: Path) -> None:
    result = run(tmp_path, flow("dial: {destination: PJSIP/201, options: \"A(beep){{ '' }}\", whisper: [agiflow/x]}"))
    assert path(result)[-1] == "agent:error"
    assert "already play something" in details(result, "agent")["error"]


def test_whisper_options_are_checked_when_the_flow_loads(tmp_path: Path) -> None:
    assert any("whisper[0].if: template error" in e for e in
               flow_errors(tmp_path, flow("queue: {name: s, whisper: [{play: x, if: 'history.calls >'}]}")))
    assert flow_errors(tmp_path, flow("queue: {name: s, whisper: []}"))
    assert flow_errors(tmp_path, flow("dial: {destination: PJSIP/1, whisper: [{if: x}]}"))


@pytest.mark.parametrize("sound", ["a:b", "a&b", "a,b", "a^b", "a(b)", "a b", "-x"])
@pytest.mark.parametrize("step", ["queue: {{name: support, whisper: [x, '{sound}']}}",
                                  "dial: {{destination: PJSIP/1, whisper: [{{play: '{sound}', if: 'true'}}]}}"])
def test_a_written_whisper_sound_that_every_call_would_refuse_fails_validation(
        tmp_path: Path, sound: str, step: str) -> None:
    errors = flow_errors(tmp_path, flow(step.format(sound=sound)))
    assert any("whisper[" in e and "may hold only letters, digits and _ . / -" in e for e in errors), errors


def test_a_dial_whose_written_options_play_to_the_called_party_and_a_whisper_fail_validation(
        tmp_path: Path) -> None:
    for options in ("'A(beep)'", "'tU(sub)'"):
        errors = flow_errors(tmp_path, flow(f"dial: {{destination: PJSIP/201, options: {options}, whisper: [x]}}"))
        assert any("already play something" in e for e in errors), errors
    assert flow_errors(tmp_path, flow("dial: {destination: PJSIP/201, options: \"A(beep){{ '' }}\", "
                                      "whisper: [x]}")) == []
    assert flow_errors(tmp_path, flow("queue: {name: s, whisper: [\"{{ 'a b' }}\"]}")) == []


def test_whisper_prompts_are_listed_for_the_sound_checks(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(flow(f"queue: {{name: support, whisper: {WHISPERS}}}"))
    flows, errors = load_flows([tmp_path])
    assert errors == []
    prompts = flows.get("w").steps["agent"].node.prompts()  # type: ignore[union-attr]
    assert "agiflow/whisper-vip" in prompts and "agiflow/whisper-repeat" in prompts


def test_the_shipped_dialplan_has_the_whisper_subroutine() -> None:
    contexts = parse(REPO / "dialplan" / "extensions_agiflow.conf")
    steps = [(p.app, p.args) for p in contexts["agiflow-whisper"].extensions["s"]]
    assert steps == [("Playback", "${ARG1}"), ("Return", "")]


CONSENT_THEN_DIAL = """\
version: 1
name: w
start: consent
steps:
  consent:
    consent: {{notice: agiflow/recording-notice, ask: agiflow/recording-ask}}
    on: {{accepted: agent, declined: agent}}
  agent:
    dial: {{destination: PJSIP/201, whisper: {whisper}}}
"""


def test_several_dial_whispers_run_a_subroutine_and_may_not_follow_a_refused_consent(tmp_path: Path) -> None:
    errors = flow_errors(tmp_path, CONSENT_THEN_DIAL.format(whisper="[agiflow/a, agiflow/b]"))
    assert any("runs code agiflow cannot see" in e for e in errors), errors
    assert flow_errors(tmp_path, CONSENT_THEN_DIAL.format(
        whisper="[\"{{ 'agiflow/a' if vars.get('X') else 'agiflow/b' }}\"]")) == []
