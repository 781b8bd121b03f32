"""From an application's status variable to a step outcome, the one rule
``dial`` and ``voicemail`` share: the kept status (ANSWER, SUCCESS) stands
even when the caller is gone afterwards; any other status after a hangup is
``hangup``; a status agiflow does not know is ``error`` and says which."""
from __future__ import annotations

import pytest

from agi.steps.dial import DIALSTATUS
from agi.steps.dialplan_app import AppRun
from agi.steps.voicemail import VMSTATUS

STAYED = AppRun(result=0, hung_up=False, seconds=3.0)
GONE = AppRun(result=-1, hung_up=True, seconds=3.0)


@pytest.mark.parametrize(("status", "ran", "outcome"), [
    ("ANSWER", STAYED, "answer"), ("ANSWER", GONE, "answer"), ("BUSY", STAYED, "busy"),
    ("CHANUNAVAIL", STAYED, "chanunavail"), ("CANCEL", GONE, "hangup"), ("NOANSWER", GONE, "hangup"),
])
def test_dialstatus_gives_its_outcome_and_a_hangup_wins_over_all_but_answer(status: str, ran: AppRun,
                                                                             outcome: str) -> None:
    assert DIALSTATUS.outcome(status, ran, "Dial(PJSIP/100)") == (outcome, {})


@pytest.mark.parametrize(("status", "ran", "outcome"), [
    ("SUCCESS", GONE, "success"), ("USEREXIT", STAYED, "user_exit"), ("FAILED", STAYED, "failed"),
    ("FAILED", GONE, "hangup"),
])
def test_vmstatus_gives_its_outcome_and_a_saved_message_stands_after_a_hangup(status: str, ran: AppRun,
                                                                              outcome: str) -> None:
    assert VMSTATUS.outcome(status, ran, "VoiceMail(100@sales)") == (outcome, {})


@pytest.mark.parametrize(("status", "shown"), [("", "(none)"), ("WEIRD", "WEIRD")])
def test_an_unknown_status_is_an_error_that_names_the_application_and_the_variable(status: str,
                                                                                   shown: str) -> None:
    assert DIALSTATUS.outcome(status, STAYED, "Dial(PJSIP/100)") == (
        "error", {"error": f"Dial(PJSIP/100) ended with DIALSTATUS={shown}"})
    assert VMSTATUS.outcome(status, STAYED, "VoiceMail(100)") == (
        "error", {"error": f"VoiceMail(100) ended with VMSTATUS={shown}"})
