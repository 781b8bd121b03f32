"""Key collection shared by ``menu``, ``input`` and ``callback``: play a
prompt with barge-in, read keys, and count timeouts and invalid entries
separately, each with its own retry limit and prompt. ``PromptedNode`` is
what ``menu`` and ``input`` have in common around it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from agi.engine.context import CallContext
from agi.engine.patterns import pattern_error
from agi.steps.base import Findings, Node
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


class PromptedNode(Node):
    """A step that plays ``prompt`` and reads up to ``max_digits`` keys
    under ``policy`` (``menu``, ``input``): its templates, its sounds, the
    asking itself, and keeping the keys in variables."""

    prompt: str
    max_digits: int
    policy: RetryPolicy

    def templates(self) -> list[tuple[str, str, bool]]:
        return [("prompt", self.prompt, False)] + self.policy.templates()

    def prompts(self) -> list[str]:
        return [self.prompt, *self.policy.prompts()]

    async def ask(self, ctx: CallContext, accept: Callable[[str], Any], found: Findings) -> str:
        """``collect`` with this step's prompt, length and policy."""
        return await collect(ctx, self.prompt, self.max_digits, self.policy, accept, found)


async def keep_keys(ctx: CallContext, names: Iterable[str | None], keys: str) -> None:
    """Store ``keys`` in each named flow variable and channel variable."""
    for name in filter(None, names):
        ctx.vars[name] = keys
        await ctx.channel.set_variable(name, keys)


def pattern_problems(option: str, pattern: str | None) -> list[tuple[str, str]]:
    """(option, message) when ``pattern`` is not a regular expression."""
    error = pattern_error(pattern) if pattern is not None else None
    return [(option, error)] if error else []


async def collect(ctx: CallContext, prompt: str, max_digits: int, policy: RetryPolicy,
                  accept: Callable[[str], Any], found: Findings) -> str:
    """Ask until ``accept(keys)`` returns an outcome, or a retry limit is hit.

    ``accept`` returns an outcome name, None for an invalid entry, or REPEAT.
    Adds the keys pressed and the counts to ``found``'s details (``entries``,
    ``timeouts``, ``invalid``), to what an earlier collect of the same step
    left there, and keeps them up to date even if the caller hangs up.
    """
    timeouts = invalids = 0
    details = found.details
    entries: list[str] = details.setdefault("entries", [])
    details.setdefault("timeouts", 0)
    details.setdefault("invalid", 0)
    # At the prompt cap the outcome is the last attempt's: timeout after no
    # key, invalid after a wrong key or the repeat key.
    outcome = INVALID
    for _ in range(MAX_PROMPTS):
        result = await ctx.channel.get_data(ctx.render_text(prompt), int(policy.timeout * 1000), max_digits)
        if result.digits == "" and result.timed_out:
            timeouts += 1
            details["timeouts"] += 1
            outcome = TIMEOUT
            if timeouts > policy.timeout_retries:
                break
            await _maybe_play(ctx, policy.timeout_prompt)
            continue
        entries.append(result.digits)
        verdict = accept(result.digits)
        outcome = INVALID
        if verdict is REPEAT:
            continue
        if verdict is not None:
            outcome = verdict
            break
        invalids += 1
        details["invalid"] += 1
        if invalids > policy.invalid_retries:
            outcome = INVALID
            break
        await _maybe_play(ctx, policy.invalid_prompt)
    return outcome


async def _maybe_play(ctx: CallContext, sound: str | None) -> None:
    if sound:
        await ctx.channel.stream(ctx.render_text(sound))
