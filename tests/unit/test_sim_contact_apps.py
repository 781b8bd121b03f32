"""The simulated Asterisk ends Queue, Dial, VoiceMail and MixMonitor the way
Asterisk 22 does, on the wire: the EXEC reply, the variables left behind and
when the HANGUP line comes. These are the facts the contact-center steps
rely on (app_queue.c, app_dial.c, app_voicemail.c)."""
from __future__ import annotations

from typing import Any

from agi.sim.asterisk import CallerScript, SimulatedAsterisk


def sim(**script: Any) -> SimulatedAsterisk:
    return SimulatedAsterisk(script=CallerScript(**script))


def test_queue_timeout_sets_queuestatus_and_abandoned_and_returns_0() -> None:
    asterisk = sim(queue_wait=5)
    assert asterisk.handle('EXEC Queue "support,t,,,5"') == ["200 result=0"]
    assert (asterisk.variables["QUEUESTATUS"], asterisk.variables["ABANDONED"]) == ("TIMEOUT", "TRUE")
    assert asterisk.elapsed == 5


def test_queue_join_failure_returns_at_once_without_abandoned() -> None:
    asterisk = sim(queue_statuses=["JOINEMPTY"], queue_wait=30)
    assert asterisk.handle('EXEC Queue "support"') == ["200 result=0"]
    assert asterisk.variables["QUEUESTATUS"] == "JOINEMPTY"
    assert "ABANDONED" not in asterisk.variables and asterisk.elapsed == 0


def test_queue_answered_leaves_queuestatus_alone_and_returns_minus_1_with_the_caller_still_there() -> None:
    asterisk = sim(queue_statuses=["ANSWERED"], queue_wait=20, talk_time=100)
    assert asterisk.handle('EXEC Queue "support"') == ["200 result=-1"]
    assert asterisk.handle("NOOP") == ["200 result=0"]  # no HANGUP line: the member hung up first
    assert "QUEUESTATUS" not in asterisk.variables and "ABANDONED" not in asterisk.variables
    assert (asterisk.variables["QEHOLDTIME"], asterisk.elapsed) == ("20", 120)


def test_queue_answered_with_option_c_continues_with_0() -> None:
    asterisk = sim(queue_statuses=["ANSWERED"])
    assert asterisk.handle('EXEC Queue "support,tc"') == ["200 result=0"]
    assert asterisk.variables["QUEUESTATUS"] == "CONTINUE"


def test_caller_hanging_up_in_the_queue_is_abandoned_without_queuestatus() -> None:
    asterisk = sim(hangup_during=1)
    assert asterisk.handle('EXEC Queue "support"') == ["200 result=-1"]
    assert asterisk.handle('GET VARIABLE QUEUESTATUS') == ["HANGUP", "200 result=0"]
    assert asterisk.variables["ABANDONED"] == "TRUE"


def test_dial_answered_returns_minus_1_unless_option_g() -> None:
    asterisk = sim(talk_time=42)
    assert asterisk.handle('EXEC Dial "PJSIP/100,30"') == ["200 result=-1"]
    assert (asterisk.variables["DIALSTATUS"], asterisk.variables["ANSWEREDTIME"]) == ("ANSWER", "42")
    assert sim().handle('EXEC Dial "PJSIP/100,30,g"') == ["200 result=0"]


def test_dial_blanks_answeredtime_of_an_earlier_call() -> None:
    asterisk = sim(dial_statuses=["ANSWER", "BUSY"], talk_time=42)
    asterisk.handle('EXEC Dial "PJSIP/100"')
    assert asterisk.handle('EXEC Dial "PJSIP/200"') == ["200 result=0"]
    assert (asterisk.variables["DIALSTATUS"], asterisk.variables["ANSWEREDTIME"]) == ("BUSY", "")


def test_voicemail_hangup_during_the_greeting_fails() -> None:
    asterisk = sim(hangup_during=1)
    assert asterisk.handle('EXEC VoiceMail "100@default"') == ["200 result=-1"]
    assert asterisk.variables["VMSTATUS"] == "FAILED"


def test_an_application_asterisk_lacks_answers_minus_2_and_does_not_run() -> None:
    asterisk = sim(app_results={"MixMonitor": -2})
    assert asterisk.handle('EXEC MixMonitor "/tmp/x.wav,b"') == ["200 result=-2"]
    assert asterisk.mixmonitor_files == [] and asterisk.applications == []
