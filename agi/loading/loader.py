"""The flow loading pipeline: YAML with line marks -> JSON Schema -> frozen
dataclasses -> graph checks. Every error in every file is reported at once
as ``file:line: message``; nothing half-valid is ever returned."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

from jsonschema import Draft202012Validator

from agi.engine import templates
from agi.engine.interpreter import MAX_TRANSFERS
from agi.loading import graph, template_check
from agi.loading.compliance_paths import compliance_problems
from agi.engine.model import Flow, FlowSet, PromptText, Step
from agi.loading.files import (MAX_FLOW_FILE_BYTES, TEST_FILE_SUFFIXES, FileTooLarge, flow_files,
                                is_schedules_document, read_capped, read_versioned)
from agi.loading.schedules_file import build_schedules
from agi.loading.schema import COMMON_STEP_SCHEMA, FLOW_SCHEMA
from agi.loading.schema_check import each_problem
from agi.loading.yamlio import MarkedMap, SourceError, line_of
from agi.steps import REGISTRY
from agi.steps.base import node_of
from agi.hours.model import Schedule
from agi.yamlschema import obj
from agi.vocabulary import COMMON_OUTCOMES, ERROR, HANGUP, INBOUND, NEXT
from agi.zones import ZONE_ERRORS, named_zone

_FLOW_VALIDATOR = Draft202012Validator(FLOW_SCHEMA)
#: The flow file's keys as they must be, unknown top-level keys aside.
_FLOW_SHAPE_VALIDATOR = Draft202012Validator({**FLOW_SCHEMA, "additionalProperties": True})
_COMMON_VALIDATOR = Draft202012Validator(obj(COMMON_STEP_SCHEMA))
_NODE_VALIDATORS = {name: Draft202012Validator(cls.schema) for name, cls in REGISTRY.items()}


class _Errors:
    """Collects errors for one file, finding each one's line."""

    def __init__(self, file: str, document: Any) -> None:
        self.file = file
        self.document = document
        self.items: list[SourceError] = []
        self.transition_paths: dict[tuple[str, str], list[Any]] = {}

    def add(self, path: Iterable[Any], message: str) -> None:
        self.items.append(SourceError(self.file, line_of(self.document, list(path)), message))

    def schema(self, validator: Draft202012Validator, value: Any, path: list[Any], prefix: str) -> bool:
        found = sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
        for error in found:
            for where, message in each_problem(error, path + list(error.absolute_path)):
                self.add(where, prefix + message)
        return not found


def load_flow_file(path: str | Path, schedules: Mapping[str, Schedule | None] | None = None
                   ) -> tuple[Flow | None, list[SourceError]]:
    """Load and check one flow file alone (a ``goto`` is not followed);
    its schedule steps may name ``schedules``."""
    document, version, problems = read_versioned(path)
    if problems:
        return None, problems
    flow, problems = flow_from_document(document, str(path), schedules or {}, version)
    if flow is not None:
        problems = sorted(compliance_errors({flow.name: flow}, {flow.name: document}))
    return (flow if not problems else None), problems


def flow_from_document(document: Any, file: str, schedules: Mapping[str, Schedule | None],
                       version: str = "") -> tuple[Flow | None, list[SourceError]]:
    """Check one parsed flow file and build its Flow (of content ``version``)."""
    errors = _Errors(file, document)
    if not isinstance(document, MarkedMap):
        errors.add([], "a flow file must be a mapping with version, name, start and steps")
        return None, errors.items
    if not errors.schema(_FLOW_VALIDATOR, document, [], ""):
        if _FLOW_SHAPE_VALIDATOR.is_valid(document):  # only unknown top-level keys: the steps are checked too
            _build_flow(document, file, errors, schedules, version)
        return None, sorted(errors.items)
    flow = _build_flow(document, file, errors, schedules, version)
    return (flow if not errors.items else None), sorted(errors.items)


