"""``split``: send calls down branches by percentage (A/B tests, gradual
roll-outs). The draw comes from ``ctx.services.chance`` so tests are exact;
``sticky_by: caller`` gives a caller the same branch on every call."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping

from agi import phone
from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.steps.missed_calls import caller_number
from agi.yamlschema import STEP_NAME, obj

LABEL = {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"}
PERCENT = {"type": "number", "minimum": 0, "maximum": 100}
_BY_NAME = {"type": "object", "minProperties": 1, "propertyNames": LABEL, "additionalProperties": PERCENT}
_LISTED = {"type": "array", "minItems": 1, "items": obj({"percent": PERCENT, "next": STEP_NAME, "label": LABEL},
                                                        ("percent", "next"))}
#: if/then/else rather than oneOf, so that an error names the problem in
#: the form that was written, not that it matches none of the forms.
_SHARES = {"type": ["object", "array"], "if": {"type": "array"}, "then": _LISTED, "else": _BY_NAME}
_LONG = obj({"branches": _SHARES, "sticky_by": {"enum": ["caller"]}}, ("branches",))
#: Sums of percentages closer to 100 than this are 100 (33.3 + 33.3 + 33.4).
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Share:
    label: str
    percent: float
    target: str | None = None


@dataclass(frozen=True)
class SplitNode(Node):
    type_name = "split"
    summary = ("Percentage split: each branch gets its share of calls, drawn at random or "
               "by a hash of the caller (sticky_by: caller). Outcomes: the branch labels.")
    schema = {**_SHARES, "else": {"if": {"required": ["branches"]}, "then": _LONG, "else": _BY_NAME}}

    shares: tuple[Share, ...]
    sticky_by: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "SplitNode":
        is_long = isinstance(config, Mapping) and "branches" in config
        branches = config["branches"] if is_long else config
        sticky = config.get("sticky_by") if is_long else None
        if isinstance(branches, Mapping):
            return cls(tuple(Share(k, float(v)) for k, v in branches.items()), sticky)
        return cls(tuple(Share(b.get("label") or b["next"], float(b["percent"]), b["next"]) for b in branches),
                   sticky)

    def outcomes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.label for s in self.shares))

    def own_transitions(self) -> Mapping[str, str]:
        return {s.label: s.target for s in self.shares if s.target is not None}

    def problems(self) -> list[tuple[str, str]]:
        found = []
        total = sum(s.percent for s in self.shares)
        if abs(total - 100) > _TOLERANCE:
            shares = " + ".join(f"{s.percent:g}" for s in self.shares)
            found.append(("branches", f"percentages must add up to 100, not {total:g} ({shares})"))
        labels = [s.label for s in self.shares]
        for label in sorted({x for x in labels if labels.count(x) > 1}):
            found.append(("branches", f"branch '{label}' appears twice; give each a distinct label"))
        return found

    def pick(self, draw: float) -> Share:
        """The share a draw in [0, 1) falls in; shares of 0% are never picked."""
        point = draw * 100
        running = 0.0
        for share in self.shares:
            running += share.percent
            if point < running and share.percent > 0:
                return share
        return [s for s in self.shares if s.percent > 0][-1]

    async def run(self, ctx: CallContext) -> StepResult:
        caller = _caller(ctx) if self.sticky_by == "caller" else None
        sticky = caller is not None
        draw = sticky_draw(f"{ctx.flow.name}/{ctx.step}", caller) if caller is not None else ctx.services.chance()
        share = self.pick(draw)
        return done(share.label, draw=round(draw, 6), branch=share.label, sticky=sticky)


def _caller(ctx: CallContext) -> str | None:
    """Who calls, as the reports tell callers apart: the caller ID in E.164
    (``default_region``), however the trunk spells it, or as given when it
    is no phone number; None when it is withheld (no one caller)."""
    number, _ = caller_number(ctx)
    raw = ctx.call.caller.strip()
    return number if number is not None or phone.is_anonymous(raw) else raw


def sticky_draw(salt: str, key: str) -> float:
    """A number in [0, 1) fixed by ``key``; ``salt`` (flow and step) makes
    two splits independent of each other."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
