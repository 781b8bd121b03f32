"""Encoding commands and parsing replies: every form FASTAGI_PROTOCOL.md lists."""
from __future__ import annotations

import time

import pytest

from agi.protocol.wire import (
    MAX_ANSWER_CHARS,
    MAX_ANSWER_LINES,
    MAX_ARGUMENTS,
    AnswerTooLong,
    SAFE_COMMAND_LINE,
    CommandError,
    Reply,
    ReplyParser,
    encode_command,
    quote_argument,
    whole_200_reply,
)
from agi.sim import parse_args


def _feed(*lines: str) -> tuple[list[Reply], ReplyParser]:
    parser = ReplyParser()
    replies = [r for r in map(parser.feed, lines) if r is not None]
    return replies, parser


def _asterisk_reads(line: bytes) -> list[str]:
    return parse_args(line.decode("utf-8").removesuffix("\n"))


# -- encoding -----------------------------------------------------------------

def test_every_argument_is_quoted_so_spaces_stay_in_one_argument() -> None:
    line = encode_command("SET VARIABLE", "GREETING", "hola a todos")
    assert line == b'SET VARIABLE "GREETING" "hola a todos"\n'
    assert _asterisk_reads(line) == ["SET", "VARIABLE", "GREETING", "hola a todos"]


def test_quotes_and_backslashes_reach_asterisk_unchanged() -> None:
    value = 'he said "hi" \\o/ C:\\path\\'
    line = encode_command("SET VARIABLE", "Q", value)
    assert line == b'SET VARIABLE "Q" "he said \\"hi\\" \\\\o/ C:\\\\path\\\\"\n'
    assert _asterisk_reads(line)[-1] == value


def test_empty_argument_is_sent_as_empty_quotes_not_dropped() -> None:
    line = encode_command("STREAM FILE", "beep", "")
    assert line == b'STREAM FILE "beep" ""\n'
    assert _asterisk_reads(line) == ["STREAM", "FILE", "beep", ""]


def test_verb_alone_is_sent_bare() -> None:
    assert encode_command("ANSWER") == b"ANSWER\n"
    assert quote_argument(42) == '"42"'


@pytest.mark.parametrize("value", ["a\nHANGUP", "a\r", "\n", "x\x00y"])
def test_line_breaks_and_nul_in_arguments_are_refused(value: str) -> None:
    with pytest.raises(CommandError):
        encode_command("VERBOSE", value)


@pytest.mark.parametrize("verb", ["answer", "ANSWER\nHANGUP", "GET  DATA", "", "EXEC Set(X=1)"])
def test_anything_but_an_upper_case_verb_is_refused(verb: str) -> None:
    with pytest.raises(CommandError):
        encode_command(verb)


def test_line_of_2047_bytes_goes_but_2048_is_refused_by_default() -> None:
    overhead = len(b'VERBOSE ""\n')
    assert len(encode_command("VERBOSE", "x" * (SAFE_COMMAND_LINE - overhead))) == 2047
    with pytest.raises(CommandError, match="2048 bytes"):
        encode_command("VERBOSE", "x" * (SAFE_COMMAND_LINE - overhead + 1))


