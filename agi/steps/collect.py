"""Key collection shared by ``menu`` and ``input``: play a prompt with
barge-in, read keys, and count timeouts and invalid entries separately, each
with its own retry limit and prompt."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from agi.engine.context import CallContext
from agi.yamlschema import COUNT, SECONDS

TIMEOUT = "timeout"
INVALID = "invalid"
#: What ``accept`` returns to replay the prompt without counting an attempt.
REPEAT = object()
#: Hard cap on prompts played in one step, whatever the caller presses.
MAX_PROMPTS = 20

SOUND = {"type": "string", "minLength": 1}
RETRY_SCHEMA: dict[str, Any] = {
    "timeout": SECONDS,
    "timeout_retries": COUNT,
    "timeout_prompt": SOUND,
    "invalid_retries": COUNT,
    "invalid_prompt": SOUND,
}


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for keys and how often to ask again."""

    timeout: float = 5.0
    timeout_retries: int = 2
    timeout_prompt: str | None = None
    invalid_retries: int = 2
    invalid_prompt: str | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RetryPolicy":
        return cls(float(config.get("timeout", 5)), config.get("timeout_retries", 2),
                   config.get("timeout_prompt"), config.get("invalid_retries", 2),
                   config.get("invalid_prompt"))

    def templates(self) -> list[tuple[str, str, bool]]:
        prompts = (("timeout_prompt", self.timeout_prompt), ("invalid_prompt", self.invalid_prompt))
        return [(name, value, False) for name, value in prompts if value]

    def prompts(self) -> list[str]:
        return [p for p in (self.timeout_prompt, self.invalid_prompt) if p]


async def collect(ctx: CallContext, prompt: str, max_digits: int, policy: RetryPolicy,
                  accept: Callable[[str], Any]) -> str:
    """Ask until ``accept(keys)`` returns an outcome, or a retry limit is hit.

    ``accept`` returns an outcome name, None for an invalid entry, or REPEAT.
    Records the keys pressed and the counts in the step's details.
    """
    timeouts = invalids = 0
    entries: list[str] = []
    ctx.note(entries=entries, timeouts=0, invalid=0)  # kept up to date, even if the caller hangs up
    outcome = INVALID  # the prompt cap: a caller who only ever presses the repeat key
    for _ in range(MAX_PROMPTS):
        result = await ctx.channel.get_data(ctx.render_text(prompt), int(policy.timeout * 1000), max_digits)
        if result.digits == "" and result.timed_out:
            timeouts += 1
            ctx.note(timeouts=timeouts)
            if timeouts > policy.timeout_retries:
                outcome = TIMEOUT
                break
            await _maybe_play(ctx, policy.timeout_prompt)
            continue
        entries.append(result.digits)
        verdict = accept(result.digits)
        if verdict is REPEAT:
            continue
        if verdict is not None:
            outcome = verdict
            break
        invalids += 1
        ctx.note(invalid=invalids)
        if invalids > policy.invalid_retries:
            outcome = INVALID
            break
        await _maybe_play(ctx, policy.invalid_prompt)
    return outcome


async def _maybe_play(ctx: CallContext, sound: str | None) -> None:
    if sound:
        await ctx.channel.stream(ctx.render_text(sound))
