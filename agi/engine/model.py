"""The flow model: frozen dataclasses built by the loader, read by the
interpreter. Nothing here knows YAML or step types: a step's node is
anything with the engine's StepNode interface."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from agi.vocabulary import INBOUND

if TYPE_CHECKING:
    from agi.engine.step import StepNode
    from agi.hours.model import Schedule


@dataclass(frozen=True)
class Step:
    """One named step: its node and where each outcome leads."""

    name: str
    node: StepNode
    transitions: Mapping[str, str]
    line: int = 0

    @property
    def type_name(self) -> str:
        return self.node.type_name


@dataclass(frozen=True)
class PromptText:
    """What one prompt says in one language (the flow's ``prompts:``), for
    ``agiflow sounds build``."""

    name: str
    language: str
    text: str
    line: int = 0


@dataclass(frozen=True)
class Flow:
    """One call script, reached at ``agi://host:port/<name>``."""

    name: str
    start: str
    steps: Mapping[str, Step]
    timezone: str = "UTC"
    language: str | None = None
    #: ``inbound`` (callers ring in) or ``outbound`` (legs agiflow's campaigns place).
    direction: str = INBOUND
    params: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    prompts: tuple[PromptText, ...] = ()
    #: The content version of its file (agi/loading/versions.py); "" when built by hand.
    version: str = ""


@dataclass(frozen=True)
class FlowSet:
    """Every loaded flow and schedule by name; replaced whole on reload,
    never mutated."""

    flows: Mapping[str, Flow] = field(default_factory=dict)
    schedules: Mapping[str, Schedule] = field(default_factory=dict)

    def get(self, name: str) -> Flow | None:
        return self.flows.get(name)

    def versions(self) -> dict[str, str]:
        """Each flow's version, by name."""
        return {name: flow.version for name, flow in self.flows.items()}

    def __len__(self) -> int:
        return len(self.flows)
