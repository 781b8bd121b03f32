"""What ``queue``, ``dial`` and ``voicemail`` share: building an
application's argument string, running it while watching for a hangup, and
reading the status variables it leaves, which Asterisk still answers after
the caller hung up (GET VARIABLE works on a dead channel), and turning a
status into the step's outcome."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from agi.channel import ChannelHungUp
from agi.engine.context import CallContext
from agi.engine.templates import RenderError, is_template
from agi.protocol import appargs

HANGUP = "hangup"
ERROR = "error"


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


def inserted(name: str, refused: str = "", in_file_name: bool = False) -> Callable[[str], str]:
    """The check of each value a template inserts into ``name``: refused
    (BadArgument) when ``appargs.inserted_problem`` says so, else kept.
    ``in_file_name``: the value may name a file (an application that
    records), so it may hold no ``/`` and not start with ``.``: it would
    put the file outside the folder the flow wrote."""
    def check(value: str) -> str:
        problem = appargs.inserted_problem(value, refused + ("/" if in_file_name else ""))
        if problem is None and in_file_name and value.startswith("."):
            problem = "starts with '.', which may name a file outside the recording's folder"
        if problem:
            raise BadArgument(f"{name}: the inserted value {value!r} {problem}")
        return value
    return check


def render_argument(ctx: CallContext, name: str, text: str, refused: str = "", in_file_name: bool = False) -> str:
    """``text`` rendered as one application argument, not yet escaped: a
    line break or NUL anywhere, or a refused inserted value, raises
    BadArgument. Send it through ``appargs.escape``."""
    rendered = ctx.render_text(text, inserted(name, refused, in_file_name))
    problem = appargs.line_problem(rendered)
    if problem:
        raise BadArgument(f"{name} {rendered!r} {problem}")
    return rendered


def render_options(ctx: CallContext, name: str, text: str) -> str:
    """Option letters (``t``, ``U(sub^arg)``) rendered: the written text is
    the flow's own syntax; an inserted value may not hold any character
    Asterisk's parsers read. The result may hold no comma, line break or
    NUL, and its brackets and quotes must pair up."""
    rendered = ctx.render_text(text, inserted(name, "".join(sorted(appargs.SYNTAX))))
    problem = options_problem(rendered)
    if problem:
        raise BadArgument(f"{name} {rendered!r} {problem}")
    return rendered


def options_problem(text: str) -> str | None:
    """Why option letters cannot be sent as one argument, or None: a comma
    (it would start the next argument), a line break or NUL, or a bracket or
    quote left open (it would swallow the arguments after it)."""
    problem = appargs.line_problem(text) or ("contains a comma" if "," in text else None)
    if problem is None and not appargs.balanced(text):
        problem = "has an unpaired bracket or quote"
    return problem


def written_options_problems(options: str) -> list[tuple[str, str]]:
    """``problems()`` of a step's ``options`` when they hold no template:
    what would fail on every call fails validation instead."""
    problem = None if is_template(options) else options_problem(options)
    return [("options", f"{options!r} {problem}")] if problem else []


def written_blank(option: str, text: str, what: str) -> list[tuple[str, str]]:
    """``problems()`` of a required argument written, without a template,
    as only spaces: the step would end with error on every call."""
    return [] if is_template(text) or text.strip() else [(option, f"the {what} is empty")]


def join_arguments(values: Sequence[str]) -> str:
    """Arguments already in their written form (escaped, or option
    letters), comma-separated; trailing empty ones left out."""
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


async def read_hangup_cause(ctx: CallContext) -> dict[str, str]:
    """``{"hangup_cause": "16"}``: the channel's HANGUPCAUSE as a CDR
    column, ready for ``record``; empty while it has none or when the
    connection to Asterisk is gone."""
    try:
        cause = await ctx.channel.hangup_cause()
    except ChannelHungUp:
        return {}
    return {"hangup_cause": cause} if cause else {}


async def read_status(ctx: CallContext, name: str) -> str:
    """A status variable in capitals; "" when unset or unreadable."""
    return (await read_variable(ctx, name) or "").upper()


#: The CDR's queue_status or dial_status, and the step's outcome, of a
#: caller who left a Queue() or a ringing Dial() with a key, for which
#: Asterisk sets no QUEUESTATUS (queue_log says EXITWITHKEY) or DIALSTATUS=CANCEL.
KEY_EXIT_STATUS = "EXITWITHKEY"
KEY_EXIT = KEY_EXIT_STATUS.lower()


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
    except (ValueError, OverflowError):  # not a number, or one too large for a float
        return None
