"""A step as the engine sees it: a type name, and ``run`` that returns a
StepResult.

Steps talk to the interpreter only through what they return (or, when cut
short, through what they raise): the outcome, a transfer to another flow,
the details of the step's trace entry and CDR row, and built-in CDR columns
of the call. The interpreter applies them; a step never sets fields for the
interpreter to read later. Nothing here knows a step type.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol

from agi.channel import AgiCommandError, ChannelHungUp
from agi.vocabulary import RECORD_COLUMNS
from agi.engine.patterns import PatternTimeout
from agi.engine.templates import RenderError
from agi.protocol.wire import CommandError

if TYPE_CHECKING:
    from agi.engine.context import CallContext

#: What may cut a step short: the caller hung up (outcome ``hangup``), or
#: Asterisk refused a command, a template failed or a pattern took too long
#: on the caller's keys (outcome ``error``). Anything else is a defect, left
#: to the per-call boundary.
STEP_FAILURES: tuple[type[Exception], ...] = (ChannelHungUp, AgiCommandError, RenderError, CommandError,
                                              PatternTimeout)


def check_record(columns: Mapping[str, Any]) -> None:
    """ValueError unless every name is a built-in CDR column steps may set
    (see docs/cdr.md)."""
    if not columns or RECORD_COLUMNS.issuperset(columns):
        return
    unknown = set(columns) - RECORD_COLUMNS
    if unknown:
        raise ValueError(f"not CDR columns steps may set: {', '.join(sorted(unknown))}")


@dataclass(frozen=True)
class StepResult:
    """What happened in one step.

    ``outcome`` picks the transition; ``transfer`` names a flow the call
    continues in (at its start step); ``details`` go to the step's trace
    entry and CDR step row; ``record`` sets built-in CDR columns of the call.
    """

    outcome: str
    transfer: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    record: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_record(self.record)


class StepInterrupted(Exception):
    """A step cut short by ``cause`` (one of STEP_FAILURES), carrying the
    details and CDR columns it had gathered: the interpreter keeps them and
    ends the step as if ``cause`` had been raised alone."""

    def __init__(self, cause: Exception, details: Mapping[str, Any], record: Mapping[str, Any]) -> None:
        super().__init__(str(cause))
        check_record(record)
        self.cause = cause
        self.details = dict(details)
        self.record = dict(record)


class StepNode(Protocol):
    """All the interpreter needs of a step's node."""

    @property
    def type_name(self) -> str:
        """The step type (``menu``, ``queue``...), for the trace and the logs."""
        ...

    async def run(self, ctx: CallContext) -> StepResult:
        """Run the step on the call and say what happened."""
        ...
