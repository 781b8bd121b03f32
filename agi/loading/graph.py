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
    leads_out = {name for name, step in steps.items() if can_end(step)}
    changed = True
    while changed:
        changed = False
        for name, step in steps.items():
            if name in leads_out:
                continue
            targets = [t for o, t in step.transitions.items() if o not in COMMON_OUTCOMES]
            if any(t in leads_out or t not in steps for t in targets):
                leads_out.add(name)
                changed = True
    return sorted(set(steps) - leads_out)
