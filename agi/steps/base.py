"""What every step type provides: a schema, declared outcomes and ``run``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Mapping

if TYPE_CHECKING:
    from agi.engine.context import CallContext
    from agi.hours.model import Schedule

#: Outcomes every step may have: the caller hung up, or the step failed.
COMMON_OUTCOMES = ("hangup", "error")
#: The outcome of a step that simply finished; ``next:`` names its target.
NEXT = "next"

DTMF_KEY = {"type": ["string", "integer"], "pattern": "^[0-9*#]+$"}
SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}
COUNT = {"type": "integer", "minimum": 0, "maximum": 50}
#: A non-empty text option (often a template).
TEXT = {"type": "string", "minLength": 1}


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
        """True when the step places an outgoing call (Dial, Originate):
        the validator keeps such steps away from the ``listed`` and
        ``error`` outcomes of a do-not-call check."""
        return False

    def guarded_outcomes(self) -> tuple[str, ...]:
        """Outcomes from which no path may reach a step that dials."""
        return ()

    def list_references(self) -> tuple[str, ...]:
        """Number lists the step reads."""
        return ()

    def ends_flow(self) -> bool:
        """True when the step ends the call's flow whatever follows."""
        return False

    async def run(self, ctx: "CallContext") -> str:
        raise NotImplementedError


def obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed JSON Schema object: unknown keys are errors."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def dtmf(value: Any) -> str:
    """DTMF keys may be written as numbers in YAML; they are always text."""
    return str(value)
