"""Test cases as the loader builds them: frozen, checked, with the line of
every expectation so that a mismatch points at the YAML that states it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from agi.flowtest.memory import CaseCall, CaseOverride
from agi.sim.script import DEFAULT_QUEUE_MEMBER


@dataclass(frozen=True)
class Inputs:
    """What the caller does and what Asterisk and the services answer."""

    caller: str = ""
    called: str = ""
    at: datetime | None = None
    dtmf: tuple[str | None, ...] = ()
    hangup_after: int | None = None
    queue_statuses: tuple[str, ...] = ()
    dial_statuses: tuple[str, ...] = ()
    vm_statuses: tuple[str, ...] = ()
    queue_wait: float = 0.0
    talk_time: float = 0.0
    app_results: Mapping[str, int] = field(default_factory=dict)
    lists: Mapping[str, tuple[str, ...] | str] = field(default_factory=dict)
    overrides: tuple[CaseOverride, ...] = ()
    random: tuple[float, ...] = (0.0,)
    webhook_response: int | str = 200
    agent: tuple[str, str] = DEFAULT_QUEUE_MEMBER
    #: Earlier calls of the history step, or ``unavailable``.
    history: tuple[CaseCall, ...] | str = ()
    pending_callbacks: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    on_call: tuple[str, ...] = ()
    spy_sessions: tuple[tuple[float, str], ...] = ()
    #: Supervisors' PINs by E.164 number, or ``unavailable``.
    supervisors: Mapping[str, str] | str = field(default_factory=dict)


@dataclass(frozen=True)
class Expectation:
    """One key of a case's ``expect``: what it wants and where it is written."""

    key: str
    value: Any
    line: int


@dataclass(frozen=True)
class Case:
    """One test case of a ``*.tests.yaml`` file."""

    name: str
    flow: str
    file: str
    line: int
    inputs: Inputs
    expect: tuple[Expectation, ...]

    @property
    def id(self) -> str:
        """``flows/tests/support.tests.yaml::caller presses 1``."""
        return f"{self.file}::{self.name}"


@dataclass(frozen=True)
class Mismatch:
    """An expectation the run did not meet."""

    file: str
    line: int
    key: str
    message: str
    expected: Any = None
    got: Any = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}"
