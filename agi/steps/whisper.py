"""The ``whisper`` option of ``queue`` and ``dial``: prompts played to the
agent alone once they answer, before the caller is connected.

Each entry is a sound (templated) or ``{play: sound, if: condition}``; the
ones whose condition is false or whose name renders empty are left out, so
the whisper is chosen per call. Queue() plays them with its
announceoverride argument (files joined with ``&``, Asterisk 22); Dial()
plays one with its ``A(x)`` option, and several through ``U()`` and the
``agiflow-whisper`` subroutine of extensions_agiflow.conf, because ``A()``
plays a single file. Either way only the called channel hears them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.engine.templates import is_template
from agi.steps.dialplan_app import BadArgument
from agi.yamlschema import TEXT, obj

#: A sound name safe inside Queue()'s and Dial()'s arguments: no ``,`` (the
#: next argument), ``&`` (the next file), ``:`` (Dial's A(x:y) plays y to
#: the caller), ``^`` (U()'s separator) or parentheses.
_SAFE_SOUND = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$")
#: The subroutine Dial() runs on the called channel for several prompts.
WHISPER_CONTEXT = "agiflow-whisper"
WHISPER_SCHEMA = {"type": "array", "minItems": 1, "maxItems": 10, "items": {"oneOf": [
    TEXT, obj({"play": TEXT, "if": TEXT}, ("play",))]}}


@dataclass(frozen=True)
class WhisperEntry:
    sound: str
    condition: str | None = None


@dataclass(frozen=True)
class Whisper:
    entries: tuple[WhisperEntry, ...]

    @classmethod
    def from_config(cls, config: Any) -> "Whisper | None":
        if not config:
            return None
        return cls(tuple(WhisperEntry(item) if isinstance(item, str) else WhisperEntry(item["play"], item.get("if"))
                         for item in config))

    def templates(self) -> list[tuple[str, str, bool]]:
        found: list[tuple[str, str, bool]] = []
        for index, entry in enumerate(self.entries):
            found.append((f"whisper[{index}]", entry.sound, False))
            if entry.condition:
                found.append((f"whisper[{index}].if", entry.condition, True))
        return found

    def prompts(self) -> list[str]:
        return [entry.sound for entry in self.entries]

    def problems(self) -> list[tuple[str, str]]:
        """Sounds written without a template that every call would refuse."""
        return [(f"whisper[{index}]", _unsafe(entry.sound.strip())) for index, entry in enumerate(self.entries)
                if not is_template(entry.sound) and entry.sound.strip() and not _SAFE_SOUND.match(entry.sound.strip())]

    def may_play_several(self) -> bool:
        """True when a call may choose more than one prompt (a dial then
        runs the agiflow-whisper subroutine)."""
        return len(self.entries) > 1

    def sounds(self, ctx: CallContext) -> list[str]:
        """The prompts for this call, in order; BadArgument for a name
        that could break the application's arguments."""
        chosen = []
        for entry in self.entries:
            if entry.condition and not ctx.evaluate(entry.condition):
                continue
            sound = ctx.render_text(entry.sound).strip()
            if not sound:
                continue
            if not _SAFE_SOUND.match(sound):
                raise BadArgument(_unsafe(sound))
            chosen.append(sound)
        return chosen


def _unsafe(sound: str) -> str:
    return f"whisper sound {sound!r} may hold only letters, digits and _ . / -"


def plays_to_called(options: str) -> str | None:
    """Why Dial() ``options`` leave no room for a whisper (they have ``A(``
    or ``U(``), or None."""
    if re.search(r"[AU]\(", options):
        return (f"options {options!r} already play something to the called party (A or U); "
                "drop them or the whisper")
    return None


def dial_option(sounds: list[str], options: str) -> str:
    """Dial()'s option that plays ``sounds`` to the called party: ``A(x)``
    for one, ``U(agiflow-whisper^x&y)`` for several; "" for none."""
    if not sounds:
        return ""
    clash = plays_to_called(options)
    if clash:
        raise BadArgument(clash)
    if len(sounds) == 1:
        return f"A({sounds[0]})"
    return f"U({WHISPER_CONTEXT}^{'&'.join(sounds)})"
