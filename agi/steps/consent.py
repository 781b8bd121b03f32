"""``consent``: recording consent, GDPR style, that gates MixMonitor.

Policies: ``ask`` (play the notice to its end, then ask for a key: accept,
decline, or hear the full privacy notice and be asked again), ``notify``
(play the notice; recording starts once it has been heard to the end) and
``never`` (no recording, nothing played).

Fail closed: MixMonitor is sent only after the caller accepted (or, with
``default: accepted``, after the question was asked and not answered) or
heard the whole notice. A hangup at any point before that, a decline, no
answer, or a notice or question that could not be played record nothing.
The step tells the channel's guard (agi/call_guard.py) the decision, so
that no other step can record without it either.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.channel import AgiCommandError, ChannelHungUp
from agi.engine.context import CallContext
from agi.engine.step import STEP_FAILURES, StepResult
from agi.protocol import appargs
from agi.steps.base import Findings, Node
from agi.steps.collect import MAX_PROMPTS, SOUND
from agi.steps.recording_path import recording_path, settings_problem, unused_path
from agi.vocabulary import iso
from agi.vocabulary import ERROR
from agi.yamlschema import COUNT, ONE_KEY, SECONDS, dtmf, obj

ASK, NOTIFY, NEVER = "ask", "notify", "never"
ACCEPTED, DECLINED, NOTIFIED, NO_ANSWER = "accepted", "declined", "notified", "no_answer"
#: Every key: any of them ends the question, as in GET DATA.
ANY_KEY = "0123456789*#"
#: Options that only mean something when the policy is ``ask``.
ASK_ONLY = ("ask", "accept", "decline", "privacy_key", "privacy", "timeout", "retries", "default")
#: The asking ended on a wrong key: the caller answered, so ``default``
#: does not apply; no consent (the CDR says no_answer).
_WRONG_LAST = "wrong key last"


class PromptNotPlayed(Exception):
    """The notice or the question could not be played: no consent."""


@dataclass(frozen=True)
class ConsentNode(Node):
    type_name = "consent"
    summary = ("Recording consent (policy ask, notify or never) that gates MixMonitor; the consent and "
               "the recording file go to the CDR. Outcomes: accepted, declined (ask), notified (notify), "
               "never (never).")
    schema = obj({
        "policy": {"enum": [ASK, NOTIFY, NEVER]},
        "notice": SOUND,
        "ask": SOUND,
        "accept": ONE_KEY,
        "decline": ONE_KEY,
        "privacy_key": ONE_KEY,
        "privacy": SOUND,
        "timeout": SECONDS,
        "retries": COUNT,
        "default": {"enum": [DECLINED, ACCEPTED]},
        "record": {"type": "boolean"},
        "mixmonitor_options": {"type": "string", "pattern": r"^[^,\s\"]*$"},
    })

    policy: str = ASK
    notice: str | None = None
    ask: str | None = None
    accept: str = "1"
    decline: str = "2"
    privacy_key: str | None = None
    privacy: str | None = None
    timeout: float = 5.0
    retries: int = 2
    default: str = DECLINED
    record: bool = True
    mixmonitor_options: str = "b"
    given: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Any) -> "ConsentNode":
        config = config or {}
        return cls(config.get("policy", ASK), config.get("notice"), config.get("ask"),
                   dtmf(config.get("accept", "1")), dtmf(config.get("decline", "2")),
                   dtmf(config["privacy_key"]) if "privacy_key" in config else None, config.get("privacy"),
                   float(config.get("timeout", 5)), config.get("retries", 2), config.get("default", DECLINED),
                   config.get("record", True), config.get("mixmonitor_options", "b"), tuple(sorted(config)))

    def outcomes(self) -> tuple[str, ...]:
        return {ASK: (ACCEPTED, DECLINED), NOTIFY: (NOTIFIED,), NEVER: (NEVER,)}[self.policy]

    def consent_given(self, outcome: str) -> bool | None:
        return outcome in (ACCEPTED, NOTIFIED)

    def templates(self) -> list[tuple[str, str, bool]]:
        return [(option, text, False) for option, text in self._sounds() if text]

    def prompts(self) -> list[str]:
        return [text for _, text in self._sounds() if text]

    def _sounds(self) -> tuple[tuple[str, str | None], ...]:
        return (("notice", self.notice), ("ask", self.ask), ("privacy", self.privacy))

    def problems(self) -> list[tuple[str, str]]:
        found = [(option, f"only for policy ask, not {self.policy}")
                 for option in ASK_ONLY if option in self.given and self.policy != ASK]
        if self.policy == ASK and not self.ask:
            found.append(("ask", "policy ask needs the question prompt `ask`"))
        if self.policy == NOTIFY and not self.notice:
            found.append(("notice", "policy notify needs the `notice` prompt"))
        if self.policy == NEVER and self.notice:
            found.append(("notice", "policy never plays nothing: remove `notice`"))
        if (self.privacy_key is None) != (self.privacy is None) and self.policy == ASK:
            found.append(("privacy_key", "give privacy_key and privacy together"))
        keys = [k for k in (self.accept, self.decline, self.privacy_key) if k is not None]
        if len(set(keys)) < len(keys):
            found.append(("accept", "accept, decline and privacy_key must be different keys"))
        if not self.record and "mixmonitor_options" in self.given:
            found.append(("mixmonitor_options", "record is false: nothing is recorded"))
        return found

    async def run(self, ctx: CallContext) -> StepResult:
        found = Findings()
        with found.kept():
            outcome = await self._consent(ctx, found)
        return found.result(outcome)

    async def _consent(self, ctx: CallContext, found: Findings) -> str:
        ctx.channel.guard.set_consent(False)  # no recording until this step's decision allows it
        if self.policy == NEVER:
            found.record(consent=NEVER, consent_key=None, consent_at=iso(ctx.clock()))
            found.note(consent=NEVER)
            await _stop_earlier_recording(ctx, found)
            return NEVER
        # what a hangup before the end of the consent leaves
        found.record(consent=NO_ANSWER, consent_key=None, consent_at=None)
        try:
            consent, key = await (self._ask(ctx, found) if self.policy == ASK else self._notify(ctx))
        except PromptNotPlayed as missing:
            found.note(consent=NO_ANSWER, error=f"consent prompt {missing} could not be played: nothing is recorded")
            await _stop_earlier_recording(ctx, found)  # the caller could not answer again: fail closed
            return ERROR
        except ChannelHungUp:
            raise  # the recording ends with the channel
        except STEP_FAILURES:  # a template or a command failed: the caller could not answer either
            found.note(consent=NO_ANSWER)
            await _stop_earlier_recording(ctx, found)
            raise
        if consent == _WRONG_LAST:  # a wrong key on the last attempt records nothing, whatever the default
            consent, outcome = NO_ANSWER, DECLINED
        else:
            outcome = self.default if consent == NO_ANSWER else consent
        found.record(consent=consent, consent_key=key, consent_at=iso(ctx.clock()))
        found.note(consent=consent)
        ctx.channel.guard.set_consent(outcome in (ACCEPTED, NOTIFIED))
        if outcome in (ACCEPTED, NOTIFIED):
            await self._start_recording(ctx, found)
        else:
            await _stop_earlier_recording(ctx, found)
        return outcome

    async def _notify(self, ctx: CallContext) -> tuple[str, str | None]:
        """Play the whole notice (no key stops it); a hangup raises."""
        await self._play(ctx, self.notice or "", "")
        return NOTIFIED, None

    async def _ask(self, ctx: CallContext, found: Findings) -> tuple[str, str | None]:
        """The caller's answer (accepted, declined, no_answer, or
        _WRONG_LAST when the last attempt was a wrong key) and the key that
        gave it. The notice plays to its end first: no key cuts it short."""
        if self.notice:
            await self._play(ctx, self.notice, "")
        entries: list[str] = []
        found.note(entries=entries)
        asks = 0
        unanswered = NO_ANSWER
        for _ in range(MAX_PROMPTS):
            if asks > self.retries:
                break
            key = await self._question(ctx)
            if key is None:
                asks += 1
                unanswered = NO_ANSWER
                continue
            answer = await self._answer(ctx, key, entries)
            if answer:
                return answer, entries[-1]
            unanswered = _WRONG_LAST
            if key != self.privacy_key:
                asks += 1  # a wrong key; hearing the privacy notice costs no attempt
        return unanswered, None

    async def _question(self, ctx: CallContext) -> str | None:
        """Ask once: the key pressed (GET DATA gives "" for ``#``), None for
        none within ``timeout``. GET DATA cannot tell a question heard
        from one that played nothing (a sound file with no sound in it);
        where silence records (``default: accepted``) the question is played
        with STREAM FILE, which says so (``endpos=0``), then WAIT FOR DIGIT."""
        timeout_ms = int(self.timeout * 1000)
        if self.default != ACCEPTED:
            result = await ctx.channel.get_data(_sound(ctx, self.ask or ""), timeout_ms, 1)
            if result.failed:
                raise PromptNotPlayed(repr(self.ask))
            return None if result.digits == "" and result.timed_out else result.digits
        key = await self._play(ctx, self.ask or "", ANY_KEY)
        if key is None:
            waited = await ctx.channel.wait_for_digit(timeout_ms)
            if waited.failed:  # no answer would record: fail closed
                raise PromptNotPlayed(f"{self.ask!r} (Asterisk could not wait for a key after it)")
            key = waited.key
        return key

    async def _answer(self, ctx: CallContext, key: str | None, entries: list[str]) -> str | None:
        """What a key means; the privacy key plays the privacy notice, during
        which the caller may already accept or decline. A privacy notice
        that cannot be played raises PromptNotPlayed: the caller asked what
        they consent to and cannot hear it, so nothing is recorded."""
        if key is None:
            return None
        entries.append(key)
        if key == self.privacy_key and self.privacy:
            heard = await self._play(ctx, self.privacy, self.accept + self.decline)
            return await self._answer(ctx, heard, entries) if heard else None
        return {self.accept: ACCEPTED, self.decline: DECLINED}.get(key)

    async def _play(self, ctx: CallContext, sound: str, keys: str) -> str | None:
        """STREAM FILE ``sound``; raises PromptNotPlayed if Asterisk could
        not, or if it played nothing of it: a file with no sound in it ends
        at once, with ``endpos=0``, and the caller heard no notice."""
        played = await ctx.channel.play(_sound(ctx, sound), keys)
        if played.failed:
            raise PromptNotPlayed(repr(sound))
        if played.key is None and played.endpos == 0:
            raise PromptNotPlayed(f"{sound!r} (it played nothing: the sound file holds no sound)")
        return played.key

    async def _start_recording(self, ctx: CallContext, found: Findings) -> None:
        """MixMonitor on a path named after the call, unless a recording of
        the call already runs. A failure records no file and is noted; the
        consent outcome stands."""
        if not self.record:
            return
        running = ctx.channel.guard.mixmonitor_files
        if running:  # an earlier consent's MixMonitor (or an exec's) still records the call: no second one
            found.record(recording=ctx.recorded.get("recording") or running[0])
            found.note(recording=running[0], already_recording=True)
            return
        settings = ctx.services.recordings
        problem = settings_problem(settings)
        if ctx.channel.hung_up:
            raise ChannelHungUp("MixMonitor not started: the caller hung up")
        path = unused_path(recording_path(settings, ctx.now(), ctx.call.caller, ctx.call.called, ctx.call.id),
                           ctx.channel.guard.mixmonitor_sent)
        options = ",".join(filter(None, (appargs.escape(path), self.mixmonitor_options)))
        result: int | str = "not sent"
        if problem is None:
            try:
                result = await ctx.channel.exec_app("MixMonitor", options)
            except AgiCommandError as exc:
                problem = str(exc)
        if problem is None and result != 0:
            problem = f"MixMonitor answered {result}"
        if problem is not None:
            running.clear()  # none ran before, and this one records nothing: a later decline has nothing to stop
            found.record(recording=None)
            found.note(recording_error=problem)
            ctx.log.warning("recording not started: %s", problem)
            return
        found.record(recording=path)
        found.note(recording=path)


def _sound(ctx: CallContext, sound: str) -> str:
    """The sound a prompt option renders; PromptNotPlayed when it renders
    blank: GET DATA plays nothing for an empty prompt and waits for a key,
    so a question no one heard would count as one left unanswered."""
    rendered = ctx.render_text(sound)
    if not rendered.strip():
        raise PromptNotPlayed(f"{sound!r} (it rendered empty)")
    return rendered


async def _stop_earlier_recording(ctx: CallContext, found: Findings) -> None:
    """Consent withdrawn in a later consent step: stop what an earlier one
    started, every ``exec`` of MixMonitor after it, and what one-touch
    recording (Dial's or Queue's x, X...) may have started. StopMixMonitor
    without an id stops one MixMonitor of the channel, so it is sent once
    for each (it runs on a dead channel too)."""
    guard = ctx.channel.guard
    stopped, one_touch = list(guard.mixmonitor_files), list(guard.one_touch)
    if not stopped and not one_touch:
        return
    for _ in stopped + one_touch:  # the guard takes each StopMixMonitor sent off its list
        try:
            await ctx.channel.exec_app("StopMixMonitor", "")
        except AgiCommandError as exc:
            found.note(recording_error=f"StopMixMonitor failed: {exc}")
            return
    guard.one_touch.clear()
    if stopped:
        found.note(stopped_recording=", ".join(stopped))
    if one_touch:
        found.note(stopped_one_touch=", ".join(one_touch))
