"""The Jinja2 environment every template and condition runs in: Jinja2's
immutable sandbox, ``StrictUndefined``, and the limits of
``agi.engine.limits`` on every operator, call, filter, loop and output.

Hooks: the arithmetic operators go through ``call_binop``; calls through
``call``; ``str.format`` through ``wrap_str_format``; every filter is
wrapped; ``range`` is bounded; and before compiling, each ``{% for %}``
loop's sequence and each ``~`` concatenation are rewritten to pass through
a hidden filter (a name no template can write) that checks them.
"""
from __future__ import annotations

import inspect
from contextvars import ContextVar
from functools import wraps
from collections.abc import Sized
from typing import Any, Callable, Iterable, Iterator

from jinja2 import StrictUndefined, nodes
from jinja2.nodes import EvalContext
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg, pass_environment, pass_eval_context
from jinja2.visitor import NodeTransformer

from agi.engine import limits
from agi.engine.limits import MAX_ITEMS, MAX_TEXT, checked, refuse, tick

#: Filters that are not available in flows: HTML helpers whose output
#: cannot be bounded from their input (links with any attributes).
REMOVED_FILTERS = frozenset({"urlize"})
#: Globals that are not available in flows (``lipsum``: any amount of text).
REMOVED_GLOBALS = frozenset({"lipsum"})
#: Hidden filter names: not identifiers, so no template can use them.
_LOOP = "agiflow loop"
_CONCAT = "agiflow concat"


#: What a value inserted by ``{{ ... }}`` goes through while a text is
#: rendered for an application's arguments (``templates.render(..., insert=...)``).
INSERT: ContextVar[Callable[[str], str] | None] = ContextVar("agiflow_template_insert", default=None)


