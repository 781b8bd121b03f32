"""``schedule``: branch on a named schedule's state at the call's moment:
open, closed, holiday, or a closure's own outcome."""
from __future__ import annotations

import inspect

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Mapping

from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.hours.evaluate import state_at
from agi.hours.model import CLOSED, HOLIDAY, OPEN, Schedule
from agi.services import Override, OverridesUnavailable
from agi.yamlschema import obj

SCHEDULE_NAME = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]*$"}


@dataclass(frozen=True)
class ScheduleNode(Node):
    type_name = "schedule"
    summary = ("Branch on a named schedule (weekly hours, holidays, dated exceptions and "
               "closures, manual override). Outcomes: open, closed, holiday, and each closure "
               "outcome the schedule declares.")
    schema = {"oneOf": [SCHEDULE_NAME, obj({"name": SCHEDULE_NAME}, ("name",))]}

    name: str
    #: The schedule itself, bound by the loader once every schedules file is read.
    resolved: Schedule | None = field(default=None, compare=False)
    known: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_config(cls, config: Any) -> "ScheduleNode":
        return cls(config if isinstance(config, str) else config["name"])

    def with_schedules(self, schedules: Mapping[str, Schedule | None]) -> "ScheduleNode":
        return replace(self, resolved=schedules.get(self.name), known=tuple(sorted(schedules)))

    def outcomes(self) -> tuple[str, ...]:
        return self.resolved.outcomes() if self.resolved else (OPEN, CLOSED, HOLIDAY)

    def problems(self) -> list[tuple[str, str]]:
        if self.resolved is not None:
            return []
        if self.name in self.known:
            return [("name", f"schedule '{self.name}' has errors of its own (see its schedules file)")]
        known = ", ".join(self.known) or "none (define them in a schedules file in the flows folder)"
        return [("name", f"unknown schedule '{self.name}'; known: {known}")]

    async def run(self, ctx: CallContext) -> StepResult:
        if self.resolved is None:
            return done("error", error=f"schedule '{self.name}' is not loaded")
        moment = datetime.fromtimestamp(ctx.clock(), tz=timezone.utc)
        override, override_error = await self._override(ctx, moment)
        state = state_at(self.resolved, moment, override)
        details: dict[str, Any] = {**override_error, "schedule": self.name, **state.as_note()}
        if state.override is not None:
            details["override_until"] = state.override.until.isoformat()
        return done(state.outcome, **details)

    async def _override(self, ctx: CallContext, moment: datetime) -> tuple[Override | None, dict[str, str]]:
        """The override not ended at ``moment`` (in force, or starting later:
        its start is then the next change), if any, and the details of a
        failure to read it. When overrides cannot be read the call goes on with the
        schedule alone (fail open: the schedule is still right, only the
        manual change is missed) and says so in the log."""
        if ctx.services.overrides is None:
            return None, {}
        try:
            answer = ctx.services.overrides.unexpired(self.name, moment)
            return (await answer if inspect.isawaitable(answer) else answer), {}
        except OverridesUnavailable as exc:
            ctx.log.warning("schedule %s: cannot read overrides (%s); using the schedule alone", self.name, exc)
            return None, {"override_error": str(exc)}
