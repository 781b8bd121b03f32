"""The compliance checks of a whole flow library (docs/compliance.md):

- no path from a guarded outcome of a do-not-call check (``listed``,
  ``error``, ``hangup``) reaches a step that dials or may dial;
- no path from an outcome of a consent step that leaves the call without
  consent (``declined``, ``never``, ``hangup``, ``error``) reaches a step
  that records or runs code agiflow cannot see, unless a later consent step
  comes first (its own outcomes are checked in turn);
- no path from the start of a flow reaches a step that records without
  passing a consent step. Every flow is an entry: Asterisk may ask for any
  flow by name, with no check and no consent behind it;
- no step but a do-not-call check sets the variable a do-not-call check
  sets (``ROBINSON``): the dialplan reads it to decide whether to dial.

Paths follow every outcome (``error`` and ``hangup`` included, menu
choices, branches, split shares) and ``goto`` into the start of another
flow of the library, so a flow reached from a guarded branch is guarded
from its start. The checks only read the flow model: no I/O.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from agi.engine.model import Flow, Step
from agi.steps.base import node_of
from agi.variable_writes import read_as
from agi.vocabulary import COMMON_OUTCOMES

#: A step of the library: (flow name, step name).
Place = tuple[str, str]


@dataclass(frozen=True)
class PathProblem:
    """A compliance error: at ``step`` of ``flow`` (on ``outcome``, when the
    error is about where an outcome leads)."""

    flow: str
    step: str
    outcome: str | None
    message: str


def compliance_problems(flows: Mapping[str, Flow]) -> list[PathProblem]:
    """Every compliance error of the library, in flow and step order."""
    found: list[PathProblem] = []
    dials = _Nearest(flows, lambda s: node_of(s).dials(), lambda s: False)
    records = _Nearest(flows, lambda s: node_of(s).records() or node_of(s).runs_hidden_code(), decides_consent)
    for flow in flows.values():
        for step in flow.steps.values():
            found += _do_not_call_problems(dials, flow, step)
            found += _refused_consent_problems(records, flow, step)
        found += _recording_without_consent(flow)
    found += _do_not_call_variable_problems(flows)
    return found


def _do_not_call_variable_problems(flows: Mapping[str, Flow]) -> Iterator[PathProblem]:
    """Steps other than do-not-call checks that set a variable a check sets."""
    checks: dict[str, Place] = {}
    for flow in flows.values():
        for step in flow.steps.values():
            if node_of(step).guarded_outcomes():
                for variable in node_of(step).sets_variables():
                    for name in read_as(variable):
                        checks.setdefault(name, (flow.name, step.name))
    for flow in flows.values():
        for step in flow.steps.values():
            if node_of(step).guarded_outcomes():
                continue
            for variable in _variables_set(step):
                reads = sorted(read_as(variable) & checks.keys())
                if reads:
                    check_flow, check_step = checks[reads[0]]
                    yield PathProblem(flow.name, step.name, None,
                                      f"step '{step.name}' sets variable '{variable}', which step '{check_step}' of "
                                      f"flow '{check_flow}' sets to its do-not-call result; only a do-not-call "
                                      f"check may set it, since the dialplan reads it to decide whether to dial")


def decides_consent(step: Step) -> bool:
    """True for a step that takes a recording consent decision."""
    return any(node_of(step).consent_given(o) is not None for o in (*node_of(step).outcomes(), *COMMON_OUTCOMES))


def _do_not_call_problems(dials: "_Nearest", flow: Flow, step: Step) -> Iterator[PathProblem]:
    for outcome in node_of(step).guarded_outcomes():
        found = dials.first_reached(flow, step.transitions.get(outcome))
        if found is not None:
            place, route = found
            target = dials.flows[place[0]].steps[place[1]]
            what = "runs code agiflow cannot see, which may dial" if node_of(target).runs_hidden_code() else "dials"
            yield PathProblem(flow.name, step.name, outcome,
                              f"step '{step.name}': outcome '{outcome}' leads to step '{place[1]}'"
                              f"{_where(flow, place, route)}, which {what}; a {step.type_name} step must never "
                              f"lead to a dial when the number is listed or cannot be checked")


def _refused_consent_problems(records: "_Nearest", flow: Flow, step: Step) -> Iterator[PathProblem]:
    if not decides_consent(step):
        return
    for outcome, target_name in step.transitions.items():
        if node_of(step).consent_given(outcome):
            continue
        found = records.first_reached(flow, target_name)
        if found is not None:
            place, route = found
            target = records.flows[place[0]].steps[place[1]]
            what = "records the call" if node_of(target).records() else \
                "runs code agiflow cannot see, which may record"
            yield PathProblem(flow.name, step.name, outcome,
                              f"step '{step.name}': outcome '{outcome}' leads to step '{place[1]}'"
                              f"{_where(flow, place, route)}, which {what}; a {step.type_name} step must never "
                              f"lead to a recording when the caller has not consented")


def _variables_set(step: Step) -> tuple[str, ...]:
    """The variables a step sets, channel variables an ``exec`` of ``Set`` writes included."""
    node = node_of(step)
    return tuple(dict.fromkeys((*node.sets_variables(), *node.channel_variables_set())))


def _recording_without_consent(flow: Flow) -> Iterator[PathProblem]:
    """Recording steps reached from the flow's start through no consent step."""
    seen: set[str] = set()
    todo = deque([flow.start])
    while todo:
        name = todo.popleft()
        if name in seen or name not in flow.steps:
            continue
        seen.add(name)
        step = flow.steps[name]
        if decides_consent(step):
            continue
        if node_of(step).records():
            yield PathProblem(flow.name, name, None,
                              f"step '{name}' records the call, but a path from the start of flow "
                              f"'{flow.name}' reaches it through no consent step; every flow is an entry, "
                              f"and recording needs a consent step that gives consent first")
        todo.extend(step.transitions.values())