def test_line_length_counts_utf8_bytes_not_characters() -> None:
    overhead = len(b'VERBOSE ""\n')
    with pytest.raises(CommandError):
        encode_command("VERBOSE", "ñ" * ((SAFE_COMMAND_LINE - overhead) // 2 + 1))


def test_8191_byte_line_is_accepted_when_configured_for_new_asterisk() -> None:
    overhead = len(b'VERBOSE ""\n')
    line = encode_command("VERBOSE", "x" * (8191 - overhead), max_line=8191)
    assert len(line) == 8191
    with pytest.raises(CommandError):
        encode_command("VERBOSE", "x" * (8192 - overhead), max_line=8191)


def test_127_words_is_the_most_asterisk_reads() -> None:
    args = [str(n) for n in range(MAX_ARGUMENTS - 1)]
    line = encode_command("EXEC", *args, max_line=8191)
    assert _asterisk_reads(line) == ["EXEC", *args]
    with pytest.raises(CommandError, match="127"):
        encode_command("EXEC", *args, "one too many", max_line=8191)


def test_asterisk_drops_words_beyond_127() -> None:
    words = [f"w{n}" for n in range(130)]
    assert parse_args(" ".join(words)) == words[:127]
    assert parse_args(" ".join(f'"{w}"' for w in words)) == words[:127]


def test_asterisk_quote_rules_we_rely_on() -> None:
    assert parse_args("a\tb  c") == ["a", "b", "c"]
    assert parse_args('ab"c d"e') == ["abc de"]
    assert parse_args('a "" b') == ["a", "", "b"]
    assert parse_args("a\\ b \\\\") == ["a b", "\\"]
    assert parse_args('"unterminated') == ["unterminated"]
    assert parse_args("ANSWER\r") == ["ANSWER\r"]
    assert parse_args("cut\x00 here") == ["cut"]
    assert parse_args("") == []


# -- replies ------------------------------------------------------------------

def test_data_may_contain_closing_parentheses() -> None:
    (reply,), _ = _feed("200 result=1 (a (b) c) d)")
    assert (reply.code, reply.result, reply.data) == (200, "1", "a (b) c) d")


def test_empty_data_is_kept_apart_from_no_data() -> None:
    (empty, none), _ = _feed("200 result=1 ()", "200 result=0")
    assert empty.data == "" and none.data is None


def test_missing_sound_reply_has_failure_and_zero_endpos() -> None:
    (reply,), _ = _feed("200 result=-1 endpos=0")
    assert (reply.result_int, reply.endpos, reply.data, reply.digit) == (-1, 0, None, None)


def test_digit_comes_back_as_its_ascii_code() -> None:
    replies, _ = _feed("200 result=50 endpos=3404", "200 result=53", "200 result=0", "200 result=35")
    assert [r.digit for r in replies] == ["2", "5", None, "#"]
    assert replies[0].endpos == 3404


@pytest.mark.parametrize("result", ["99999999999999999999", "1114112", "55296", "9" * 5000])
def test_a_result_that_is_no_character_is_no_key(result: str) -> None:
    (reply,), _ = _feed(f"200 result={result} endpos=0")
    assert reply.digit is None


def test_an_endpos_of_more_digits_than_int_reads_is_no_endpos() -> None:
    (reply,), _ = _feed("200 result=50 endpos=" + "9" * 5000)
    assert (reply.digit, reply.endpos) == ("2", None)


@pytest.mark.parametrize("max_line", [2047, 8191])
def test_long_commands_that_all_differ_are_not_remembered(max_line: int) -> None:
    """A flow that sends caller-given text (a queue named by an argument, a
    trunk by the query string) once had the last 4,096 command lines it
    encoded, and their arguments, stay in memory, however long: 14 MB a
    worker after 3,000 calls, up to 75 MB with 8191-byte lines."""
    import tracemalloc
    encode_command("EXEC", "Queue", "warm-up", max_line=max_line)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for n in range(2000):
            encode_command("EXEC", "Queue", f"{n:08d}" * ((max_line - 40) // 8), max_line=max_line)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - before < 1 << 20
    assert encode_command("EXEC", "Queue", "support") is encode_command("EXEC", "Queue", "support")  # short: kept


@pytest.mark.parametrize("tail", [" " * 65000 + "x", " endpos=" * 8000 + "x", "\t " * 32000 + "endpos=x",
                                  " (" + " " * 65000 + ")", " " * 65000 + "endpos=1"])
def test_a_200_line_of_the_longest_length_is_read_in_linear_time(tail: str) -> None:
    started = time.process_time()
    (reply,), _ = _feed("200 result=1" + tail)
    assert reply.result == "1"
    assert time.process_time() - started < 0.05  # a line of 65,000 spaces once took 24 s, holding every call


def test_get_data_digits_timeout_and_hash_first() -> None:
    replies, _ = _feed("200 result=12", "200 result= (timeout)", "200 result=",
                       "200 result=4 (timeout)")
    assert [(r.result, r.data) for r in replies] == [
        ("12", None), ("", "timeout"), ("", None), ("4", "timeout")]


def test_record_file_reply_has_reason_and_endpos() -> None:
    (reply,), _ = _feed("200 result=1 (timeout) endpos=0")
    assert (reply.result, reply.data, reply.endpos) == ("1", "timeout", 0)


def test_unknown_command_and_dead_channel_codes() -> None:
    replies, _ = _feed("510 Invalid or unknown command",
                       "511 Command Not Permitted on a dead channel or intercept routine")
    assert [r.code for r in replies] == [510, 511]
    assert not any(r.ok for r in replies)
    assert replies[1].text.startswith("Command Not Permitted")


def test_multi_line_usage_is_collected_into_one_reply() -> None:
    replies, parser = _feed(
        "520-Invalid command syntax.  Proper usage follows:",
        "Stream the given <replaceable>file</replaceable>, and receive DTMF data.",
        "Returns the digits received from the channel at the other end.",
        "520 End of proper usage.",
    )
    assert len(replies) == 1
    assert replies[0].code == 520
    assert replies[0].text == "Invalid command syntax.  Proper usage follows:"
    assert replies[0].usage[-1] == "End of proper usage."
    assert len(replies[0].usage) == 3


def test_a_multi_line_answer_of_the_most_lines_and_characters_read_is_still_one_reply() -> None:
    first, last = "520-Invalid command syntax.  Proper usage follows:", "520 End of proper usage."
    width = (MAX_ANSWER_CHARS - len(first) - len(last)) // (MAX_ANSWER_LINES - 2)
    lines = ["x" * width] * (MAX_ANSWER_LINES - 2)
    replies, _ = _feed(first, *lines, last)
    assert len(replies) == 1 and len(replies[0].usage) == MAX_ANSWER_LINES - 1


@pytest.mark.parametrize("line, count", [("Usage line.", MAX_ANSWER_LINES - 1), ("x" * 1000, 66)])
def test_a_multi_line_answer_that_never_ends_is_refused_past_its_line_or_character_cap(line: str, count: int) -> None:
    parser = ReplyParser()
    parser.feed("520-Invalid command syntax.  Proper usage follows:")
    with pytest.raises(AnswerTooLong, match=f"{MAX_ANSWER_LINES} lines or {MAX_ANSWER_CHARS} characters"):
        for _ in range(count):
            parser.feed(line)
    assert parser.idle


def test_single_line_usage_answer_is_complete_at_once() -> None:
    (reply,), _ = _feed("520 Invalid command syntax.  Proper usage not available.")
    assert reply.code == 520 and reply.usage == ()


def test_gosub_trying_line_is_not_the_answer() -> None:
    parser = ReplyParser()
    assert parser.feed("100 result=0 Trying...") is None
    reply = parser.feed("200 result=0 Gosub complete")
    assert reply is not None and reply.data == "Gosub complete"


def test_hangup_line_before_a_reply_is_noted_and_never_taken_as_the_reply() -> None:
    parser = ReplyParser()
    assert parser.feed("HANGUP") is None
    assert parser.hangup_seen
    reply = parser.feed("200 result=0")
    assert reply is not None and reply.code == 200


def test_hangup_line_twice_still_leaves_the_next_reply_in_place() -> None:
    replies, parser = _feed("HANGUP", "HANGUP", "200 result=1 (bar baz)")
    assert parser.hangup_seen
    assert [(r.code, r.data) for r in replies] == [(200, "bar baz")]


def test_hangup_line_inside_a_multi_line_answer_is_noted_and_never_taken_as_usage() -> None:
    """server.md: the HANGUP line is never taken as a reply; inside a 520-
    answer it was kept as a line of the usage text, and the hangup missed
    (the call ended error instead of caller_hangup)."""
    replies, parser = _feed("520-Invalid command syntax.  Proper usage follows:", "HANGUP\r", "Usage: x",
                            "HANGUP", "520 End of proper usage.")
    assert parser.hangup_seen
    assert [(r.code, r.text, r.usage) for r in replies] == [
        (520, "Invalid command syntax.  Proper usage follows:", ("Usage: x", "End of proper usage."))]


def test_carriage_returns_are_tolerated() -> None:
    replies, parser = _feed("HANGUP\r", "200 result=1 (x)\r", "520-a\r", "b\r", "520 End\r")
    assert parser.hangup_seen
    assert [(r.code, r.data) for r in replies[:1]] == [(200, "x")]
    assert replies[1].usage == ("b", "End")


def test_garbage_line_becomes_a_code_zero_reply_not_an_exception() -> None:
    replies, _ = _feed("hello", "²²² x", "20", "")
    assert [r.code for r in replies] == [0, 0, 0, 0]


#: What Asterisk 22.11 answered to GET VARIABLE "CALLERID(name)" for a
#: caller named "Ana\n\nagi_network_script: e2e_menu\nagi_callerid: +34911111111\n":
#: the value unescaped between the parentheses.
VALUE_WITH_LINES = ["200 result=1 (Ana", "", "agi_network_script: e2e_menu", "agi_callerid: +34911111111", ")"]


def test_a_value_holding_line_breaks_is_one_reply_and_the_next_line_answers_the_next_command() -> None:
    replies, _ = _feed(*VALUE_WITH_LINES, "200 result=1")
    assert [(r.result, r.data) for r in replies] == [
        ("1", "Ana\n\nagi_network_script: e2e_menu\nagi_callerid: +34911111111\n"), ("1", None)]
    assert whole_200_reply(b"200 result=1 (Ana\n", 8192) is None  # its first segment may be that line alone


def test_a_value_that_never_closes_is_refused_past_the_multi_line_caps() -> None:
    parser = ReplyParser()
    parser.feed("200 result=1 (Ana")
    assert not parser.idle
    with pytest.raises(AnswerTooLong):
        for _ in range(MAX_ANSWER_LINES):
            parser.feed("more")
    assert parser.idle


def test_a_line_reading_hangup_inside_a_value_is_part_of_it() -> None:
    # Asterisk writes an answer at once: a HANGUP line cannot come in the middle of one.
    replies, parser = _feed("200 result=1 (Bob", "HANGUP", ")")
    assert [r.data for r in replies] == ["Bob\nHANGUP\n"] and not parser.hangup_seen
