"""``play``: play sound files and say digits or numbers, in order."""
from __future__ import annotations

import re
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


#: What Asterisk 22's SAY DIGITS and SAY NUMBER take: text C's sscanf
#: "%d" reads as a number (spaces, a sign, a digit); it answers 520 to any
#: other. SAY DIGITS says each 0-9, * and # of it; SAY NUMBER reads a
#: 32-bit integer ("3.5" as 3, a larger number as another one).
_READS_AS_NUMBER = re.compile(r"[ \t\n\v\f\r]*[+-]?[0-9]")
_INTEGER = re.compile(r"[ \t\v\f\r]*[+-]?[0-9]+[ \t\v\f\r]*")
_KEY = re.compile(r"[0-9*#]")
#: What no command line can carry (agi/protocol/wire.py refuses it).
_UNSENDABLE = re.compile(r"[\r\n\x00]")
_INT32 = range(-2**31, 2**31)


def digits_command(value: str) -> tuple[str, str] | None:
    """The command that says ``value`` key by key, and its text: SAY DIGITS
    when Asterisk takes it and a command line can carry it; SAY ALPHA of
    its keys otherwise (``*21#``: the same sound files); None when it has
    no key to say."""
    if _READS_AS_NUMBER.match(value) and not _UNSENDABLE.search(value):
        return "SAY DIGITS", value
    keys = "".join(_KEY.findall(value))
    return ("SAY ALPHA", keys) if keys else None


def number_command(value: str) -> tuple[str, str] | None:
    """SAY NUMBER of ``value`` as an integer, or None when Asterisk would
    say another number or none."""
    if not _INTEGER.fullmatch(value) or int(value) not in _INT32:
        return None
    return "SAY NUMBER", str(int(value))


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
        unsaid: list[dict[str, str]] = []
        for item in self.items:
            value = ctx.render_text(item.value)
            if item.kind == "sound":
                await channel.stream(value)
                continue
            said = digits_command(value) if item.kind == "digits" else number_command(value)
            if said is None:
                ctx.log.warning("step %s: %s '%s' not said: Asterisk cannot say it", ctx.step, item.kind, value)
                unsaid.append({item.kind: value})
            else:
                await channel.say(*said)
        return done(NEXT, unsaid=unsaid) if unsaid else done(NEXT)
