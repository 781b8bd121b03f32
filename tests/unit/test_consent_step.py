"""The ``consent`` step: what the caller hears and presses, when (and only
when) MixMonitor starts, the recording's file name, and the CDR's consent
and recording columns. Recording consent fails closed, and the tests pin it:
no MixMonitor before consent, for every policy and every hangup point."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from agi.loading.loader import load_flows
from agi.steps.recording_path import recording_path, settings_problem
from agi.services import RecordingSettings, Services
from agi.sim.script import CallerScript
from support.step_runner import STATUS, cdr, commands, details, mixmonitor_commands, path, run, run_script

#: Where the default settings put a call of AT (09:30 in Madrid) from 600111222.
RECORDING = "/var/spool/asterisk/monitor/agiflow/2025/03/10/20250310-093000_600111222_911234567_1741595400.1.wav"
NOTICE = 'STREAM FILE "agiflow/recording-notice" ""'
ASK = 'GET DATA "agiflow/recording-ask" "5000" "1"'
#: With default: accepted, the question played by STREAM FILE (which tells a
#: sound heard from one that played nothing), then the wait for a key.
ASK_HEARD = ['STREAM FILE "agiflow/recording-ask" "0123456789*#"', 'WAIT FOR DIGIT "5000"']


def consent_flow(options: str = "", policy: str = "ask") -> str:
    outcomes = {"ask": "accepted: menu, declined: menu", "notify": "notified: menu", "never": "never: menu"}[policy]
    prompts = {"ask": "notice: agiflow/recording-notice, ask: agiflow/recording-ask",
               "notify": "notice: agiflow/recording-notice", "never": ""}[policy]
    body = ", ".join(filter(None, [f"policy: {policy}", prompts, options]))
    return f"""\
version: 1
name: c
timezone: Europe/Madrid
start: consent
steps:
  consent:
    consent: {{{body}}}
    on: {{{outcomes}}}
  menu:
    play: agiflow/main-menu
