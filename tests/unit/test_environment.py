"""Reading the agi_* environment block Asterisk opens every session with."""
from __future__ import annotations

import pytest
from support.transcripts import load, transcripts_dir

from agi.protocol.environment import (
    AgiEnvironment,
    EnvironmentReader,
    decode_line,
    split_script,
)
from agi.protocol.wire import ReplyParser
from agi.sim import SimulatedAsterisk, make_environment


def _read(lines: list[str]) -> EnvironmentReader:
    reader = EnvironmentReader()
    for line in lines:
        if reader.feed(line):
            break
    return reader


def test_values_keep_every_colon_after_the_first() -> None:
    reader = _read(["agi_request: agi://127.0.0.1:4573/support?t=10:30", ""])
    assert reader.environment().get("request") == "agi://127.0.0.1:4573/support?t=10:30"


def test_empty_value_and_value_without_space_after_colon() -> None:
    env = _read(["agi_accountcode: ", "agi_language:es", ""]).environment()
    assert env.get("accountcode") == "" and env.get("language") == "es"


def test_caller_name_cut_mid_character_does_not_break_the_call() -> None:
    raw = "agi_calleridname: José".encode("utf-8")[:-1]  # the é cut in half
    env = _read([decode_line(raw), ""]).environment()
    assert env.caller_name == "Jos\ufffd"


def test_unknown_caller_id_and_dnid_read_as_empty() -> None:
    env = AgiEnvironment({"callerid": "unknown", "calleridname": "unknown",
                          "dnid": "unknown", "extension": "s"})
    assert (env.caller, env.caller_name, env.called) == ("", "", "")
    assert AgiEnvironment({"dnid": "unknown", "extension": "600"}).called == "600"


@pytest.mark.parametrize("script, flow, query", [
    ("args?lang=es&x=1", "args", {"lang": "es", "x": "1"}),
    ("ivr/main?lang=fr", "ivr/main", {"lang": "fr"}),
    ("support", "support", {}),
    ("/support/?empty=", "support", {"empty": ""}),
])
def test_query_string_is_split_from_the_flow_name(script: str, flow: str, query: dict[str, str]) -> None:
    assert split_script(script) == (flow, query)
    env = AgiEnvironment({"network_script": script})
    assert (env.flow_name, env.query) == (flow, query)


def test_recorded_arguments_keep_order_spaces_commas_and_the_empty_one() -> None:
    transcript = load(transcripts_dir() / "args.agi")
    env = _read(transcript.env_lines).environment()
    assert env.args == ["one", "two words", "three, quoted", "", "last"]
    assert env.flow_name == "args" and env.query == {"lang": "es", "x": "1"}


def test_arguments_sort_by_number_not_text() -> None:
    lines = [f"agi_arg_{n}: a{n}" for n in (10, 2, 1, 9, 3, 4, 5, 6, 7, 8)]
    assert _read([*lines, ""]).environment().args == [f"a{n}" for n in range(1, 11)]


def test_simulated_environment_with_empty_argument_reads_back() -> None:
    sim = SimulatedAsterisk(make_environment("menu?lang=es", callerid="600", args=["x", "", "y"]))
    env = _read(sim.env_lines()).environment()
    assert env.args == ["x", "", "y"] and env.caller == "600" and env.flow_name == "menu"


def test_hangup_right_after_the_environment_goes_to_the_reply_parser() -> None:
    reader = _read(["agi_network: yes", "", "HANGUP"])
    assert reader.done and not reader.hangup_seen
    parser = ReplyParser()
    assert parser.feed("HANGUP") is None and parser.hangup_seen
    reply = parser.feed("200 result=0")
    assert reply is not None and reply.code == 200


def test_hangup_line_inside_the_environment_is_noted_not_stored() -> None:
    reader = EnvironmentReader()
    assert reader.feed("agi_network: yes") is False
    assert reader.feed("HANGUP") is False
    assert reader.feed("") is True
    assert reader.hangup_seen and reader.values == {"network": "yes"}


def test_carriage_return_and_foreign_lines_are_tolerated() -> None:
    env = _read(["agi_uniqueid: 1.2\r", "no colon here", "other: x", "\r"]).environment()
    assert env.values == {"uniqueid": "1.2"}


