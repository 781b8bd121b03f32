"""Checks on the shape of a flow: where outcomes lead, what is reachable,
and loops that can never end."""
from __future__ import annotations

from typing import Iterator, Mapping

from agi.steps.base import node_of
from agi.vocabulary import COMMON_OUTCOMES
from agi.engine.model import Step


def dangling_targets(steps: Mapping[str, Step]) -> Iterator[tuple[str, str, str]]:
    """(step, outcome, target) for every outcome that leads to no step."""
    for step in steps.values():
        for outcome, target in step.transitions.items():
            if target not in steps:
                yield step.name, outcome, target


def reachable(steps: Mapping[str, Step], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in steps:
            continue
        seen.add(name)
        todo.extend(steps[name].transitions.values())
    return seen


def can_end(step: Step) -> bool:
    """True when some regular outcome of the step ends the flow."""
    node = node_of(step)
    if node.ends_flow():
        return True
    return any(o not in step.transitions for o in node.outcomes() if o not in COMMON_OUTCOMES)


def trapped(steps: Mapping[str, Step]) -> list[str]:
    """Steps from which no path leads to an end of the flow (a hangup aside)."""
    return sorted(set(steps) - _reaching(steps, {name for name, step in steps.items() if can_end(step)}))


def _reaching(steps: Mapping[str, Step], ends: set[str]) -> set[str]:
    """``ends`` and every step with a path to one of them (or out of the
    flow), its common outcomes aside."""
    reaching = set(ends)
    changed = True
    while changed:
        changed = False
        for name, step in steps.items():
            if name in reaching:
                continue
            targets = [t for o, t in step.transitions.items() if o not in COMMON_OUTCOMES]
            if any(t in reaching or t not in steps for t in targets):
                reaching.add(name)
                changed = True
    return reaching


def endless_flows(flows: Mapping[str, Mapping[str, Step]], starts: Mapping[str, str]) -> list[str]:
    """Flows from whose start no path ever ends the call: every way out is
    a ``goto`` into flows that only lead back (a ring of transfers, which
    ends as error after the transfer limit). ``flows`` maps each flow name
    to its steps, ``starts`` to its start step."""
    escaping: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, steps in flows.items():
            if name not in escaping and starts[name] in _leads_out(steps, escaping):
                escaping.add(name)
                changed = True
    return sorted(set(flows) - escaping)


def _leads_out(steps: Mapping[str, Step], escaping: set[str]) -> set[str]:
    """Steps with a path to an end of the call, a ``goto`` counting as one
    only into a flow of ``escaping``."""
    def ends(step: Step) -> bool:
        targets = node_of(step).flow_references()
        if targets:
            return any(t in escaping for t in targets)
        return can_end(step)

    return _reaching(steps, {name for name, step in steps.items() if ends(step)})