def _build_flow(document: MarkedMap, file: str, errors: _Errors,
                schedules: Mapping[str, Schedule | None], version: str) -> Flow:
    steps = {}
    for name, raw in document["steps"].items():
        step = _build_step(name, raw, errors, schedules)
        if step is not None:
            steps[name] = step
    timezone = document.get("timezone", "UTC")
    try:
        named_zone(timezone)
    except ZONE_ERRORS:
        errors.add(["timezone"], f"unknown timezone '{timezone}' (use an IANA name such as Europe/Madrid)")
    flow = Flow(name=document["name"], start=document["start"], steps=steps, timezone=timezone,
                language=document.get("language"), direction=document.get("direction", INBOUND),
                description=document.get("description", ""),
                params={k: _text(v) for k, v in (document.get("params") or {}).items()}, source=file,
                prompts=prompt_texts(document.get("prompts"), ["prompts"], document), version=version)
    if len(steps) == len(document["steps"]):
        _check_graph(flow, errors)
    return flow


def _text(value: Any) -> str:
    """A YAML scalar as the text a template sees (booleans as true/false)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def prompt_texts(prompts: Any, path: list[Any], document: Any) -> tuple[PromptText, ...]:
    """A schema-checked ``{name: {language: text}}`` mapping as PromptTexts,
    each with its line; runs of whitespace in the text become one space."""
    return tuple(PromptText(name, language, " ".join(str(text).split()),
                            line_of(document, [*path, name, language]))
                 for name, texts in (prompts or {}).items() for language, text in texts.items())


def _build_step(name: str, raw: MarkedMap, errors: _Errors,
                schedules: Mapping[str, Schedule | None]) -> Step | None:
    where = ["steps", name]
    prefix = f"step '{name}': "
    kinds = [key for key in raw if key in REGISTRY]
    for key in raw:
        if key not in REGISTRY and key not in COMMON_STEP_SCHEMA:
            allowed = ", ".join([*sorted(REGISTRY), *COMMON_STEP_SCHEMA])
            errors.add(where + [key], f"{prefix}unknown key '{key}'; allowed: {allowed}")
    if len(kinds) != 1:
        problem = "no step type" if not kinds else f"more than one step type ({', '.join(kinds)})"
        errors.add(where, f"{prefix}{problem}; one of: {', '.join(sorted(REGISTRY))}")
        return None
    kind = kinds[0]
    common = {k: v for k, v in raw.items() if k in COMMON_STEP_SCHEMA}
    ok = errors.schema(_NODE_VALIDATORS[kind], raw[kind], where + [kind], f"{prefix}{kind}: ")
    ok = errors.schema(_COMMON_VALIDATOR, common, where, prefix) and ok
    if not ok:
        return None
    node = REGISTRY[kind].from_config(raw[kind]).with_schedules(schedules)
    for option, message in node.problems():
        errors.add(where + [kind], f"{prefix}{kind}.{option}: {message}")
    for option, text, is_condition in node.templates():
        syntax = templates.syntax_error(text, expression=is_condition)
        for problem in [syntax] if syntax else template_check.fixed_problems(text, is_condition):
            errors.add(where + [kind], f"{prefix}{kind}.{option}: {problem}")
    transitions = _transitions(name, node, common, errors)
    return Step(name=name, node=node, transitions=transitions, line=raw.line)


#: What each outcome every step has means, for the error of a label that takes its name.
_COMMON_MEANING = {HANGUP: "the caller hung up", ERROR: "the step failed"}


def _transitions(name: str, node: Any, common: dict[str, Any], errors: _Errors) -> dict[str, str]:
    where = ["steps", name]
    prefix = f"step '{name}': "
    own = node.outcomes()
    outcomes = [*own, *COMMON_OUTCOMES]
    for outcome in sorted({o for o in own if o in COMMON_OUTCOMES or own.count(o) > 1}):
        why = (f"every step may end with {outcome} ({_COMMON_MEANING[outcome]})" if outcome in COMMON_OUTCOMES
               else "it names two outcomes of the step")
        errors.add(where + [node.type_name], f"{prefix}{node.type_name}: label '{outcome}' is taken: {why}; "
                                              f"give it another label")
    transitions = dict(node.own_transitions())
    for outcome in transitions:
        errors.transition_paths[(name, outcome)] = where + [node.type_name]
    if "next" in common:
        errors.transition_paths[(name, NEXT)] = where + ["next"]
        if NEXT not in outcomes:
            why = "ends the flow" if node.ends_flow() else f"has no 'next' outcome; allowed: {', '.join(outcomes)}"
            errors.add(where + ["next"], f"{prefix}'next' is not allowed: a {node.type_name} step {why}")
        elif NEXT in transitions:
            errors.add(where + ["next"], f"{prefix}outcome 'next' is given a target twice")
        transitions[NEXT] = common["next"]
    for outcome, target in (common.get("on") or {}).items():
        if outcome not in outcomes:
            errors.add(where + ["on", outcome],
                       f"{prefix}unknown outcome '{outcome}'; allowed: {', '.join(outcomes)}")
            continue
        errors.transition_paths[(name, outcome)] = where + ["on", outcome]
        if outcome in transitions:
            errors.add(where + ["on", outcome], f"{prefix}outcome '{outcome}' is given a target twice")
        transitions[outcome] = target
    return transitions


def _check_graph(flow: Flow, errors: _Errors) -> None:
    if flow.start not in flow.steps:
        errors.add(["start"], f"start step '{flow.start}' does not exist")
        return
    for step, outcome, target in graph.dangling_targets(flow.steps):
        path = errors.transition_paths.get((step, outcome), ["steps", step])
        errors.add(path, f"step '{step}': outcome '{outcome}' leads to unknown step '{target}'")
    reached = graph.reachable(flow.steps, flow.start)
    for name in flow.steps:
        if name not in reached:
            errors.add(["steps", name], f"step '{name}' is never reached from start step '{flow.start}'")
    for name in graph.trapped(flow.steps):
        if name in reached:
            errors.add(["steps", name], f"step '{name}' is in a loop with no way out: no path from it ends the flow")


def load_flows(paths: Iterable[str | Path]) -> tuple[FlowSet, list[SourceError]]:
    """Load every flow and schedule under ``paths``; the set is empty when
    any error exists. Schedules files are read first, so that any flow may
    name any schedule."""
    errors: list[SourceError] = []
    documents = _read_all(paths, errors)
    schedules = _load_schedules([(f, d) for f, d, _ in documents if is_schedules_document(d)], errors)
    flows: dict[str, Flow] = {}
    sources: dict[str, Any] = {}
    for file, document, version in documents:
        if is_schedules_document(document):
            continue
        flow, found = flow_from_document(document, str(file), schedules, version)
        errors.extend(found)
        if flow is None:
            continue
        if flow.name in flows:
            errors.append(SourceError(str(file), 1, f"flow name '{flow.name}' is also used by {flows[flow.name].source}"))
            continue
        flows[flow.name] = flow
        sources[flow.name] = document
    for flow in flows.values():
        for step in flow.steps.values():
            for target in node_of(step).flow_references():
                if target not in flows:
                    errors.append(SourceError(flow.source, step.line, f"step '{step.name}': goto to unknown flow '{target}'"))
    if not errors:
        for name in graph.endless_flows({n: f.steps for n, f in flows.items()}, {n: f.start for n, f in flows.items()}):
            errors.append(SourceError(flows[name].source, line_of(sources[name], ["start"]),
                                      f"flow '{name}' never ends: every path from its start step "
                                      f"'{flows[name].start}' goes by goto into flows that only lead back; "
                                      f"such a call ends as error after {MAX_TRANSFERS} transfers"))
    errors += compliance_errors(flows, sources)
    errors += template_check.library_errors(flows, {str(file): document for file, document, _ in documents})
    if errors:
        return FlowSet(), sorted(errors)
    return FlowSet(flows, {name: s for name, s in schedules.items() if s is not None}), []


def compliance_errors(flows: Mapping[str, Flow], documents: Mapping[str, Any]) -> list[SourceError]:
    """The library's compliance path errors (agi/loading/compliance_paths.py),
    each on the line of the outcome that leads astray, or of the step."""
    found = []
    for problem in compliance_problems(flows):
        flow = flows[problem.flow]
        path: list[Any] = ["steps", problem.step]
        if problem.outcome is not None:
            path += _outcome_path(flow.steps[problem.step], documents[problem.flow], problem.outcome)
        found.append(SourceError(flow.source, line_of(documents[problem.flow], path), problem.message))
    return found


def _outcome_path(step: Step, document: Any, outcome: str) -> list[Any]:
    """Where the step's YAML gives ``outcome`` its target: ``on``, ``next``,
    or the step type's own options (menu choices, branch cases)."""
    raw = document["steps"][step.name]
    if outcome in (raw.get("on") or {}):
        return ["on", outcome]
    if outcome == NEXT and "next" in raw:
        return ["next"]
    return [step.type_name]


