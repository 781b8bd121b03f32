"""``lookup``: is the caller (or any number) in one of the named lists?

For VIP routing (``found`` leads to a priority queue) and blocklists
(``found`` and ``anonymous`` lead to a rejection, ``block: true`` marks the
CDR). A caller ID that is empty or withheld (``anonymous``, ``restricted``,
``private``...) is ``anonymous``; a number that is not a phone number (an
internal extension, a SIP name) cannot be in a list: ``missing``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.lists.numbers import normaliser
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.steps.list_check import LISTS_SCHEMA, check_lists, count_unusable, list_names
from agi.variable_writes import result_variable_problem
from agi.yamlschema import TEXT, VARIABLE_NAME, obj
from agi.phone import is_withheld
from agi.vocabulary import ERROR

FOUND = "found"
MISSING = "missing"
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class LookupNode(Node):
    type_name = "lookup"
    summary = ("Is the caller (or a number) in one of the named lists? For VIP routing and "
               "blocklists. Outcomes: found, missing, anonymous (caller ID withheld).")
    schema = obj({
        "list": LISTS_SCHEMA,
        "number": TEXT,
        "variable": VARIABLE_NAME,
        "block": {"type": "boolean"},
        "anonymous": {"enum": [ANONYMOUS, MISSING, FOUND]},
    }, ("list",))

    lists: tuple[str, ...]
    number: str = "{{ call.caller }}"
    variable: str = "LOOKUP"
    block: bool = False
    anonymous: str = ANONYMOUS

    @classmethod
    def from_config(cls, config: Any) -> "LookupNode":
        options = {key: config[key] for key in ("number", "variable", "block", "anonymous") if key in config}
        return cls(lists=list_names(config["list"]), **options)

    def list_references(self) -> tuple[str, ...]:
        return self.lists

    def outcomes(self) -> tuple[str, ...]:
        return (FOUND, MISSING) + ((ANONYMOUS,) if self.anonymous == ANONYMOUS else ())

    def templates(self) -> list[tuple[str, str, bool]]:
        return [("number", self.number, False)]

    def sets_variables(self) -> tuple[str, ...]:
        return (self.variable, f"{self.variable}_NOTE")

    def problems(self) -> list[tuple[str, str]]:
        problem = result_variable_problem(self.variable, "LOOKUP") or \
            result_variable_problem(f"{self.variable}_NOTE", "LOOKUP")
        return [("variable", problem)] if problem else []

    async def run(self, ctx: CallContext) -> StepResult:
        raw = ctx.render_text(self.number).strip()
        self._set(ctx, "", "")
        lists = list(self.lists)
        if is_withheld(raw):
            blocked = {"blocked": ANONYMOUS} if self.block and self.anonymous != MISSING else {}
            return done(self.anonymous, record=blocked, number=raw, lists=lists, anonymous=True)
        try:
            number = normaliser(ctx.services.default_region).number(raw)
        except ValueError as exc:
            count_unusable(ctx.services, self.lists)
            return done(MISSING, number=raw, lists=lists, invalid_number=str(exc))
        check = await check_lists(ctx.services.lists, self.lists, number)
        if check.hit is not None:
            self._set(ctx, check.hit.list, check.hit.note or "")
            blocked = {"blocked": check.hit.list} if self.block else {}
            return done(FOUND, record=blocked, number=number, lists=lists, **check.details())
        return done(ERROR if check.failed else MISSING, number=number, lists=lists, **check.details())

    def _set(self, ctx: CallContext, list_name: str, note: str) -> None:
        ctx.vars[self.variable] = list_name
        ctx.vars[f"{self.variable}_NOTE"] = note
