"""Templates that would burn CPU or memory are refused at once with a
RenderError (the step's ``error`` outcome), never stall the reactor."""
from __future__ import annotations

import gc
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from agi.engine import limits, templates
from agi.engine.templates import RenderError
from support.step_runner import path, run

NAMES: dict[str, Any] = {
    "call": {"caller": "600111222", "called": "911234567", "args": []},
    "vars": {"LONG": "x" * 9000, "ACCOUNT": "12345678"}, "cdr": {}, "params": {"n": "3"}, "args": [],
    "now": datetime(2025, 3, 10, 9, 30, tzinfo=timezone.utc), "flow": {"name": "demo"},
}

#: Each hostile template and a piece of the error it must give (or pieces:
#: one of them).
HOSTILE = [
    ("{{ (9**(10**7)) % 7 }}", "integers of 4096 bits"),
    ("{{ 9**(10**8) }}", "integers of 4096 bits"),
    ("{{ 2**5000 }}", "integers of 4096 bits"),
    ("{{ (2**4000) * (2**4000) }}", "4096 bits"),
    ("{{ ('1' * 4000) | int }}", "4096 bits"),
    ("{{ 'a' * 10**9 }}", "the limit is 10000"),
    ("{{ 10**9 * 'a' }}", "the limit is 10000"),
    ("{{ [1] * 10**9 }}", "the limit is 1000"),
    ("{{ [vars.LONG] * 20 }}", "too long written out"),
    ("{{ range(10**9) | list }}", "range() of 1000000000 numbers"),
    ("{{ range(0, 10**9, 2) | length }}", "range() of 500000000 numbers"),
    ("{{ '%999999999d' % 1 }}", "% formatting widths"),
    ("{{ '%.999999999f' % 1.0 }}", "% formatting widths"),
    ("{{ '%*d' % (10**9, 1) }}", "* width"),
    ("{{ '%999999999d' | format(1) }}", "% formatting widths"),
    ("{{ '{:>999999999}'.format(1) }}", "format widths"),
    ("{{ '{:{w}}'.format(1, w=10**9) }}", "format widths"),
    ("{{ '{0:>{1}}'.format('x', 10**9) }}", "format widths"),
    ("{{ 'x' | center(10**9) }}", "center width"),
    ("{{ 'x'.center(10**9) }}", "center() width"),
    ("{{ 'x'.ljust(10**9) }}", "ljust() width"),
    ("{{ 'x'.rjust(10**9) }}", "rjust() width"),
    ("{{ 'x'.zfill(10**9) }}", "zfill() width"),
    ("{{ 'a\tb'.expandtabs(10**9) }}", "expandtabs"),
    ("{{ (1).to_bytes(10**9, 'big') }}", "to_bytes() length"),
    ("{{ 'x' | indent(10**9) }}", "indent width"),
    ("{{ vars.LONG | indent(5000, true) }}", "indented text"),
    ("{{ [1] | batch(10**9, 0) | list }}", "batch size"),
    ("{{ [1] | slice(10**9, 0) | list }}", "slice count"),
    ("{{ vars.LONG | replace('', vars.LONG) }}", "replaced text"),
    ("{{ vars.LONG.replace('x', vars.LONG) }}", "replaced text"),
    ("{{ vars.LONG.translate({120: vars.LONG}) }}", "translated text"),
    ("{{ vars.LONG.join(range(10) | map('string')) }}", "joined text"),
    ("{{ range(1000) | join(vars.LONG) }}", "joined text"),
    ("{{ vars.LONG | wordwrap(1, wrapstring=vars.LONG) }}", "wrapped text"),
    ("{{ {'a': [1] * 900} | tojson(indent=10**9) }}", "tojson indent"),
    ("{{ now.strftime('%Y' * 5000) }}", "characters long"),
    ("{{ vars.LONG ~ vars.LONG }}", "the result of ~"),
    ("{{ vars.LONG + vars.LONG }}", "joined text"),
    ("{{ vars.LONG }}{{ vars.LONG }}", "the result is too long"),
    ("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", "loop iterations and calls"),
    ("{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}",
     ("loop iterations and calls", "ms of CPU")),  # whichever comes first
    ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "RecursionError"),
    ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
     "the result of ~"),
    ("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l }}",
     "joined lists"),
    ("{% for i in range(900) %}{{ vars.LONG | title | length }}{% endfor %}", "ms of CPU"),
    ("{% set s %}{% for i in range(900) %}{{ vars.LONG }}{% endfor %}{% endset %}{{ s | length }}",
     "too much output"),
    ("{{ lipsum(10**6) }}", "'lipsum' is undefined"),
    ("{{ call.caller | urlize }}", "No filter named 'urlize'"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{{ 'a' - 1 }}", "TypeError"),
    ("{{ 10.0 ** 400 }}", "OverflowError"),
]


