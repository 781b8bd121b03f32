"""The compliance guard through ``agiflow serve`` over real TCP: a flow that
validates but whose options, once rendered, would record a caller who
declined is stopped by the server before Asterisk sees the command; the
SQLite CDR, the log and ``agiflow report compliance`` say so."""
from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from agi.cli.main import cli
from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment, run_simulated_call
from support.server_process import HOST, ServerProcess, finished_cdr, running_server, step_rows

pytestmark = pytest.mark.integration

FLOW = """\
version: 1
name: care
timezone: Europe/Madrid
start: consent
steps:
  consent:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {accepted: options, declined: options}
  options:
    set: {variables: {AGENT_OPTIONS: "tU(record-agent)"}}
    next: agent
  agent:
    exec: {app: Dial, args: [PJSIP/agent, 30, "{{ vars.AGENT_OPTIONS }}"]}
"""

#: A consent, then one that asks again: its notice comes from a template
#: that fails on a call whose AGI URL gives ?n=0; the pause stops the
#: recording and the third consent resumes it.
AGAIN = """\
version: 1
name: again
params: {n: "1"}
start: first
steps:
  first:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {accepted: second}
  second:
    consent: {notice: "agiflow/notice-{{ 1 // (params.n | int) }}", ask: agiflow/recording-ask}
    on: {accepted: pause, error: bye}
  pause:
    exec: {app: StopMixMonitor}
    next: resume
  resume:
    consent: {policy: notify, notice: agiflow/recording-resumed}
    on: {notified: bye}
  bye:
    play: beep
"""

#: A consent's recording, one an Exec of MixMonitor starts, then a
#: consent the caller declines: both must stop.
WITHDRAW = """\
version: 1
name: withdraw
start: first
steps:
  first:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {accepted: agent_side}
  agent_side:
    exec: {app: Exec, options: "MixMonitor(agent-side.wav,b)"}
    next: again
  again:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {declined: bye}
  bye:
    play: beep
"""

#: A pause whose StopMixMonitor is given a space: Asterisk reads it as an
#: id, which no recording has, and stops nothing; then the caller declines.
SPACE_PAUSE = """\
version: 1
name: space-pause
start: first
steps:
  first:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {accepted: pause}
  pause:
    exec: {app: StopMixMonitor, options: " "}
    next: again
  again:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {declined: bye}
  bye:
    play: beep
"""

#: A recording notice whose sound file holds no sound (a header only):
#: Asterisk plays it "to its end" at once and answers endpos=0.
SILENT_NOTICE = """\
version: 1
name: silent-notice
params: {policy: notify}
start: route
steps:
  route:
    branch:
      cases:
        - {if: "params.policy == 'ask'", next: ask, label: ask}
      else: notify
  notify:
    consent: {policy: notify, notice: agiflow/silent-notice}
    on: {notified: bye, error: bye}
  ask:
    consent: {notice: agiflow/silent-notice, ask: agiflow/recording-ask}
    on: {accepted: bye, declined: bye, error: bye}
  bye:
    play: beep
"""

#: A consent question whose sound file holds no sound, where silence records.
SILENT_QUESTION = """\
version: 1
name: silent-question
start: consent
steps:
  consent:
    consent: {ask: agiflow/silent-ask, default: accepted, retries: 0, timeout: 1}
    on: {accepted: bye, declined: bye, error: bye}
  bye:
    play: beep
"""

#: The caller's audio to an outside program (an AudioSocket server), the
#: channel named by a variable: it validates, and the guard judges it as sent.
STREAM = """\
version: 1
name: stream
start: consent
steps:
  consent:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {accepted: target, declined: target}
  target:
    set: {variables: {TARGET: "AudioSocket/10.0.0.5:9092/{{ call.id }}"}}
    next: out
  out:
    dial: {destination: "{{ vars.TARGET }}", timeout: 30}
"""

#: A consent with a privacy notice the caller may ask for (key 5).
PRIVACY = """\
version: 1
name: privacy
start: consent
steps:
  consent:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask, privacy_key: "5",
              privacy: agiflow/privacy-policy}
    on: {accepted: bye, declined: bye, error: bye}
  bye:
    play: beep
"""

#: Calls the caller back on their caller ID, through an exec of Dial.
RING_BACK = """\
version: 1
name: ring-back
start: ring
steps:
  ring:
    exec: {app: Dial, args: ["PJSIP/{{ call.caller }}@trunk", 30]}
    on: {error: sorry}
  sorry:
    play: agiflow/try-later
"""


