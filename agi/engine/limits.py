"""How much a template may build and spend, and the checks that hold it
there (docs/flows.md, "Limits").

A template runs on the reactor thread, so one that computes ``9**(10**7)``
or ``'a' * 10**9`` would stall every call. Values a template builds are
capped in size, and a render has a budget of loop iterations and calls and
of CPU time; past either it stops with ``LimitError`` (the step's ``error``
outcome). Sizes are checked *before* the work when the work would be large
(powers, repetition, padding, formatting widths), so a refused operation
costs nothing.
"""
from __future__ import annotations

import gc
import re
import string
import time
from collections.abc import ItemsView, Iterator, KeysView, Mapping, Sized, ValuesView
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import chain
from typing import Any, Iterable

from jinja2.exceptions import TemplateRuntimeError
from jinja2.runtime import Undefined
from jinja2.utils import Namespace

#: Characters in a string a template builds, and in its whole result.
MAX_TEXT = 10_000
#: Items in a list, tuple, mapping or range a template builds or loops over.
MAX_ITEMS = 1_000
#: Characters of a list or mapping written out as text, and of all the
#: ``{{ ... }}`` output of one render (loops and macros included).
MAX_WRITTEN = 100_000
#: Bits of an integer a template computes (2**4096 has 1,234 digits).
MAX_INT_BITS = 4_096
#: Loop iterations plus calls of macros and functions in one render.
MAX_STEPS = 2_000
#: CPU time of one render, garbage collection not counted.
MAX_CPU_SECONDS = 0.010


class LimitError(TemplateRuntimeError):
    """A template went past one of the limits of this module."""


def refuse(what: str, limit: str) -> LimitError:
    return LimitError(f"{what}: the limit is {limit}")


# -- the budget of one render --------------------------------------------------

_gc = {"seconds": 0.0, "started": -1.0}


def _on_gc(phase: str, _info: Mapping[str, Any]) -> None:
    """Keep a total of the CPU time garbage collection takes, so that a
    collection that happens during a render is not held against it.
    Outside a render (most collections) there is nothing to count."""
    if _BUDGET.get() is None:
        return
    if phase == "start":
        _gc["started"] = time.thread_time()
    elif _gc["started"] >= 0:
        _gc["seconds"] += time.thread_time() - _gc["started"]
        _gc["started"] = -1.0


gc.callbacks.append(_on_gc)


class _Budget:
    __slots__ = ("steps", "written", "started", "gc_before")

    def __init__(self) -> None:
        self.steps = 0
        self.written = 0
        self.started = time.thread_time()
        self.gc_before = _gc["seconds"]


_BUDGET: ContextVar[_Budget | None] = ContextVar("agiflow_template_budget", default=None)


@contextmanager
def budget() -> Iterator[None]:
    """One render's budget of steps, output and CPU time."""
    token = _BUDGET.set(_Budget())
    try:
        yield
    finally:
        _BUDGET.reset(token)


def written(length: int) -> None:
    """Count ``length`` characters of ``{{ ... }}`` output."""
    spent = _BUDGET.get()
    if spent is not None:
        spent.written += length
        if spent.written > MAX_WRITTEN:
            raise refuse("too much output", f"{MAX_WRITTEN} characters per render")


def tick(steps: int = 0) -> None:
    """Count ``steps`` (a loop iteration or a call) and check the CPU time:
    at every loop iteration, call, filter and operator. Outside a render
    (while Jinja folds constants at compile time) only sizes are checked."""
    spent = _BUDGET.get()
    if spent is None:
        return
    spent.steps += steps
    if spent.steps > MAX_STEPS:
        raise refuse("too many loop iterations and calls", f"{MAX_STEPS} per render")
    cpu = time.thread_time() - spent.started - (_gc["seconds"] - spent.gc_before)
    if cpu > MAX_CPU_SECONDS:
        raise refuse("the template takes too long", f"{MAX_CPU_SECONDS * 1000:g} ms of CPU per render")


def ticking(items: Iterable[Any], steps: int = 0) -> Iterator[Any]:
    """``items`` one by one, checking the budget at each and stopping past
    MAX_ITEMS: what a loop or a lazy filter (map, select...) iterates."""
    for count, item in enumerate(items, 1):
        if count > MAX_ITEMS:
            raise refuse("a loop or sequence with too many items", f"{MAX_ITEMS} items")
        tick(steps)
        yield item


# -- sizes ---------------------------------------------------------------------

def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def checked(value: Any, what: str) -> Any:
    """``value`` when it is within the size limits; lazy sequences are
    handed back as ``ticking`` iterators."""
    if isinstance(value, Undefined) or value is None:
        return value
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_TEXT:
            raise refuse(f"{what} would be {len(value)} characters long", f"{MAX_TEXT}")
    elif is_int(value):
        if value.bit_length() > MAX_INT_BITS:
            raise refuse(f"{what} would be an integer of {value.bit_length()} bits", f"{MAX_INT_BITS} bits")
    elif isinstance(value, Sized) and not isinstance(value, range):
        if len(value) > MAX_ITEMS:
            raise refuse(f"{what} would have {len(value)} items", f"{MAX_ITEMS}")
    elif isinstance(value, Iterator):
        return ticking(value)
    return value


