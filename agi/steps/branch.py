"""``branch``: the first condition that holds picks the next step."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.yamlschema import STEP_NAME, obj

OTHERWISE = "else"


@dataclass(frozen=True)
class Case:
    condition: str
    target: str
    label: str


@dataclass(frozen=True)
class BranchNode(Node):
    type_name = "branch"
    summary = ("Ordered conditions: the first that holds picks the next step; `else` when none "
               "does. Outcomes: each case's label (if1, if2... unless named), else.")
    schema = obj({
        "cases": {"type": "array", "minItems": 1, "items": obj({
            "if": {"type": "string", "minLength": 1},
            "next": STEP_NAME,
            "label": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
        }, ("if", "next"))},
        "else": STEP_NAME,
    }, ("cases",))

    cases: tuple[Case, ...]
    otherwise: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "BranchNode":
        cases = tuple(Case(c["if"], c["next"], c.get("label") or f"if{i + 1}")
                      for i, c in enumerate(config["cases"]))
        return cls(cases, config.get("else"))

    def outcomes(self) -> tuple[str, ...]:
        return tuple(c.label for c in self.cases) + (OTHERWISE,)

    def own_transitions(self) -> Mapping[str, str]:
        targets = {c.label: c.target for c in self.cases}
        if self.otherwise:
            targets[OTHERWISE] = self.otherwise
        return targets

    def templates(self) -> list[tuple[str, str, bool]]:
        return [(f"cases[{i}].if", c.condition, True) for i, c in enumerate(self.cases)]

    async def run(self, ctx: CallContext) -> StepResult:
        for case in self.cases:
            if ctx.evaluate(case.condition):
                return done(case.label)
        return done(OTHERWISE)
