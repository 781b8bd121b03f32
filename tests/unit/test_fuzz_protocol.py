"""Property tests: the protocol functions hold for any input, not just examples."""
from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agi.protocol.environment import EnvironmentReader, decode_line
from agi.protocol.wire import CommandError, Reply, ReplyParser, encode_command, parse_200, whole_200_reply
from agi.sim import CallerScript, SimulatedAsterisk, parse_args
from agi.sim.transport import run_sync

FAST = settings(max_examples=200, deadline=None)

VERBS = st.sampled_from(["EXEC", "SET VARIABLE", "GET FULL VARIABLE", "STREAM FILE",
                         "VERBOSE", "DATABASE PUT", "GET DATA"])
#: Anything a flow could put in an argument except what can never travel.
ARG_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=60)
ARG_EDGES = st.sampled_from(["", " ", '"', "\\", '\\"', '"\\', "\t", "a b", "${X}", "¡ñ€😀"])
ARGS = st.lists(st.one_of(ARG_TEXT, ARG_EDGES), max_size=30)
ANY_LINE = st.text(max_size=200)
#: A line as framed from the wire: anything but the newline that ends it.
WIRE_LINE = st.text(st.characters(exclude_characters="\n"), max_size=200)


@FAST
@given(verb=VERBS, args=ARGS, max_line=st.sampled_from([2047, 8191, 200]))
def test_any_arguments_reach_asterisk_exactly_as_given(verb: str, args: list[str], max_line: int) -> None:
    size = len(verb) + 1 + sum(
        3 + len(a.encode()) + a.count('"') + a.count("\\") for a in args)
    try:
        line = encode_command(verb, *args, max_line=max_line)
    except CommandError:
        assert size > max_line  # refused for its length, and only then
        return
    assert len(line) == size <= max_line and line.endswith(b"\n") and line.count(b"\n") == 1
    assert parse_args(line[:-1].decode("utf-8")) == [*verb.split(), *args]


@FAST
@given(st.lists(ANY_LINE, max_size=30))
def test_reply_parser_never_raises_and_returns_reply_or_none(lines: list[str]) -> None:
    parser = ReplyParser()
    for line in lines:
        result = parser.feed(line)
        assert result is None or isinstance(result, Reply)


@FAST
@given(st.binary(max_size=120).filter(lambda b: b"\n" not in b), st.sampled_from([b"\n", b"\r\n"]))
def test_a_whole_200_segment_parses_as_the_parser_reads_the_line(body: bytes, ending: bytes) -> None:
    raw = b"200 " + body + ending
    line = decode_line(raw.rstrip(b"\n"))
    assert whole_200_reply(raw, 65536) == ReplyParser().feed(line)


@FAST
@given(st.one_of(st.binary(max_size=80), st.builds(b"".join, st.lists(
    st.sampled_from([b"200 ", b"result=1", b" (x)", b"\n", b"\r", b"HANGUP", b"520-", b"\xc3"]), max_size=8))),
    st.integers(min_value=1, max_value=100))
def test_only_a_segment_that_is_one_whole_200_line_is_taken_as_a_reply(segment: bytes, max_line: int) -> None:
    reply = whole_200_reply(segment, max_line)
    lines = segment.split(b"\n")
    whole = len(lines) == 2 and lines[1] == b"" and segment.startswith(b"200 ") and len(segment) <= max_line
    assert (reply is not None) == whole
    if reply is not None:
        assert reply == ReplyParser().feed(decode_line(lines[0]))


@FAST
@given(st.lists(st.one_of(WIRE_LINE, st.sampled_from(["HANGUP", "", "agi_x: y", "\r"])), max_size=40),
       st.integers(min_value=1, max_value=30))
def test_environment_reader_only_ever_refuses_too_many_lines(lines: list[str], max_lines: int) -> None:
    reader = EnvironmentReader(max_lines=max_lines)
    counted = 0
    for line in lines:
        if reader.done:
            break
        bare = line[:-1] if line.endswith("\r") else line
        counted += bare not in ("", "HANGUP")
        try:
            reader.feed(line)
        except ValueError:
            assert counted > max_lines
            return
    assert counted <= max_lines
    reader.environment()