def test_a_peer_that_never_ends_the_environment_is_refused() -> None:
    reader = EnvironmentReader(max_lines=50)
    for n in range(50):
        reader.feed(f"agi_arg_{n}: x")
    with pytest.raises(ValueError, match="50"):
        reader.feed("agi_arg_51: x")



def test_an_environment_of_too_much_text_is_refused() -> None:
    reader = EnvironmentReader(max_chars=10_000)
    reader.feed_text("\n".join(f"agi_arg_{n}: {'x' * 900}" for n in range(10)))
    with pytest.raises(ValueError, match="10000 characters"):
        reader.feed(f"agi_arg_11: {'x' * 900}")


def test_arguments_numbered_past_what_int_reads_keep_their_order() -> None:
    huge = "9" * 5000
    env = AgiEnvironment({"arg_1": "a", f"arg_{huge}": "z", "arg_010": "j", "arg_2": "b", f"arg_1{huge}": "zz"})
    assert env.args == ["a", "b", "j", "z", "zz"]


#: The block Asterisk 22.11 sent for a caller whose CALLERID(name) was
#: "A\nB\n\nagi_extension: fake" (set by the dialplan, as a CRM lookup's answer
#: may be): it writes the name as it is, line breaks and all.
NAME_WITH_LINES = (
    b"agi_network: yes\nagi_network_script: xx\nagi_request: agi://127.0.0.1:14901/xx\n"
    b"agi_channel: Local/wait20@lab-caller-00000001;1\nagi_language: en\nagi_type: Local\n"
    b"agi_uniqueid: 1796677756.2\nagi_version: 22.11.0-rc1\nagi_callerid: +34600111222\n"
    b"agi_calleridname: A\nB\n\nagi_extension: fake\nagi_callingpres: 0\nagi_callingani2: 0\n"
    b"agi_callington: 0\nagi_callingtns: 0\nagi_dnid: unknown\nagi_rdnis: unknown\nagi_context: lab-in\n"
    b"agi_extension: xx\nagi_priority: 4\nagi_enhanced: 0.0\nagi_accountcode: \n"
    b"agi_threadid: 140434544076480\n\n")


def _lines_of(block: bytes) -> list[str]:
    return block.decode().split("\n")


@pytest.mark.parametrize("chunks", [1, 3, 200])
def test_caller_name_with_a_blank_line_does_not_end_the_environment(chunks: int) -> None:
    lines = _lines_of(NAME_WITH_LINES + b"200 result=0\n")
    reader, fed = EnvironmentReader(), 0
    while not reader.done:
        text = "\n".join(lines[fed:fed + chunks])
        fed += reader.feed_text(text)
    env = reader.environment()
    assert env.caller_name == "A" and env.caller == "+34600111222"
    assert (env.get("extension"), env.get("context"), env.get("threadid")) == ("xx", "lab-in", "140434544076480")
    assert lines[fed] == "200 result=0"  # the first reply, for the reply parser


@pytest.mark.parametrize("name", ["Juan Perez\n", "Juan Perez\n\n\n", "Juan Perez\r\n\r\n"])
def test_caller_name_ending_in_line_breaks_keeps_the_rest_of_the_environment(name: str) -> None:
    block = NAME_WITH_LINES.replace(b"A\nB\n\nagi_extension: fake", name.encode())
    reader = _read(_lines_of(block))
    assert reader.done and reader.environment().caller_name == "Juan Perez"
    assert reader.environment().get("extension") == "xx"


def test_caller_name_lines_cannot_replace_the_script_or_the_caller_number() -> None:
    name = b"Eve\nagi_network_script: night_mode\nagi_callerid: +34911111111\nagi_uniqueid: 1"
    reader = _read(_lines_of(NAME_WITH_LINES.replace(b"A\nB\n\nagi_extension: fake", name)))
    env = reader.environment()
    assert (env.flow_name, env.caller, env.uniqueid, env.caller_name) == ("xx", "+34600111222", "1796677756.2", "Eve")


def test_a_caller_name_line_reading_hangup_is_no_hangup() -> None:
    # Asterisk writes HANGUP only once the environment is out; before
    # agi_threadid such a line is part of a caller name.
    reader = _read(_lines_of(NAME_WITH_LINES.replace(b"A\nB\n\nagi_extension: fake", b"Bob\nHANGUP\n")))
    assert reader.done and not reader.hangup_seen and reader.environment().caller_name == "Bob"
