"""What ``queue`` and ``dial`` do about callbacks: a caller who leaves a
queue unanswered may get a callback request made by itself (the queue's
``callback`` option, no keypad), and a caller who reaches an agent has
their pending requests closed. Both go through ``ctx.services.callbacks``,
which never blocks the call."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi import phone
from agi.engine.context import CallContext
from agi.lists.numbers import normaliser
from agi.services import MISSED
from agi.steps.base import Findings
from agi.vocabulary import iso
from agi.yamlschema import TEXT, obj

#: How a caller may leave a queue unanswered: ``abandoned`` (hung up while
#: waiting) and the QUEUESTATUS values, lower-cased.
EXITS = ("abandoned", "timeout", "full", "joinempty", "joinunavail", "leaveempty", "leaveunavail", "withdraw")
DEFAULT_EXITS = ("abandoned", "timeout")
#: ``callback: true`` or ``callback: {when: [...], queue: ..., reason: ...}``.
CALLBACK_SCHEMA = {"oneOf": [{"const": True}, obj({
    "when": {"type": "array", "items": {"enum": list(EXITS)}, "minItems": 1, "uniqueItems": True},
    "queue": TEXT,
    "reason": TEXT,
})]}


@dataclass(frozen=True)
class MissedCallback:
    """The queue's ``callback`` option: on which exits, for which queue
    (default the queue itself) and with which reason (default the exit)."""

    when: tuple[str, ...] = DEFAULT_EXITS
    queue: str | None = None
    reason: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "MissedCallback | None":
        if config is None or config is False:
            return None
        if config is True:
            return cls()
        return cls(tuple(config.get("when", DEFAULT_EXITS)), config.get("queue"), config.get("reason"))

    def templates(self) -> list[tuple[str, str, bool]]:
        return [(f"callback.{name}", text, False) for name, text in (("queue", self.queue), ("reason", self.reason))
                if text]


def caller_number(ctx: CallContext) -> tuple[str | None, str]:
    """The caller ID in E.164, or None and why not."""
    raw = ctx.call.caller.strip()
    if phone.is_anonymous(raw):
        return None, "withheld caller ID"
    try:
        return normaliser(ctx.services.default_region).number(raw), ""
    except ValueError:
        return None, f"caller ID {raw!r} is not a phone number"


def store_missed(ctx: CallContext, found: Findings, option: MissedCallback, queue: str, exit: str) -> None:
    """A callback request for the caller who left ``queue`` by ``exit``,
    unless their number already has a pending one (the store decides)."""
    callbacks = ctx.services.callbacks
    number, why_not = caller_number(ctx)
    if callbacks is None or number is None:
        found.note(callback_skipped=why_not or "callback requests are not available here")
        return
    wanted_queue = ctx.render_text(option.queue) if option.queue else queue
    reason = ctx.render_text(option.reason) if option.reason else exit
    callbacks.missed({"requested_at": iso(ctx.clock()), "arrived_at": iso(ctx.started_at), "call_id": ctx.call.id,
                      "flow": ctx.started_flow.name, "caller": ctx.call.caller, "number": number,
                      "raw_number": ctx.call.caller, "queue": wanted_queue or None, "reason": reason or None,
                      "source": MISSED})
    found.record(callback=number)
    found.note(callback=number, callback_reason=reason or None)


def close_callbacks(ctx: CallContext, talk_time: float | None) -> dict[str, Any]:
    """The caller reached an agent, ``talk_time`` seconds ago (the queue's
    or dial's talk, None when unknown): their pending requests are closed,
    done when the agent answered (it ends the time to callback). The
    step's details: the number they were closed for, if any."""
    callbacks = ctx.services.callbacks
    number, _ = caller_number(ctx)
    if callbacks is None or number is None:
        return {}
    callbacks.reached(number, ctx.call.id, iso(ctx.clock() - (talk_time or 0.0)) or "")
    return {"callbacks_closed_for": number}