def load_schedules(paths: Iterable[str | Path]) -> tuple[dict[str, Schedule], list[SourceError]]:
    """Only the schedules under ``paths``; flow files are not checked, so
    schedules can be shown and overridden while a flow has errors."""
    read_errors: list[SourceError] = []
    documents = [(f, d) for f, d, _ in _read_all(paths, read_errors) if is_schedules_document(d)]
    errors = [e for e in read_errors if _mentions_schedules(e.file)]
    schedules = _load_schedules(documents, errors)
    if errors:
        return {}, sorted(errors)
    return {name: s for name, s in schedules.items() if s is not None}, []


def _mentions_schedules(file: str) -> bool:
    """A file that cannot be parsed but looks like a schedules file, by its
    first MAX_FLOW_FILE_BYTES (a file refused for its size is not read whole)."""
    try:
        head = read_capped(file, MAX_FLOW_FILE_BYTES, regular_only=True)
    except FileTooLarge:
        with open(file, "rb") as stream:  # a regular file: read_capped says so
            head = stream.read(MAX_FLOW_FILE_BYTES)
    except OSError:
        return True
    return re.search(r"^schedules\s*:", head.decode("utf-8", "replace"), re.M) is not None


def _read_all(paths: Iterable[str | Path], errors: list[SourceError]) -> list[tuple[Path, Any, str]]:
    """Every file under ``paths`` parsed, with its content version; the
    errors of those that cannot be."""
    documents = []
    for file in flow_files(paths):
        if not file.exists():
            errors.append(SourceError(str(file), 1, _missing(file)))
            continue
        if file.name.endswith(TEST_FILE_SUFFIXES):
            errors.append(SourceError(str(file), 1, "a test-case file, not a flow: run it with `agiflow test`"))
            continue
        document, version, found = read_versioned(file)
        errors.extend(found)
        if not found:
            documents.append((file, document, version))
    return documents


def _missing(file: Path) -> str:
    """Why ``file``, which does not exist, cannot be read."""
    try:
        return f"a symbolic link to {os.readlink(file)}, which cannot be read" if file.is_symlink() \
            else "no such file or folder"
    except OSError:
        return "no such file or folder"


def _load_schedules(documents: list[tuple[Path, Any]], errors: list[SourceError]) -> dict[str, Schedule | None]:
    """Schedules by name from every schedules file; a name declared but
    invalid maps to None, so flows naming it are not told it is unknown."""
    schedules: dict[str, Schedule | None] = {}
    sources: dict[str, str] = {}
    for file, document in documents:
        collector = _Errors(str(file), document)
        built = build_schedules(document, str(file), collector)
        declared = document.get("schedules")
        for name in declared if isinstance(declared, dict) else {}:
            where = f"{file}:{declared.key_lines.get(name, 1)}"
            if name in sources:
                collector.add(["schedules", name], f"schedule '{name}' is also defined at {sources[name]}")
                continue
            sources[name] = where
            schedules[name] = built.get(name)
        errors.extend(collector.items)
    return schedules
