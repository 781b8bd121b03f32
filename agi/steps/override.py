"""``override``: night mode from a phone. A supervisor (caller ID in a list,
and their PIN) picks a schedule, forces it open or closed for a while or
clears the override, and hears the new state.

The change goes to the same overrides store ``agiflow schedule override``
writes, so every server reading that database sees it on its next call;
the override says who set it (the supervisor's number) and how (``phone``).
Every change is audited with the supervisor's PIN checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.hours.evaluate import state_at
from agi.hours.model import OPEN, Schedule
from agi.services import SUPERVISOR_WAIT, Override, OverridesUnavailable, OffloadTimeout, SupervisorsUnavailable
from agi.steps.base import Findings, Node
from agi.steps.collect import INVALID, SOUND, TIMEOUT, RetryPolicy, collect
from agi.steps.history import DURATION, seconds_of
from agi.steps.schedule import SCHEDULE_NAME
from agi.steps.supervisor_auth import AUTH_OPTIONS, Authorisation, authorise
from agi.vocabulary import ERROR
from agi.yamlschema import ONE_KEY, TEXT, dtmf, obj

SET = "set"
CLEARED = "cleared"
REFUSED = "refused"
CANCELLED = "cancelled"
ACTIONS = ("open", "closed", "clear")
#: How long a change may take to be stored before the step gives up.
WRITE_TIMEOUT = SUPERVISOR_WAIT
#: The longest ``max_duration`` (and so ``default_duration``) a flow may give.
MAX_DURATION_DAYS = 365
#: SAY DATETIME's format for the end of an override: weekday, hour, minutes.
UNTIL_FORMAT = "A 'digits/at' HM"


@dataclass(frozen=True)
class OverrideNode(Node):
    type_name = "override"
    summary = ("Night mode from a phone: a supervisor (caller ID list and PIN) forces a schedule open or "
               "closed for a while, or clears the override, and hears the new state. Outcomes: set, cleared, "
               "refused, cancelled.")
    schema = obj({
        **AUTH_OPTIONS,
        "schedules": {"type": "object", "minProperties": 1, "maxProperties": 9,
                      "propertyNames": {"pattern": "^[1-9]$"}, "additionalProperties": SCHEDULE_NAME},
        "schedule_prompt": SOUND,
        "action_prompt": SOUND,
        "keys": obj({action: ONE_KEY for action in ACTIONS}),
        "duration_prompt": SOUND,
        "default_duration": DURATION,
        "max_duration": DURATION,
        "open_prompt": SOUND, "closed_prompt": SOUND, "cleared_prompt": SOUND, "until_prompt": SOUND,
        "invalid_prompt": SOUND,
        "reason": TEXT,
    }, ("pin_prompt", "schedules", "action_prompt", "open_prompt", "closed_prompt"))

    auth: Authorisation
    schedules: Mapping[str, str]
    action_prompt: str
    open_prompt: str
    closed_prompt: str
    schedule_prompt: str | None = None
    keys: Mapping[str, str] = field(default_factory=lambda: {"open": "1", "closed": "2", "clear": "3"})
    duration_prompt: str | None = None
    default_duration: int = 12 * 3600
    max_duration: int = 7 * 86400
    cleared_prompt: str | None = None
    until_prompt: str | None = None
    invalid_prompt: str | None = None
    reason: str = "set by phone"
    resolved: Mapping[str, Schedule | None] = field(default_factory=dict, compare=False)

    @classmethod
    def from_config(cls, config: Any) -> "OverrideNode":
        keys = {"open": "1", "closed": "2", "clear": "3", **{k: dtmf(v) for k, v in config.get("keys", {}).items()}}
        options = {name: config[name] for name in ("schedule_prompt", "duration_prompt", "cleared_prompt",
                                                   "until_prompt", "invalid_prompt", "reason") if name in config}
        options.update({name: seconds_of(config[name]) for name in ("default_duration", "max_duration")
                        if name in config})
        if "default_duration" not in options:  # twelve hours, or the longest allowed when that is shorter
            options["default_duration"] = min(cls.default_duration, options.get("max_duration", cls.max_duration))
        if "max_duration" not in options:  # seven days, or default_duration when that is longer
            options["max_duration"] = max(cls.max_duration, min(options["default_duration"], MAX_DURATION_DAYS * 86400))
        return cls(Authorisation.from_config(config), dict(config["schedules"]), config["action_prompt"],
                   config["open_prompt"], config["closed_prompt"], keys=keys, **options)

    def with_schedules(self, schedules: Mapping[str, Schedule | None]) -> "OverrideNode":
        return replace(self, resolved={name: schedules.get(name) for name in self.schedules.values()})

    def outcomes(self) -> tuple[str, ...]:
        return (SET, CLEARED, REFUSED, CANCELLED)

    def list_references(self) -> tuple[str, ...]:
        return self.auth.lists

    def templates(self) -> list[tuple[str, str, bool]]:
        sounds = [("action_prompt", self.action_prompt), ("open_prompt", self.open_prompt),
                  ("closed_prompt", self.closed_prompt), ("schedule_prompt", self.schedule_prompt),
                  ("duration_prompt", self.duration_prompt), ("cleared_prompt", self.cleared_prompt),
                  ("until_prompt", self.until_prompt), ("invalid_prompt", self.invalid_prompt),
                  ("reason", self.reason)]
        return self.auth.templates() + [(name, text, False) for name, text in sounds if text]

    def prompts(self) -> list[str]:
        sounds = (self.action_prompt, self.open_prompt, self.closed_prompt, self.schedule_prompt,
                  self.duration_prompt, self.cleared_prompt, self.until_prompt, self.invalid_prompt)
        return self.auth.prompts() + [sound for sound in sounds if sound]

    def problems(self) -> list[tuple[str, str]]:
        found = [("schedules", f"unknown schedule '{name}'") for name in self.schedules.values()
                 if self.resolved and self.resolved.get(name) is None]
        if len(self.schedules) > 1 and not self.schedule_prompt:
            found.append(("schedule_prompt", "several schedules need a schedule_prompt to choose one"))
        if len(set(self.keys.values())) < len(ACTIONS):
            found.append(("keys", "open, closed and clear need three different keys"))
        if self.max_duration > MAX_DURATION_DAYS * 86400:
            found.append(("max_duration", f"max_duration is longer than {MAX_DURATION_DAYS} days"))
        if self.default_duration > MAX_DURATION_DAYS * 86400:
            found.append(("default_duration", f"default_duration is longer than {MAX_DURATION_DAYS} days"))
        elif self.default_duration > self.max_duration:
            found.append(("default_duration", "default_duration is longer than max_duration"))
        return found

    async def run(self, ctx: CallContext) -> StepResult:
        found = Findings()
        with found.kept():
            outcome = await self._run(ctx, found)
        return found.result(outcome)

    async def _run(self, ctx: CallContext, found: Findings) -> str:
        supervisor = await authorise(ctx, self.auth, found)
        if supervisor is None:
            return REFUSED
        name = await self._choose_schedule(ctx, found)
        action = await self._choose(ctx, found, self.action_prompt, {v: k for k, v in self.keys.items()}) \
            if name else None
        if name is None or action is None:
            return CANCELLED
        schedule = self.resolved.get(name)
        if schedule is None:
            found.note(error=f"schedule '{name}' is not loaded")
            return ERROR
        found.note(schedule=name, action=action)
        seconds = await self._duration(ctx, found) if action != "clear" else 0
        if seconds is None:
            return CANCELLED
        return await self._apply(ctx, found, supervisor, schedule, action, seconds)

    async def _choose_schedule(self, ctx: CallContext, found: Findings) -> str | None:
        if len(self.schedules) == 1:
            return next(iter(self.schedules.values()))
        return await self._choose(ctx, found, self.schedule_prompt or "", dict(self.schedules))

    async def _choose(self, ctx: CallContext, found: Findings, prompt: str, choices: Mapping[str, str]) -> str | None:
        answer = await collect(ctx, prompt, 1, self._policy(), choices.get, found)
        return None if answer in (TIMEOUT, INVALID) else answer

    async def _duration(self, ctx: CallContext, found: Findings) -> int | None:
        """Hours keyed (``#`` alone, or nothing: the default), capped; None
        when every try was wrong (no valid answer: nothing changes)."""
        if not self.duration_prompt:
            return self.default_duration
        answer = await collect(ctx, self.duration_prompt, 3, self._policy(), _hours, found)
        if answer == INVALID:
            return None
        hours = int(answer) if answer not in (TIMEOUT, "") else 0
        return min(hours * 3600, self.max_duration) if hours else self.default_duration

    def _policy(self) -> RetryPolicy:
        return RetryPolicy(self.auth.timeout, 1, None, 2, self.invalid_prompt)

    async def _apply(self, ctx: CallContext, found: Findings, supervisor: str, schedule: Schedule, action: str,
                     seconds: int) -> str:
        now = datetime.fromtimestamp(ctx.clock(), tz=timezone.utc)
        until = now + timedelta(seconds=seconds)
        change = Override(schedule.name, action, until, ctx.render_text(self.reason), now, supervisor, "phone")
        try:
            detail = await self._store(ctx, change, now)
        except (OverridesUnavailable, OffloadTimeout) as exc:
            what = action if action == "clear" else f"{action} for {timedelta(seconds=seconds)}"
            ctx.log.warning("override of %s by %s not made (%s): %s", schedule.name, supervisor, what, exc)
            found.note(error=f"the override was not changed: {exc}")
            return ERROR
        await self._audit(ctx, found, change, now, detail)
        after = state_at(schedule, now, None if action == "clear" else change)
        found.note(state=after.outcome, **({"until": until.isoformat()} if action != "clear" else {}))
        await self._tell(ctx, schedule, action, after.outcome, until)
        return CLEARED if action == "clear" else SET

    async def _store(self, ctx: CallContext, change: Override, now: datetime) -> str:
        """Make the change; what the audit log says of it. A change still
        waiting for a database thread when the step stops waiting is
        never made later: the supervisor was told nothing changed."""
        changes = ctx.services.override_changes
        if changes is None or ctx.services.supervisors is None:
            raise OverridesUnavailable("overrides cannot be changed here")
        write = _Unless()
        try:
            if change.state == "clear":
                await ctx.services.offload(WRITE_TIMEOUT, write, changes.clear, change.schedule, write.wanted)
                return f"{change.schedule}: clear"
            await ctx.services.offload(WRITE_TIMEOUT, write, changes.set, change, now, write.wanted)
        except OffloadTimeout:
            write.given_up = True
            raise
        return f"{change.schedule}: {change.state} until {change.until.isoformat()}"

    async def _audit(self, ctx: CallContext, found: Findings, change: Override, now: datetime, detail: str) -> None:
        """The change in the audit log. The change is made by then: an
        audit entry that cannot be written does not undo it, it is noted
        (``audit_error``) and logged."""
        supervisors = ctx.services.supervisors
        if supervisors is None:  # _store refused the change
            return
        try:
            await ctx.services.offload(WRITE_TIMEOUT, supervisors.audit, change.set_by, "override", "ok", now,
                                       ctx.call.id, detail)
        except (SupervisorsUnavailable, OffloadTimeout) as exc:
            ctx.log.warning("override by %s not audited (%s): %s", change.set_by, detail, exc)
            found.note(audit_error=str(exc))

    async def _tell(self, ctx: CallContext, schedule: Schedule, action: str, state: str, until: datetime) -> None:
        """The new state: cleared (if so), open or closed, and until when."""
        if action == "clear" and self.cleared_prompt:
            await ctx.channel.stream(ctx.render_text(self.cleared_prompt))
        await ctx.channel.stream(ctx.render_text(self.open_prompt if state == OPEN else self.closed_prompt))
        if action != "clear" and self.until_prompt:
            await ctx.channel.stream(ctx.render_text(self.until_prompt))
            await ctx.channel.command("SAY DATETIME", int(until.timestamp()), "", UNTIL_FORMAT, schedule.timezone)


class _Unless:
    """Runs a change in a database thread unless the step gave up waiting
    for it first (``given_up``), as a busy pool may start it late; the
    store asks ``wanted`` again before it commits, for a change that
    started in time and took longer (a lock, a connection opened again)."""

    def __init__(self) -> None:
        self.given_up = False

    def wanted(self) -> bool:
        return not self.given_up

    def __call__(self, work: Any, *args: Any) -> Any:
        if self.given_up:
            raise OverridesUnavailable("not changed: the step had stopped waiting for the database")
        return work(*args)


def _hours(keys: str) -> str | None:
    """A number of hours, 1 to 999; ``#`` alone (no digits) is the default."""
    if keys == "":
        return ""
    return keys if keys.isascii() and keys.isdigit() and len(keys) <= 3 and 0 < int(keys) < 1000 else None
