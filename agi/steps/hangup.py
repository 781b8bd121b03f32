"""``hangup``: hang up the call, optionally with a Q.850 cause code."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.channel import CallerGone, ChannelHungUp
from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Findings, Node
from agi.yamlschema import obj


@dataclass(frozen=True)
class HangupNode(Node):
    type_name = "hangup"
    summary = "Hang up, optionally with a cause code (16 normal, 17 busy, 21 rejected). Ends the flow."
    schema = {"oneOf": [{"type": "null"}, {"const": True},
                        obj({"cause": {"type": "integer", "minimum": 1, "maximum": 127}})]}

    cause: int | None = None

    @classmethod
    def from_config(cls, config: Any) -> "HangupNode":
        return cls(config.get("cause") if isinstance(config, dict) else None)

    def outcomes(self) -> tuple[str, ...]:
        return ()

    def ends_flow(self) -> bool:
        return True

    async def run(self, ctx: CallContext) -> StepResult:
        if ctx.channel.hung_up:
            # The caller is gone (a hangup step after on: {hangup: ...}, or a
            # HANGUP line read since the last step): nothing is left to hang
            # up, and the call keeps the caller's hangup and cause.
            raise ChannelHungUp("the caller hung up before the flow did")
        if ctx.channel.connection_lost:
            # Asterisk can hear no Hangup any more (the server's drain
            # timeout, agiflow-agi stopped, an Asterisk restart): nothing is
            # hung up, and no cause is the call's.
            raise ChannelHungUp("the connection to Asterisk closed before the flow hung up")
        found = Findings()
        ctx.channel.hung_up_by_flow = True
        with found.kept():
            if self.cause is None:
                # HANGUP answers 200 on a live channel; 511 (raised as
                # ChannelHungUp) says the caller had hung up already.
                await ctx.channel.hangup()
            else:
                found.note(cause=self.cause)
                try:
                    await ctx.channel.exec_app("Hangup", str(self.cause), hangs_up=True)
                except CallerGone:
                    # A HANGUP line before Hangup's answer: the caller left
                    # first, and the call keeps their hangup and cause.
                    ctx.channel.hung_up_by_flow = False
                    raise
                except ChannelHungUp:
                    pass  # the hangup we asked for, seen as the channel going away
                found.record(hangup_cause=str(self.cause))
        return found.result("done")
