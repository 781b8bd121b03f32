"""What ``queue``, ``dial`` and ``voicemail`` share: building an
application's argument string, running it while watching for a hangup, and
reading the status variables it leaves, which Asterisk still answers after
the caller hung up (GET VARIABLE works on a dead channel), and turning a
status into the step's outcome."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from agi.channel import ChannelHungUp
from agi.engine.context import CallContext
from agi.engine.templates import RenderError

HANGUP = "hangup"
ERROR = "error"
#: Characters that would split or end an application argument.
_ARGUMENT_BREAKERS = re.compile(r"[,\r\n\x00]")


class BadArgument(RenderError):
    """A rendered option would break the application's argument string
    (the step ends with ``error``, like any template that fails)."""


@dataclass(frozen=True)
class AppRun:
    """An application that ran: its result, whether the caller is gone
    afterwards, and how long it took by the call's clock."""

    result: int
    hung_up: bool
    seconds: float


def argument(name: str, value: str) -> str:
    """``value`` as one application argument; refuses commas and line breaks."""
    if _ARGUMENT_BREAKERS.search(value):
        raise BadArgument(f"{name} {value!r} contains a comma or a line break")
    return value


def join_arguments(values: Sequence[str]) -> str:
    """Comma-separated arguments, trailing empty ones left out."""
    items = list(values)
    while items and items[-1] == "":
        items.pop()
    return ",".join(items)


async def clear_variables(ctx: CallContext, names: Sequence[str]) -> None:
    """Blank variables an earlier run may have left, so that a stale value is
    never read as this run's (SET VARIABLE to "" reads back as unset)."""
    for name in names:
        await ctx.channel.set_variable(name, "")


async def run_app(ctx: CallContext, app: str, options: str) -> AppRun:
    """EXEC ``app``; a hangup during it is reported, not raised, so the
    caller can still read the variables the application set.

    Raises ChannelHungUp without sending anything when the caller is
    already gone, and AgiCommandError when Asterisk has no such application.
    """
    if ctx.channel.hung_up:
        raise ChannelHungUp(f"{app} not started: the caller hung up")
    started = ctx.clock()
    hung_up: bool
    try:
        result = await ctx.channel.exec_app(app, options)
        hung_up = ctx.channel.hung_up
    except ChannelHungUp:
        result, hung_up = -1, True
    return AppRun(result, hung_up, round(ctx.clock() - started, 3))


async def read_variable(ctx: CallContext, name: str) -> str | None:
    """A channel variable, None when unset, empty or unreadable (the
    connection to Asterisk is gone)."""
    try:
        value = await ctx.channel.get_variable(name)
    except ChannelHungUp:
        return None
    return value or None


async def read_status(ctx: CallContext, name: str) -> str:
    """A status variable in capitals; "" when unset or unreadable."""
    return (await read_variable(ctx, name) or "").upper()


@dataclass(frozen=True)
class StatusOutcomes:
    """A status variable an application sets when it ends (DIALSTATUS,
    VMSTATUS) and the step outcome of each value it may take."""

    variable: str
    outcomes: Mapping[str, str]
    #: The status that stands even when the caller is gone afterwards (the
    #: call was answered, the message saved); any other gives ``hangup`` then.
    kept: str

    def outcome(self, status: str, ran: AppRun, call: str) -> tuple[str, dict[str, Any]]:
        """The outcome of ``status`` after ``ran``, and the details of an
        ``error`` for a status agiflow does not know (``call`` names the
        application and its first argument, as in ``Dial(PJSIP/100)``)."""
        if status == self.kept:
            return self.outcomes[status], {}
        if ran.hung_up:
            return HANGUP, {}
        if status not in self.outcomes:
            return ERROR, {"error": f"{call} ended with {self.variable}={status or '(none)'}"}
        return self.outcomes[status], {}


def seconds(value: str | None) -> float | None:
    """A whole-seconds variable (QEHOLDTIME, ANSWEREDTIME) as a number."""
    if value is None:
        return None
    try:
        return float(int(value.strip()))
    except ValueError:
        return None
