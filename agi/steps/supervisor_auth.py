"""Who may act as a supervisor from a phone (``override``, ``supervise``):
a caller whose caller ID is in a number list and who keys that number's PIN.

The PIN is read with GET DATA and handed to ``ctx.services.supervisors``
(run through ``ctx.services.offload``: scrypt and SQLite never block other
calls); it is never put in the step's details, the CDR or the log. Each
check is audited by the store, which locks a number after too many wrong
PINs in a row. Everything fails closed: no list, no PIN store, a store that
cannot answer, all refuse.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from agi import phone
from agi.channel import ChannelHungUp
from agi.engine.context import CallContext
from agi.lists.numbers import normaliser
from agi.services import PIN_LOCKED, PIN_NONE, PIN_OK, SUPERVISOR_WAIT, OffloadTimeout, SupervisorsUnavailable
from agi.steps.base import Findings
from agi.steps.collect import SOUND
from agi.steps.list_check import LISTS_SCHEMA, check_lists, count_unusable, list_names

#: How long a PIN check may take before the caller is refused (the store
#: waits for a locked database a little less: SUPERVISOR_LOCK_WAIT).
CHECK_TIMEOUT = SUPERVISOR_WAIT
#: Options every supervisor step shares.
AUTH_OPTIONS: dict[str, Any] = {
    "list": LISTS_SCHEMA,
    "pin_prompt": SOUND,
    "wrong_pin": SOUND,
    "refused_prompt": SOUND,
    "attempts": {"type": "integer", "minimum": 1, "maximum": 5},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
}


@dataclass(frozen=True)
class Authorisation:
    """The caller ID lists, the PIN prompt and how many tries a call has."""

    pin_prompt: str
    lists: tuple[str, ...] = ("supervisors",)
    wrong_pin: str | None = None
    refused_prompt: str | None = None
    attempts: int = 3
    timeout: float = 6.0

    @classmethod
    def from_config(cls, config: Any) -> "Authorisation":
        options = {key: config[key] for key in ("wrong_pin", "refused_prompt", "attempts", "timeout") if key in config}
        return cls(config["pin_prompt"], list_names(config.get("list", "supervisors")), **options)

    def templates(self) -> list[tuple[str, str, bool]]:
        sounds = (("pin_prompt", self.pin_prompt), ("wrong_pin", self.wrong_pin),
                  ("refused_prompt", self.refused_prompt))
        return [(name, text, False) for name, text in sounds if text]

    def prompts(self) -> list[str]:
        return [sound for sound in (self.pin_prompt, self.wrong_pin, self.refused_prompt) if sound]


async def authorise(ctx: CallContext, auth: Authorisation, found: Findings) -> str | None:
    """The caller's number (E.164) once identified and their PIN checked;
    None when refused, with ``refused`` in ``found`` saying why (and the
    refusal prompt played). A caller already gone (the step reached from
    ``on: {hangup: ...}``) is neither let in nor refused: the step ends
    with ``hangup``."""
    if ctx.channel.hung_up:
        raise ChannelHungUp("the caller hung up before the supervisor step")
    number, why = await _listed_caller(ctx, auth)
    if number is not None:
        found.note(supervisor=number)
        number, why = await _check_pins(ctx, auth, found, number)
    if number is None:
        found.note(refused=why)
        if auth.refused_prompt:
            await ctx.channel.stream(ctx.render_text(auth.refused_prompt))
        return None
    found.record(supervisor=number)
    return number


async def _listed_caller(ctx: CallContext, auth: Authorisation) -> tuple[str | None, str]:
    raw = ctx.call.caller.strip()
    if phone.is_anonymous(raw):
        return None, "withheld caller ID"
    try:
        number = normaliser(ctx.services.default_region).number(raw)
    except ValueError:
        count_unusable(ctx.services, auth.lists)
        return None, f"caller ID {raw!r} is not a phone number"
    check = await check_lists(ctx.services.lists, auth.lists, number)
    if check.hit is not None:
        return number, ""
    if check.failed:
        return None, f"the supervisor list cannot be read ({'; '.join(check.errors)})"
    return None, "caller ID not in the supervisor list"


async def _check_pins(ctx: CallContext, auth: Authorisation, found: Findings,
                      number: str) -> tuple[str | None, str]:
    """Up to ``auth.attempts`` PINs; the number, or None and why not."""
    supervisors = ctx.services.supervisors
    if supervisors is None:
        return None, "supervisor PINs are not available here"
    found.note(pin_attempts=0)
    for attempt in range(1, auth.attempts + 1):
        keyed = await ctx.channel.get_data(ctx.render_text(auth.pin_prompt), int(auth.timeout * 1000), 12)
        found.note(pin_attempts=attempt)
        locked = False
        if not keyed.digits:
            result = "no_key"
        else:
            at = datetime.fromtimestamp(ctx.clock(), tz=timezone.utc)
            waiting = _Waiting()
            try:
                check = await ctx.services.offload(CHECK_TIMEOUT, supervisors.check_pin, number, keyed.digits, at,
                                                   ctx.call.id, waiting.wanted)
            except (SupervisorsUnavailable, OffloadTimeout) as exc:
                waiting.given_up = True
                ctx.log.warning("supervisor PIN of %s not checked: %s", number, exc)
                return None, f"the PIN cannot be checked ({exc})"
            if check.result == PIN_OK:
                return number, ""
            if check.result in (PIN_LOCKED, PIN_NONE):
                return None, "too many wrong PINs: locked" if check.result == PIN_LOCKED else "no PIN set"
            result = check.result
            locked = check.locked_until is not None  # that wrong PIN locked the number: none can pass now
        found.note(last_pin=result)
        if (attempt < auth.attempts or locked) and auth.wrong_pin:
            await ctx.channel.stream(ctx.render_text(auth.wrong_pin))
        if locked:
            return None, "too many wrong PINs: locked"
    return None, "wrong PIN"


class _Waiting:
    """Whether the step still waits for a PIN check running in a database
    thread: one that gets its number's row after the caller was refused
    changes nothing (no ``ok`` in the audit log, no wrong PIN counted)."""

    def __init__(self) -> None:
        self.given_up = False

    def wanted(self) -> bool:
        return not self.given_up
