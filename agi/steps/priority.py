"""``priority``: set the caller's queue priority (``QUEUE_PRIO``, read by
``Queue()`` when the caller joins), mark the call VIP in the CDR, and
optionally name a dedicated queue for a later ``queue`` step."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.steps.dialplan_app import BadArgument
from agi.vocabulary import NEXT
from agi.yamlschema import obj

#: The flow variable a ``queue`` option sets (``{{ vars.queue }}``).
QUEUE_VARIABLE = "queue"
#: app_queue.c reads QUEUE_PRIO with sscanf("%30d"): a signed integer.
_INTEGER = re.compile(r"^-?[0-9]{1,9}$")


@dataclass(frozen=True)
class PriorityNode(Node):
    type_name = "priority"
    summary = ("Set QUEUE_PRIO for the next Queue(), mark the call VIP in the CDR, and optionally set "
               "vars.queue to a dedicated queue. Outcome: next.")
    schema = obj({
        "value": {"oneOf": [{"type": "integer", "minimum": -999999999, "maximum": 999999999},
                            {"type": "string", "minLength": 1}]},
        "vip": {"type": "boolean"},
        "queue": {"type": "string", "minLength": 1},
    }, ("value",))

    value: int | str
    vip: bool = False
    queue: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "PriorityNode":
        return cls(config["value"], config.get("vip", False), config.get("queue"))

    def templates(self) -> list[tuple[str, str, bool]]:
        found = [("value", self.value, False)] if isinstance(self.value, str) else []
        return found + ([("queue", self.queue, False)] if self.queue else [])

    def sets_variables(self) -> tuple[str, ...]:
        return ("QUEUE_PRIO", QUEUE_VARIABLE) if self.queue else ("QUEUE_PRIO",)

    def problems(self) -> list[tuple[str, str]]:
        if isinstance(self.value, str) and "{" not in self.value and not _INTEGER.match(self.value.strip()):
            return [("value", f"{self.value!r} is neither an integer nor a template")]
        return []

    async def run(self, ctx: CallContext) -> StepResult:
        text = str(ctx.render(self.value)).strip()
        if not _INTEGER.match(text):
            raise BadArgument(f"priority value {text!r} is not an integer")
        priority = int(text)
        queue = ctx.render_text(self.queue).strip() if self.queue else None
        await ctx.channel.set_variable("QUEUE_PRIO", priority)
        ctx.vars["QUEUE_PRIO"] = str(priority)
        if queue:
            ctx.vars[QUEUE_VARIABLE] = queue
        return done(NEXT, record={"priority": priority, **({"vip": 1} if self.vip else {})},
                    priority=priority, vip=self.vip, **({"queue": queue} if queue else {}))
