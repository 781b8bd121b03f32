"""On a real Asterisk 22, heard: a queue's and a dial's whisper reaches the
agent who answers and never the caller. Each prompt is a pure tone
(tones.py); the dialplan records both ears, the caller's and the agent's,
on their own side of the Local channels, and the recordings are searched
for each tone's frequency.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from calls import Lab, finished_recording, wait_until
from tones import BLOCK, PRESENT_LEVEL, RATE, TONES, heard, levels, samples

pytestmark = pytest.mark.e2e


def recording(lab: Lab, name: str) -> Path:
    return lab.asterisk.recordings / f"{name}.wav"


@pytest.mark.parametrize("script, step, whispers", [
    ("whisper-queue", "queue", ["e2e/whisper"]),
    ("whisper-dial", "agent", ["e2e/whisper", "e2e/whisper-more"]),
])
def test_the_agent_hears_the_whisper_and_the_caller_does_not(lab: Lab, script: str, step: str,
                                                             whispers: list[str]) -> None:
    call = lab.calls[script]
    assert call.cdr["status"] == "completed" and call.path[1] in ("queue:answered", "agent:answer")
    assert call.details(step)["whisper"] == whispers
    caller, agent = recording(lab, f"caller-{script}"), recording(lab, f"agent-{script}")
    for prompt in whispers:
        assert heard(agent, prompt), f"the agent did not hear {prompt}"
        assert not heard(caller, prompt), f"the caller heard {prompt}"
    # Once connected the caller hears the agent: the recording is the caller's ear.
    assert heard(caller, "e2e/agent")


@pytest.mark.parametrize("script", ["whisper-queue", "whisper-dial"])
def test_the_whisper_plays_in_the_agents_channel_language_not_the_flows(lab: Lab, script: str) -> None:
    # the flows are in es; the agents' Local channels have no language
    played = [line for line in lab.asterisk.log().splitlines()
              if f"<Local/agent-{script}@lab-agents-" in line and "Playing 'e2e/whisper" in line]
    assert played and all(line.endswith("(language 'en')") for line in played), played


def test_a_key_the_member_presses_skips_the_whisper_prompt_that_plays_and_the_next_one_plays(lab: Lab) -> None:
    call = lab.calls["whisper-skip"]
    assert call.path == ["answer:next", "queue:answered", "bye:done"]
    agent = recording(lab, "agent-skip")
    wait_until(lambda: finished_recording(agent), 10, f"{agent} closed")
    loud = [level >= PRESENT_LEVEL for level in levels(samples(agent), TONES["e2e/whisper"][0])]
    # the first prompt lasts 1.5 s: the key 0.3 s into it ended it; the second played
    assert 0.25 <= sum(loud) * BLOCK / RATE <= 1.2
    assert heard(agent, "e2e/whisper-more")


def test_a_queue_plays_the_whisper_as_its_announcement_to_the_member(lab: Lab) -> None:
    lines = lab.asterisk.call_lines(lab.calls["whisper-queue"].end["channel"])
    assert any("AGI Script Executing Application: (Queue) Options: (whisper,r,,e2e/whisper,20)" in line
               for line in lines)


def test_a_dial_whisper_of_two_prompts_runs_the_shipped_subroutine_on_the_agents_channel(lab: Lab) -> None:
    log = lab.asterisk.log()
    assert "AGI Script Executing Application: (Dial) Options: (Local/agent-whisper-dial@lab-agents/n,10," \
           "U(agiflow-whisper^e2e/whisper&e2e/whisper-more))" in log
    assert 'Executing [s@agiflow-whisper:1] Playback("Local/agent-whisper-dial@lab-agents-' in log