"""


def run_consent(tmp_path: Path, options: str = "", policy: str = "ask", **kwargs: Any) -> Any:
    return run(tmp_path, consent_flow(options, policy), called="911234567", **kwargs)


# -- policy ask ------------------------------------------------------------------

def test_caller_who_accepts_is_recorded_after_the_notice_and_the_question(tmp_path: Path) -> None:
    result = run_consent(tmp_path, dtmf=["1"])
    assert commands(result) == [NOTICE, ASK, f'EXEC "MixMonitor" "{RECORDING},b"',
                                'STREAM FILE "agiflow/main-menu" ""', STATUS.format("completed")]
    assert path(result) == ["consent:accepted", "menu:next"]
    assert cdr(result, "consent", "recording") == ("accepted", RECORDING)
    assert details(result, "consent") == {"entries": ["1"], "consent": "accepted", "recording": RECORDING}


def test_caller_who_declines_is_never_recorded(tmp_path: Path) -> None:
    result = run_consent(tmp_path, dtmf=["2"])
    assert commands(result) == [NOTICE, ASK, 'STREAM FILE "agiflow/main-menu" ""', STATUS.format("completed")]
    assert path(result) == ["consent:declined", "menu:next"]
    assert cdr(result, "consent", "recording") == ("declined", None)


def test_no_answer_is_declined_by_default_after_every_retry(tmp_path: Path) -> None:
    result = run_consent(tmp_path, "retries: 2")
    assert commands(result).count(ASK) == 3
    assert mixmonitor_commands(result) == []
    assert path(result)[0] == "consent:declined"
    assert cdr(result, "consent", "recording") == ("no_answer", None)


def test_no_answer_counts_as_accepted_only_when_configured(tmp_path: Path) -> None:
    result = run_consent(tmp_path, "retries: 0, default: accepted")
    assert commands(result)[:4] == [NOTICE, *ASK_HEARD, f'EXEC "MixMonitor" "{RECORDING},b"']
    assert path(result)[0] == "consent:accepted"
    assert cdr(result, "consent", "recording") == ("no_answer", RECORDING)


@pytest.mark.parametrize(("keys", "retries"), [(["9"], 0), ([None, "9"], 0), ([None, None, "9"], 1), (["5", "9"], 1)])
def test_a_wrong_key_on_the_last_attempt_is_never_recorded_even_with_default_accepted(
        tmp_path: Path, keys: list[str | None], retries: int) -> None:
    """``default: accepted`` records a caller who heard the question and did
    not answer; one whose last answer was a wrong key did answer, and
    compliance.md lists that among what records nothing (it was recorded).
    An attempt listens during the question, then while it waits for a key
    (``[None, "9"]``: 9 pressed after the question)."""
    result = run_consent(tmp_path, f"retries: {retries}, default: accepted", dtmf=keys)
    assert mixmonitor_commands(result) == []
    assert path(result)[0] == "consent:declined"
    assert cdr(result, "consent", "consent_key", "recording") == ("no_answer", None, None)
    silent_last = run_consent(tmp_path, "retries: 1, default: accepted", dtmf=["9", None])
    assert path(silent_last)[0] == "consent:accepted"  # the last question was heard and not answered
    assert cdr(silent_last, "consent", "recording") == ("no_answer", RECORDING)


def test_a_wrong_key_asks_again(tmp_path: Path) -> None:
    result = run_consent(tmp_path, 'accept: 7, decline: "*"', dtmf=["1", "7"])
    assert commands(result)[:3] == [NOTICE, 'GET DATA "agiflow/recording-ask" "5000" "1"', ASK]
    assert details(result, "consent")["entries"] == ["1", "7"]
    assert path(result)[0] == "consent:accepted"


def test_privacy_key_plays_the_full_notice_then_asks_again_without_using_an_attempt(tmp_path: Path) -> None:
    options = "privacy_key: 5, privacy: agiflow/privacy-policy, retries: 0"
    result = run_consent(tmp_path, options, dtmf=["5", None, "1"])
    assert commands(result)[:4] == [NOTICE, ASK, 'STREAM FILE "agiflow/privacy-policy" "12"', ASK]
    assert path(result)[0] == "consent:accepted"
    assert details(result, "consent")["entries"] == ["5", "1"]


def test_caller_may_decline_while_the_privacy_notice_plays(tmp_path: Path) -> None:
    result = run_consent(tmp_path, "privacy_key: 5, privacy: agiflow/privacy-policy", dtmf=["5", "2"])
    assert commands(result)[:3] == [NOTICE, ASK, 'STREAM FILE "agiflow/privacy-policy" "12"']
    assert path(result)[0] == "consent:declined"
    assert mixmonitor_commands(result) == []


def test_the_notice_cannot_be_cut_short_by_a_key(tmp_path: Path) -> None:
    result = run_consent(tmp_path, dtmf=["1"])
    assert commands(result)[0] == NOTICE  # no escape digits: the caller hears it all


def test_mixmonitor_options_and_recording_settings_are_used(tmp_path: Path) -> None:
    services = Services(recordings=RecordingSettings(directory="/srv/rec/", format="gsm"))
    result = run_consent(tmp_path, "mixmonitor_options: bW(2)", dtmf=["1"], services=services)
    path_ = "/srv/rec/2025/03/10/20250310-093000_600111222_911234567_1741595400.1.gsm"
    assert mixmonitor_commands(result) == [f'EXEC "MixMonitor" "{path_},bW(2)"']
    assert cdr(result, "recording") == (path_,)


def test_recordings_in_wav49_are_named_as_asterisk_writes_them_dot_wav_in_capitals(tmp_path: Path) -> None:
    # Asterisk's file.c writes the wav49 format (GSM in a WAV file) to <name>.WAV:
    # a CDR that said <name>.wav49 named a file that never exists
    services = Services(recordings=RecordingSettings(directory="/srv/rec/", format="wav49"))
    result = run_consent(tmp_path, "", dtmf=["1"], services=services)
    path_ = "/srv/rec/2025/03/10/20250310-093000_600111222_911234567_1741595400.1.WAV"
    assert mixmonitor_commands(result) == [f'EXEC "MixMonitor" "{path_},b"']
    assert cdr(result, "recording") == (path_,)


def test_record_false_takes_consent_without_recording(tmp_path: Path) -> None:
    result = run_consent(tmp_path, "record: false", dtmf=["1"])
    assert mixmonitor_commands(result) == []
    assert cdr(result, "consent", "recording") == ("accepted", None)


# -- policies notify and never ---------------------------------------------------

def test_notify_records_once_the_whole_notice_was_heard(tmp_path: Path) -> None:
    result = run_consent(tmp_path, policy="notify")
    assert commands(result)[:2] == [NOTICE, f'EXEC "MixMonitor" "{RECORDING},b"']
    assert path(result)[0] == "consent:notified"
    assert cdr(result, "consent", "recording") == ("notified", RECORDING)


def test_never_plays_nothing_and_records_nothing(tmp_path: Path) -> None:
    result = run_consent(tmp_path, policy="never")
    assert commands(result) == ['STREAM FILE "agiflow/main-menu" ""', STATUS.format("completed")]
    assert path(result)[0] == "consent:never"
    assert cdr(result, "consent", "recording") == ("never", None)


# -- the decision in the CDR -----------------------------------------------------

#: The consent step after five minutes in a queue: the decision's time differs from the call's start.
LATER = """\
version: 1
name: later
timezone: Europe/Madrid
start: wait
steps:
  wait:
    queue: {name: support, timeout: 300}
    on: {timeout: consent}
  consent:
    consent: {%s}
    on: {%s}
