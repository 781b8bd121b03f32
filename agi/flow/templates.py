"""Templated values and conditions, rendered in a sandboxed Jinja2.

A value is a template only when it contains ``{{`` or ``{%``; anything else
is used as written. Undefined names are errors (StrictUndefined), so a typo
in a flow fails validation or the step, never renders as an empty string.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

def _finalize(value: Any) -> Any:
    """A boolean renders as 1 or 0: what the dialplan's ``$[...]`` expects
    (``False`` as text would count as true there)."""
    return int(value) if isinstance(value, bool) else value


_ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, finalize=_finalize)


class RenderError(Exception):
    """A template or condition failed to render at call time."""


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


@lru_cache(maxsize=4096)
def _template(source: str) -> Any:
    """Compiled once per text. Its globals (``range``, ``dict``...) are
    flattened into one dict: Jinja2 keeps them as a ChainMap over the
    environment's and copies them into every render's context, and that
    copy of a ChainMap was most of the cost of a short render."""
    template = _ENV.from_string(source)
    template.globals = dict(template.globals)
    return template


@lru_cache(maxsize=4096)
def _expression(source: str) -> Any:
    return _ENV.compile_expression(source, undefined_to_none=False)


def syntax_error(value: str, *, expression: bool = False) -> str | None:
    """The syntax error in a template or condition, or None when it compiles."""
    try:
        if expression:
            _expression(value)
        elif is_template(value):
            _template(value)
    except TemplateError as exc:
        return f"template error: {exc}"
    return None


def render(value: Any, names: Mapping[str, Any]) -> Any:
    """Render ``value`` when it is a template, else return it unchanged."""
    if not is_template(value):
        return value
    try:
        return _template(value).render(names)
    except TemplateError as exc:
        raise RenderError(f"cannot render {value!r}: {exc}") from exc


def evaluate(condition: str, names: Mapping[str, Any]) -> bool:
    """Evaluate a condition such as ``call.caller.startswith('+34')``; an
    undefined name is an error, never false."""
    try:
        return bool(_expression(condition)(**names))
    except TemplateError as exc:
        raise RenderError(f"cannot evaluate {condition!r}: {exc}") from exc
