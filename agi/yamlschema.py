"""JSON Schema pieces shared by every YAML file agiflow reads: flows, step
options, schedules files, flow test cases and config.yaml.

Pure data and one conversion; no step type, no loader. ``obj`` makes a
closed object (unknown keys are errors, as everywhere in agiflow).
"""
from __future__ import annotations

from typing import Any

#: A step's name (also the target of ``next``, ``on`` and menu choices).
STEP_NAME = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]*$"}
#: A flow's name, as reached at ``agi://host:port/<name>`` (may have folders).
FLOW_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"}
#: A channel or flow variable name.
VARIABLE_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
#: One or more DTMF keys; YAML may write them as numbers.
DTMF_KEY = {"type": ["string", "integer"], "pattern": "^[0-9*#]+$"}
#: Exactly one key a caller can press for a choice (no ``#``: it ends entries).
#: One DTMF key; a key written as a YAML number (``accept: 1``) is one digit too.
ONE_KEY = {"type": ["string", "integer"], "pattern": "^[0-9*]$", "minimum": 0, "maximum": 9}
SECONDS = {"type": "number", "exclusiveMinimum": 0, "maximum": 3600}
COUNT = {"type": "integer", "minimum": 0, "maximum": 50}
#: A non-empty text option (often a template).
TEXT = {"type": "string", "minLength": 1}
#: A text option that is often all digits (a queue, a mailbox): YAML may
#: write it as a number; it is the same text. Not phone numbers: YAML reads
#: +34600111222 as the number 34600111222, which would lose its +.
DIGITS_TEXT = {"type": ["string", "integer"], "minLength": 1, "minimum": 0}


def obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed JSON Schema object: unknown keys are errors."""
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


def digits_text(value: Any) -> Any:
    """A ``DIGITS_TEXT`` option as text (``queue: 400`` is ``"400"``);
    None stays None."""
    return value if value is None or isinstance(value, str) else str(value)


def dtmf(value: Any) -> str:
    """DTMF keys may be written as numbers in YAML; they are always text."""
    return str(value)
