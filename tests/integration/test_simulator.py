"""The simulated Asterisk beyond the transcripts, and its TCP client."""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO

import pytest

from agi.protocol.wire import ReplyParser
from agi.sim import (
    CallerScript,
    DtmfEntry,
    EverySound,
    SimulatedAsterisk,
    make_environment,
    run_simulated_call,
)

USAGE_NA = "520 Invalid command syntax.  Proper usage not available."
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"


def _sim(script: CallerScript | None = None, **options: object) -> SimulatedAsterisk:
    return SimulatedAsterisk(make_environment("t", callerid="600111222"), script, **options)  # type: ignore[arg-type]


def test_channel_status_is_ringing_until_answered() -> None:
    sim = _sim()
    assert sim.handle("CHANNEL STATUS") == ["200 result=4"]
    sim.handle("ANSWER")
    assert sim.handle("channel status") == ["200 result=6"]
    assert sim.handle("CHANNEL STATUS a b") == [USAGE_NA]


def test_carriage_return_stays_in_the_command_and_makes_it_unknown() -> None:
    assert _sim().handle("ANSWER\r") == ["510 Invalid or unknown command"]
    assert _sim().handle("") == ["510 Invalid or unknown command"]
    assert _sim().handle("GET") == ["510 Invalid or unknown command"]


def test_wrong_arguments_give_the_single_line_520_except_two_commands() -> None:
    sim = _sim()
    assert sim.handle("GET VARIABLE") == [USAGE_NA]
    assert sim.handle("STREAM FILE beep") == [USAGE_NA]
    assert sim.handle("WAIT FOR DIGIT soon") == [USAGE_NA]
    assert sim.handle("SET VARIABLE A")[0] == "520-Invalid command syntax.  Proper usage follows:"


def test_dead_channel_answers_only_the_permitted_commands() -> None:
    sim = _sim(CallerScript(hangup_during=0))
    assert sim.handle("NOOP") == ["HANGUP", "200 result=0"]
    assert sim.handle("STREAM FILE beep \"\"") == [DEAD]
    assert sim.handle("GET DATA") == [DEAD]  # dead check comes before usage
    assert sim.handle("HANGUP") == [DEAD]
    assert sim.handle("SET VARIABLE A")[-1] == "520 End of proper usage."
    assert sim.handle("EXEC Set A=1") == ["200 result=0"]
    assert sim.handle("EXEC Wait 1") == ["200 result=-1"]
    assert sim.handle("EXEC NoSuchApp") == ["200 result=-2"]
    assert sim.handle("DATABASE PUT f k v") == ["200 result=1"]
    assert sim.handle("BOGUS") == ["510 Invalid or unknown command"]
    assert sim.variables == {"A": "1"}


def test_caller_hangup_notice_can_follow_the_failing_reply_at_once() -> None:
    sim = _sim(CallerScript(hangup_during=1, hangup_endpos=800), hangup_notice="after_reply")
    assert sim.handle('STREAM FILE demo-congrats ""') == ["200 result=-1 endpos=800", "HANGUP"]
    assert sim.handle("NOOP") == ["200 result=0"]


def test_hangup_during_a_quick_command_is_noticed_after_it() -> None:
    sim = _sim(CallerScript(hangup_during=1))
    assert sim.handle("SET VARIABLE A 1") == ["200 result=1"]
    assert sim.handle("NOOP") == ["HANGUP", "200 result=0"]


def test_no_hangup_line_when_agisighup_is_no() -> None:
    sim = _sim(CallerScript(hangup_during=1), variables={"AGISIGHUP": "no"})
    assert sim.handle("WAIT FOR DIGIT 100") == ["200 result=-1"]
    assert sim.handle("NOOP") == ["200 result=0"]


def test_failure_line_ends_the_session() -> None:
    sim = _sim()
    assert sim.handle("failure") == ["HANGUP"]
    assert sim.ended and sim.agistatus == "FAILURE"
    assert sim.handle("NOOP") == []


def test_get_variable_is_cut_at_1023_bytes_but_full_variable_is_not() -> None:
    sim = _sim()
    sim.handle(f"SET VARIABLE BIG {'x' * 1500}")
    assert sim.handle("GET VARIABLE BIG") == [f"200 result=1 ({'x' * 1023})"]
    assert sim.handle("GET FULL VARIABLE ${BIG}") == [f"200 result=1 ({'x' * 1500})"]


