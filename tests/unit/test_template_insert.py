"""``insert`` in templates.render and templates.fill: what application
arguments use to treat every value a ``{{ ... }}`` inserts as data, while
the text written around it stays as written."""
from __future__ import annotations

import pytest

from agi.engine import templates

NAMES = {"call": {"caller": "a,b", "flag": True}, "vars": {"x": "1"}}


def brackets(value: str) -> str:
    return f"<{value}>"


@pytest.mark.parametrize("source", ["{{ call.caller }},30,{{ vars.x }}", "{{call.caller}},30,{{vars.x}}"])
def test_insert_sees_every_reference_but_not_the_written_text(source: str) -> None:
    assert templates.render(source, NAMES, brackets) == "<a,b>,30,<1>"
    parts = templates.references(source)
    assert parts is not None
    assert templates.fill(parts, NAMES.__getitem__, brackets) == "<a,b>,30,<1>"


def test_insert_sees_the_value_of_any_expression_and_booleans_as_1_or_0() -> None:
    source = "{{ call.caller | upper }}{% if call.flag %},x{% endif %}{{ call.flag }}{{ 'c,d' }}"
    assert templates.render(source, NAMES, brackets) == "<A,B>,x<1><c,d>"


def test_a_render_with_insert_leaves_no_trace_in_later_renders() -> None:
    source = "{{ 'k,1' }}-{{ call.caller }}"
    assert templates.render(source, NAMES, brackets) == "<k,1>-<a,b>"
    assert templates.render(source, NAMES) == "k,1-a,b"
    assert templates.render(source, NAMES, brackets) == "<k,1>-<a,b>"


def test_an_insert_that_raises_stops_the_render() -> None:
    class Refused(Exception):
        pass

    def refuse(value: str) -> str:
        raise Refused(value)

    with pytest.raises(Refused):
        templates.render("x{{ call.caller | lower }}", NAMES, refuse)
    assert templates.render("x{{ call.caller | lower }}", NAMES) == "xa,b"


@pytest.mark.parametrize("source", ["{{ vars.none }}", "a{{ vars.none }}b", "{{ none }}", "{{ history.first_call }}"])
def test_none_renders_as_nothing_never_as_the_word_none(source: str) -> None:
    """``{{ history.first_call }}`` for a caller with no earlier call put
    the text ``None`` into a CDR field or a channel variable."""
    names = {"vars": {"none": None}, "history": {"first_call": None}}
    written_around = source.startswith("a")
    assert templates.render(source, names) == ("ab" if written_around else "")
    assert templates.render(source, names, brackets) == ("a<>b" if written_around else "<>")
