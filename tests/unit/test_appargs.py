"""Asterisk's application-argument syntax (agi/protocol/appargs.py): the
model of ``AST_STANDARD_APP_ARGS`` and the escaping that keeps any text one
argument. tests/e2e checks the same facts on a real Asterisk 22."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.protocol import appargs
from agi.protocol.wire import CommandError, encode_command
from agi.sim.parse_args import parse_args

#: Text that stresses every character the parser reads, and more.
TEXT = st.text(alphabet=st.sampled_from(list('\\",()[]|&^$ {}ab=')) | st.characters(), max_size=30)


@pytest.mark.parametrize(("data", "args"), [
    ("", []),
    ("a", ["a"]),
    ("a,b", ["a", "b"]),
    ("a,", ["a", ""]),
    (",,", ["", "", ""]),
    ('a,"b,c",d', ["a", "b,c", "d"]),
    ("U(x,y),z", ["U(x,y)", "z"]),
    ("[a,b],c", ["[a,b]", "c"]),
    ("a\\,b,c", ["a,b", "c"]),
    ("a\\\\,b", ["a\\", "b"]),
    ('say \\"hi\\"', ['say "hi"']),
    ("a)b,c", ["a)b", "c"]),
    ("a(,b,c", ["a(,b,c"]),
    ("a|b,c", ["a|b", "c"]),
])
def test_split_reads_arguments_as_asterisk_22_does(data: str, args: list[str]) -> None:
    assert appargs.split(data) == args


def test_the_last_declared_argument_gets_the_rest_unparsed() -> None:
    # Verbose(level,message): the message keeps its commas, quotes and backslashes.
    assert appargs.split('1,a,"b",c\\,d', 2) == ["1", 'a,"b",c\\,d']
    assert appargs.split("PJSIP/1,30,t,http://x/?a=1,2", 4) == ["PJSIP/1", "30", "t", "http://x/?a=1,2"]


@given(st.lists(TEXT, min_size=1, max_size=6))
def test_escaped_items_read_back_as_exactly_the_same_items(items: list[str]) -> None:
    if items == [""]:
        items = ["", ""]  # an empty string is no argument at all, as in Asterisk
    assert appargs.split(appargs.join([appargs.escape(item) for item in items])) == items


@given(st.lists(TEXT, min_size=1, max_size=6))
def test_escaped_items_never_spill_into_an_applications_last_argument(items: list[str]) -> None:
    """An application that declares as many arguments as there are items
    gets every item but the last exactly, and the last one whole (escaped)."""
    data = appargs.join([appargs.escape(item) for item in items])
    if data == "":
        return
    got = appargs.split(data, len(items))
    assert got == items[:-1] + [appargs.escape(items[-1])]


@given(st.lists(TEXT, min_size=2, max_size=5))
def test_escaped_items_read_back_the_same_through_the_agi_command_line(items: list[str]) -> None:
    """EXEC's line is read by res_agi.c's parse_args, then the options
    string by the application: both layers give the items back."""
    if any(appargs.line_problem(item) for item in items):
        return
    if any(not item.isascii() and not _encodable(item) for item in items):
        with pytest.raises(CommandError, match="not valid Unicode"):
            encode_command("EXEC", "NoOp", appargs.join([appargs.escape(item) for item in items]))
        return
    line = encode_command("EXEC", "NoOp", appargs.join([appargs.escape(item) for item in items])).decode()
    verb, app, options = parse_args(line[:-1])
    assert (verb, app, appargs.split(options)) == ("EXEC", "NoOp", items)


def test_escape_puts_a_backslash_before_each_character_the_parser_reads() -> None:
    assert appargs.escape('a,b"c\\d(e)f[g]h|i&j^k') == 'a\\,b\\"c\\\\d\\(e\\)f\\[g\\]h|i&j^k'
    assert appargs.escape("plain-text_1.wav") == "plain-text_1.wav"


@pytest.mark.parametrize(("value", "refused", "reason"), [
    ("a\nb", "", "line break"),
    ("a\rb", "", "line break"),
    ("a\x00b", "", "NUL"),
    ("${SHELL(id)}", "", "'${'"),
    ("$[1+1]", "", "'$['"),
    ("sub^evil", "", "'^'"),
    ("100&Local/x@evil", "&", "'&'"),
])
def test_inserted_values_that_cannot_be_escaped_are_refused(value: str, refused: str, reason: str) -> None:
    problem = appargs.inserted_problem(value, refused)
    assert problem is not None and reason in problem


@pytest.mark.parametrize("value", ["a,b", 'say "hi"', "a\\b", "(x)", "[y]", "a|b", "$5", "100&x", "ü"])
def test_inserted_values_that_can_be_escaped_pass(value: str) -> None:
    assert appargs.inserted_problem(value) is None


@pytest.mark.parametrize(("text", "ok"), [("t", True), ("U(sub^a)", True), ("b(x[1])", True), ("U(sub", False),
                                          ("a)", False), ("x]", False), ('A("file', False), ('A("f")', True)])
def test_balanced_options_cannot_swallow_the_next_argument(text: str, ok: bool) -> None:
    assert appargs.balanced(text) is ok


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(st.text(alphabet=st.sampled_from(list(",)] |&^$ab=é")), max_size=30), st.sampled_from([1, 2, 3, 7, appargs.UNLIMITED]))
def test_text_without_escapes_quotes_or_brackets_splits_at_its_commas_as_the_parser_reads_it(
        data: str, declared: int) -> None:
    assert appargs.split(data, declared) == appargs._parsed(data, declared)


@pytest.mark.parametrize(("data", "delimiter", "declared", "expected"), [
    ("1?MixMonitor(x.wav)", "?", 2, ["1", "MixMonitor(x.wav)"]),
    ('$["a?b"="c"]?Record(x.wav)', "?", 2, ['$["a?b"="c"]', "Record(x.wav)"]),
    ("$[${X}=1?]?a?b", "?", 2, ["$[${X}=1?]", "a?b"]),
    ("a\\?b?c", "?", 2, ["a\\?b", "c"]),
    ("Playback(a:b):Record(x)", ":", 2, ["Playback(a:b)", "Record(x)"]),
    ("a:", ":", 2, ["a", ""]),
    ("", ":", 2, []),
])
def test_raw_arguments_split_outside_brackets_and_quotes_and_keep_every_character(
        data: str, delimiter: str, declared: int, expected: list[str]) -> None:
    """AST_NONSTANDARD_RAW_ARGS, as ExecIf reads its condition and branches."""
    assert appargs.split_raw(data, delimiter, declared) == expected