@pytest.mark.parametrize(("source", "message"), HOSTILE, ids=[source for source, _ in HOSTILE])
def test_a_hostile_template_fails_at_once_with_a_render_error(source: str, message: str | tuple[str, ...]) -> None:
    started = time.perf_counter()
    with pytest.raises(RenderError) as failure:
        templates.render(source, NAMES)
    assert any(piece in str(failure.value) for piece in ((message,) if isinstance(message, str) else message))
    assert time.perf_counter() - started < 0.5  # a safety net: the error above is the assertion


@pytest.mark.parametrize("condition", ["9**(10**7) > 1", "('a' * 10**9) == 'a'", "range(10**6) | length > 1",
                                       "'x'.center(10**9) == 'x'"])
def test_a_hostile_condition_fails_at_once_with_a_render_error(condition: str) -> None:
    started = time.perf_counter()
    with pytest.raises(RenderError):
        templates.evaluate(condition, NAMES)
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(("source", "expected"), [
    ("{{ 2**4095 > 0 }}", "1"),
    ("{{ ('ab' * 5000) | length }}", "10000"),
    ("{{ (range(1000) | list | length) }}", "1000"),
    ("{{ '%05d' % 42 }}", "00042"),
    ("{{ '%-6s|' | format('ab') }}", "ab    |"),
    ("{{ '{:>5}'.format('x') }}", "    x"),
    ("{{ 'x' | center(5) }}", "  x  "),
    ("{{ call.caller[-4:] }}", "1222"),
    ("{{ call.caller | int + 1 }}", "600111223"),
    ("{{ range(3) | map('string') | join(',') }}", "0,1,2"),
    ("{{ [1, 2, 3] | sum }}", "6"),
    ("{{ ([[1]] * 3) | sum(start=[]) }}", "[1, 1, 1]"),
    ("{% for c in call.caller[:3] %}{{ loop.index }}{{ c }}{% endfor %}", "162030"),
    ("{{ vars.LONG | length }}", "9000"),
    ("{{ 'a b' | replace('a', 'c') }}", "c b"),
    ("{{ now.strftime('%H:%M') }}", "09:30"),
])
def test_templates_within_the_limits_render_as_jinja_renders_them(source: str, expected: str) -> None:
    assert templates.render(source, NAMES) == expected


def test_a_render_stops_once_it_has_used_its_cpu_time() -> None:
    with pytest.raises(limits.LimitError, match="ms of CPU"):
        with limits.budget():
            deadline = time.thread_time() + 1
            while time.thread_time() < deadline:
                limits.tick()


def test_garbage_collection_during_a_render_is_not_held_against_it() -> None:
    garbage = [[i] for i in range(400_000)]
    for item in garbage:
        item.append(item)  # cycles, so that a full collection has work to do
    with limits.budget():
        started = time.thread_time()
        del garbage
        gc.collect()
        assert time.thread_time() - started > limits.MAX_CPU_SECONDS  # the collection alone took longer
        limits.tick()


def test_a_step_with_a_hostile_template_ends_with_error_and_the_call_is_recorded(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: hostile
        start: burn
        steps:
          burn:
            set: {cdr: {x: "{{ (9**(10**7)) % 7 }}"}}
            on: {error: after}
          after:
            set: {cdr: {y: "{{ 'x' | center(10**9) }}"}}
        """)
    assert path(result) == ["burn:error", "after:error"]
    assert result.call["status"] == "error"
    assert "integers of 4096 bits" in result.steps[0]["details"]
