"""What a template or condition reads from the call, found in its syntax
tree without running it, so that ``agiflow validate`` can check each name
and attribute against what calls provide.

A read is a path from one of the names templates see: ``call.caller`` is
``("call", "caller")``, ``vars['ACCOUNT']`` is ``("vars", "ACCOUNT")``. A
path stops where a key is not written in the template (``args[0]``,
``vars[name]``): what follows cannot be known before the call.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Union

from jinja2 import meta, nodes
from jinja2.parser import Parser

from agi.engine.templates import ENV as _ENV

Key = Union[str, int]
#: Filters and tests that make a missing value harmless: ``x | default(...)``,
#: ``x is defined``.
_GUARD_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined"})


@dataclass(frozen=True)
class Read:
    """A path the template reads, and whether the template guards it
    somewhere (``default``, ``is defined``, ``'KEY' in vars``)."""

    path: tuple[str, ...]
    guarded: bool = False


@dataclass(frozen=True)
class Reads:
    """Everything one template reads from the call."""

    #: Names it reads from the call (not set in the template, not globals).
    names: frozenset[str]
    #: Attribute and key paths from those names.
    paths: tuple[Read, ...]
    #: Filters and tests it uses that do not exist.
    unknown_filters: tuple[str, ...]
    unknown_tests: tuple[str, ...]


@lru_cache(maxsize=4096)
def reads(source: str, *, expression: bool = False) -> Reads:
    """The reads of ``source``, a template, or a condition when
    ``expression``; the text must compile (see ``templates.syntax_error``)."""
    tree = _parse(source, expression)
    bound = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    names = frozenset(meta.find_undeclared_variables(tree) - set(_ENV.globals))
    guarded = _guarded(tree)
    paths = set()
    for node in (*tree.find_all(nodes.Getattr), *tree.find_all(nodes.Getitem)):
        path, base = _path(node)
        if base is not None and base.name in names and base.name not in bound and len(path) >= 2:
            paths.add(path)
    return Reads(names, tuple(Read(p, p in guarded) for p in sorted(paths)),
                 tuple(sorted({f.name for f in tree.find_all(nodes.Filter) if f.name not in _ENV.filters})),
                 tuple(sorted({t.name for t in tree.find_all(nodes.Test) if t.name not in _ENV.tests})))


def _parse(source: str, expression: bool) -> nodes.Template:
    if not expression:
        return _ENV.parse(source)
    parser = Parser(_ENV, source, state="variable")
    tree = nodes.Template([nodes.Output([parser.parse_expression()])], lineno=1)
    tree.set_environment(_ENV)
    return tree


def _path(node: nodes.Expr) -> tuple[tuple[str, ...], nodes.Name | None]:
    """The path of a chain of attributes and constant keys, cut at the
    first key not written in the template; its base name, if any."""
    steps: list[str] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            steps.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            steps.append(node.arg.value)
        else:
            steps.clear()  # vars[name], args[0]: the rest is unknown
        node = node.node
    if not isinstance(node, nodes.Name) or node.ctx != "load":
        return (), None
    return (node.name, *reversed(steps)), node


def _guarded(tree: nodes.Template) -> set[tuple[str, ...]]:
    """Paths the template tests or gives a default anywhere: under
    ``default``, ``is defined`` or ``is undefined``, and ``'KEY' in path``."""
    checked = [f.node for f in tree.find_all(nodes.Filter) if f.name in _GUARD_FILTERS]
    checked += [t.node for t in tree.find_all(nodes.Test) if t.name in _GUARD_TESTS]
    found = {_path(node)[0] for node in checked if node is not None}
    for compare in tree.find_all(nodes.Compare):
        left = compare.expr
        for operand in compare.ops:
            if operand.op in ("in", "notin") and isinstance(left, nodes.Const) and isinstance(left.value, str):
                container = operand.expr
                path = (container.name,) if isinstance(container, nodes.Name) else _path(container)[0]
                if path:
                    found.add((*path, left.value))
            left = operand.expr
    return found