#: Puts the caller through with one-touch recording (Dial's x: the agent may
#: record the call with a key) from a template, then asks again; the agent's
#: recording file in another step is named from the caller ID.
ONE_TOUCH = """\
version: 1
name: one-touch
start: consent
steps:
  consent:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {accepted: agent, declined: agent}
  agent:
    exec: {app: Dial, args: [PJSIP/agent, 30, "{{ vars.get('OPTS', 'tx') }}"]}
    next: again
  again:
    consent: {notice: agiflow/recording-notice, ask: agiflow/recording-ask}
    on: {accepted: keep, declined: bye}
  keep:
    exec: {app: MixMonitor, args: ["/srv/recordings/agents/{{ call.caller }}.wav", b]}
    next: bye
  bye:
    play: beep
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("compliance")
    (folder / "flows").mkdir()
    (folder / "flows" / "care.yaml").write_text(textwrap.dedent(FLOW))
    (folder / "flows" / "again.yaml").write_text(AGAIN)
    (folder / "flows" / "withdraw.yaml").write_text(WITHDRAW)
    (folder / "flows" / "ring-back.yaml").write_text(RING_BACK)
    (folder / "flows" / "stream.yaml").write_text(STREAM)
    (folder / "flows" / "privacy.yaml").write_text(PRIVACY)
    (folder / "flows" / "space-pause.yaml").write_text(SPACE_PAUSE)
    (folder / "flows" / "silent-notice.yaml").write_text(SILENT_NOTICE)
    (folder / "flows" / "silent-question.yaml").write_text(SILENT_QUESTION)
    (folder / "flows" / "one-touch.yaml").write_text(ONE_TOUCH)
    config = folder / "config.yaml"
    config.write_text(json.dumps({
        "server": {"host": HOST, "port": 0, "env_timeout": 0.5, "drain_timeout": 10},
        "flows": "flows", "database": "cdr.db", "log_level": "INFO",
        "recordings": {"directory": "/srv/recordings", "format": "wav"}}))
    with running_server(config) as process:
        yield process


def place_call(server: ServerProcess, uniqueid: str, key: str) -> tuple[SimulatedAsterisk, dict]:
    env = make_environment("care", uniqueid=uniqueid, callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=[key], sounds=EverySound(8000)))
    result = run_simulated_call(HOST, server.port, sim, timeout=10)
    assert result.closed_by_server, result
    [row] = finished_cdr(server.database, uniqueid)
    return sim, row


def test_a_declined_caller_is_not_recorded_through_dial_options_and_the_evidence_says_so(
        server: ServerProcess) -> None:
    mark = server.mark()
    sim, row = place_call(server, "1795500000.1", "2")
    assert [name for name, _ in sim.applications] == []
    assert row["path"] == "consent:declined > options:next > agent:error"
    assert (row["consent"], row["consent_key"], row["recording_commands"], row["refused_commands"]) == \
        ("declined", "2", 0, "Dial (no consent)")
    assert row["consent_at"] is not None and row["started_at"] <= row["consent_at"] <= row["ended_at"]
    details = json.loads(step_rows(server.database, row["id"])[-1]["details"])
    assert details["error"].startswith("Dial refused: it runs code agiflow cannot see")
    server.wait_for_log(r"WARNING .*\[1795500000\.1 care\] Dial refused", since=mark)

    sim, row = place_call(server, "1795500000.2", "1")
    assert [name for name, _ in sim.applications] == ["MixMonitor", "Dial"]
    assert (row["consent"], row["consent_key"], row["recording_commands"], row["refused_commands"]) == \
        ("accepted", "1", 1, None)

    report = CliRunner().invoke(cli, ["report", "compliance", "--db", str(server.database), "--format", "json"])
    assert report.exit_code == 0, report.output
    rows = {(r["section"], r["item"]): r["calls"] for r in json.loads(report.output)["rows"]}
    assert (rows[("recording", "recorded")], rows[("recording", "without consent")]) == (1, 0)
    assert rows[("refused", "no consent")] == 1


def test_a_recording_stops_when_a_later_consent_fails_and_starts_again_after_a_pause(server: ServerProcess) -> None:
    """A later consent whose notice template fails cannot ask the caller:
    the earlier recording is stopped (it ran on). After an exec of
    StopMixMonitor, a consent given again starts a new recording (it took
    the stopped one for a running one)."""
    env = make_environment("again?n=0", uniqueid="1795500000.3", callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["1"], sounds=EverySound(8000)))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, "1795500000.3")
    assert row["path"] == "first:accepted > second:error > bye:next"
    assert [name for name, _ in sim.applications] == ["MixMonitor", "StopMixMonitor"]
    assert (row["consent"], row["recording_commands"]) == ("no_answer", 1)

    env = make_environment("again", uniqueid="1795500000.4", callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["1", "1"], sounds=EverySound(8000)))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, "1795500000.4")
    assert row["path"] == "first:accepted > second:accepted > pause:next > resume:notified > bye:next"
    assert [name for name, _ in sim.applications] == ["MixMonitor", "StopMixMonitor", "MixMonitor"]
    assert (row["consent"], row["recording_commands"]) == ("notified", 2)
    assert "already_recording" not in json.loads(step_rows(server.database, row["id"])[3]["details"])


def test_a_declined_consent_stops_the_recording_an_exec_of_exec_started_too(server: ServerProcess) -> None:
    """Exec(MixMonitor(...)) records the call: a later decline sends one
    StopMixMonitor for it and one for the consent's recording (one alone
    stopped only the newest, and the consent's recording went on)."""
    env = make_environment("withdraw", uniqueid="1795500000.5", callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["1", "2"], sounds=EverySound(8000), app_results={"Exec": 0}))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, "1795500000.5")
    assert row["path"] == "first:accepted > agent_side:next > again:declined > bye:next"
    assert [name for name, _ in sim.applications] == ["MixMonitor", "Exec", "StopMixMonitor", "StopMixMonitor"]
    assert (row["consent"], row["recording_commands"]) == ("declined", 2)
    assert json.loads(step_rows(server.database, row["id"])[2]["details"])["stopped_recording"] == \
        f"{row['recording']}, agent-side.wav"


