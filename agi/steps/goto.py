"""``goto``: continue the call in another flow."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Node
from agi.yamlschema import FLOW_NAME, obj

#: The outcome of a goto in the path (``away:transfer``).
TRANSFER = "transfer"


@dataclass(frozen=True)
class GotoNode(Node):
    type_name = "goto"
    summary = "Transfer the call to another flow, at its start step. Ends this flow."
    schema = {"oneOf": [FLOW_NAME, obj({"flow": FLOW_NAME}, ("flow",))]}

    flow: str

    @classmethod
    def from_config(cls, config: Any) -> "GotoNode":
        return cls(config if isinstance(config, str) else config["flow"])

    def outcomes(self) -> tuple[str, ...]:
        return ()

    def flow_references(self) -> list[str]:
        return [self.flow]

    def ends_flow(self) -> bool:
        return True

    async def run(self, ctx: CallContext) -> StepResult:
        return StepResult(TRANSFER, transfer=self.flow)
