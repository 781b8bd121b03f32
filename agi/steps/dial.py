"""``dial``: call a phone, an extension or a number through a trunk with
``Dial()`` and go on by ``DIALSTATUS``.

app_dial.c (Asterisk 22) blanks DIALSTATUS, ANSWEREDTIME and the other
DIAL variables when it starts and always sets DIALSTATUS when it ends, so no
stale value can be read. An answered call returns -1 once it ends (0 with
the ``g`` option when the called party hung up first); the caller may then
still be on the line, or gone if they hung up first.

After an answer, ``DIALEDPEERNAME`` is the channel that answered
(``PJSIP/100-0000002a``, ``Local/agent-ana@agents-0000000a;1``) and
``DIALEDPEERNUMBER`` what was dialled on that technology (``100``,
``agent-ana@agents/n``): together, the interface that answered, which the
step records as the agent.

With the ``d`` option a key the caller presses while it rings, if it is an
extension of ``EXITCONTEXT`` (else of the caller's context), ends Dial()
with ``DIALSTATUS=CANCEL``, as a caller's hangup does; but Dial() then
returns the key's code (``53`` for ``5``), the caller is still on the line
and Asterisk has moved the channel to that extension, where the dialplan
goes on after the flow (seen on Asterisk 22.11). The step records that as
``EXITWITHKEY``, the word the queue step uses for a key exit, so that it
is never taken for a caller who hung up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.call_guard import HIDDEN, RECORDS, app_kinds
from agi.channel import ChannelHungUp
from agi.engine.context import CallContext
from agi.engine.templates import is_template, written_text
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.steps.missed_calls import close_callbacks
from agi.steps.whisper import WHISPER_SCHEMA, Whisper, dial_option, plays_to_called
from agi.protocol import appargs
from agi.steps.dialplan_app import (KEY_EXIT, KEY_EXIT_STATUS, BadArgument, StatusOutcomes, join_arguments, read_hangup_cause, read_status,
                                    read_variable, render_argument, render_options, run_app, seconds,
                                    written_blank, written_options_problems)
from agi.yamlschema import TEXT, obj

#: DIALSTATUS values (Asterisk 22); each one, lower-cased, is an outcome.
DIAL_STATUSES = ("ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL", "DONTCALL",
                 "TORTURE", "INVALIDARGS")
DIALSTATUS = StatusOutcomes("DIALSTATUS", {status: status.lower() for status in DIAL_STATUSES}, kept="ANSWER")


@dataclass(frozen=True)
class DialNode(Node):
    type_name = "dial"
    summary = ("Dial() a destination with a timeout, options and caller ID. Outcomes: answer, busy, "
               "noanswer, cancel, congestion, chanunavail, dontcall, torture, invalidargs, exitwithkey.")
    schema = {"oneOf": [TEXT, obj({
        "destination": TEXT,
        "timeout": {"type": "integer", "minimum": 1, "maximum": 86400},
        "options": {"type": "string"},
        "callerid": {"oneOf": [TEXT, obj({"number": TEXT, "name": {"type": "string"}})]},
        "whisper": WHISPER_SCHEMA,
    }, ("destination",))]}

    destination: str
    timeout: int | None = None
    options: str = ""
    callerid_number: str | None = None
    callerid_name: str | None = None
    whisper: Whisper | None = None

    @classmethod
    def from_config(cls, config: Any) -> "DialNode":
        if isinstance(config, str):
            return cls(config)
        callerid = config.get("callerid")
        if isinstance(callerid, str):
            callerid = {"number": callerid}
        callerid = callerid or {}
        return cls(config["destination"], config.get("timeout"), config.get("options", ""),
                   callerid.get("number"), callerid.get("name"), Whisper.from_config(config.get("whisper")))

    def outcomes(self) -> tuple[str, ...]:
        return (*(status.lower() for status in DIAL_STATUSES), KEY_EXIT)

    def problems(self) -> list[tuple[str, str]]:
        found = written_blank("destination", self.destination, "destination") + written_options_problems(self.options)
        if self.whisper:
            found += self.whisper.problems()
            clash = None if is_template(self.options) else plays_to_called(self.options)
            found += [("whisper", clash)] if clash else []
        return found

    def dials(self) -> bool:
        return True

    def records(self) -> bool:
        """Options ``x``, ``X``, ``w`` or ``W`` let a party record the call with a key."""
        return RECORDS in app_kinds("Dial", f"{written_text(self.destination)},,{written_text(self.options)}")

    def runs_hidden_code(self) -> bool:
        """Options such as ``U(sub)`` or ``b(ctx^s^1)`` run dialplan on a
        channel, as does a ``Local/`` destination and a whisper of several
        prompts (``U(agiflow-whisper^...)``)."""
        return HIDDEN in app_kinds("Dial", f"{written_text(self.destination)},,{written_text(self.options)}") or \
            bool(self.whisper and self.whisper.may_play_several())

    def templates(self) -> list[tuple[str, str, bool]]:
        texts = (("destination", self.destination), ("options", self.options),
                 ("callerid.number", self.callerid_number), ("callerid.name", self.callerid_name))
        return [(option, text, False) for option, text in texts if text] + \
            (self.whisper.templates() if self.whisper else [])

    def prompts(self) -> list[str]:
        return self.whisper.prompts() if self.whisper else []

    async def run(self, ctx: CallContext) -> StepResult:
        destination = render_argument(ctx, "destination", self.destination, refused="&").strip()
        if not destination:
            raise BadArgument("the destination is empty")
        whispers = self.whisper.sounds(ctx) if self.whisper else []
        letters = render_options(ctx, "options", self.options)
        options = join_arguments([appargs.escape(destination), "" if self.timeout is None else str(self.timeout),
                                  letters + dial_option(whispers, letters)])
        callers_own = await self._set_callerid(ctx)
        try:
            answered_before = await ctx.channel.is_up()
            ran = await run_app(ctx, "Dial", options)
        finally:
            await _put_back_callerid(ctx, callers_own)
        status = await read_status(ctx, DIALSTATUS.variable)
        answered: dict[str, Any] = {}
        put_through = False
        if status == "ANSWER":
            answered_time = seconds(await read_variable(ctx, "ANSWEREDTIME"))
            # Set as the bridge ends: none when either side hung up during an A() whisper.
            put_through = answered_time is not None
            talk = talk_time(answered_time, ran.seconds, answered_before)
            answered = {"talk_time": talk}
            agent = await answering_interface(ctx)
            answered.update({"agent": agent, "agent_interface": agent} if agent else {})
            answered.update(await read_hangup_cause(ctx))
        if status in RANG and not (status == "ANSWER" and answered["talk_time"] is None):
            answered["ring_time"] = round(ran.seconds - (answered.get("talk_time") or 0.0), 3)
        outcome, error = DIALSTATUS.outcome(status, ran, f"Dial({destination})")
        recorded_status = status or None
        if left_with_key(status, ran.result, ran.hung_up or ctx.channel.hung_up):
            outcome, recorded_status = KEY_EXIT, KEY_EXIT_STATUS
        closed = close_callbacks(ctx, answered["talk_time"]) if put_through else {}
        return done(outcome, record={"dialled": destination, "dial_status": recorded_status, **answered},
                    destination=destination, result=ran.result, status=status,
                    **{"talk_time": None, **answered}, **closed, **error,
                    **({"whisper": whispers} if self.whisper else {}))

    async def _set_callerid(self, ctx: CallContext) -> dict[str, str]:
        """CALLERID(num) / CALLERID(name) for the call Dial() places; what
        the caller's channel held before, to put back once Dial() returns
        (up to its first line break: the CDR's caller name reads so too)."""
        presented = {field: ctx.render_text(value) for field, value in
                     (("num", self.callerid_number), ("name", self.callerid_name)) if value is not None}
        callers_own = {}
        try:
            for field, value in presented.items():  # rendered first: a template that fails changes nothing
                own = await ctx.channel.get_variable(f"CALLERID({field})") or ""
                callers_own[field] = own.split("\n", 1)[0].removesuffix("\r")  # no AGI command carries a line break
                await ctx.channel.set_variable(f"CALLERID({field})", value)
        except BaseException:
            await _put_back_callerid(ctx, callers_own)
            raise
        return callers_own


async def _put_back_callerid(ctx: CallContext, callers_own: dict[str, str]) -> None:
    """The caller's own caller ID again: CALLERID() is the caller's channel's,
    and a queue or dial later in the call, or the dialplan after the flow,
    would present the step's as the caller's. SET VARIABLE also works on a
    dead channel; a connection that is gone is left alone."""
    try:
        for field, value in callers_own.items():
            await ctx.channel.set_variable(f"CALLERID({field})", value)
    except ChannelHungUp:
        return


async def answering_interface(ctx: CallContext) -> str | None:
    """The interface that answered: DIALEDPEERNAME's technology and
    DIALEDPEERNUMBER (``Local`` + ``agent-ana@agents/n``), None if unknown."""
    channel = await read_variable(ctx, "DIALEDPEERNAME")
    number = await read_variable(ctx, "DIALEDPEERNUMBER") if channel else None
    if not channel or not number or "/" not in channel:
        return None
    return f"{channel.split('/', 1)[0]}/{number}"



def left_with_key(status: str, result: int, hung_up: bool) -> bool:
    """A CANCEL of a caller who pressed a key of the ``d`` option: Dial()
    returned the key's code and the caller is still on the line. A caller
    who hangs up while it rings makes Dial() return -1."""
    return status == "CANCEL" and result > 0 and not hung_up


#: The statuses of a Dial() whose target rang: the caller waited for it.
RANG = ("ANSWER", "NOANSWER", "CANCEL")


def talk_time(answered_time: float | None, dial_seconds: float, answered_before: bool = False) -> float | None:
    """The talk time of an answered Dial(), or None when Asterisk does not
    tell it. Asterisk 22's ``ANSWEREDTIME`` is the time since the caller's
    *own* channel was answered (app_dial.c, end_bridge_callback): the talk
    time only when Dial() itself answered the caller as the target
    answered. A channel already up when Dial() started (``answered_before``:
    by the flow, the dialplan before it or an application such as Playback)
    makes it count the IVR, the ringing and a whisper too. Then the talk time
    is unknown (checked on a real Asterisk 22)."""
    if answered_time is None or answered_before or answered_time > dial_seconds + 1:
        return None
    return min(answered_time, dial_seconds)
