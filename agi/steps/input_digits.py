"""``input``: collect digits into a variable, validated by length and an
optional pattern, with retries."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.steps.base import NEXT, Node, obj
from agi.steps.collect import INVALID, RETRY_SCHEMA, SOUND, TIMEOUT, RetryPolicy, collect

VARIABLE = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}


@dataclass(frozen=True)
class InputNode(Node):
    type_name = "input"
    summary = ("Collect digits into a variable (flow and channel), checked by length and "
               "pattern. Outcomes: next, timeout, invalid.")
    schema = obj({
        "prompt": SOUND,
        "variable": VARIABLE,
        "min_digits": {"type": "integer", "minimum": 1, "maximum": 64},
        "max_digits": {"type": "integer", "minimum": 1, "maximum": 64},
        "pattern": {"type": "string", "minLength": 1},
        **RETRY_SCHEMA,
    }, ("prompt", "variable", "max_digits"))

    prompt: str
    variable: str
    max_digits: int
    policy: RetryPolicy
    min_digits: int = 1
    pattern: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "InputNode":
        return cls(config["prompt"], config["variable"], config["max_digits"],
                   RetryPolicy.from_config(config), config.get("min_digits", 1), config.get("pattern"))

    def outcomes(self) -> tuple[str, ...]:
        return (NEXT, TIMEOUT, INVALID)

    def templates(self) -> list[tuple[str, str, bool]]:
        return [("prompt", self.prompt, False)] + self.policy.templates()

    def sets_variables(self) -> tuple[str, ...]:
        return (self.variable,)

    def prompts(self) -> list[str]:
        return [self.prompt, *self.policy.prompts()]

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.min_digits > self.max_digits:
            found.append(("min_digits", f"min_digits {self.min_digits} is more than max_digits {self.max_digits}"))
        if self.pattern:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                found.append(("pattern", f"invalid regular expression: {exc}"))
        return found

    def valid(self, digits: str) -> bool:
        if not self.min_digits <= len(digits) <= self.max_digits:
            return False
        if self.pattern is None:
            return digits.isdigit()
        return re.fullmatch(self.pattern, digits) is not None

    async def run(self, ctx: CallContext) -> str:
        outcome = await collect(ctx, self.prompt, self.max_digits, self.policy,
                                lambda keys: NEXT if self.valid(keys) else None)
        if outcome == NEXT:
            digits = ctx.details["entries"][-1]
            ctx.vars[self.variable] = digits
            await ctx.channel.set_variable(self.variable, digits)
        return outcome
