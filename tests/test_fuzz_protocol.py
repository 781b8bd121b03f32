"""Property tests: the protocol functions hold for any input, not just examples."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agi.protocol.environment import EnvironmentReader
from agi.protocol.wire import CommandError, Reply, ReplyParser, encode_command
from agi.sim import CallerScript, SimulatedAsterisk, parse_args

FAST = settings(max_examples=200, deadline=None)

VERBS = st.sampled_from(["EXEC", "SET VARIABLE", "GET FULL VARIABLE", "STREAM FILE",
                         "VERBOSE", "DATABASE PUT", "GET DATA"])
#: Anything a flow could put in an argument except what can never travel.
ARG_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=60)
ARG_EDGES = st.sampled_from(["", " ", '"', "\\", '\\"', '"\\', "\t", "a b", "${X}", "¡ñ€😀"])
ARGS = st.lists(st.one_of(ARG_TEXT, ARG_EDGES), max_size=30)
ANY_LINE = st.text(max_size=200)


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
@given(st.lists(st.one_of(ANY_LINE, st.sampled_from(["HANGUP", "", "agi_x: y", "\r"])), max_size=40),
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
