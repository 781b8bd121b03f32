"""Checks on the shape of a flow: where outcomes lead, what is reachable,
and loops that can never end."""
from __future__ import annotations

from typing import Iterator, Mapping, TypeVar

from agi.steps.base import node_of
from agi.vocabulary import COMMON_OUTCOMES
from agi.engine.model import Step

T = TypeVar("T")


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
    flow), its common outcomes aside. Walked back from the ends once, in
    time linear in the steps and outcomes: a fixed point that looked at
    every step again for each one it added took 85 s on a chain of 7,000
    steps, with every call held while a server loaded it."""
    leading_to: dict[str, list[str]] = {}
    reaching = set(ends)
    for name, step in steps.items():
        for outcome, target in step.transitions.items():
            if outcome in COMMON_OUTCOMES:
                continue
            if target in steps:
                leading_to.setdefault(target, []).append(name)
            else:
                reaching.add(name)  # out of the flow
    return _and_what_leads_to(reaching, leading_to)


def endless_flows(flows: Mapping[str, Mapping[str, Step]], starts: Mapping[str, str]) -> list[str]:
    """Flows from whose start no path ever ends the call: every way out is
    a ``goto`` into flows that only lead back (a ring of transfers, which
    ends as error after the transfer limit). ``flows`` maps each flow name
    to its steps, ``starts`` to its start step.

    The steps of every flow make one graph, a ``goto`` leading to the start
    of each flow it names, walked back once from the steps that end the
    call: looking at every flow again for each one found to end took time
    that grew with the square of the flows."""
    leading_to: dict[tuple[str, str], list[tuple[str, str]]] = {}
    ending: set[tuple[str, str]] = set()
    for name, steps in flows.items():
        for step_name, step in steps.items():
            place = (name, step_name)
            targets = node_of(step).flow_references()
            for target in targets:
                if target in flows:
                    leading_to.setdefault((target, starts[target]), []).append(place)
            if not targets and can_end(step):
                ending.add(place)
            for outcome, target in step.transitions.items():
                if outcome in COMMON_OUTCOMES:
                    continue
                if target in steps:
                    leading_to.setdefault((name, target), []).append(place)
                else:
                    ending.add(place)  # out of the flow
    _and_what_leads_to(ending, leading_to)
    return sorted(name for name in flows if (name, starts[name]) not in ending)


def _and_what_leads_to(found: set[T], leading_to: Mapping[T, list[T]]) -> set[T]:
    """``found`` with every place that leads to one of them, however far:
    one walk back, so a long chain costs its length, not its square."""
    todo = list(found)
    while todo:
        for place in leading_to.get(todo.pop(), ()):
            if place not in found:
                found.add(place)
                todo.append(place)
    return found
