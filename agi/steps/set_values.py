"""``set``: set channel variables and CDR fields."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.vocabulary import NEXT
from agi.variable_writes import status_write_problem
from agi.yamlschema import obj

_SCALAR = {"type": ["string", "number", "boolean"]}
_VARIABLES = {"type": "object", "minProperties": 1, "additionalProperties": _SCALAR,
              "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_,-]*\))?$"}}
_FIELDS = {"type": "object", "minProperties": 1, "additionalProperties": _SCALAR,
           "propertyNames": {"pattern": r"^[a-z_][a-z0-9_]*$"}}


@dataclass(frozen=True)
class SetNode(Node):
    type_name = "set"
    summary = "Set channel variables and CDR fields. Outcome: next."
    schema = {**obj({"variables": _VARIABLES, "cdr": _FIELDS}), "minProperties": 1}

    variables: tuple[tuple[str, Any], ...]
    cdr: tuple[tuple[str, Any], ...]

    @classmethod
    def from_config(cls, config: Any) -> "SetNode":
        return cls(tuple((config.get("variables") or {}).items()), tuple((config.get("cdr") or {}).items()))

    def templates(self) -> list[tuple[str, str, bool]]:
        found = [(f"variables.{k}", v, False) for k, v in self.variables if isinstance(v, str)]
        return found + [(f"cdr.{k}", v, False) for k, v in self.cdr if isinstance(v, str)]

    def sets_variables(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.variables if "(" not in name)

    def channel_variables_set(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.variables)

    def problems(self) -> list[tuple[str, str]]:
        return [(f"variables.{name}", problem) for name, _ in self.variables
                for problem in [status_write_problem(name)] if problem]

    def sets_cdr_fields(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.cdr)

    async def run(self, ctx: CallContext) -> StepResult:
        for name, value in self.variables:
            text = _text(ctx.render(value))
            await ctx.channel.set_variable(name, text)
            if "(" not in name:
                ctx.vars[name] = text
        for name, value in self.cdr:
            ctx.cdr[name] = ctx.render(value)
        return done(NEXT)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)
