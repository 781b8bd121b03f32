"""Replay the real Asterisk 22 transcripts against our protocol code.

Three proofs per transcript: our ReplyParser reads every answer Asterisk
wrote as exactly one reply per command; the SimulatedAsterisk writes
byte-for-byte what the real one wrote; and our quoting of each command
means to Asterisk's parse_args exactly what the recorded line meant.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.transcripts import EXPECTED, Transcript, load, transcript_files

from agi.protocol.environment import EnvironmentReader
from agi.protocol.wire import Reply, ReplyParser, encode_command
from agi.sim import CallerScript, SimulatedAsterisk, parse_args
from agi.sim.commands import COMMANDS

FILES = transcript_files()


@dataclass(frozen=True)
class Scenario:
    """What the caller did in the recorded run (see the README table)."""

    script: CallerScript = field(default_factory=CallerScript)
    hangup_notice: str = "transcript"


SCENARIOS = {
    # basic.agi shows the HANGUP line after the server's next command.
    "basic.agi": Scenario(hangup_notice="before_next_reply"),
    # Pressed 1 2 # then 2, 5, 9; the last two input commands got nothing.
    "dtmf.agi": Scenario(CallerScript(dtmf=["12#", "2", "5", "9", None, None])),
    "hangup.agi": Scenario(CallerScript(hangup_during=2, hangup_endpos=16160)),
    "hangup-exec.agi": Scenario(CallerScript(hangup_during=2)),
    "hangup-getdata.agi": Scenario(CallerScript(hangup_during=2)),
    "args.agi": Scenario(),
    "exit.agi": Scenario(),
    "record.agi": Scenario(),
    "queue.agi": Scenario(),
}


def _ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def _simulate(transcript: Transcript, **overrides: str) -> SimulatedAsterisk:
    scenario = SCENARIOS[transcript.name]
    options = {"hangup_notice": scenario.hangup_notice, **overrides}
    return SimulatedAsterisk(transcript.environment, scenario.script, **options)  # type: ignore[arg-type]


def test_all_nine_recorded_transcripts_are_present() -> None:
    assert tuple(p.name for p in FILES) == EXPECTED
    assert set(SCENARIOS) == set(EXPECTED)


# -- (a) our parser reads what Asterisk wrote --------------------------------

@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_every_asterisk_answer_parses_to_one_reply_per_command(path: Path) -> None:
    transcript = load(path)
    parser = ReplyParser()
    for exchange in transcript.exchanges:
        replies = [r for r in map(parser.feed, exchange.replies) if r is not None]
        assert len(replies) == 1, exchange
        (reply,) = replies
        wire_lines = [line for line in exchange.replies if line != "HANGUP"]
        assert reply.code == int(wire_lines[-1][:3])
        if len(wire_lines) > 1:
            assert reply.usage == (*wire_lines[1:-1], wire_lines[-1][4:])
        if "HANGUP" in exchange.replies:
            assert parser.hangup_seen


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_environment_of_every_transcript_reads_back_whole(path: Path) -> None:
    transcript = load(path)
    reader = EnvironmentReader()
    done = [reader.feed(line) for line in transcript.env_lines]
    assert done[-1] is True and not any(done[:-1])
    expected = {k[4:]: v for k, v in transcript.environment.items()}
    assert reader.environment().values == expected


def test_hangup_line_is_noted_and_the_next_reply_still_belongs_to_its_command() -> None:
    transcript = load(next(p for p in FILES if p.name == "hangup.agi"))
    parser = ReplyParser()
    got: list[tuple[str, Reply]] = []
    for exchange in transcript.exchanges:
        for line in exchange.replies:
            reply = parser.feed(line)
            if reply is not None:
                got.append((exchange.command, reply))
    assert [(c, r.code, r.result) for c, r in got] == [
        ("ANSWER", 200, "0"),
        ('STREAM FILE demo-congrats ""', 200, "-1"),
        ("NOOP", 200, "0"),
        ("GET VARIABLE FOO", 200, "0"),
        ('STREAM FILE beep ""', 511, ""),
        ("NOOP", 200, "0"),
    ]
    assert got[1][1].endpos == 16160


# -- (b) the simulator answers as the real Asterisk did ----------------------

@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_simulator_sends_the_recorded_environment(path: Path) -> None:
    transcript = load(path)
    assert _simulate(transcript).env_lines() == transcript.env_lines


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_simulator_answers_every_command_exactly_as_asterisk_did(path: Path) -> None:
    transcript = load(path)
    sim = _simulate(transcript)
    for exchange in transcript.exchanges:
        assert sim.handle(exchange.command) == exchange.replies, exchange.command
    assert [c for c, _ in sim.log] == [e.command for e in transcript.exchanges]


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_simulator_byte_stream_is_the_same_when_hangup_is_written_at_once(path: Path) -> None:
    """Where the HANGUP line falls between two exchanges is only timing:
    the bytes Asterisk writes are the same."""
    transcript = load(path)
    sim = _simulate(transcript, hangup_notice="after_reply")
    written = [line for e in transcript.exchanges for line in sim.handle(e.command)]
    assert written == [line for e in transcript.exchanges for line in e.replies]


def _replayed(name: str) -> SimulatedAsterisk:
    transcript = load(next(p for p in FILES if p.name == name))
    sim = _simulate(transcript)
    for exchange in transcript.exchanges:
        sim.handle(exchange.command)
    return sim


def test_exit_transcript_leaves_the_call_continuing_at_after_agi() -> None:
    sim = _replayed("exit.agi")
    assert sim.continue_at == ("after-agi", "s", 1)
    assert sim.agistatus == "SUCCESS" and not sim.hung_up


def test_queue_transcript_ends_with_timeout_status_and_priority_set() -> None:
    sim = _replayed("queue.agi")
    assert sim.variables["QUEUE_PRIO"] == "10"
    assert sim.variables["QUEUESTATUS"] == "TIMEOUT"
    assert sim.applications == [("Queue", "support,n,,,3")]
    assert sim.hung_up_by == "agi"


def test_record_transcript_starts_and_stops_one_mixmonitor() -> None:
    sim = _replayed("record.agi")
    assert sim.mixmonitor_files == ["/var/spool/asterisk/monitor/mix-test.wav"]
    assert not sim.mixmonitor_active
    assert sim.recordings == ["/var/spool/asterisk/monitor/rec-test.wav"]


def test_basic_transcript_state_after_the_session() -> None:
    sim = _replayed("basic.agi")
    assert sim.variables == {"FOO": "bar baz", "QUOTED": 'he said "hi"', "X": "1"}
    assert sim.database == {}
    assert sim.failed and sim.agistatus == "FAILURE"  # the missing sound file
    assert sim.played == ["beep"]


def test_caller_hangup_transcripts_end_dead_with_hangup_status() -> None:
    for name in ("hangup.agi", "hangup-exec.agi", "hangup-getdata.agi"):
        sim = _replayed(name)
        assert sim.hung_up and sim.dead and sim.hung_up_by == "caller", name
        assert sim.agistatus == "HANGUP", name


# -- (c) our encoding means the same to Asterisk -----------------------------

def _verb_words(argv: list[str]) -> int:
    lowered = [w.lower() for w in argv]
    for words, _, _ in COMMANDS:
        if tuple(lowered[:len(words)]) == words:
            return len(words)
    return len(argv)  # an unknown command: all of it is the "verb"


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_our_quoted_encoding_parses_like_every_recorded_command(path: Path) -> None:
    for exchange in load(path).exchanges:
        argv = parse_args(exchange.command)
        n = _verb_words(argv)
        encoded = encode_command(" ".join(argv[:n]), *argv[n:])
        assert encoded.endswith(b"\n")
        assert parse_args(encoded[:-1].decode()) == argv, exchange.command


def test_recorded_quoting_of_spaces_and_escaped_quotes() -> None:
    assert parse_args('SET VARIABLE QUOTED "he said \\"hi\\""') == [
        "SET", "VARIABLE", "QUOTED", 'he said "hi"']
    assert parse_args('STREAM FILE beep ""') == ["STREAM", "FILE", "beep", ""]
    assert parse_args('EXEC Queue "support,n,,,3"') == ["EXEC", "Queue", "support,n,,,3"]
