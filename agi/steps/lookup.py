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
from agi.steps.base import Node, obj
from agi.steps.list_check import (LISTS_SCHEMA, NUMBER_SCHEMA, VARIABLE_SCHEMA, check_lists, list_names,
                                  normaliser)
from agi.phone import is_withheld

FOUND = "found"
MISSING = "missing"
ANONYMOUS = "anonymous"
ERROR = "error"


@dataclass(frozen=True)
class LookupNode(Node):
    type_name = "lookup"
    summary = ("Is the caller (or a number) in one of the named lists? For VIP routing and "
               "blocklists. Outcomes: found, missing, anonymous (caller ID withheld).")
    schema = obj({
        "list": LISTS_SCHEMA,
        "number": NUMBER_SCHEMA,
        "variable": VARIABLE_SCHEMA,
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

    async def run(self, ctx: CallContext) -> str:
        raw = ctx.render_text(self.number).strip()
        self._set(ctx, "", "")
        if is_withheld(raw):
            ctx.note(number=raw, lists=list(self.lists), anonymous=True)
            if self.block and self.anonymous != MISSING:
                ctx.record(blocked=ANONYMOUS)
            return self.anonymous
        try:
            number = normaliser(ctx.services.default_region).number(raw)
        except ValueError as exc:
            ctx.note(number=raw, lists=list(self.lists), invalid_number=str(exc))
            return MISSING
        check = check_lists(ctx.services.lists, self.lists, number)
        ctx.note(number=number, lists=list(self.lists), **check.details())
        if check.hit is not None:
            self._set(ctx, check.hit.list, check.hit.note or "")
            if self.block:
                ctx.record(blocked=check.hit.list)
            return FOUND
        return ERROR if check.failed else MISSING

    def _set(self, ctx: CallContext, list_name: str, note: str) -> None:
        ctx.vars[self.variable] = list_name
        ctx.vars[f"{self.variable}_NOTE"] = note