def test_a_stopmixmonitor_given_a_space_stops_nothing_so_a_decline_still_stops_the_recording(
        server: ServerProcess) -> None:
    """StopMixMonitor reads its whole argument as the id of the recording
    to stop (app_mixmonitor.c): a space is an id no recording has, so it
    stops nothing. The guard once took it for a stop without
    an id, and the caller who then declined stayed recorded."""
    env = make_environment("space-pause", uniqueid="1795500000.9", callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["1", "2"], sounds=EverySound(8000)))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, "1795500000.9")
    assert row["path"] == "first:accepted > pause:next > again:declined > bye:next"
    assert sim.applications == [("MixMonitor", sim.applications[0][1]), ("StopMixMonitor", " "),
                                ("StopMixMonitor", "")]
    assert not sim.mixmonitor_active
    assert json.loads(step_rows(server.database, row["id"])[2]["details"])["stopped_recording"] == row["recording"]


@pytest.mark.parametrize("policy", ["notify", "ask"])
def test_a_notice_whose_file_holds_no_sound_was_not_heard_so_nothing_is_recorded(server: ServerProcess,
                                                                                 policy: str) -> None:
    """A notice file with no sound in it (seen on Asterisk 22.11: STREAM
    FILE answers ``200 result=0 endpos=0``) is played "to its end" without
    the caller hearing a word: the consent ends with error and nothing is
    recorded, as for a missing file. It once counted as heard: policy
    notify recorded the call."""
    uniqueid = f"1795500001.{len(policy)}"
    env = make_environment(f"silent-notice?policy={policy}", uniqueid=uniqueid, callerid="+34600111222",
                           dnid="912345678")
    sounds = {"agiflow/silent-notice": 0, "agiflow/recording-ask": 8000, "beep": 800}
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["1"], sounds=sounds))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, uniqueid)
    assert row["path"] == f"route:{'ask' if policy == 'ask' else 'else'} > {policy}:error > bye:next"
    assert sim.applications == []
    assert (row["consent"], row["recording"], row["recording_commands"]) == ("no_answer", None, 0)
    assert "played nothing" in json.loads(step_rows(server.database, row["id"])[1]["details"])["error"]


def test_a_question_that_played_nothing_records_no_silent_caller_even_with_default_accepted(
        server: ServerProcess) -> None:
    """With ``default: accepted`` a caller who says nothing is recorded,
    once they heard the question. GET DATA cannot tell a question heard
    from a sound file with no sound in it, and the caller who heard nothing
    was recorded; the question is now played with STREAM FILE, which says
    so (``endpos=0``): the consent ends with error, nothing recorded."""
    uniqueid = "1795500001.9"
    env = make_environment("silent-question", uniqueid=uniqueid, callerid="+34600111222", dnid="912345678")
    sounds = {"agiflow/silent-ask": 0, "beep": 800}
    sim = SimulatedAsterisk(env, CallerScript(sounds=sounds))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, uniqueid)
    assert row["path"] == "consent:error > bye:next"
    assert sim.applications == []
    assert (row["recording"], row["recording_commands"]) == (None, 0)
    assert "played nothing" in json.loads(step_rows(server.database, row["id"])[0]["details"])["error"]