class _Nearest:
    """How far each step of the library is from the nearest step that
    ``offends``, on paths that end at steps that ``stops`` (after checking
    them) and follow ``goto`` to other flows: found once for the whole
    library, walking back from the steps that offend. A search from every
    check it asks about took time that grew with the square of the steps
    (seconds for a flow file of a few thousand checks in a row, while a
    server reloading it held every call)."""

    def __init__(self, flows: Mapping[str, Flow], offends: Callable[[Step], bool],
                 stops: Callable[[Step], bool]) -> None:
        self.flows = flows
        self.distance: dict[Place, int] = {}
        leading_to: dict[Place, list[Place]] = {}
        todo: deque[Place] = deque()
        for flow in flows.values():
            for step in flow.steps.values():
                place = (flow.name, step.name)
                if offends(step):
                    self.distance[place] = 0
                    todo.append(place)
                elif not stops(step):
                    for following in _next_places(flows, flow.name, step):
                        leading_to.setdefault(following, []).append(place)
        while todo:
            place = todo.popleft()
            for before in leading_to.get(place, ()):
                if before not in self.distance:
                    self.distance[before] = self.distance[place] + 1
                    todo.append(before)
        #: The answer of first_reached for each place asked about or on the way.
        self._found: dict[Place, tuple[Place, tuple[Place, ...]]] = {}

    def first_reached(self, flow: Flow, start: str | None) -> tuple[Place, list[Place]] | None:
        """The nearest step from ``start`` (a step of ``flow``) that offends,
        the first in the order of the outcomes among the nearest, and the
        ``goto`` steps on the way to it (at most MAX_ROUTE + 1 of them)."""
        if start is None or (flow.name, start) not in self.distance:
            return None
        path = [(flow.name, start)]
        while path[-1] not in self._found and self.distance[path[-1]]:
            path.append(self._following(path[-1]))
        found = self._found.get(path[-1], (path[-1], ()))
        for place in reversed(path[:-1]):
            if node_of(self._step(place)).flow_references():
                found = (found[0], ((place,) + found[1])[:MAX_ROUTE + 1])
            self._found[place] = found
        return found[0], list(found[1])

    def _step(self, place: Place) -> Step:
        return self.flows[place[0]].steps[place[1]]

    def _following(self, place: Place) -> Place:
        """The first place ``place`` leads to that is one step nearer."""
        nearer = self.distance[place] - 1
        return next(following for following in _next_places(self.flows, place[0], self._step(place))
                    if self.distance.get(following) == nearer)


#: The ``goto`` steps a message names on the way to a step (a message
#: naming every one could be as long as the library).
MAX_ROUTE = 10


def _next_places(flows: Mapping[str, Flow], flow_name: str, step: Step) -> Iterator[Place]:
    """Where a step can lead: its targets, and the start of every flow it
    transfers the call to."""
    for target in step.transitions.values():
        yield flow_name, target
    for other in node_of(step).flow_references():
        if other in flows:
            yield other, flows[other].start


def _where(flow: Flow, place: Place, route: list[Place]) -> str:
    """`` in flow 'b' (through goto at step 'x' of flow 'a')`` for a step
    in another flow; nothing for a step of ``flow``."""
    if place[0] == flow.name and not route:
        return ""
    hops = ", ".join(f"step '{s}' of flow '{f}'" for f, s in route[:MAX_ROUTE]) + \
        (" and more" if len(route) > MAX_ROUTE else "")
    return f" of flow '{place[0]}' (through goto at {hops})"