def test_caller_id_functions_and_unknown_values() -> None:
    sim = SimulatedAsterisk(make_environment("t"))
    assert sim.handle("GET VARIABLE CALLERID(num)") == ["200 result=1 ()"]
    assert sim.handle("GET VARIABLE NOSUCHFUNC(x)") == ["200 result=0"]
    sim.handle('SET CALLERID "Ana" <+34600111222>')  # unquoted: only "Ana" is read
    assert sim.handle("GET VARIABLE CALLERID(all)") == ["200 result=1 (Ana)"]
    sim.handle('SET CALLERID "\\"Ana\\" <+34600111222>"')
    assert sim.handle("GET VARIABLE CALLERID(all)") == ['200 result=1 ("Ana" <+34600111222>)']
    assert sim.handle('GET FULL VARIABLE "${LEN(${CALLERID(num)})}"') == ["200 result=1 (12)"]


def test_database_commands_share_one_store() -> None:
    store: dict[str, str] = {}
    sim = _sim(database=store)
    sim.handle("DATABASE PUT vip 600 yes")
    sim.handle("DATABASE PUT vip 601 yes")
    assert sim.handle("GET VARIABLE DB(vip/600)") == ["200 result=1 (yes)"]
    assert sim.handle("DATABASE DEL vip 999") == ["200 result=0"]
    assert sim.handle("DATABASE DELTREE vip") == ["200 result=0"]
    assert store == {}


def test_playback_application_reports_missing_files_and_answers() -> None:
    sim = _sim()
    assert sim.handle('EXEC Playback "beep&no-such"') == ["200 result=0"]
    assert sim.variables["PLAYBACKSTATUS"] == "FAILED" and sim.answered
    assert sim.played == ["beep"]


def test_hangup_application_hangs_up_like_the_hangup_command() -> None:
    sim = _sim()
    assert sim.handle("EXEC Hangup 16") == ["200 result=-1", "HANGUP"]
    assert sim.hung_up_by == "dialplan" and sim.dead


def test_every_sound_table_for_offline_flows() -> None:
    sim = _sim(CallerScript(sounds=EverySound(8000), dtmf=[DtmfEntry("1")]))
    assert sim.handle('GET OPTION "any/prompt" 12') == ["200 result=49 endpos=8000"]


def test_an_empty_sound_name_is_no_file_but_get_data_without_a_prompt_waits_for_keys() -> None:
    """As Asterisk 22.11 answers: STREAM FILE "" fails (no file has an
    empty name), GET DATA "" plays nothing and waits for keys."""
    sim = _sim(CallerScript(sounds=EverySound(8000), dtmf=[DtmfEntry(None), DtmfEntry("1")]))
    assert sim.handle('STREAM FILE "" ""') == ["200 result=-1 endpos=0"]
    assert sim.handle('GET DATA "" 1500 1') == ["200 result= (timeout)"]
    assert sim.handle('GET DATA "" 1500 1') == ["200 result=1"]
    assert sim.played == []


def test_record_file_ended_by_a_key() -> None:
    sim = _sim(CallerScript(dtmf=[DtmfEntry("#", endpos=12000)]))
    assert sim.handle('RECORD FILE /tmp/msg wav "#" 60000 0 s=3') == [
        "200 result=35 (dtmf) endpos=12000"]


def test_gosub_answers_trying_then_complete() -> None:
    assert _sim().handle("GOSUB sub s 1") == ["100 result=0 Trying...", "200 result=0 Gosub complete"]


def test_a_second_command_interrupts_playback_and_no_reply_is_sent() -> None:
    sim = _sim()
    assert sim.handle('STREAM FILE beep ""', interrupted=True) == []
    assert sim.handle("NOOP", interrupted=True) == ["200 result=0"]


def test_line_longer_than_asterisk_reads_runs_its_tail_as_a_second_command() -> None:
    sim = _sim(max_line=2047)
    line = 'VERBOSE "' + "x" * 3000 + '"'
    assert sim.handle(line) == ["200 result=1", "510 Invalid or unknown command"]
    assert sim.handle("NOOP") == ["200 result=0"]


def test_nul_in_a_command_makes_asterisk_join_it_to_the_next_line() -> None:
    sim = _sim()
    assert sim.handle('SET VARIABLE A "x\x00y"') == []
    assert sim.handle("NOOP") == ["200 result=1"]
    assert sim.variables == {"A": "xNOOP"}