"""


@pytest.mark.parametrize("options, on, dtmf, consent, key", [
    ("notice: n, ask: q", "accepted: end, declined: end", ["1"], "accepted", "1"),
    ("notice: n, ask: q", "accepted: end, declined: end", ["2"], "declined", "2"),
    ('notice: n, ask: q, accept: "*", decline: "9"', "accepted: end, declined: end", ["3", "9"], "declined", "9"),
    ("notice: n, ask: q, privacy_key: 5, privacy: p", "accepted: end, declined: end", ["5", "1"], "accepted", "1"),
    ("notice: n, ask: q, retries: 0", "accepted: end, declined: end", [], "no_answer", None),
    ("policy: notify, notice: n", "notified: end", [], "notified", None),
    ("policy: never", "never: end", [], "never", None),
])
def test_the_cdr_keeps_the_decision_the_key_and_when_it_was_taken(
        tmp_path: Path, options: str, on: str, dtmf: list[str], consent: str, key: str | None) -> None:
    flow = LATER % (options, on) + "  end:\n    play: bye\n"
    result = run(tmp_path, flow, dtmf=dtmf, queue_statuses=["TIMEOUT"], queue_wait=300)
    assert path(result)[0] == "wait:timeout"
    assert cdr(result, "consent", "consent_key", "consent_at") == (consent, key, "2025-03-10T08:35:00.000Z")
    assert cdr(result, "started_at") == ("2025-03-10T08:30:00.000Z",)


def test_a_hangup_before_the_decision_leaves_no_key_and_no_time(tmp_path: Path) -> None:
    result = run_consent(tmp_path, policy="notify", hangup_after=0)
    assert cdr(result, "consent", "consent_key", "consent_at") == ("no_answer", None, None)


def test_a_later_consent_step_replaces_the_key_and_the_time(tmp_path: Path) -> None:
    flow = (LATER % ("notice: n, ask: q", "accepted: again, declined: again")).replace(
        "start: wait", "start: consent").replace("on: {timeout: consent}", "on: {timeout: end}") + """\
  again:
    consent: {notice: n, ask: q, retries: 0}
    on: {accepted: wait, declined: wait}
  end:
    play: bye
"""
    result = run(tmp_path, flow, dtmf=["1"], queue_statuses=["TIMEOUT"], queue_wait=300)
    assert path(result) == ["consent:accepted", "again:declined", "wait:timeout", "end:next"]
    assert cdr(result, "consent", "consent_key", "consent_at") == ("no_answer", None, "2025-03-10T08:30:00.000Z")


# -- failures ------------------------------------------------------------------

@pytest.mark.parametrize("result_code", [-2, -1])
def test_mixmonitor_failing_keeps_the_consent_and_records_no_file(tmp_path: Path, result_code: int) -> None:
    result = run_consent(tmp_path, dtmf=["1"], app_results={"MixMonitor": result_code})
    assert path(result) == ["consent:accepted", "menu:next"]
    assert cdr(result, "consent", "recording", "status") == ("accepted", None, "completed")
    assert "MixMonitor" in details(result, "consent")["recording_error"]


def test_a_later_decline_sends_no_stop_when_the_earlier_mixmonitor_failed(tmp_path: Path) -> None:
    flow = consent_flow().replace("  menu:\n    play: agiflow/main-menu\n", """\
  menu:
    consent: {notice: agiflow/transfer-notice, ask: agiflow/recording-ask}
    on: {accepted: end, declined: end}
  end:
    play: agiflow/main-menu
