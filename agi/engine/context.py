"""Everything a step sees of the call it runs on."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from agi.channel import Channel
from agi.engine import templates
from agi.engine.model import Flow
from agi.services import CallHistorySummary, Services

#: ``history`` before any history step ran: no earlier calls known.
NO_HISTORY: Mapping[str, Any] = CallHistorySummary().as_names()


@dataclass(frozen=True)
class CallInfo:
    """Who is calling, what they dialled and how the call reached us."""

    id: str
    caller: str = ""
    caller_name: str = ""
    called: str = ""
    channel: str = ""
    language: str = ""
    context: str = ""
    extension: str = ""
    args: tuple[str, ...] = ()
    params: Mapping[str, str] = field(default_factory=dict)

    def as_names(self) -> dict[str, Any]:
        return {
            "id": self.id, "caller": self.caller, "caller_name": self.caller_name,
            "called": self.called, "channel": self.channel, "language": self.language,
            "context": self.context, "extension": self.extension, "args": list(self.args),
        }


class CallContext:
    """The running call: channel, call data, variables, CDR fields, clock.

    ``clock`` returns seconds since the epoch; it is injected so that
    schedules and durations are tested exactly.
    """

    def __init__(self, channel: Channel, call: CallInfo, flow: Flow, clock: Callable[[], float],
                 log: logging.LoggerAdapter[logging.Logger] | None = None, services: Services | None = None,
                 started_at: float | None = None) -> None:
        self.channel = channel
        self.call = call
        self.flow = flow
        #: The flow the call started in (its CDR's ``flow``), whichever one a goto reached since.
        self.started_flow = flow
        self.clock = clock
        #: When the call arrived: the session's start, its CDR's ``started_at``
        #: (by default now: the context is made as the call starts).
        self.started_at = clock() if started_at is None else started_at
        self.log = log or logging.LoggerAdapter(logging.getLogger("agiflow.call"), {})
        #: Whether DEBUG lines (a line per step) are logged, asked once per call.
        self.debug = self.log.isEnabledFor(logging.DEBUG)
        self.services = services or Services()
        self.vars: dict[str, Any] = {}
        self.cdr: dict[str, Any] = {}
        #: Built-in CDR columns the steps' results set so far (the interpreter applies them).
        self.recorded: dict[str, Any] = {}
        #: What the last ``history`` step found of the caller's earlier calls.
        self.history: dict[str, Any] = dict(NO_HISTORY)
        #: The step running now, and "step:outcome" of every step before it.
        self.step = ""
        self.path: list[str] = []
        self.language = call.language

    def now(self) -> datetime:
        """The current time in the flow's timezone."""
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc).astimezone(ZoneInfo(self.flow.timezone))

    def names(self) -> dict[str, Any]:
        """What templates and conditions can read."""
        return {name: read(self) for name, read in _NAMES.items()}

    def name(self, name: str) -> Any:
        """One of ``names()``; KeyError for any other."""
        return _NAMES[name](self)

    def render(self, value: Any, insert: Callable[[str], str] | None = None) -> Any:
        """``value`` rendered; ``insert`` takes each inserted value (see
        ``templates.render``)."""
        if not templates.is_template(value):
            return value  # plain text: no need to gather the names
        parts = templates.references(value)
        text = None if parts is None else templates.fill(parts, self.name, insert)
        return text if text is not None else templates.render(value, self.names(), insert)

    def render_text(self, value: Any, insert: Callable[[str], str] | None = None) -> str:
        rendered = self.render(value, insert)
        return "" if rendered is None else str(rendered)

    def evaluate(self, condition: str) -> bool:
        return templates.evaluate(condition, self.names())


#: The names templates and conditions read, each from the running call.
_NAMES: dict[str, Callable[[CallContext], Any]] = {
    "call": lambda ctx: ctx.call.as_names(),
    "vars": lambda ctx: dict(ctx.vars),
    "params": lambda ctx: {**ctx.flow.params, **ctx.call.params},
    "args": lambda ctx: list(ctx.call.args),
    "cdr": lambda ctx: dict(ctx.cdr),
    "now": lambda ctx: ctx.now(),
    "flow": lambda ctx: {"name": ctx.flow.name},
    "history": lambda ctx: dict(ctx.history),
}


def sample_names(flow: Flow, variables: Iterable[str] = (), cdr_fields: Iterable[str] = ()) -> dict[str, Any]:
    """The names templates read, as a call of ``flow`` would give them with
    ``variables`` and ``cdr_fields`` set (to empty text): what the validator
    checks templates against, with the same keys as ``CallContext.names()``."""
    return {
        "call": CallInfo(id="").as_names(),
        "vars": dict.fromkeys(variables, ""),
        "params": dict(flow.params),
        "args": [],
        "cdr": dict.fromkeys(cdr_fields, ""),
        "now": datetime.fromtimestamp(0, tz=ZoneInfo(flow.timezone)),
        "flow": {"name": flow.name},
        "history": dict(NO_HISTORY),
    }
