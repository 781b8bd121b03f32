"""The flow interpreter: a loop over steps that knows no step types.

Each step's node runs and returns a StepResult; the interpreter applies
it (the transfer, the details, the CDR columns) and the step's transitions
say where its outcome leads; no transition ends the flow. A hangup is an
outcome like any other (``on: {hangup: ...}`` may do dead-channel
bookkeeping), never an exception that escapes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from agi.channel import ChannelHungUp
from agi.engine.context import CallContext
from agi.engine.model import FlowSet, Step
from agi.engine.step import STEP_FAILURES, StepInterrupted, StepResult
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
    #: The caller is gone, seen by a step that kept an outcome of its own (a
    #: saved voicemail, an answered queue or dial, a HANGUP line read while
    #: a step sent nothing): the call is a caller hangup all the same.
    gone = False
    await _apply_language(ctx)
    while step_name is not None:
        if len(trace) >= MAX_STEPS:
            return CallResult(FAILED, trace, f"more than {MAX_STEPS} steps: the flow loops")
        step = ctx.flow.steps[step_name]
        record, transfer = await _run_step(step, ctx, len(trace) + 1)
        trace.append(record)
        ctx.path.append(f"{record.step}:{record.outcome}")
        if on_step is not None:
            on_step(record)
        if record.outcome == HANGUP:
            if caller_hung_up:
                break  # a second hangup: the bookkeeping met a command a dead channel refuses
            # The step that met the hangup, also one noted before it started
            # (a HANGUP line between steps, SIGHUP while agiflow-agi started).
            caller_hung_up = True
        gone = gone or (ctx.channel.hung_up and not ctx.channel.hung_up_by_flow)
        if transfer is not None:
            target = flows.get(transfer)
            transfers += 1
            if target is None:
                return CallResult(FAILED, trace, f"transfer to unknown flow {transfer!r}")
            if transfers > MAX_TRANSFERS:
                return CallResult(FAILED, trace, f"more than {MAX_TRANSFERS} transfers in one call "
                                                 f"(the last to flow {transfer!r}): the flows transfer in a ring")
            ctx.flow = target
            step_name = target.start
            await _apply_language(ctx, entering=True)
            continue
        step_name = step.transitions.get(record.outcome)
    return _result(trace, caller_hung_up or gone)


async def _apply_language(ctx: CallContext, entering: bool = False) -> None:
    """Switch the channel to the flow's language, so Asterisk picks prompts
    from sounds/<language>/. At the start the channel's language is known
    (``agi_language``); when a ``goto`` enters the flow (``entering``) it is
    not (a ``set`` of ``CHANNEL(language)``, an application or a subroutine
    may have changed it), so the language is always sent."""
    language = ctx.flow.language
    if not language or ctx.channel.hung_up or (language == ctx.language and not entering):
        return
    try:
        await ctx.channel.set_variable("CHANNEL(language)", language)
        ctx.language = language
    except ChannelHungUp:
        pass
    except STEP_FAILURES as exc:  # Asterisk refused it: the flow goes on in the channel's language
        ctx.log.warning("could not set the channel's language to %r: %s", language, exc)


def _result(trace: list[StepRecord], caller_hung_up: bool) -> CallResult:
    last = trace[-1] if trace else None
    if last is not None and last.outcome == ERROR:
        return CallResult(FAILED, trace, last.details.get("error"))
    return CallResult(CALLER_HANGUP if caller_hung_up else COMPLETED, trace)


async def _run_step(step: Step, ctx: CallContext, seq: int) -> tuple[StepRecord, str | None]:
    """Run one step and apply its result: its CDR columns to the call, its
    details (with the sounds Asterisk could not play) to its trace entry.
    Returns the entry and the flow the call transfers to, if any."""
    ctx.step = step.name
    started = ctx.clock()
    failures_before = len(ctx.channel.sound_failures)
    result = await _result_of(step, ctx)
    ctx.recorded.update(result.record)
    details = dict(result.details)
    failed_sounds = ctx.channel.sound_failures[failures_before:]
    if failed_sounds:
        details["failed_sounds"] = list(failed_sounds)
    duration_ms = round((ctx.clock() - started) * 1000, 1)
    if ctx.debug:
        ctx.log.debug("step %s (%s) -> %s", step.name, step.type_name, result.outcome)
    record = StepRecord(seq, ctx.flow.name, step.name, step.type_name, result.outcome, started, duration_ms, details)
    return record, result.transfer


async def _result_of(step: Step, ctx: CallContext) -> StepResult:
    """The step's own result, or ``hangup`` / ``error`` when it was cut
    short (keeping what it had gathered, if it says)."""
    try:
        return await step.node.run(ctx)
    except StepInterrupted as cut:
        ended = _cut_short(step, ctx, cut.cause)
        return StepResult(ended.outcome, details={**cut.details, **ended.details}, record=cut.record)
    except STEP_FAILURES as exc:
        return _cut_short(step, ctx, exc)


def _cut_short(step: Step, ctx: CallContext, cause: Exception) -> StepResult:
    if isinstance(cause, ChannelHungUp):
        return StepResult(HANGUP)
    if not isinstance(cause, STEP_FAILURES):
        raise cause
    ctx.log.warning("step %s (%s) failed: %s", step.name, step.type_name, cause)
    return StepResult(ERROR, details={"error": str(cause)})
