"""``answer``: answer the channel (Asterisk's ANSWER)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.vocabulary import NEXT
from agi.yamlschema import obj


@dataclass(frozen=True)
class AnswerNode(Node):
    type_name = "answer"
    summary = "Answer the call. Outcome: next."
    schema = {"oneOf": [{"type": "null"}, {"const": True}, obj({})]}

    @classmethod
    def from_config(cls, config: Any) -> "AnswerNode":
        return cls()

    async def run(self, ctx: CallContext) -> StepResult:
        await ctx.channel.answer()
        return done(NEXT)