@pass_eval_context  # read at render time: Jinja may not fold constants through it
def _finalize(eval_ctx: EvalContext, value: Any) -> Any:
    """What ``{{ ... }}`` writes. A boolean renders as 1 or 0: what the
    dialplan's ``$[...]`` expects (``False`` as text would count as true
    there). None renders as nothing: the text ``None`` went into CDR fields
    and channel variables (``{{ history.first_call }}`` for a new caller).
    Lists and mappings too long to write out are refused. Then the current
    insert, if any (application arguments)."""
    if value is None:
        value = ""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, str):
        limits.written(len(value))
        value = checked(value, "the output")
    else:
        limits.check_written(value, "the output")
    insert = INSERT.get()
    return value if insert is None else insert(str(value))


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with agiflow's limits."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
        for name in REMOVED_GLOBALS:
            self.globals.pop(name, None)
        self.globals["range"] = bounded_range
        self.filters = {name: _bounded_filter(name, FILTERS[name])
                        for name in self.filters if name not in REMOVED_FILTERS}
        self.filters[_LOOP] = _loop
        self.filters[_CONCAT] = _concat

    @staticmethod
    def concat(parts: Iterable[str]) -> str:
        """The whole result of a render, stopped as soon as it is too long."""
        out, length = [], 0
        for part in parts:
            length += len(part)
            if length > MAX_TEXT:
                raise refuse("the result is too long", f"{MAX_TEXT} characters")
            out.append(part)
        return "".join(out)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        if operator == "**":
            limits.check_power(left, right)
        elif operator == "*":
            limits.check_repeat(left, right)
        elif operator == "+":
            limits.check_plus(left, right)
        elif operator == "%" and isinstance(left, str):
            limits.check_printf(left, right)
        return checked(self.binop_table[operator](left, right), f"the result of {operator}")

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        builtin = inspect.isbuiltin(__obj)
        tick(steps=0 if builtin else 1)
        if builtin:
            args = _check_builtin(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return checked(result, "a macro's result" if isinstance(__obj, Macro) else f"the result of {_name(__obj)}()")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        template = value.__self__

        @wraps(wrapper)
        def bounded_format(*args: Any, **kwargs: Any) -> str:
            limits.check_format(template, args, kwargs)
            return wrapper(*args, **kwargs)
        return bounded_format

    def _generate(self, source: nodes.Template, name: str | None, filename: str | None,
                  defer_init: bool = False) -> str:
        return super()._generate(_Rewriter().visit(source), name, filename, defer_init)


def _name(function: Any) -> str:
    return str(getattr(function, "__name__", "a function"))


def _check_builtin(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check a built-in method's arguments before it runs; its arguments,
    an iterable given to ``join`` read into a list."""
    owner: Any = getattr(method, "__self__", None)
    name = _name(method)
    if not isinstance(owner, (str, bytes, int)):
        return args
    first: Any = args[0] if args else None
    if name in ("center", "ljust", "rjust", "zfill"):
        limits.check_width(first, f"{name}() width")
    elif name == "expandtabs" and isinstance(owner, (str, bytes)):
        size = kwargs.get("tabsize", first if first is not None else 8)
        tab: Any = "\t" if isinstance(owner, str) else b"\t"
        tabs = owner.count(tab)
        if limits.is_int(size) and len(owner) + tabs * size > MAX_TEXT:
            raise refuse(f"expandtabs({size}) would make the text {len(owner) + tabs * size} characters long",
                         f"{MAX_TEXT}")
    elif name == "to_bytes":
        limits.check_width(kwargs.get("length", first), "to_bytes() length")
    elif name == "replace" and len(args) >= 2:
        limits.check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else kwargs.get("count", -1))
    elif name == "join" and args and isinstance(owner, (str, bytes)):
        items = list(limits.ticking(first))
        length = sum(len(i) for i in items if isinstance(i, (str, bytes))) + len(owner) * max(len(items) - 1, 0)
        if length > MAX_TEXT:
            raise refuse(f"joined text would be {length} characters long", f"{MAX_TEXT}")
        return (items, *args[1:])
    elif name == "translate" and isinstance(owner, str) and isinstance(first, dict):
        longest = max((len(v) for v in first.values() if isinstance(v, str)), default=1)
        if len(owner) * longest > MAX_TEXT:
            raise refuse("the translated text would be too long", f"{MAX_TEXT} characters")
    return args


def bounded_range(*args: int) -> range:
    """``range`` with at most MAX_ITEMS numbers."""
    numbers = range(*args)
    if len(numbers) > MAX_ITEMS:
        raise refuse(f"range() of {len(numbers)} numbers", f"{MAX_ITEMS}")
    return numbers


def _loop(items: Any) -> Iterator[Any]:
    """A ``{% for %}`` loop's sequence: each iteration is a step."""
    return limits.ticking(items, steps=1)


def _concat(pieces: tuple[Any, ...]) -> str:
    """``a ~ b``: each piece written out, the whole within MAX_TEXT."""
    for piece in pieces:
        limits.check_written(piece, "a piece of ~")
    tick()
    return str(checked("".join(map(str, pieces)), "the result of ~"))


class _Rewriter(NodeTransformer):
    """Routes loops and ``~`` through the hidden checking filters."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _LOOP, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        pieces = nodes.Tuple(list(node.nodes), "load", lineno=node.lineno)
        return nodes.Filter(pieces, _CONCAT, [], [], None, None, lineno=node.lineno)


# -- filters -------------------------------------------------------------------

def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with the budget checked before it runs, its value and
    the arguments that are sizes checked, and its result checked after."""
    function = {"sum": _sum, "join": _join}.get(name, function)
    before = _BEFORE.get(name)
    value_at = 0 if _PassArg.from_obj(function) is None else 1
    signature = _value_signature(function) if before else None

    @wraps(function)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if len(args) > value_at:
            limits.check_written(args[value_at], f"the value given to filter {name}")
        if before is not None and signature is not None:
            bound = signature.bind(*args[value_at:], **kwargs)
            bound.apply_defaults()
            before(bound.arguments)
        return checked(function(*args, **kwargs), f"the result of filter {name}")
    return bounded


def _value_signature(function: Callable[..., Any]) -> inspect.Signature:
    """A filter's parameters from its value on: without the context,
    environment or evaluation context Jinja passes first."""
    signature = inspect.signature(function)
    params = list(signature.parameters.values())
    if params and params[0].name in ("context", "eval_ctx", "environment", "env"):
        params = params[1:]
    return signature.replace(parameters=params)


@pass_environment
def _sum(environment: Any, iterable: Iterable[Any], attribute: str | int | None = None, start: Any = 0) -> Any:
    """The ``sum`` filter, adding with the checked ``+``."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    total = start
    for item in limits.ticking(iterable):
        limits.check_plus(total, item)
        total = checked(total + item, "the sum")
    return total


def _indent(a: dict[str, Any]) -> None:
    width, text = a["width"], a["s"]
    pad = len(width) if isinstance(width, str) else width
    limits.check_width(pad, "indent width")
    if isinstance(text, str) and limits.is_int(pad) and len(text) + (text.count("\n") + 1) * pad > MAX_TEXT:
        raise refuse("the indented text would be too long", f"{MAX_TEXT} characters")


def _wordwrap(a: dict[str, Any]) -> None:
    text, width, wrap = a["s"], a["width"], a["wrapstring"] or "\n"
    if isinstance(text, str) and limits.is_int(width) and isinstance(wrap, str):
        breaks = len(text) // max(width, 1) + sum(text.count(c) for c in " \t\n-") + 1
        if len(text) + breaks * len(wrap) > MAX_TEXT:
            raise refuse("the wrapped text would be too long", f"{MAX_TEXT} characters")


def _tojson(a: dict[str, Any]) -> None:
    indent = a["indent"]
    size = len(indent) if isinstance(indent, str) else indent if limits.is_int(indent) else 0
    limits.check_width(size, "tojson indent")
    if limits.written_size(a["value"]) * (1 + size) > limits.MAX_WRITTEN:
        raise refuse("the JSON text would be too long", f"about {limits.MAX_WRITTEN} characters")


@pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: str | int | None = None) -> str:
    """The ``join`` filter, its items read first so that the result's
    length is known before it is made."""
    items = value if isinstance(value, Sized) and not isinstance(value, str) else list(limits.ticking(value))
    limits.check_written(items, "the list to join")
    if isinstance(d, str) and len(d) * len(items) > MAX_TEXT:
        raise refuse(f"joined text would be about {len(d) * len(items)} characters long", f"{MAX_TEXT}")
    return str(FILTERS["join"](eval_ctx, items, d, attribute))


_BEFORE: dict[str, Callable[[dict[str, Any]], None]] = {
    "center": lambda a: limits.check_width(a["width"], "center width"),
    "indent": _indent,
    "format": lambda a: limits.check_printf(str(a["value"]), a["kwargs"] or a["args"]),
    "replace": lambda a: limits.check_replace(a["s"], a["old"], a["new"], -1 if a["count"] is None else a["count"]),
    "batch": lambda a: limits.check_count(a["linecount"], "batch size"),
    "slice": lambda a: limits.check_count(a["slices"], "slice count"),
    "wordwrap": _wordwrap,
    "tojson": _tojson,
}
