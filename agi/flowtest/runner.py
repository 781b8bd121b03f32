"""Running test cases: each case is one simulated call of its flow, with
services built from the case alone, then compared with its expectations."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Iterable, Sequence

from agi.engine.model import FlowSet
from agi.flowtest.expect import Observed, check
from agi.storage.callbacks import MemoryCallbackRequests
from agi.flowtest.memory import (CaseWebhooks, MemoryHistory, MemoryLists, MemoryOverrides, MemorySupervisors,
                                 fixed_chance)
from agi.flowtest.model import Case, Mismatch
from agi.services import Services
from agi.session import SessionSettings
from agi.simulate import SimulationResult, simulate


@dataclass(frozen=True)
class CaseResult:
    """How one case went: its mismatches, or the error that stopped it."""

    case: Case
    mismatches: tuple[Mismatch, ...] = ()
    observed: Observed | None = None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.error is None

    def as_dict(self) -> dict[str, Any]:
        seen = self.observed
        return {
            "id": self.case.id, "file": self.case.file, "line": self.case.line, "name": self.case.name,
            "flow": self.case.flow, "passed": self.passed, "error": self.error,
            "mismatches": [{"file": m.file, "line": m.line, "key": m.key, "message": m.message,
                            "expected": m.expected, "got": m.got} for m in self.mismatches],
            "path": seen.path if seen else None, "commands": seen.commands if seen else None,
        }


def select(cases: Iterable[Case], patterns: Sequence[str]) -> list[Case]:
    """Cases whose id (``file::name``) contains any of ``patterns``,
    ignoring case; every case when there is no pattern."""
    wanted = [p.lower() for p in patterns]
    return [c for c in cases if not wanted or any(p in c.id.lower() for p in wanted)]


def case_services(case: Case, base: Services) -> tuple[Services, MemoryCallbackRequests, CaseWebhooks]:
    """``base`` (recordings, region...) with every store replaced by the
    case's in-memory ones: a case never reads the database or the network."""
    callbacks = MemoryCallbackRequests(case.inputs.pending_callbacks)
    webhooks = CaseWebhooks(case.inputs.webhook_response)
    overrides = MemoryOverrides(case.inputs.overrides)
    services = replace(base, lists=MemoryLists(case.inputs.lists, base.default_region),
                       overrides=overrides, override_changes=overrides,
                       supervisors=MemorySupervisors(case.inputs.supervisors), callbacks=callbacks,
                       webhooks=webhooks, chance=fixed_chance(case.inputs.random),
                       history=MemoryHistory(case.inputs.history, case.inputs.caller, case.inputs.pending_callbacks))
    return services, callbacks, webhooks


def run_case(case: Case, flows: FlowSet, base: Services, settings: SessionSettings | None = None) -> CaseResult:
    """Simulate the case's call once and compare it with its expectations;
    ``settings`` are the server's (the longest command line, the fallback)."""
    flow = flows.get(case.flow)
    if flow is None:
        return CaseResult(case, error=f"no flow named '{case.flow}'")
    services, callbacks, webhooks = case_services(case, base)
    given = case.inputs
    try:
        result = simulate(flow, flows, caller=given.caller, called=given.called, at=given.at,
                          dtmf=given.dtmf, hangup_after=given.hangup_after,
                          queue_statuses=given.queue_statuses, dial_statuses=given.dial_statuses,
                          vm_statuses=given.vm_statuses, queue_wait=given.queue_wait,
                          talk_time=given.talk_time, app_results=given.app_results,
                          queue_member=given.agent, args=given.args, on_call=given.on_call,
                          spy_sessions=given.spy_sessions, settings=settings, services=services)
    except Exception as exc:
        return CaseResult(case, error=f"the simulation failed: {exc!r}")
    seen = observe(result, callbacks, webhooks)
    return CaseResult(case, tuple(check(case, seen)), seen)


def observe(result: SimulationResult, callbacks: MemoryCallbackRequests, webhooks: CaseWebhooks) -> Observed:
    call = result.call
    return Observed(path=[f"{s['step']}:{s['outcome']}" for s in result.steps], call=call,
                    fields=json.loads(call.get("fields") or "{}"), variables=result.variables,
                    commands=[e.command for e in result.exchanges], callbacks=callbacks.rows,
                    webhooks=webhooks.posts, callbacks_closed=callbacks.closed)


def run_cases(cases: Iterable[Case], flows: FlowSet, base: Services,
              settings: SessionSettings | None = None) -> list[CaseResult]:
    return [run_case(case, flows, base, settings) for case in cases]