""")
    result = run(tmp_path, flow, called="911234567", dtmf=["1", "2"], app_results={"MixMonitor": -2})
    assert path(result) == ["consent:accepted", "menu:declined", "end:next"]
    assert 'EXEC "StopMixMonitor" ""' not in commands(result)
    assert "stopped_recording" not in details(result, "menu")


def test_hangup_during_the_notice_gives_no_consent_and_no_recording(tmp_path: Path) -> None:
    result = run_consent(tmp_path, policy="notify", hangup_after=0)
    assert path(result) == ["consent:hangup"]
    assert mixmonitor_commands(result) == []
    assert cdr(result, "consent", "recording", "status") == ("no_answer", None, "caller_hangup")


def test_hangup_during_the_question_keeps_the_keys_pressed_and_no_consent(tmp_path: Path) -> None:
    result = run_consent(tmp_path, dtmf=["9"], hangup_after=2)
    assert path(result) == ["consent:hangup"]
    assert details(result, "consent") == {"entries": ["9"]}
    assert cdr(result, "consent", "recording", "status") == ("no_answer", None, "caller_hangup")


@pytest.mark.parametrize("missing", ["agiflow/recording-notice", "agiflow/recording-ask"])
def test_a_prompt_that_cannot_be_played_records_nothing(tmp_path: Path, missing: str) -> None:
    sounds = {"agiflow/recording-notice": 8000, "agiflow/recording-ask": 8000, "agiflow/main-menu": 8000}
    del sounds[missing]
    script = CallerScript(dtmf=["1"], sounds=sounds)
    result = run_script(tmp_path, consent_flow().replace("declined: menu", "declined: menu, error: menu"), script)
    assert path(result) == ["consent:error", "menu:next"]
    assert mixmonitor_commands(result) == []
    assert cdr(result, "consent", "recording") == ("no_answer", None)
    assert "nothing is recorded" in details(result, "consent")["error"]


@pytest.mark.parametrize(("policy", "options"), [
    ("ask", "notice: agiflow/recording-notice, ask: \"{{ params.p }}\", retries: 0, default: accepted"),
    ("ask", "notice: \"{{ params.p }}\", ask: agiflow/recording-ask"),
    ("notify", "notice: \"{{ params.p }}\""),
    ("ask", "notice: agiflow/recording-notice, ask: agiflow/recording-ask, privacy_key: '5', "
            "privacy: \" {{ params.p }}\""),
])
def test_a_prompt_that_renders_empty_was_not_heard_and_records_nothing(
        tmp_path: Path, policy: str, options: str) -> None:
    """Asterisk's GET DATA plays nothing for an empty prompt and waits for a
    key: a question no one heard, left unanswered, is no consent, whatever
    ``default`` says; nor is a notice no one heard."""
    outcomes = "notified: menu, error: menu" if policy == "notify" else "accepted: menu, declined: menu, error: menu"
    flow = consent_flow().replace("timezone: Europe/Madrid\n", "timezone: Europe/Madrid\nparams: {p: ''}\n")
    flow = flow.replace(consent_flow().split("consent: ", 1)[1].split("\n", 1)[0],
                        f"{{policy: {policy}, {options}}}").replace(
        "on: {accepted: menu, declined: menu}", f"on: {{{outcomes}}}")
    result = run(tmp_path, flow, called="911234567", dtmf=["5"] if "privacy_key" in options else [])
    assert path(result) == ["consent:error", "menu:next"]
    assert mixmonitor_commands(result) == []
    assert not [c for c in commands(result) if c.startswith(("STREAM FILE \"\"", "GET DATA \"\"",
                                                              "STREAM FILE \" \""))]
    assert cdr(result, "consent", "recording") == ("no_answer", None)
    assert "nothing is recorded" in details(result, "consent")["error"]


def test_a_later_consent_that_declines_stops_the_earlier_recording(tmp_path: Path) -> None:
    flow = consent_flow().replace("  menu:\n    play: agiflow/main-menu\n", """\
  menu:
    consent: {notice: agiflow/transfer-notice, ask: agiflow/recording-ask}
    on: {accepted: end, declined: end}
  end:
    play: agiflow/main-menu
""")
    result = run(tmp_path, flow, called="911234567", dtmf=["1", "2"])
    sent = commands(result)
    assert sent.index('EXEC "StopMixMonitor" ""') > sent.index(f'EXEC "MixMonitor" "{RECORDING},b"')
    assert cdr(result, "consent", "recording") == ("declined", RECORDING)


def test_a_later_consent_whose_prompt_cannot_be_played_stops_the_earlier_recording(tmp_path: Path) -> None:
    flow = consent_flow().replace("  menu:\n    play: agiflow/main-menu\n", """\
  menu:
    consent: {notice: agiflow/transfer-notice, ask: agiflow/recording-ask}
    on: {accepted: end, declined: end, error: end}
  end:
    play: agiflow/main-menu
