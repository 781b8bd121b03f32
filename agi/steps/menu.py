"""``menu``: an IVR menu. The prompt plays with barge-in; each choice key
(one or several digits, ``#`` ends early) leads to its step."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from agi.engine.context import CallContext
from agi.engine.patterns import matches_whole
from agi.engine.step import StepResult
from agi.steps.base import Findings
from agi.steps.collect import (INVALID, REPEAT, RETRY_SCHEMA, SOUND, TIMEOUT, PromptedNode, RetryPolicy, keep_keys,
                               pattern_problems)
from agi.variable_writes import result_variable_problem
from agi.yamlschema import ONE_KEY, STEP_NAME, VARIABLE_NAME, dtmf, obj

DIRECT = "direct"
_KEYS = r"^[0-9*]{1,10}$"


@dataclass(frozen=True)
class DirectDial:
    pattern: str
    variable: str


@dataclass(frozen=True)
class MenuNode(PromptedNode):
    type_name = "menu"
    summary = ("IVR menu: prompt with barge-in, choices by key, separate timeout and invalid "
               "retries and prompts, repeat key, direct dial by pattern. Outcomes: each choice "
               "key, direct, timeout, invalid.")
    schema = obj({
        "prompt": SOUND,
        "choices": {"type": "object", "minProperties": 1, "additionalProperties": STEP_NAME,
                    "propertyNames": {"pattern": _KEYS}},
        "max_digits": {"type": "integer", "minimum": 1, "maximum": 20},
        "repeat_key": ONE_KEY,
        "variable": VARIABLE_NAME,
        "direct_dial": obj({"pattern": {"type": "string", "minLength": 1},
                            "variable": VARIABLE_NAME},
                           ("pattern",)),
        **RETRY_SCHEMA,
    }, ("prompt", "choices"))

    prompt: str
    choices: Mapping[str, str]
    max_digits: int
    policy: RetryPolicy
    repeat_key: str | None = None
    variable: str | None = None
    direct_dial: DirectDial | None = None

    @classmethod
    def from_config(cls, config: Any) -> "MenuNode":
        choices = {dtmf(k): v for k, v in config["choices"].items()}
        direct = config.get("direct_dial")
        longest = max(len(k) for k in choices)
        return cls(
            prompt=config["prompt"], choices=choices,
            max_digits=config.get("max_digits", longest), policy=RetryPolicy.from_config(config),
            repeat_key=dtmf(config["repeat_key"]) if "repeat_key" in config else None,
            variable=config.get("variable"),
            direct_dial=DirectDial(direct["pattern"], direct.get("variable", "DIALED")) if direct else None,
        )

    def outcomes(self) -> tuple[str, ...]:
        extra = (DIRECT,) if self.direct_dial else ()
        return tuple(self.choices) + extra + (TIMEOUT, INVALID)

    def own_transitions(self) -> Mapping[str, str]:
        return dict(self.choices)

    def sets_variables(self) -> tuple[str, ...]:
        return tuple(filter(None, (self.variable, self.direct_dial.variable if self.direct_dial else None)))

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.repeat_key and self.repeat_key in self.choices:
            found.append(("repeat_key", f"repeat key '{self.repeat_key}' is also a choice"))
        for key in sorted(k for k in self.choices if len(k) > self.max_digits):
            found.append(("max_digits", f"choice '{key}' has {len(key)} keys but max_digits is {self.max_digits}: "
                                        f"it can never be keyed"))
        if self.direct_dial:
            found += pattern_problems("direct_dial.pattern", self.direct_dial.pattern)
        for option, name in (("variable", self.variable),
                             ("direct_dial.variable", self.direct_dial.variable if self.direct_dial else None)):
            problem = result_variable_problem(name, "CHOICE") if name else None
            if problem:
                found.append((option, problem))
        return found

    def accept(self, keys: str) -> Any:
        """The outcome of an entry: a choice, direct, REPEAT or None (invalid).
        More keys than ``max_digits`` are invalid: no Asterisk answers GET
        DATA with them, and the direct dial pattern is never tried on them
        (a pattern that backtracks once ran for as long as such an answer
        was long, holding every call)."""
        if len(keys) > self.max_digits:
            return None
        if self.repeat_key and keys == self.repeat_key:
            return REPEAT
        if keys in self.choices:
            return keys
        if self.direct_dial and keys and matches_whole(self.direct_dial.pattern, keys):
            return DIRECT
        return None

    async def run(self, ctx: CallContext) -> StepResult:
        found = Findings()
        with found.kept():
            outcome = await self.ask(ctx, self.accept, found)
            found.note(choice=outcome)
            if outcome not in (TIMEOUT, INVALID):
                direct = self.direct_dial.variable if outcome == DIRECT and self.direct_dial else None
                await keep_keys(ctx, (self.variable, direct), found.details["entries"][-1])
        return found.result(outcome)