def _environment_line_by_line(lines: list[str]) -> tuple[dict[str, str], bool, bool, int]:
    """The environment read the plain way, one line at a time: the oracle."""
    values: dict[str, str] = {}
    hangup = False
    for taken, line in enumerate(lines, start=1):
        line = line[:-1] if line.endswith("\r") else line
        if line == "":
            return values, hangup, True, taken
        if line == "HANGUP":
            hangup = True
            continue
        key, colon, value = line.partition(":")
        if colon and key.startswith("agi_"):
            values[key[4:]] = value[1:] if value.startswith(" ") else value
    return values, hangup, False, len(lines)


ENV_LINE = st.one_of(
    WIRE_LINE,
    st.builds("".join, st.lists(st.sampled_from(["agi_", "x", ":", " ", "\r", "HANGUP", "é", "::"]), max_size=6)),
    st.sampled_from(["", "\r", "HANGUP", "HANGUP\r", "agi_x: y", "agi_x:y", "agi_x:  y\r", "agi_: z"]))


@FAST
@given(st.lists(ENV_LINE, min_size=1, max_size=30))
def test_environment_read_a_segment_at_a_time_is_read_as_line_by_line(lines: list[str]) -> None:
    reader = EnvironmentReader(max_lines=1000)
    taken = reader.feed_text("\n".join(lines))
    assert (reader.values, reader.hangup_seen, reader.done, taken) == _environment_line_by_line(lines)


@FAST
@given(st.lists(ENV_LINE.map(lambda line: line.replace("\r", "")), min_size=1, max_size=30))
def test_environment_without_carriage_returns_is_read_as_line_by_line(lines: list[str]) -> None:
    """Asterisk's own environment (no CR): the reader's faster way agrees too."""
    reader = EnvironmentReader(max_lines=1000)
    taken = reader.feed_text("\n".join(lines))
    assert (reader.values, reader.hangup_seen, reader.done, taken) == _environment_line_by_line(lines)


@FAST
@given(ANY_LINE)
def test_asterisk_argument_split_never_raises_and_keeps_at_most_127_words(line: str) -> None:
    words = parse_args(line)
    assert len(words) <= 127 and all(isinstance(w, str) for w in words)


@FAST
@given(st.lists(ANY_LINE, max_size=15), st.sampled_from(["transcript", "after_reply"]))
def test_simulated_asterisk_answers_any_line_with_whole_lines(lines: list[str], notice: str) -> None:
    sim = SimulatedAsterisk(script=CallerScript(hangup_during=5), hangup_notice=notice)  # type: ignore[arg-type]
    for line in lines:
        for answer in sim.handle(line.replace("\n", " ")):
            assert "\n" not in answer
    assert len(sim.log) == len(lines)


# -- the Twisted framing with the parsers: any split of the bytes, same result ------

class _Factory:
    """What FastAGIProtocol asks of its factory, recording the calls it starts."""

    max_reply_line = 65536
    env_timeout = 5.0

    def __init__(self) -> None:
        from twisted.internet import task
        self.clock = task.Clock()
        self.started: list[Any] = []

    def admit(self, proto: Any) -> bool:
        return True

    def start_call(self, proto: Any, env: Any) -> None:
        self.started.append(env)

    def connection_gone(self, proto: Any) -> None:
        pass


def _connected() -> tuple[Any, _Factory]:
    from twisted.internet.testing import StringTransport

    from agi.server.protocol import FastAGIProtocol
    factory = _Factory()
    proto = FastAGIProtocol(factory)  # type: ignore[arg-type]
    proto.makeConnection(StringTransport())
    return proto, factory


def _feed(proto: Any, data: bytes, cuts: list[int]) -> None:
    """``data`` in segments cut at ``cuts`` (any positions, any number)."""
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in zip(edges, edges[1:]):
        proto.dataReceived(data[start:end])


ENV_KEY = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
#: Raw bytes as Asterisk may send them: anything but LF (CR at the end aside).
ENV_VALUE = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"").rstrip(b"\r"))
CUTS = st.lists(st.integers(min_value=0, max_value=5000), max_size=30)