""")
    sounds = {"agiflow/recording-notice": 8000, "agiflow/recording-ask": 8000, "agiflow/main-menu": 8000}
    result = run_script(tmp_path, flow, CallerScript(dtmf=["1"], sounds=sounds))
    assert path(result) == ["consent:accepted", "menu:error", "end:next"]
    sent = commands(result)
    assert sent.index('EXEC "StopMixMonitor" ""') < sent.index('STREAM FILE "agiflow/main-menu" ""')
    assert details(result, "menu")["stopped_recording"].endswith(".wav")


SALES = """\
version: 1
name: sales
timezone: Europe/Madrid
start: consent
steps:
  consent:
    consent: {policy: notify, notice: agiflow/recording-notice}
    on: {notified: end}
  end:
    play: agiflow/main-menu
"""


def sales_consent(result: Any) -> dict[str, Any]:
    [row] = [s for s in result.steps if (s["flow"], s["step"]) == ("sales", "consent")]
    return dict(json.loads(row["details"]))


def test_a_flow_entered_by_goto_takes_its_own_consent_without_a_second_recording(tmp_path: Path) -> None:
    """Every flow is an entry, so a flow reached by goto takes its own
    consent; while the first recording of the call still runs, its consent
    starts no second MixMonitor (two files of one call, or one file written
    twice when both start in the same second)."""
    flow = consent_flow().replace("  menu:\n    play: agiflow/main-menu\n", "  menu:\n    goto: sales\n")
    result = run(tmp_path, flow, SALES, called="911234567", dtmf=["1"])
    assert path(result) == ["consent:accepted", "menu:transfer", "consent:notified", "end:next"]
    assert mixmonitor_commands(result) == [f'EXEC "MixMonitor" "{RECORDING},b"']
    assert cdr(result, "consent", "recording", "recording_commands") == ("notified", RECORDING, 1)
    assert sales_consent(result) == {"consent": "notified", "recording": RECORDING, "already_recording": True}


def test_after_a_withdrawn_consent_a_new_one_records_again(tmp_path: Path) -> None:
    flow = consent_flow().replace("  menu:\n    play: agiflow/main-menu\n", """\
  menu:
    consent: {notice: agiflow/transfer-notice, ask: agiflow/recording-ask}
    on: {accepted: again, declined: again}
  again:
    goto: sales