def test_a_caller_id_cannot_add_a_destination_to_an_exec_of_dial(server: ServerProcess) -> None:
    """A caller ID such as ``600111222&Local/x@ctx`` (the From header of a
    SIP call) put into Dial's destination by an exec would call a second
    destination, one that runs dialplan: the step ends with error and no
    Dial is sent, as for the dial step's destination."""
    env = make_environment("ring-back", uniqueid="1795500000.6", callerid="600111222&Local/x@ctx", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(sounds=EverySound(8000)))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, "1795500000.6")
    assert [name for name, _ in sim.applications] == []
    assert row["path"] == "ring:error > sorry:next"
    assert "'&'" in json.loads(step_rows(server.database, row["id"])[0]["details"])["error"]

    env = make_environment("ring-back", uniqueid="1795500000.7", callerid="600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(sounds=EverySound(8000)))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    assert sim.applications == [("Dial", "PJSIP/600111222@trunk,30")]


def test_a_declined_caller_is_not_handed_to_an_audiosocket_channel(server: ServerProcess) -> None:
    """Dial(AudioSocket/...) hands the caller's audio to an outside program,
    as the AudioSocket application does: after a decline it is refused and
    never sent; after an accept it is sent."""
    env = make_environment("stream", uniqueid="1795500000.8", callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["2"], sounds=EverySound(8000)))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, "1795500000.8")
    assert [name for name, _ in sim.applications] == []
    assert row["path"] == "consent:declined > target:next > out:error"
    assert row["refused_commands"] == "Dial (no consent)"

    env = make_environment("stream", uniqueid="1795500000.9", callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["1"], sounds=EverySound(8000)))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    assert [name for name, _ in sim.applications] == ["MixMonitor", "Dial"]


def test_a_privacy_notice_that_cannot_be_played_records_nothing(server: ServerProcess) -> None:
    """The caller asks for the privacy notice and its file is missing: they
    cannot hear what they asked for before deciding, so the consent fails
    closed (error, nothing recorded), as for a notice or a question that
    cannot be played; a key pressed after it records nothing."""
    sounds = {"agiflow/recording-notice": 8000, "agiflow/recording-ask": 8000, "beep": 800}
    env = make_environment("privacy", uniqueid="1795500000.10", callerid="+34600111222", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["5", None, "1"], sounds=sounds))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, "1795500000.10")
    assert [name for name, _ in sim.applications] == []
    assert row["path"] == "consent:error > bye:next"
    assert (row["consent"], row["recording"], row["recording_commands"]) == ("no_answer", None, 0)
    assert "agiflow/privacy-policy" in json.loads(step_rows(server.database, row["id"])[0]["details"])["error"]


def one_touch_call(server: ServerProcess, uniqueid: str, keys: list[str],
                   caller: str = "+34600111222") -> tuple[SimulatedAsterisk, dict]:
    env = make_environment("one-touch", uniqueid=uniqueid, callerid=caller, dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=keys, sounds=EverySound(8000), app_results={"Dial": 0}))
    assert run_simulated_call(HOST, server.port, sim, timeout=10).closed_by_server
    [row] = finished_cdr(server.database, uniqueid)
    return sim, row


def test_one_touch_recording_needs_consent_and_a_withdrawal_stops_it(server: ServerProcess) -> None:
    """Dial's x lets the agent record the caller with a key: a declined
    caller is not put through with it; a caller who consented and then
    withdraws gets a StopMixMonitor for the consent's recording and one
    for what the agent may have started."""
    sim, row = one_touch_call(server, "1795500000.20", ["2"])
    assert [name for name, _ in sim.applications] == []
    assert row["path"] == "consent:declined > agent:error"
    assert (row["recording_commands"], row["refused_commands"]) == (0, "Dial (no consent)")

    sim, row = one_touch_call(server, "1795500000.21", ["1", "2"])
    assert [name for name, _ in sim.applications] == ["MixMonitor", "Dial", "StopMixMonitor", "StopMixMonitor"]
    assert not sim.mixmonitor_active
    assert row["path"] == "consent:accepted > agent:next > again:declined > bye:next"
    details = json.loads(step_rows(server.database, row["id"])[2]["details"])
    assert (details["stopped_recording"], details["stopped_one_touch"]) == (row["recording"], "Dial")
    assert (row["consent"], row["recording_commands"]) == ("declined", 2)


def test_a_caller_id_cannot_move_a_recording_out_of_its_folder(server: ServerProcess) -> None:
    sim, row = one_touch_call(server, "1795500000.22", ["1", "1"], caller="../../../etc/asterisk/extensions")
    assert [name for name, _ in sim.applications] == ["MixMonitor", "Dial"]
    assert row["path"] == "consent:accepted > agent:next > again:accepted > keep:error"
    assert "inserted value" in json.loads(step_rows(server.database, row["id"])[3]["details"])["error"]

    sim, row = one_touch_call(server, "1795500000.23", ["1", "1"], caller="600111222")
    assert sim.applications[-1] == ("MixMonitor", "/srv/recordings/agents/600111222.wav,b")
