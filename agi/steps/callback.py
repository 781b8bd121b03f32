"""``callback``: a caller leaves a callback request for the dialer.

The step offers the callback (optional), says the caller's number back and
asks for a key to confirm it or to enter another one, then hands the
request to ``ctx.services.callbacks``. A withheld caller ID goes straight
to entering a number. Numbers are stored in E.164.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from agi import phone
from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Findings, Node, done
from agi.steps.collect import INVALID, SOUND, TIMEOUT, RetryPolicy, collect
from agi.services import KEYPAD, CallbackRequests
from agi.yamlschema import COUNT, DIGITS_TEXT, ONE_KEY, SECONDS, TEXT, digits_text, dtmf, obj
from agi.vocabulary import iso

REQUESTED = "requested"
DECLINED = "declined"
_CONFIRMED = "confirmed"
_CHANGE = "change"
_ENTERED = "entered"
_DIGITS = {"type": "integer", "minimum": 1, "maximum": 20}


@dataclass(frozen=True)
class CallbackNode(Node):
    type_name = "callback"
    summary = ("Take a callback request: offer it, say the number back, confirm it by key or "
               "enter another, store it for the dialer. Outcomes: requested, declined, invalid.")
    schema = obj({
        "offer": SOUND, "number_is": SOUND, "confirm": SOUND, "enter": SOUND, "thanks": SOUND,
        "invalid_prompt": SOUND,
        "accept_key": ONE_KEY, "decline_key": ONE_KEY, "confirm_key": ONE_KEY, "change_key": ONE_KEY,
        "min_digits": _DIGITS, "max_digits": _DIGITS,
        "retries": COUNT, "timeout": SECONDS,
        "number": TEXT, "queue": DIGITS_TEXT, "reason": TEXT,
    }, ("confirm", "enter"))

    confirm: str
    enter: str
    policy: RetryPolicy
    offer: str | None = None
    number_is: str | None = None
    thanks: str | None = None
    accept_key: str = "1"
    decline_key: str = "2"
    confirm_key: str = "1"
    change_key: str = "2"
    min_digits: int = 6
    max_digits: int = 15
    number: str = "{{ call.caller }}"
    queue: str | None = None
    reason: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "CallbackNode":
        retries = config.get("retries", 2)
        policy = RetryPolicy(float(config.get("timeout", 5)), retries, None, retries, config.get("invalid_prompt"))
        keys: dict[str, Any] = {name: dtmf(config[name]) for name in ("accept_key", "decline_key", "confirm_key", "change_key")
                if name in config}
        options = {name: config[name] for name in ("offer", "number_is", "thanks", "min_digits", "max_digits",
                                                    "number", "queue", "reason") if name in config}
        if "queue" in options:
            options["queue"] = digits_text(options["queue"])
        if "min_digits" not in options and isinstance(options.get("max_digits"), int):
            options["min_digits"] = min(cls.min_digits, options["max_digits"])  # a shorter max is its own min
        if "max_digits" not in options and isinstance(options.get("min_digits"), int):
            options["max_digits"] = max(cls.max_digits, options["min_digits"])  # a longer min is its own max
        return cls(confirm=config["confirm"], enter=config["enter"], policy=policy, **keys, **options)

    def outcomes(self) -> tuple[str, ...]:
        return (REQUESTED, DECLINED, INVALID)

    def templates(self) -> list[tuple[str, str, bool]]:
        options = (("offer", self.offer), ("number_is", self.number_is), ("confirm", self.confirm),
                   ("enter", self.enter), ("thanks", self.thanks), ("number", self.number),
                   ("queue", self.queue), ("reason", self.reason))
        return [(name, text, False) for name, text in options if text] + self.policy.templates()

    def prompts(self) -> list[str]:
        sounds = (self.offer, self.number_is, self.confirm, self.enter, self.thanks)
        return [sound for sound in sounds if sound] + self.policy.prompts()

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.min_digits > self.max_digits:
            found.append(("min_digits", f"min_digits {self.min_digits} is more than max_digits {self.max_digits}"))
        if self.offer and self.accept_key == self.decline_key:
            found.append(("decline_key", f"accept_key and decline_key are both '{self.accept_key}'"))
        if self.confirm_key == self.change_key:
            found.append(("change_key", f"confirm_key and change_key are both '{self.confirm_key}'"))
        return found

    def dials(self) -> bool:
        """A request is dialled later (``agiflow callbacks dial``): the
        validator keeps the step away from a do-not-call hit, as a dial."""
        return True

    async def run(self, ctx: CallContext) -> StepResult:
        callbacks = ctx.services.callbacks
        if callbacks is None:
            return done("error", error="callback requests are not available here")
        if ctx.channel.guard.blocked_by is not None:
            ctx.log.warning("no callback request taken: a do-not-call check of this call blocked dialling")
            return done("error", error="no callback request: a do-not-call check of this call said listed or "
                                       "error (or did not finish), and nothing that leads to a call is done for "
                                       "the rest of the call")
        found = Findings()
        with found.kept():
            outcome = await self._request(ctx, found, callbacks)
        return found.result(outcome)

    async def _request(self, ctx: CallContext, found: Findings, callbacks: CallbackRequests) -> str:
        if self.offer:
            answer = await self._ask(ctx, found, self.offer, 1, self._keys(self.accept_key, self.decline_key))
            found.note(offer=_answer_name(answer, self.accept_key, self.decline_key))
            if answer != self.accept_key:
                return _ending(found, answer)
        raw = ctx.render_text(self.number).strip()
        number = _usable(raw, ctx.services.default_region)
        found.note(offered=number)
        chosen = await self._settle_number(ctx, found, raw, number)
        if isinstance(chosen, str):
            return _ending(found, chosen)
        self._store(ctx, found, callbacks, *chosen)
        if self.thanks:
            await ctx.channel.stream(ctx.render_text(self.thanks))
        return REQUESTED

    async def _settle_number(self, ctx: CallContext, found: Findings, raw: str,
                             number: str | None) -> tuple[str, str] | str:
        """Confirm the offered number, or take entries until one is
        confirmed: (raw, E.164), or how the caller ended (timeout, invalid)."""
        entries = 0
        while True:
            if number is None:
                if entries > self.policy.invalid_retries:
                    found.note(reason="too many numbers entered")
                    return INVALID
                entries += 1
                entered = await self._enter(ctx, found)
                if isinstance(entered, str):
                    return entered
                raw, number = entered
            answer = await self._confirm(ctx, found, number)
            if answer == _CONFIRMED:
                return raw, number
            if answer != _CHANGE:
                return answer
            number = None

    async def _enter(self, ctx: CallContext, found: Findings) -> tuple[str, str] | str:
        """One number keyed by the caller (``#`` ends it), checked."""
        valid: list[tuple[str, str]] = []

        def accept(keys: str) -> str | None:
            number = _usable(keys, ctx.services.default_region) if keys.isdigit() else None
            if number is None or not self.min_digits <= len(keys) <= self.max_digits:
                return None
            valid.append((keys, number))
            return _ENTERED

        answer = await self._ask(ctx, found, self.enter, self.max_digits, accept)
        return valid[-1] if answer == _ENTERED else answer

    async def _confirm(self, ctx: CallContext, found: Findings, number: str) -> str:
        """Say ``number`` back; confirm_key, change_key or the ending."""
        if self.number_is:
            await ctx.channel.stream(ctx.render_text(self.number_is))
        await ctx.channel.say_digits(phone.spoken_digits(number, ctx.services.default_region))
        return await self._ask(ctx, found, self.confirm, 1, self._keys(self.confirm_key, self.change_key,
                                                                      (_CONFIRMED, _CHANGE)))

    def _keys(self, yes: str, no: str, names: tuple[str, str] | None = None) -> Callable[[str], str | None]:
        labels = dict(zip((yes, no), names or (yes, no)))
        return labels.get

    async def _ask(self, ctx: CallContext, found: Findings, prompt: str, max_digits: int,
                   accept: Callable[[str], Any]) -> str:
        """``collect`` once; its entries and counts add up across prompts."""
        return await collect(ctx, prompt, max_digits, self.policy, accept, found)

    def _store(self, ctx: CallContext, found: Findings, callbacks: CallbackRequests, raw: str, number: str) -> None:
        queue = ctx.render_text(self.queue) if self.queue else ctx.recorded.get("queue")
        reason = ctx.render_text(self.reason) if self.reason else None
        row = {"requested_at": iso(ctx.clock()), "call_id": ctx.call.id, "flow": ctx.started_flow.name,
               "caller": ctx.call.caller, "number": number, "raw_number": raw,
               "queue": queue or None, "reason": reason or None,
               "arrived_at": iso(ctx.started_at), "source": KEYPAD}
        callbacks.request(row)
        found.record(callback=number)
        found.note(number=number, raw_number=raw, queue=row["queue"], reason=row["reason"])


def _usable(raw: str, region: str) -> str | None:
    """``raw`` in E.164 when it is a number one can call back, else None."""
    if phone.is_anonymous(raw):
        return None
    try:
        return phone.to_e164(raw, region)
    except ValueError:
        return None


def _answer_name(answer: str, accept_key: str, decline_key: str) -> str:
    return {accept_key: "accepted", decline_key: "declined", TIMEOUT: "no_answer"}.get(answer, INVALID)


def _ending(found: Findings, answer: str) -> str:
    """The outcome when no request is made: silence or the decline key is
    declined; wrong keys past the retries are invalid."""
    if answer == INVALID:
        found.details.setdefault("reason", "wrong keys")  # unless too many numbers were entered
        return INVALID
    found.note(reason="no answer" if answer == TIMEOUT else "declined by key")
    return DECLINED