""")
    result = run(tmp_path, flow, SALES, called="911234567", dtmf=["1", "2"])
    assert [c.split('"')[1] for c in commands(result) if c.startswith("EXEC")] == [
        "MixMonitor", "StopMixMonitor", "MixMonitor"]
    assert "already_recording" not in sales_consent(result)


# -- the pin: MixMonitor only after consent, whatever the hangup point -------------

SCENARIOS = {
    "ask-accepted": ("", "ask", ["1"]),
    "ask-declined": ("", "ask", ["2"]),
    "ask-privacy-then-accepted": ("privacy_key: 5, privacy: agiflow/privacy-policy", "ask", ["5", None, "1"]),
    "ask-no-answer-declined": ("retries: 1", "ask", []),
    "ask-no-answer-accepted": ("retries: 1, default: accepted", "ask", []),
    "notify": ("", "notify", []),
    "never": ("", "never", []),
}
CONSENT_PROMPTS = ("STREAM FILE", "GET DATA", "WAIT FOR DIGIT")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_mixmonitor_is_sent_before_consent_at_any_hangup_point(tmp_path: Path, scenario: str) -> None:
    options, policy, dtmf = SCENARIOS[scenario]
    full = run_consent(tmp_path, options, policy, dtmf=dtmf)
    sent = commands(full)
    records = policy != "never" and "declined" not in scenario
    assert bool(mixmonitor_commands(full)) == records
    decided = max((i for i, c in enumerate(sent) if c.startswith(CONSENT_PROMPTS) and "main-menu" not in c),
                  default=-1)
    for hangup_after in range(len(sent)):
        result = run_consent(tmp_path, options, policy, dtmf=dtmf, hangup_after=hangup_after)
        cut = commands(result)
        mix = [i for i, c in enumerate(cut) if c.startswith('EXEC "MixMonitor"')]
        # The caller hangs up during command number hangup_after (0-based): a hangup
        # at or before the command that decides the consent leaves nothing recorded.
        if hangup_after <= decided or not records:
            assert mix == [], (hangup_after, cut)
            assert result.call.get("recording") is None
        else:
            assert mix == [decided + 1], (hangup_after, cut)
        assert all(i > decided for i in mix)


# -- validation --------------------------------------------------------------------

@pytest.mark.parametrize(("consent", "message"), [
    ("{policy: notify}", "policy notify needs the `notice` prompt"),
    ("{policy: ask, notice: n}", "policy ask needs the question prompt `ask`"),
    ("{policy: notify, notice: n, accept: 1}", "accept: only for policy ask, not notify"),
    ("{policy: never, notice: n}", "policy never plays nothing"),
    ("{ask: a, accept: 1, decline: 1}", "must be different keys"),
    ("{ask: a, privacy_key: 5}", "give privacy_key and privacy together"),
    ("{ask: a, decline: '#'}", "decline: '#' does not match"),
    # a key written as a YAML number is one key too: GET DATA reads one, so 12 could never be pressed
    ("{ask: a, accept: 12}", "accept: 12 is greater than the maximum of 9"),
    ("{ask: a, decline: -2}", "decline: -2 is less than the minimum of 0"),
])
def test_consent_options_that_cannot_work_are_refused(tmp_path: Path, consent: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(
        f"version: 1\nname: bad\nstart: c\nsteps:\n  c:\n    consent: {consent}\n")
    _, errors = load_flows([tmp_path])
    assert any(message in str(error) for error in errors), errors


# -- file names ------------------------------------------------------------------

AT_MADRID = datetime(2025, 3, 10, 9, 30, 0, tzinfo=timezone.utc)


def test_recording_name_keeps_only_safe_characters_of_caller_called_and_call_id() -> None:
    settings = RecordingSettings(directory="/rec", format="wav")
    name = recording_path(settings, AT_MADRID, "+34 600-111'222/../x", "../../etc", "../../1741597200.42/..")
    assert name == "/rec/2025/03/10/20250310-093000_+34600111222x_etc_1741597200.42.wav"


def test_recording_name_for_an_anonymous_caller_and_no_called_number() -> None:
    name = recording_path(RecordingSettings(directory="/rec", format="wav"), AT_MADRID, "", "", "")
    assert name == "/rec/2025/03/10/20250310-093000_anonymous_unknown_unknown.wav"


@pytest.mark.parametrize("at", [datetime(2025, 3, 10, 9, 30, 0, tzinfo=timezone.utc),
                                datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
                                datetime(2027, 1, 2, 3, 4, 5, tzinfo=timezone.utc)])
def test_recording_folder_and_name_give_the_day_and_time_as_strftime_does(at: datetime) -> None:
    name = recording_path(RecordingSettings(directory="/rec/", format="wav"), at, "1", "2", "3")
    assert name == f"/rec/{at.strftime('%Y/%m/%d')}/{at.strftime('%Y%m%d-%H%M%S')}_1_2_3.wav"


@pytest.mark.parametrize("directory", ["/", "//"])
def test_recordings_in_the_root_folder_get_an_absolute_path(directory: str) -> None:
    assert settings_problem(RecordingSettings(directory=directory, format="wav")) is None
    name = recording_path(RecordingSettings(directory=directory, format="wav"), AT_MADRID, "1", "2", "3")
    assert name.startswith(f"/{AT_MADRID.strftime('%Y/%m/%d')}/"), name


@pytest.mark.parametrize(("directory", "fmt"), [("rec", "wav"), ("/rec\nb", "wav"), ("/rec\x00", "wav"),
                                                ("/rec", "wav,b")])
def test_recording_settings_mixmonitor_cannot_take_are_refused(directory: str, fmt: str) -> None:
    assert settings_problem(RecordingSettings(directory=directory, format=fmt)) is not None


def test_bad_recording_settings_record_nothing_and_say_why(tmp_path: Path) -> None:
    services = Services(recordings=RecordingSettings(directory="relative/dir"))
    result = run_consent(tmp_path, dtmf=["1"], services=services)
    assert mixmonitor_commands(result) == []
    assert cdr(result, "consent", "recording") == ("accepted", None)
    assert "absolute" in details(result, "consent")["recording_error"]


def test_every_sound_of_the_step_is_a_prompt_of_the_flow(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(consent_flow("privacy_key: 5, privacy: agiflow/privacy-policy"))
    flows, errors = load_flows([tmp_path])
    assert errors == []
    flow = flows.get("c")
    assert flow is not None
    assert flow.steps["consent"].node.prompts() == ["agiflow/recording-notice", "agiflow/recording-ask",
                                                     "agiflow/privacy-policy"]
