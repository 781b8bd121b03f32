"""The flow interpreter: a loop over steps that knows no step types.

Each step's node runs and returns an outcome; the step's transitions say
where that outcome leads; no transition ends the flow. A hangup is an
outcome like any other (``on: {hangup: ...}`` may do dead-channel
bookkeeping), never an exception that escapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from agi.channel import AgiCommandError, ChannelHungUp
from agi.engine.context import CallContext
from agi.engine.model import FlowSet, Step
from agi.engine.templates import RenderError
from agi.protocol.wire import CommandError
from agi.vocabulary import CALLER_HANGUP, COMPLETED, ERROR, FAILED, HANGUP

#: A call that runs this many steps is stuck in a loop the caller cannot end.
MAX_STEPS = 500
MAX_TRANSFERS = 10


class StepRecord(NamedTuple):
    """One step as the call went through it."""

    seq: int
    flow: str
    step: str
    type: str
    outcome: str
    started_at: float
    duration_ms: float
    details: dict[str, Any] = {}


@dataclass
class CallResult:
    """How the flow ended and the path it took."""

    status: str
    trace: list[StepRecord]
    error: str | None = None

    @property
    def outcome(self) -> str:
        return self.trace[-1].outcome if self.trace else ""

    @property
    def last_step(self) -> str:
        return self.trace[-1].step if self.trace else ""

    def path(self) -> str:
        """``hours:open > menu:1 > sales:next``: the path as a person reads it."""
        return " > ".join(f"{r.step}:{r.outcome}" for r in self.trace)


async def run_call(flows: FlowSet, ctx: CallContext,
                   on_step: Callable[[StepRecord], None] | None = None) -> CallResult:
    """Run ``ctx.flow`` from its start step until the flow ends."""
    trace: list[StepRecord] = []
    step_name: str | None = ctx.flow.start
    transfers = 0
    caller_hung_up = False
    await _apply_language(ctx)
    while step_name is not None:
        if len(trace) >= MAX_STEPS:
            return CallResult(FAILED, trace, f"more than {MAX_STEPS} steps: the flow loops")
        step = ctx.flow.steps[step_name]
        already_dead = ctx.channel.hung_up
        record = await _run_step(step, ctx, len(trace) + 1)
        trace.append(record)
        ctx.path.append(f"{record.step}:{record.outcome}")
        if on_step is not None:
            on_step(record)
        if record.outcome == HANGUP:
            caller_hung_up = True
            if already_dead:
                break
        if ctx.transfer_to is not None:
            target, ctx.transfer_to = flows.get(ctx.transfer_to), None
            transfers += 1
            if target is None or transfers > MAX_TRANSFERS:
                return CallResult(FAILED, trace, "transfer to an unknown flow or too many transfers")
            ctx.flow = target
            step_name = target.start
            await _apply_language(ctx)
            continue
        step_name = step.transitions.get(record.outcome)
    return _result(trace, caller_hung_up)


async def _apply_language(ctx: CallContext) -> None:
    """Switch the channel to the flow's language, so Asterisk picks prompts
    from sounds/<language>/."""
    language = ctx.flow.language
    if not language or language == ctx.language or ctx.channel.hung_up:
        return
    try:
        await ctx.channel.set_variable("CHANNEL(language)", language)
        ctx.language = language
    except ChannelHungUp:
        pass


def _result(trace: list[StepRecord], caller_hung_up: bool) -> CallResult:
    last = trace[-1] if trace else None
    if last is not None and last.outcome == ERROR:
        return CallResult(FAILED, trace, last.details.get("error"))
    return CallResult(CALLER_HANGUP if caller_hung_up else COMPLETED, trace)


async def _run_step(step: Step, ctx: CallContext, seq: int) -> StepRecord:
    ctx.details = {}
    ctx.step = step.name
    started = ctx.clock()
    try:
        outcome = await step.node.run(ctx)
    except ChannelHungUp:
        outcome = HANGUP
    except (AgiCommandError, RenderError, CommandError) as exc:
        outcome = ERROR
        ctx.note(error=str(exc))
        ctx.log.warning("step %s (%s) failed: %s", step.name, step.type_name, exc)
    if ctx.channel.sound_failures:
        ctx.note(failed_sounds=list(ctx.channel.sound_failures))
        ctx.channel.sound_failures.clear()
    duration_ms = round((ctx.clock() - started) * 1000, 1)
    if ctx.debug:
        ctx.log.debug("step %s (%s) -> %s", step.name, step.type_name, outcome)
    return StepRecord(seq, ctx.flow.name, step.name, step.type_name, outcome, started, duration_ms, dict(ctx.details))
