"""``input``: collect digits into a variable, validated by length and an
optional pattern, with retries."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.engine.patterns import matches_whole
from agi.engine.step import StepResult
from agi.steps.base import Findings
from agi.vocabulary import NEXT
from agi.steps.collect import (INVALID, RETRY_SCHEMA, SOUND, TIMEOUT, PromptedNode, RetryPolicy, keep_keys,
                               pattern_problems)
from agi.variable_writes import result_variable_problem
from agi.yamlschema import VARIABLE_NAME, obj


@dataclass(frozen=True)
class InputNode(PromptedNode):
    type_name = "input"
    summary = ("Collect digits into a variable (flow and channel), checked by length and "
               "pattern. Outcomes: next, timeout, invalid.")
    schema = obj({
        "prompt": SOUND,
        "variable": VARIABLE_NAME,
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

    def sets_variables(self) -> tuple[str, ...]:
        return (self.variable,)

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.min_digits > self.max_digits:
            found.append(("min_digits", f"min_digits {self.min_digits} is more than max_digits {self.max_digits}"))
        problem = result_variable_problem(self.variable, "DIGITS")
        if problem:
            found.append(("variable", problem))
        return found + pattern_problems("pattern", self.pattern)

    def valid(self, digits: str) -> bool:
        if not self.min_digits <= len(digits) <= self.max_digits:
            return False
        if self.pattern is None:
            return digits.isdigit()
        return matches_whole(self.pattern, digits)

    async def run(self, ctx: CallContext) -> StepResult:
        found = Findings()
        with found.kept():
            outcome = await self.ask(ctx, lambda keys: NEXT if self.valid(keys) else None, found)
            if outcome == NEXT:
                await keep_keys(ctx, (self.variable,), found.details["entries"][-1])
        return found.result(outcome)
