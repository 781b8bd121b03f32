"""``menu``: an IVR menu. The prompt plays with barge-in; each choice key
(one or several digits, ``#`` ends early) leads to its step."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from agi.engine.context import CallContext
from agi.steps.base import Node, dtmf, obj
from agi.steps.branch import STEP_NAME
from agi.steps.collect import INVALID, REPEAT, RETRY_SCHEMA, SOUND, TIMEOUT, RetryPolicy, collect

DIRECT = "direct"
_KEYS = r"^[0-9*]{1,10}$"


@dataclass(frozen=True)
class DirectDial:
    pattern: str
    variable: str


@dataclass(frozen=True)
class MenuNode(Node):
    type_name = "menu"
    summary = ("IVR menu: prompt with barge-in, choices by key, separate timeout and invalid "
               "retries and prompts, repeat key, direct dial by pattern. Outcomes: each choice "
               "key, direct, timeout, invalid.")
    schema = obj({
        "prompt": SOUND,
        "choices": {"type": "object", "minProperties": 1, "additionalProperties": STEP_NAME,
                    "propertyNames": {"pattern": _KEYS}},
        "max_digits": {"type": "integer", "minimum": 1, "maximum": 20},
        "repeat_key": {"type": ["string", "integer"], "pattern": "^[0-9*]$"},
        "variable": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "direct_dial": obj({"pattern": {"type": "string", "minLength": 1},
                            "variable": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}},
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

    def templates(self) -> list[tuple[str, str, bool]]:
        return [("prompt", self.prompt, False)] + self.policy.templates()

    def sets_variables(self) -> tuple[str, ...]:
        return tuple(filter(None, (self.variable, self.direct_dial.variable if self.direct_dial else None)))

    def prompts(self) -> list[str]:
        return [self.prompt, *self.policy.prompts()]

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.repeat_key and self.repeat_key in self.choices:
            found.append(("repeat_key", f"repeat key '{self.repeat_key}' is also a choice"))
        if self.direct_dial:
            try:
                re.compile(self.direct_dial.pattern)
            except re.error as exc:
                found.append(("direct_dial.pattern", f"invalid regular expression: {exc}"))
        return found

    async def run(self, ctx: CallContext) -> str:
        def accept(keys: str) -> Any:
            if self.repeat_key and keys == self.repeat_key:
                return REPEAT
            if keys in self.choices:
                return keys
            if self.direct_dial and keys and re.fullmatch(self.direct_dial.pattern, keys):
                return DIRECT
            return None

        outcome = await collect(ctx, self.prompt, self.max_digits, self.policy, accept)
        ctx.note(choice=outcome)
        if outcome in (TIMEOUT, INVALID):
            return outcome
        keys = ctx.details["entries"][-1]
        names = [self.variable, self.direct_dial.variable if outcome == DIRECT and self.direct_dial else None]
        for name in filter(None, names):
            ctx.vars[name] = keys
            await ctx.channel.set_variable(name, keys)
        return outcome
