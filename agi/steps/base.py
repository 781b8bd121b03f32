"""What every step type provides: a schema, declared outcomes and ``run``,
which returns a StepResult (``done(...)`` builds one)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Mapping, cast

from agi.engine.step import STEP_FAILURES, StepInterrupted, StepResult, check_record

from agi.vocabulary import NEXT

if TYPE_CHECKING:
    from agi.engine.context import CallContext
    from agi.engine.model import Step
    from agi.hours.model import Schedule



class Node:
    """Base of step types. Subclasses are frozen dataclasses of their options.

    ``schema`` validates the value under the type's key in the YAML step;
    ``from_config`` builds the node from that validated value.
    """

    type_name: ClassVar[str]
    summary: ClassVar[str]
    schema: ClassVar[dict[str, Any]]

    @classmethod
    def from_config(cls, config: Any) -> "Node":
        raise NotImplementedError

    def with_schedules(self, schedules: Mapping[str, "Schedule | None"]) -> "Node":
        """The node bound to the loaded schedules (for steps that use one);
        the loader calls it before asking for outcomes and problems. A
        name that maps to None is declared but invalid."""
        return self

    def outcomes(self) -> tuple[str, ...]:
        """Outcomes this step can return besides the common ones."""
        return (NEXT,)

    def own_transitions(self) -> Mapping[str, str]:
        """Targets the step's options name themselves (menu choices)."""
        return {}

    def templates(self) -> list[tuple[str, str, bool]]:
        """(option path, text, is_condition) of every templated option, so
        the validator can compile them before any call."""
        return []

    def sets_variables(self) -> tuple[str, ...]:
        """Flow variables the step may set (``vars.NAME`` in templates), so
        the validator can tell a variable no step sets from one that is set."""
        return ()

    def channel_variables_set(self) -> tuple[str, ...]:
        """Channel variables the step writes as written, functions such as
        ``GLOBAL(NAME)`` included; a name a template builds is not known."""
        return ()

    def sets_cdr_fields(self) -> tuple[str, ...]:
        """CDR fields the step may set (``cdr.NAME`` in templates)."""
        return ()

    def problems(self) -> list[tuple[str, str]]:
        """(option path, message) for option combinations the schema cannot catch."""
        return []

    def flow_references(self) -> list[str]:
        """Other flows this step may transfer to."""
        return []

    def prompts(self) -> list[str]:
        """Sound files the step may play (templated names too), so that
        ``agiflow validate`` can warn about missing prompts. A step type
        that plays sounds returns every sound option it has."""
        return []

    def dials(self) -> bool:
        """True when the step places a call or may (Dial, Queue, code
        agiflow cannot see: see agi/call_guard.py): the validator keeps such
        steps away from the guarded outcomes of a do-not-call check."""
        return False

    def records(self) -> bool:
        """True when the step records the call (MixMonitor, Record...): the
        validator allows it only where a consent step has given consent."""
        return False

    def runs_hidden_code(self) -> bool:
        """True when the step runs applications, dialplan or programs agiflow
        cannot see (Gosub, AGI, Dial's U() option...): it may dial and may
        record, so the validator keeps it away from refused consent too."""
        return False

    def guarded_outcomes(self) -> tuple[str, ...]:
        """Outcomes of a do-not-call check from which no path, in this flow
        or any flow reached by ``goto``, may reach a step that dials."""
        return ()

    def consent_given(self, outcome: str) -> bool | None:
        """For a step that decides recording consent: whether ``outcome``
        leaves the call with consent to record (True) or without (False).
        None for every other step."""
        return None

    def list_references(self) -> tuple[str, ...]:
        """Number lists the step reads."""
        return ()

    def ends_flow(self) -> bool:
        """True when the step ends the call's flow whatever follows."""
        return False

    async def run(self, ctx: "CallContext") -> StepResult:
        raise NotImplementedError


def done(outcome: str, *, record: Mapping[str, Any] | None = None, **details: Any) -> StepResult:
    """What a step returns: its ``outcome``, the details of its trace entry
    and CDR row as keywords, and built-in CDR columns of the call in
    ``record``: ``return done("next", queue=name, record={"queue": name})``."""
    return StepResult(outcome, details=details, record=record or {})


class Findings:
    """Details and CDR columns a step gathers as it goes, for steps whose
    work can be cut short half-way (a hangup during a prompt, a template
    that fails): inside ``kept()`` what was found reaches the interpreter
    with the cause; ``result(outcome)`` is the StepResult at the end."""

    def __init__(self) -> None:
        self.details: dict[str, Any] = {}
        self.columns: dict[str, Any] = {}

    def note(self, **details: Any) -> None:
        self.details.update(details)

    def record(self, **columns: Any) -> None:
        """Set built-in CDR columns of the call (checked now, by name)."""
        check_record(columns)
        self.columns.update(columns)

    def result(self, outcome: str, transfer: str | None = None) -> StepResult:
        return StepResult(outcome, transfer, dict(self.details), dict(self.columns))

    @contextmanager
    def kept(self) -> Iterator[None]:
        """Run the step's work; if a hangup or failure cuts it short, the
        interpreter still gets the details and columns found so far."""
        try:
            yield
        except STEP_FAILURES as exc:
            raise StepInterrupted(exc, self.details, self.columns) from exc


def node_of(step: "Step") -> Node:
    """A loaded step's node as the loader built it, a Node: for the
    validator, diagrams and sound checks, which read more of it than the
    engine's StepNode interface."""
    return cast(Node, step.node)
