"""Templated values and conditions, rendered in a sandboxed Jinja2.

A value is a template only when it contains ``{{`` or ``{%``; anything else
is used as written. Undefined names are errors (StrictUndefined), so a typo
in a flow fails validation or the step, never renders as an empty string.
Templates run in ``agi.engine.sandbox`` with the limits of
``agi.engine.limits``; any failure while rendering is a ``RenderError``.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable, Mapping

from jinja2 import TemplateError

from agi.engine import limits
from agi.engine.sandbox import INSERT, BoundedEnvironment

#: The one environment every template and condition is compiled in.
ENV = BoundedEnvironment()
#: What rendering a template can raise besides Jinja's own errors: a
#: division by zero, an operation on the wrong type (``'a' - 1``), a
#: number too large for a float, Python's recursion limit (a macro calling
#: itself)... each one the template's failure, never the call's.
FAILURES = (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError,
            RecursionError, MemoryError)


class RenderError(Exception):
    """A template or condition failed to render at call time."""


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


#: What ``written_text`` puts for each ``{{ ... }}``: some text, no option
#: letter, bracket or separator of any application.
SOME_TEXT = "0"


def written_text(value: str) -> str:
    """The text of ``value`` outside its expressions, tags and comments, as
    Jinja's lexer reads it, each ``{{ ... }}`` standing for SOME_TEXT: what
    the flow writes, whatever the values. So ``t{{ vars.get('X') }}`` is
    ``t0`` (the ``e`` of ``get`` is no option letter), a template alone in
    an argument still fills it, and ``q{% if x %}r{% endif %}`` is ``qr``.
    A value that does not lex is taken whole."""
    if not is_template(value):
        return value
    try:
        return "".join(text if kind == "data" else SOME_TEXT
                       for _, kind, text in ENV.lex(value) if kind in ("data", "variable_begin"))
    except TemplateError:
        return value


@lru_cache(maxsize=4096)
def _template(source: str) -> Any:
    """Compiled once per text. Its globals (``range``, ``dict``...) are
    flattened into one dict: Jinja2 keeps them as a ChainMap over the
    environment's and copies them into every render's context, and that
    copy of a ChainMap was most of the cost of a short render."""
    template = ENV.from_string(source)
    template.globals = dict(template.globals)
    return template


@lru_cache(maxsize=4096)
def _expression(source: str) -> Any:
    return ENV.compile_expression(source, undefined_to_none=False)


def syntax_error(value: str, *, expression: bool = False) -> str | None:
    """The syntax error in a template or condition, or None when it compiles.
    Jinja parses and compiles recursively, and Python parses the code it
    makes: a text nested deeper than Python's recursion limit (thousands of
    parentheses) or than its parser takes (a sum of 200 terms) is an error
    too, never a RecursionError or SyntaxError out of the loader."""
    try:
        if expression:
            _expression(value)
        elif is_template(value):
            _template(value)
    except TemplateError as exc:
        return f"template error: {exc}"
    except (RecursionError, SyntaxError):  # SyntaxError: Python's own parser, on the code Jinja made
        return "template error: nested too deeply"
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
    text = "".join(out)
    return text if len(text) <= limits.MAX_TEXT else None  # Jinja refuses it


def _finalize(value: Any) -> Any:
    return int(value) if isinstance(value, bool) else value


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
        return _finalize(value)
    return value if type(value) in (str, int, float) else _NOT_PLAIN


def render(value: Any, names: Mapping[str, Any], insert: Callable[[str], str] | None = None) -> Any:
    """Render ``value`` when it is a template, else return it unchanged.

    ``insert`` receives, as text, the value of every ``{{ ... }}`` (not the
    text written around them) and returns what goes into the result; it may
    raise to refuse it (application arguments: data, never syntax).
    """
    if not is_template(value):
        return value
    token = INSERT.set(insert)
    try:
        template = _template(value)
        with limits.budget():
            return template.render(names)
    except FAILURES as exc:
        raise RenderError(f"cannot render {value!r}: {_reason(exc)}") from exc
    finally:
        INSERT.reset(token)


def evaluate(condition: str, names: Mapping[str, Any]) -> bool:
    """Evaluate a condition such as ``call.caller.startswith('+34')``; an
    undefined name is an error, never false."""
    try:
        expression = _expression(condition)
        with limits.budget():
            return bool(expression(**names))
    except FAILURES as exc:
        raise RenderError(f"cannot evaluate {condition!r}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """The error in words; Python's own errors with their kind
    (``ZeroDivisionError: division by zero``)."""
    if isinstance(exc, TemplateError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
