"""On a real Asterisk 22: recordings an ``exec`` starts, fails to start or
stops beside the consent step's (docs/steps.md#consent,
docs/compliance.md): what Asterisk answers to a MixMonitor without a file
name, which recording a StopMixMonitor without an id stops, a recording
paused and resumed by a consent given again; and a wrong key at a consent's
last question, which records nothing whatever the default.
"""
from __future__ import annotations


import pytest

from calls import Lab, agi_app_runs, call_log, files_of, seconds_of

pytestmark = pytest.mark.e2e


def test_an_exec_of_mixmonitor_without_a_file_name_fails_and_is_no_recording(lab: Lab) -> None:
    """Asterisk answers -1 to MixMonitor() without a file name, also with
    options (``,b``), and records nothing: a withdrawal has nothing to stop
    (no StopMixMonitor), and a consent given again starts its own file."""
    call = lab.calls["rec-failed"]
    assert call.path == ["answer:next", "consent:notified", "nameless:next", "options_only:next", "withdraw:never",
                         "again:notified", "talk:next", "bye:done"]
    assert [call.details(step)["result"] for step in ("nameless", "options_only")] == [-1, -1]
    log = call_log(lab, "rec-failed")
    assert sum("MixMonitor requires an argument" in line for line in log) == 2
    assert sum("Begin MixMonitor Recording" in line for line in log) == 1
    assert "stopped_recording" not in call.details("withdraw")
    assert agi_app_runs(lab, "rec-failed", "StopMixMonitor") == 0
    cdr = call.cdr
    assert "already_recording" not in call.details("again")
    assert call.details("again")["recording"] == cdr["recording"]
    assert (cdr["consent"], cdr["recording_commands"]) == ("notified", 3)
    assert files_of(lab, cdr["call_id"]) == [cdr["recording"]]
    assert 1.0 <= seconds_of(cdr["recording"]) <= 3.5  # the 2 s said after the consent given again


def test_stopmixmonitor_without_an_id_stops_the_newest_recording_and_the_details_name_the_one_left(
        lab: Lab) -> None:
    """The consent's recording, then an exec's: StopMixMonitor without an id
    stops the exec's (Asterisk finds the channel's newest MixMonitor first);
    the consent given again finds the consent's still running, and the
    withdrawal stops that one. The exec's file holds the 2 s said before
    the pause, the consent's everything up to the withdrawal."""
    call = lab.calls["rec-paused"]
    assert call.path == ["answer:next", "consent:notified", "second:next", "talk:next", "pause:next", "held:next",
                         "resume:notified", "more:next", "withdraw:never", "after:next", "bye:done"]
    cdr = call.cdr
    consents = cdr["recording"]
    assert call.details("resume")["already_recording"] is True
    assert call.details("resume")["recording"] == consents
    assert call.details("withdraw")["stopped_recording"] == consents
    assert (cdr["consent"], cdr["recording_commands"]) == ("never", 2)
    assert agi_app_runs(lab, "rec-paused", "StopMixMonitor") == 2
    execs = lab.asterisk.run / "spool" / "monitor" / f"e2e-paused-{cdr['call_id']}.wav"
    assert 1.0 <= seconds_of(str(execs)) <= 3.5
    assert 5.0 <= seconds_of(consents) <= 9.0  # 2 s, 2 s paused, the notice, 2 s; not the 2 s after


def test_a_consent_given_again_after_the_flow_stopped_the_recording_records_a_second_file(lab: Lab) -> None:
    """StopMixMonitor pauses the consent's recording; the consent given
    again records anew, to a file named from its own moment."""
    call = lab.calls["rec-resumed"]
    assert call.path == ["answer:next", "consent:notified", "talk:next", "pause:next", "held:next",
                         "resume:notified", "more:next", "bye:done"]
    cdr = call.cdr
    first, second = call.details("consent")["recording"], call.details("resume")["recording"]
    assert "already_recording" not in call.details("resume")
    assert first != second == cdr["recording"]
    assert sorted(files_of(lab, cdr["call_id"])) == sorted([first, second])
    # each holds the 2 s said after its consent; neither the 2 s paused
    assert all(1.0 <= seconds_of(path) <= 3.5 for path in (first, second))


def test_a_recording_resumed_at_once_gets_a_file_of_its_own(lab: Lab) -> None:
    """StopMixMonitor, then consent given again at once, often within the
    second the first file is named from: the second recording gets its own
    file (``-2`` in that case); MixMonitor would have emptied the first."""
    call = lab.calls["rec-quick"]
    assert call.path == ["answer:next", "consent:notified", "pause:next", "resume:notified", "talk:next", "bye:done"]
    first, second = call.details("consent")["recording"], call.details("resume")["recording"]
    assert first != second == call.cdr["recording"]
    if second.endswith("-2.wav"):
        assert second == first.removesuffix(".wav") + "-2.wav"
    assert sorted(files_of(lab, call.cdr["call_id"])) == sorted([first, second])
    assert 1.0 <= seconds_of(second) <= 3.5


def test_a_wrong_key_at_the_last_question_records_nothing_whatever_the_default(lab: Lab) -> None:
    """``default: accepted`` records a caller who never pressed a key, not
    one whose last attempt was a key that is no answer."""
    call = lab.calls["consent-wrong-key"]
    assert call.path == ["answer:next", "consent:declined", "bye:done"]
    cdr = call.cdr
    assert (cdr["consent"], cdr["consent_key"], cdr["recording"], cdr["recording_commands"]) == (
        "no_answer", None, None, 0)
    assert call.details("consent")["entries"] == ["9"]
    assert agi_app_runs(lab, "consent-wrong-key", "MixMonitor") == 0
    assert files_of(lab, cdr["call_id"]) == []