def test_bad_setup_is_refused_with_the_allowed_names() -> None:
    with pytest.raises(ValueError, match="agi_callerid"):
        SimulatedAsterisk({"agi_caller": "600"})
    with pytest.raises(ValueError):
        CallerScript(dtmf=["1x"])


# -- the TCP client ---------------------------------------------------------------

Server = Callable[[socket.socket, dict[str, object]], None]


@contextmanager
def fastagi_server(serve: Server) -> Iterator[tuple[int, dict[str, object]]]:
    """A one-call FastAGI server in a thread: ``serve(conn, seen)``."""
    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict[str, object] = {}

    def run() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        try:
            serve(conn, seen)
        finally:
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        thread.join(5)
        listener.close()


def _read_env(reader: BinaryIO, seen: dict[str, object]) -> None:
    env = []
    for raw in reader:
        env.append(raw.decode().rstrip("\n"))
        if raw == b"\n":
            break
    seen["env"] = env


def _scripted(commands: list[bytes]) -> Server:
    def serve(conn: socket.socket, seen: dict[str, object]) -> None:
        reader = conn.makefile("rb")
        _read_env(reader, seen)
        replies = []
        for command in commands:
            conn.sendall(command)
            parser = ReplyParser()
            while (reply := parser.feed(reader.readline().decode().rstrip("\n"))) is None:
                pass
            replies.append(reply)
        seen["replies"] = replies
    return serve


@pytest.mark.parametrize("split", [False, True])
def test_client_plays_a_whole_call_and_sees_the_server_close(split: bool) -> None:
    sim = _sim(CallerScript(dtmf=["5"]))
    with fastagi_server(_scripted([b"ANSWER\n", b'GET OPTION "beep" "5"\n'])) as (port, seen):
        result = run_simulated_call("127.0.0.1", port, sim, split_segments=split)
    assert seen["env"] == sim.env_lines()
    assert [r.digit for r in seen["replies"]][1] == "5"  # type: ignore[attr-defined]
    assert result.commands == ["ANSWER", 'GET OPTION "beep" "5"']
    assert result.closed_by_server and not result.timed_out and result.seconds < 5


def test_client_asks_for_the_script_path_when_the_environment_names_none() -> None:
    sim = SimulatedAsterisk(make_environment())
    with fastagi_server(_scripted([])) as (port, seen):
        run_simulated_call("127.0.0.1", port, sim, script_path="support?lang=es")
    assert "agi_network_script: support?lang=es" in seen["env"]  # type: ignore[operator]


def test_client_can_close_in_the_middle_of_the_environment() -> None:
    def serve(conn: socket.socket, seen: dict[str, object]) -> None:
        seen["data"] = conn.makefile("rb").read()

    with fastagi_server(serve) as (port, seen):
        result = run_simulated_call("127.0.0.1", port, _sim(), close_after_env_lines=3)
    assert seen["data"].count(b"\n") == 3  # type: ignore[attr-defined]
    assert not result.closed_by_server and not result.environment_sent


def test_client_answers_nothing_for_a_prompt_cut_short_by_a_pipelined_command() -> None:
    with fastagi_server(_scripted([b'STREAM FILE "beep" ""\nNOOP\n'])) as (port, seen):
        result = run_simulated_call("127.0.0.1", port, _sim())
    assert result.pipelined == ['STREAM FILE "beep" ""']
    assert [(r.code, r.result) for r in seen["replies"]] == [(200, "0")]  # type: ignore[attr-defined]


def test_client_gives_up_on_a_server_that_never_speaks() -> None:
    def serve(conn: socket.socket, seen: dict[str, object]) -> None:
        conn.makefile("rb").read()

    with fastagi_server(serve) as (port, _):
        result = run_simulated_call("127.0.0.1", port, _sim(), timeout=0.3)
    assert result.timed_out and not result.closed_by_server and result.commands == []


def test_client_closes_when_asterisk_ends_the_session() -> None:
    def serve(conn: socket.socket, seen: dict[str, object]) -> None:
        reader = conn.makefile("rb")
        _read_env(reader, seen)
        conn.sendall(b"failure\n")
        seen["after"] = reader.read()

    with fastagi_server(serve) as (port, seen):
        result = run_simulated_call("127.0.0.1", port, _sim())
    assert seen["after"] == b"HANGUP\n"
    assert not result.closed_by_server