def written_size(value: Any, limit: int = MAX_WRITTEN) -> int:
    """About how many characters ``str(value)`` has, counting no further
    than just past ``limit``: a list that holds the same long string a
    thousand times is long when written out, however little memory it uses."""
    total = 0
    pending: list[Iterator[Any]] = [iter((value,))]
    while pending and total <= limit:
        item = next(pending[-1], _END)
        if item is _END:
            pending.pop()
            continue
        total += _own_size(item)
        if isinstance(item, Mapping):
            pending.append(chain.from_iterable(item.items()))
        elif isinstance(item, Namespace):
            pending.append(iter(getattr(item, "_Namespace__attrs", {}).values()))
        elif isinstance(item, (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)):
            pending.append(iter(item))
    return total


_END = object()


def _own_size(item: Any) -> int:
    if isinstance(item, (str, bytes)):
        return len(item) + 3
    if is_int(item):
        return int(item.bit_length()) // 3 + 3
    return 8


def check_written(value: Any, what: str) -> None:
    """Refuse writing out a list or mapping longer than MAX_WRITTEN."""
    if not isinstance(value, (str, int, float, bool, type(None), Undefined)) and written_size(value) > MAX_WRITTEN:
        raise refuse(f"{what} would be too long written out", f"about {MAX_WRITTEN} characters")


# -- work that is checked before it is done -------------------------------------

def check_power(base: Any, exponent: Any) -> None:
    """``base ** exponent`` on integers, refused when the result would pass
    MAX_INT_BITS (floats overflow on their own, at once)."""
    if is_int(base) and is_int(exponent) and exponent > 0 and abs(base) > 1:
        if (abs(base).bit_length() - 1) * exponent >= MAX_INT_BITS:
            raise refuse(f"{base} ** {exponent} is too large", f"integers of {MAX_INT_BITS} bits")


def check_repeat(left: Any, right: Any) -> None:
    """``text * n`` and ``list * n``."""
    sequence, count = (left, right) if is_int(right) else (right, left)
    if not is_int(count) or count <= 0:
        return
    if isinstance(sequence, (str, bytes)) and len(sequence) * count > MAX_TEXT:
        raise refuse(f"a text repeated {count} times would be {len(sequence) * count} characters long",
                     f"{MAX_TEXT}")
    if isinstance(sequence, (list, tuple)):
        if len(sequence) * count > MAX_ITEMS:
            raise refuse(f"a list repeated {count} times would have {len(sequence) * count} items", f"{MAX_ITEMS}")
        if written_size(sequence) * count > MAX_WRITTEN:
            raise refuse(f"a list repeated {count} times would be too long written out",
                         f"about {MAX_WRITTEN} characters")


def check_plus(left: Any, right: Any) -> None:
    """``text + text`` and ``list + list``."""
    if isinstance(left, (str, bytes)) and isinstance(right, (str, bytes)) and len(left) + len(right) > MAX_TEXT:
        raise refuse(f"joined text would be {len(left) + len(right)} characters long", f"{MAX_TEXT}")
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)) and len(left) + len(right) > MAX_ITEMS:
        raise refuse(f"joined lists would have {len(left) + len(right)} items", f"{MAX_ITEMS}")


#: One conversion of printf-style formatting: ``%-10.3f``, ``%(name)s``, ``%*d``.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?.", re.S)


def check_printf(template: str, values: Any) -> None:
    """``'%10d' % n`` and the ``format`` filter: widths and precisions may
    add up to MAX_TEXT; a ``*`` width (taken from the values) is refused."""
    total = 0
    for match in _PRINTF.finditer(template):
        for number in match.groups():
            if number == "*":
                raise LimitError("a * width or precision in % formatting is not allowed; write the number")
            total += int(number) if number else 0
    if total > MAX_TEXT:
        raise refuse("% formatting widths and precisions add up to too much", f"{MAX_TEXT} characters")
    check_written(values, "the values to format")


def check_format(template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """``'{:>10}'.format(x)`` and ``format_map``: the same rule for widths;
    widths taken from the arguments (``{:{w}}``) are checked as numbers."""
    total, nested = 0, False
    for _text, _field, spec, _conversion in string.Formatter().parse(template):
        if spec:
            nested = nested or "{" in spec
            total += sum(int(number) for number in re.findall(r"\d+", spec))
    values = [*args, *kwargs.values()]
    values += [v for value in values if isinstance(value, Mapping) for v in value.values()]
    if nested:
        total += sum(abs(v) for v in values if is_int(v))
    if total > MAX_TEXT:
        raise refuse("format widths and precisions add up to too much", f"{MAX_TEXT} characters")
    for value in values:
        check_written(value, "a value to format")


def check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    """``text.replace(old, new)``: the result's length, worked out first."""
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    found = text.count(old) if old else len(text) + 1
    if is_int(count) and count >= 0:
        found = min(found, count)
    length = len(text) + found * (len(new) - len(old))
    if length > MAX_TEXT:
        raise refuse(f"the replaced text would be {length} characters long", f"{MAX_TEXT}")


def check_width(width: Any, what: str) -> None:
    """A width, a count or a length a method or filter would fill up to."""
    if is_int(width) and width > MAX_TEXT:
        raise refuse(f"{what} {width} is too large", f"{MAX_TEXT}")


def check_count(count: Any, what: str) -> None:
    """A number of items a filter would make (batch size, slices)."""
    if is_int(count) and count > MAX_ITEMS:
        raise refuse(f"{what} {count} is too large", f"{MAX_ITEMS}")
