"""Warnings for prompts a flow plays that Asterisk would not find, and
for a prompt two flows give different texts (``agiflow sounds build``
refuses it: one sound file cannot say both).

A prompt is found when its file is in ``<sounds>/<language>/`` or it is one
of Asterisk's core prompts. It is checked in the flow's language (``en``
when the flow names none) and in every language the flow gives text for.
Names built by a template at call time are skipped: they cannot be known.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agi.engine.model import Flow, FlowSet
from agi.sounds.catalog import DEFAULT_LANGUAGE, is_templated, prompt_available
from agi.sounds.prompts import all_prompts
from agi.safe_text import escaped_text
from agi.steps.base import node_of


@dataclass(frozen=True, order=True)
class MissingPrompt:
    file: str
    line: int
    step: str
    name: str
    language: str
    has_text: bool
    folder: str = "sounds"

    def __str__(self) -> str:
        hint = "run `agiflow sounds build`" if self.has_text else \
            "add its text under `prompts:` and run `agiflow sounds build`, or record it"
        return escaped_text(f"{self.file}:{self.line}: warning: step '{self.step}': prompt '{self.name}' "
                            f"({self.language}) is not in {self.folder}/{self.language}/ nor an Asterisk core "
                            f"sound; {hint}")


def missing_prompts(flows: FlowSet, sounds_dir: Path) -> list[MissingPrompt]:
    found: set[MissingPrompt] = set()
    for flow in flows.flows.values():
        found.update(_missing_in_flow(flow, sounds_dir))
    return sorted(found)


def _missing_in_flow(flow: Flow, sounds_dir: Path) -> list[MissingPrompt]:
    texts: dict[str, set[str]] = {}
    for prompt in flow.prompts:
        texts.setdefault(prompt.name, set()).add(prompt.language)
    found = []
    for step in flow.steps.values():
        for name in node_of(step).prompts():
            if is_templated(name):
                continue
            given = texts.get(name, set())
            for language in sorted({flow.language or DEFAULT_LANGUAGE} | given):
                if not prompt_available(sounds_dir, language, name):
                    found.append(MissingPrompt(flow.source, step.line, step.name, name, language, language in given,
                                               str(sounds_dir)))
    return found


@dataclass(frozen=True, order=True)
class PromptConflict:
    """A prompt given another text than a flow before it gave."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return escaped_text(f"{self.file}:{self.line}: warning: {self.message}; `agiflow sounds build` refuses it")


def prompt_conflicts(flows: FlowSet) -> list[PromptConflict]:
    """Prompts two flows give different texts, at the second one's line."""
    _, errors = all_prompts(flows)
    return [PromptConflict(e.file, e.line, e.message) for e in errors]
