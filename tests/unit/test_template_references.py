"""Plain ``{{ a.b }}`` templates are filled without Jinja, exactly as Jinja would."""
from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agi.engine import templates
from agi.engine.templates import RenderError

KEYS = st.sampled_from(["id", "caller", "department", "items", "get", "x_1", "Vip"])
VALUES = st.one_of(st.text(max_size=5), st.integers(-5, 10**12), st.floats(allow_nan=False),
                   st.booleans(), st.none(), st.lists(st.integers(), max_size=2))
TREES = st.recursive(VALUES, lambda inner: st.dictionaries(KEYS, inner, max_size=4), max_leaves=8)
NAMES = st.dictionaries(st.sampled_from(["call", "cdr", "vars", "now"]), TREES, max_size=4)
PATHS = st.lists(st.sampled_from(["call", "cdr", "vars", "nope", "id", "department", "items", "get", "Vip"]),
                 min_size=1, max_size=3).map(".".join)
PIECES = st.one_of(st.text(alphabet="ab .-{}%#\n", max_size=4),
                   st.builds(lambda path, pad: "{{" + pad + path + pad + "}}", PATHS, st.sampled_from(["", " ", "  "])))


def _jinja(source: str, names: dict[str, Any]) -> str | None:
    try:
        return str(templates.render(source, names))
    except RenderError:
        return None


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=5).map("".join), NAMES)
def test_filled_text_is_what_jinja_renders(source: str, names: dict[str, Any]) -> None:
    parts = templates.references(source)
    filled = None if parts is None else templates.fill(parts, names.__getitem__)
    if filled is not None:
        assert filled == _jinja(source, names)


def test_plain_references_are_filled_and_the_rest_left_to_jinja() -> None:
    names = {"call": {"id": "1795.42"}, "cdr": {"department": "sales", "vip": True, "items": "x"}}
    assert templates.fill(templates.references("{{ call.id }}.wav"), names.__getitem__) == "1795.42.wav"
    assert templates.fill(templates.references("{{cdr.vip}}"), names.__getitem__) == "1"
    assert templates.fill(templates.references("{{ cdr.items }}"), names.__getitem__) is None  # dict.items
    assert templates.fill(templates.references("{{ cdr.nope }}"), names.__getitem__) is None
    assert templates.references("{{ cdr.department | upper }}") is None
    assert templates.references("{% if x %}y{% endif %}") is None
