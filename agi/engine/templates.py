"""Templated values and conditions, rendered in a sandboxed Jinja2.

A value is a template only when it contains ``{{`` or ``{%``; anything else
is used as written. Undefined names are errors (StrictUndefined), so a typo
in a flow fails validation or the step, never renders as an empty string.
"""
from __future__ import annotations

import re
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Callable, Mapping

from jinja2 import StrictUndefined, TemplateError, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

#: What a value inserted by ``{{ ... }}`` goes through while a text is
#: rendered for an application's arguments (``render(..., insert=...)``).
_INSERT: ContextVar[Callable[[str], str] | None] = ContextVar("agiflow_template_insert", default=None)


def _output(value: Any) -> Any:
    """A boolean renders as 1 or 0: what the dialplan's ``$[...]`` expects
    (``False`` as text would count as true there)."""
    return int(value) if isinstance(value, bool) else value


@pass_eval_context  # read at render time: Jinja may not fold constants through it
def _finalize(eval_ctx: EvalContext, value: Any) -> Any:
    """Every ``{{ ... }}`` output: booleans as 1/0, then the current insert."""
    value = _output(value)
    insert = _INSERT.get()
    return value if insert is None else insert(str(value))


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


#: ``{{ name }}`` or ``{{ name.key.key }}``, nothing else inside the braces.
_REFERENCE = re.compile(r"\{\{ *([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*) *\}\}", re.ASCII)
#: What a dict answers as an attribute: Jinja gives those before its keys.
_DICT_ATTRIBUTES = frozenset(dir(dict))
_NOT_PLAIN = object()


@lru_cache(maxsize=4096)
def references(source: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """A template that is only text and ``{{ a.b }}`` references, as
    (text before, reference path) pairs (the last path empty); None when
    it uses anything else and needs Jinja."""
    parts: list[tuple[str, tuple[str, ...]]] = []
    start = 0
    for match in _REFERENCE.finditer(source):
        parts.append((source[start:match.start()], tuple(match.group(1).split("."))))
        start = match.end()
    parts.append((source[start:], ()))
    texts = "".join(text for text, _ in parts)
    if "{" in texts or "}" in texts or source.endswith("\n"):
        return None  # other Jinja syntax, or Jinja's trimming of a final newline
    return tuple(parts)


def fill(parts: tuple[tuple[str, tuple[str, ...]], ...], lookup: Callable[[str], Any],
         insert: Callable[[str], str] | None = None) -> str | None:
    """Render ``references()`` parts as Jinja would, reading each
    reference's first name with ``lookup``; None when a value is not plain
    (missing, not a dict key, not text or a number): Jinja must decide.
    ``insert`` as in ``render``."""
    out = []
    for text, path in parts:
        out.append(text)
        if path:
            value = _plain_value(path, lookup)
            if value is _NOT_PLAIN:
                return None
            out.append(str(value) if insert is None else insert(str(value)))
    return "".join(out)


def _plain_value(path: tuple[str, ...], lookup: Callable[[str], Any]) -> Any:
    try:
        value = lookup(path[0])
    except KeyError:
        return _NOT_PLAIN
    for key in path[1:]:
        if type(value) is not dict or key in _DICT_ATTRIBUTES:
            return _NOT_PLAIN
        value = value.get(key, _NOT_PLAIN)
    if type(value) is bool:
        return _output(value)
    return value if type(value) in (str, int, float) else _NOT_PLAIN


def render(value: Any, names: Mapping[str, Any], insert: Callable[[str], str] | None = None) -> Any:
    """Render ``value`` when it is a template, else return it unchanged.

    ``insert`` receives, as text, the value of every ``{{ ... }}`` (not the
    text written around them) and returns what goes into the result; it may
    raise to refuse it (application arguments: data, never syntax).
    """
    if not is_template(value):
        return value
    token = _INSERT.set(insert)
    try:
        return _template(value).render(names)
    except TemplateError as exc:
        raise RenderError(f"cannot render {value!r}: {exc}") from exc
    finally:
        _INSERT.reset(token)


def evaluate(condition: str, names: Mapping[str, Any]) -> bool:
    """Evaluate a condition such as ``call.caller.startswith('+34')``; an
    undefined name is an error, never false."""
    try:
        return bool(_expression(condition)(**names))
    except TemplateError as exc:
        raise RenderError(f"cannot evaluate {condition!r}: {exc}") from exc
