"""Steps talk to the interpreter only through what they return.

The interpreter runs any object with a ``type_name`` and ``run(ctx) ->
StepResult`` (the engine's StepNode), not only the step types of
agi.steps: these tests drive it with small stand-ins, over the simulated
Asterisk, and check that it applies the outcome, the transfer, the details
and the CDR columns a step returns, and keeps what a step had gathered when
a hangup cuts it short.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

import pytest

from agi.channel import Channel
from agi.engine.context import CallContext, CallInfo
from agi.engine.interpreter import CALLER_HANGUP, COMPLETED, CallResult, run_call
from agi.engine.model import Flow, FlowSet, Step
from agi.engine.step import StepInterrupted, StepResult
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, make_environment
from agi.sim.transport import SimTransport, run_sync
from agi.steps.base import Findings, done

Run = Callable[[CallContext], Awaitable[StepResult]]


@dataclass(frozen=True)
class Stub:
    """A step node that is no Node: a type name and a ``run``."""

    behaviour: Run
    type_name: str = "stub"

    async def run(self, ctx: CallContext) -> StepResult:
        return await self.behaviour(ctx)


@dataclass
class Call:
    flows: FlowSet
    script: CallerScript = field(default_factory=CallerScript)
    sim: SimulatedAsterisk = field(init=False)
    ctx: CallContext = field(init=False)

    def run(self, start: str = "main") -> CallResult:
        self.sim = SimulatedAsterisk(make_environment(start), self.script)
        flow = self.flows.get(start)
        assert flow is not None
        self.ctx = CallContext(Channel(SimTransport(self.sim)), CallInfo("1741597200.42"), flow, lambda: 1.7e9)
        return run_sync(run_call(self.flows, self.ctx))


def flow(name: str, steps: dict[str, tuple[Run, dict[str, str]]]) -> Flow:
    built = {step: Step(step, Stub(run), transitions) for step, (run, transitions) in steps.items()}
    return Flow(name, next(iter(steps)), built)


def returning(result: StepResult) -> Run:
    async def run(ctx: CallContext) -> StepResult:
        return result
    return run


def test_the_returned_outcome_picks_the_transition_and_the_details_reach_the_trace() -> None:
    main = flow("main", {"first": (returning(done("two", heard="welcome")), {"two": "second"}),
                         "second": (returning(done("next")), {})})
    result = Call(FlowSet({"main": main})).run()
    assert result.path() == "first:two > second:next"
    assert result.trace[0].details == {"heard": "welcome"} and result.trace[1].details == {}
    assert result.status == COMPLETED


def test_the_returned_cdr_columns_are_applied_to_the_call() -> None:
    main = flow("main", {"tag": (returning(done("next", record={"vip": 1, "priority": 10})), {})})
    call = Call(FlowSet({"main": main}))
    call.run()
    assert call.ctx.recorded == {"vip": 1, "priority": 10}


def test_a_returned_transfer_continues_the_call_at_the_other_flows_start() -> None:
    main = flow("main", {"away": (returning(StepResult("transfer", transfer="other")), {"transfer": "never"}),
                         "never": (returning(done("next")), {})})
    other = flow("other", {"start": (returning(done("next")), {})})
    result = Call(FlowSet({"main": main, "other": other})).run()
    assert [(r.flow, r.step, r.outcome) for r in result.trace] == [("main", "away", "transfer"),
                                                                    ("other", "start", "next")]


def test_a_call_that_transfers_too_often_or_to_no_flow_says_which_in_its_error() -> None:
    ring = flow("ring", {"away": (returning(StepResult("transfer", transfer="ring")), {})})
    result = Call(FlowSet({"ring": ring})).run("ring")
    assert (result.status, len(result.trace)) == ("error", 11)
    assert result.error == "more than 10 transfers in one call (the last to flow 'ring'): the flows transfer in a ring"
    gone = flow("main", {"away": (returning(StepResult("transfer", transfer="gone")), {})})
    assert Call(FlowSet({"main": gone})).run().error == "transfer to unknown flow 'gone'"


def test_a_result_with_a_column_that_is_not_a_cdr_column_is_refused() -> None:
    with pytest.raises(ValueError, match="not CDR columns steps may set: colour"):
        StepResult("next", record={"colour": "blue", "vip": 1})
    with pytest.raises(ValueError, match="colour"):
        Findings().record(colour="blue")


def test_a_hangup_that_cuts_a_step_short_keeps_what_it_had_gathered() -> None:
    async def asks(ctx: CallContext) -> StepResult:
        found = Findings()
        found.record(consent="no_answer")
        with found.kept():
            found.note(asked=1)
            await ctx.channel.stream("agiflow/question")
            found.note(asked=2)
        return found.result("next")

    main = flow("main", {"ask": (asks, {})})
    call = Call(FlowSet({"main": main}), CallerScript(hangup_during=1))
    result = call.run()
    assert result.path() == "ask:hangup" and result.status == CALLER_HANGUP
    assert result.trace[0].details == {"asked": 1}
    assert call.ctx.recorded == {"consent": "no_answer"}


def test_a_failure_that_cuts_a_step_short_keeps_what_it_had_gathered_and_the_error() -> None:
    async def fails(ctx: CallContext) -> StepResult:
        found = Findings()
        with found.kept():
            found.note(entries=["1"])
            found.record(queue="sales")
            ctx.render_text("{{ vars.MISSING }}")
        return found.result("next")

    call = Call(FlowSet({"main": flow("main", {"broken": (fails, {})})}))
    result = call.run()
    assert result.path() == "broken:error"
    assert result.trace[0].details["entries"] == ["1"] and "MISSING" in result.trace[0].details["error"]
    assert call.ctx.recorded == {"queue": "sales"}


def test_an_interruption_for_anything_but_a_hangup_or_a_failure_is_a_defect_that_escapes() -> None:
    async def buggy(ctx: CallContext) -> StepResult:
        raise StepInterrupted(ZeroDivisionError("a bug"), {}, {})

    with pytest.raises(ZeroDivisionError):
        Call(FlowSet({"main": flow("main", {"buggy": (buggy, {})})})).run()


def test_each_step_lists_only_the_sounds_that_failed_during_it() -> None:
    def plays(*sounds: str) -> Run:
        async def run(ctx: CallContext) -> StepResult:
            for sound in sounds:
                await ctx.channel.stream(sound)
            return done("next")
        return run

    main = flow("main", {"one": (plays("no-such-a", "beep"), {"next": "two"}),
                         "two": (plays("beep"), {"next": "three"}),
                         "three": (plays("no-such-b"), {})})
    result = Call(FlowSet({"main": main})).run()
    assert [r.details.get("failed_sounds") for r in result.trace] == [["no-such-a"], None, ["no-such-b"]]


def test_play_says_whether_the_sound_failed_so_a_step_needs_no_side_channel() -> None:
    sim = SimulatedAsterisk(make_environment("main"), CallerScript(dtmf=["2"]))
    channel = Channel(SimTransport(sim))
    missing = run_sync(channel.play("no-such-prompt"))
    assert missing.failed and missing.key is None
    heard = run_sync(channel.play("beep", "123"))
    assert not heard.failed and heard.key == "2"

