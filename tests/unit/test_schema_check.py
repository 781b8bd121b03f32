"""The quick schema check that lets a valid config skip jsonschema says
what jsonschema says, for every document; a keyword it does not know hands
the document to jsonschema."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agi.config import SCHEMA
from agi.loading.schema_check import conforms
from agi.loading.yamlio import load_yaml

REPO = Path(__file__).resolve().parents[2]
VALIDATOR = Draft202012Validator(SCHEMA)


def _names(schema: dict[str, Any]) -> set[str]:
    found = set(schema.get("properties", {}))
    for sub in schema.get("properties", {}).values():
        found |= _names(sub)
    return found


KEYS = st.sampled_from(sorted(_names(SCHEMA) | {"x", "Database"}))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.sampled_from([0, 1, 255, 256, 8191, 8192, 65535, 65536]),
    st.floats(allow_nan=False, min_value=-1, max_value=70000), st.sampled_from([0.0, 1.0, 30.0, 30.5, 2.0]),
    st.sampled_from(["", "auto", "127.0.0.1", "::1", "INFO", "DEBUG", "info", "json", "text", "ES", "es", "XX",
                     "wav", "mp3", "agiflow.db", "pbx-1", "pbx 1", "a" * 65, "ctx", "s", "1"]),
    st.text(max_size=6),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(KEYS, inner, max_size=4)), max_leaves=12)


@settings(max_examples=800, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_the_quick_check_agrees_with_jsonschema_on_any_config(document: dict[str, Any]) -> None:
    assert conforms(SCHEMA, document) is VALIDATOR.is_valid(document)


def near(*valid: Any) -> st.SearchStrategy[Any]:
    """Mostly one of the ``valid`` values, sometimes anything."""
    return st.one_of(st.sampled_from(valid), st.sampled_from(valid), st.sampled_from(valid), SCALARS)


NEARLY_VALID = st.fixed_dictionaries({}, optional={
    "server": st.fixed_dictionaries({}, optional={
        "port": near(0, 4573, 65535), "workers": near("auto", 1, 256), "host": near("127.0.0.1"),
        "allow": st.lists(near("10.0.0.1"), max_size=2), "node": near("pbx-1", "a/b:c"),
        "fallback": st.fixed_dictionaries({"context": near("ctx")}, optional={"priority": near("1", 1, "n")}),
        "metrics": st.fixed_dictionaries({}, optional={"port": near(9573), "allow_remote": near(True)})}),
    "log_level": near("INFO", "ERROR"), "database_timeout": near(0.5, 30, 1e-9), "default_region": near("ES"),
    "recordings": st.fixed_dictionaries({}, optional={"format": near("wav", "sln")})})


@settings(max_examples=400, deadline=None)
@given(NEARLY_VALID)
def test_the_quick_check_agrees_with_jsonschema_on_nearly_valid_configs(document: dict[str, Any]) -> None:
    assert conforms(SCHEMA, document) is VALIDATOR.is_valid(document)


def test_the_shipped_config_conforms() -> None:
    document = load_yaml((REPO / "config.yaml").read_text(encoding="utf-8"))
    assert conforms(SCHEMA, document) is True


def test_a_keyword_the_quick_check_does_not_know_leaves_the_answer_to_jsonschema() -> None:
    assert conforms({"type": "string", "format": "email"}, "x") is None
    assert conforms({"type": "object", "additionalProperties": {"type": "string"}}, {"a": "b"}) is None
    assert conforms({"type": "object", "properties": {"a": {"multipleOf": 2}}}, {"a": 4}) is None


def test_json_equality_tells_true_from_one() -> None:
    assert conforms({"enum": [1]}, True) is False
    assert conforms({"const": 1}, 1.0) is True
    assert conforms({"type": "integer"}, 2.0) is True and conforms({"type": "integer"}, True) is False