@FAST
@given(st.dictionaries(ENV_KEY, ENV_VALUE, min_size=1, max_size=25), CUTS, st.booleans())  # none: no call
def test_any_environment_in_any_segments_reaches_the_call_whole(
        values: dict[str, bytes], cuts: list[int], hangup_after: bool) -> None:
    proto, factory = _connected()
    block = b"".join(b"agi_%s: %s\n" % (key.encode(), value) for key, value in values.items()) + b"\n"
    _feed(proto, block + (b"HANGUP\n" if hangup_after else b""), cuts)
    [env] = factory.started
    assert env.values == {key: decode_line(value) for key, value in values.items()}
    assert proto.hangup_seen == hangup_after


def _reply_lines(draw: Any) -> tuple[list[bytes], tuple[int, str]]:
    kind = draw(st.sampled_from(["200", "510", "511", "520", "520-", "100"]))
    data = draw(st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=30))
    if kind == "200":
        return [f"200 result=1 ({data}) endpos=12".encode()], (200, "1")
    if kind == "520-":
        usage = [f"usage {n} {data}".encode() for n in range(draw(st.integers(0, 4)))]
        return [b"520-Invalid command syntax.  Proper usage follows:", *usage, b"520 End of proper usage."], (520, "")
    if kind == "100":
        return [b"100 result=0 Trying...", b"200 result=0"], (200, "0")
    return [f"{kind} {data}".encode()], (int(kind), "")


@st.composite
def _exchange(draw: Any) -> tuple[bytes, tuple[int, str], bool]:
    lines, expected = _reply_lines(draw)
    hangups = draw(st.integers(0, 2))
    at = draw(st.integers(0, len(lines)))
    if expected[0] == 520 and 0 < at < len(lines):
        at = 0  # Asterisk never writes HANGUP inside a multi-line answer
    lines = lines[:at] + [b"HANGUP"] * hangups + lines[at:]
    return b"".join(line + b"\n" for line in lines), expected, hangups > 0


@FAST
@given(st.lists(_exchange(), min_size=1, max_size=6), CUTS)
def test_any_replies_with_hangup_lines_in_any_segments_answer_each_command_once(
        exchanges: list[tuple[bytes, tuple[int, str], bool]], cuts: list[int]) -> None:
    proto, factory = _connected()
    proto.dataReceived(b"agi_network: yes\n\n")
    for data, (code, result), hangup in exchanges:
        pending = proto.send(b"NOOP\n")
        _feed(proto, data, cuts)
        assert pending.done
        answer: Reply = run_sync(pending)
        assert (answer.code, answer.result if code == 200 else "") == (code, result)
        assert proto.hangup_seen or not hangup


#: The grammar of a ``200`` line as one regular expression: what parse_200
#: reads, spelled the short way (it takes time quadratic in the line).
_GRAMMAR_200 = re.compile(r"result=(?P<result>\S*)(?P<rest>.*?)(?:\s+endpos=(?P<endpos>-?\d+))?$", re.DOTALL)
_PARTS_200 = st.sampled_from(["result=", "endpos=", " endpos=", "endpos=-", "(", ")", " ", "\t", "\u3000", "1",
                              "-1", "\u0661", "x", "\n", "  ", "timeout"])


@FAST
@given(parts=st.lists(st.one_of(_PARTS_200, st.text(max_size=5)), max_size=12))
def test_a_200_line_is_read_as_its_grammar_says(parts: list[str]) -> None:
    body = "".join(parts)
    reply = parse_200("200 " + body)
    found = _GRAMMAR_200.match(body)
    if found is None:
        assert (reply.result, reply.data, reply.endpos) == ("", None, None)
        return
    result, rest, endpos = found.group("result", "rest", "endpos")
    stripped = rest.strip()
    data = stripped[1:-1] if stripped.startswith("(") and stripped.endswith(")") else (stripped or None)
    assert (reply.result, reply.data, reply.endpos) == (result, data, None if endpos is None else int(endpos))
