"""``play``: play sound files and say digits or numbers, in order."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.vocabulary import NEXT
from agi.yamlschema import obj

_ITEM = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        obj({"sound": {"type": "string", "minLength": 1}}, ("sound",)),
        obj({"digits": {"type": ["string", "integer"]}}, ("digits",)),
        obj({"number": {"type": ["string", "integer"]}}, ("number",)),
    ]
}


@dataclass(frozen=True)
class PlayItem:
    kind: str  # sound | digits | number
    value: str


@dataclass(frozen=True)
class PlayNode(Node):
    type_name = "play"
    summary = "Play sounds, digits and numbers in order. Outcome: next."
    schema = {"oneOf": [{"type": "string", "minLength": 1},
                        {"type": "array", "minItems": 1, "items": _ITEM}]}

    items: tuple[PlayItem, ...]

    @classmethod
    def from_config(cls, config: Any) -> "PlayNode":
        entries = [config] if isinstance(config, str) else list(config)
        items = []
        for entry in entries:
            if isinstance(entry, str):
                items.append(PlayItem("sound", entry))
            else:
                (kind, value), = entry.items()
                items.append(PlayItem(kind, str(value)))
        return cls(tuple(items))

    def templates(self) -> list[tuple[str, str, bool]]:
        return [(f"[{i}]", item.value, False) for i, item in enumerate(self.items)]

    def prompts(self) -> list[str]:
        return [item.value for item in self.items if item.kind == "sound"]

    async def run(self, ctx: CallContext) -> StepResult:
        channel = ctx.channel
        for item in self.items:
            value = ctx.render_text(item.value)
            if item.kind == "sound":
                await channel.stream(value)
            elif item.kind == "digits":
                await channel.say_digits(value)
            else:
                await channel.say_number(value)
        return done(NEXT)
