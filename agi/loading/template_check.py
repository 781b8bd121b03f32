"""What ``agiflow validate`` checks in templates besides their syntax: every
name, attribute, filter and test they use (docs/flows.md, "What validate
checks in templates").

- The names templates read are fixed (``call``, ``vars``, ``params``,
  ``args``, ``cdr``, ``now``, ``flow``, ``history``), and so are the
  attributes of ``call``, ``flow``, ``now``, ``args`` and ``history``, and of text (every value of
  ``params`` is text): anything else is an error.
- ``vars.NAME`` and ``cdr.NAME`` are set by steps. Reading one that no step
  of any loaded flow sets is an error, unless the template guards it
  (``is defined``, ``default``, ``'NAME' in vars``).
- ``params.NAME`` may come from the AGI URL, so reading one the flow gives
  no default is a warning (``params_warnings``), not an error.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from jinja2.runtime import Undefined

from agi.engine import templates
from agi.engine.context import sample_names
from agi.engine.model import Flow, Step
from agi.engine.template_reads import Read, reads
from agi.loading.yamlio import SourceError, line_of
from agi.safe_text import escaped_text
from agi.steps.base import node_of

#: Names whose keys steps or the URL set: checked against the flows.
_SET_BY_STEPS = ("vars", "cdr")
#: Names whose values are always text, whatever their key (``vars`` may
#: hold ``exec``'s result code, a number; ``cdr`` any scalar).
_TEXT_VALUES = ("params",)
_DICT_METHODS = frozenset(name for name in dir(dict) if not name.startswith("_"))
_SAMPLES = sample_names(Flow(name="flow", start="", steps={}))


@dataclass(frozen=True, order=True)
class TemplateWarning:
    """A read that may fail at call time: printed by ``agiflow validate``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return escaped_text(f"{self.file}:{self.line}: warning: {self.message}")


def _reads(text: str, is_condition: bool) -> Iterator[Any]:
    """The reads of a template or condition that compiles; nothing for
    plain text and for text with syntax errors (reported on their own)."""
    if (is_condition or templates.is_template(text)) and templates.syntax_error(text, expression=is_condition) is None:
        yield reads(text, expression=is_condition)


def fixed_problems(text: str, is_condition: bool) -> list[str]:
    """Unknown names, filters, tests and attributes in one template."""
    problems = []
    for found in _reads(text, is_condition):
        for name in sorted(found.names - _SAMPLES.keys()):
            problems.append(f"unknown name '{name}'{_hint(name, _SAMPLES)}; templates read: "
                            f"{', '.join(sorted(_SAMPLES))}")
        problems += [f"unknown filter '{name}'" for name in found.unknown_filters]
        problems += [f"unknown test '{name}'" for name in found.unknown_tests]
        for read in found.paths:
            problem = _fixed_path_problem(read)
            if problem:
                problems.append(problem)
    return problems


def _fixed_path_problem(read: Read) -> str | None:
    root, rest = read.path[0], read.path[1:]
    if root not in _SAMPLES:
        return None
    if root in _SET_BY_STEPS or root == "params":
        if rest[0] in _DICT_METHODS:
            return None  # vars.get(...), cdr.items()
        if root not in _TEXT_VALUES:
            return None  # vars and cdr may hold numbers
        return _walk("", rest[1:], f"{root}.{rest[0]}")
    return _walk(_SAMPLES[root], rest, root)


def _walk(value: Any, rest: tuple[str, ...], shown: str) -> str | None:
    """The first step of ``rest`` that ``value`` does not have, as Jinja's
    sandbox reads attributes and keys; None when every step exists."""
    for key in rest:
        if key.startswith("_"):
            return f"{shown}.{key}: attributes starting with '_' cannot be read in templates"
        found = templates.ENV.getattr(value, key)
        if isinstance(found, Undefined):
            known = value if isinstance(value, Mapping) else {a: None for a in dir(value) if not a.startswith("_")}
            listing = f"; {shown} has: {', '.join(sorted(value))}" if isinstance(value, Mapping) else ""
            return f"unknown attribute '{key}' of {shown}{_hint(key, known)}{listing}"
        if callable(found):
            return None  # a method: what follows is on its result
        value, shown = found, f"{shown}.{key}"
    return None


def _hint(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def library_errors(flows: Mapping[str, Flow], documents: Mapping[str, Any]) -> list[SourceError]:
    """Reads of ``vars.NAME`` and ``cdr.NAME`` that no step of any flow in
    ``flows`` sets (a ``goto`` keeps a call's variables, so any flow may
    set what another reads). ``documents`` are the parsed files by path,
    for the line of each step's type key."""
    sets = {"vars": set[str](), "cdr": set[str]()}
    for step in _steps(flows):
        sets["vars"].update(node_of(step).sets_variables())
        sets["cdr"].update(node_of(step).sets_cdr_fields())
    errors = []
    for flow in flows.values():
        for step in flow.steps.values():
            for option, text, is_condition in node_of(step).templates():
                for problem in _unset_reads(text, is_condition, sets):
                    line = line_of(documents.get(flow.source), ["steps", step.name, step.type_name])
                    errors.append(SourceError(flow.source, line,
                                              f"step '{step.name}': {step.type_name}.{option}: {problem}"))
    return errors


def _steps(flows: Mapping[str, Flow]) -> Iterator[Step]:
    for flow in flows.values():
        yield from flow.steps.values()


def _unset_reads(text: str, is_condition: bool, sets: Mapping[str, set[str]]) -> Iterator[str]:
    for found in _reads(text, is_condition):
        for read in found.paths:
            root, key = read.path[0], read.path[1]
            if root not in _SET_BY_STEPS or read.guarded or key in _DICT_METHODS or key in sets[root]:
                continue
            what = "variable" if root == "vars" else "CDR field"
            known = ", ".join(sorted(sets[root])) or "none"
            yield f"{root}.{key}: no step of the loaded flows sets {what} '{key}'{_hint(key, sets[root])}; set: {known}"


def params_warnings(flows: Mapping[str, Flow]) -> list[TemplateWarning]:
    """Reads of ``params.NAME`` that the flow gives no default: the call
    fails there unless the AGI URL gives ``?NAME=``."""
    found = set()
    for flow in flows.values():
        for step in flow.steps.values():
            for option, text, is_condition in node_of(step).templates():
                for result in _reads(text, is_condition):
                    for read in result.paths:
                        key = read.path[1]
                        if read.path[0] != "params" or read.guarded or key in _DICT_METHODS or key in flow.params:
                            continue
                        found.add(TemplateWarning(flow.source, step.line, (
                            f"step '{step.name}': {step.type_name}.{option}: params.{key} has no default in the "
                            f"flow's params; a call whose AGI URL does not give ?{key}= ends the step with error")))
    return sorted(found)
