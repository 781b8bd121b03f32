"""JSON Schema of flow test-case files (``*.tests.yaml``).

A file names the flow it tests and lists cases; each case says what the
caller does (the inputs) and what must come out (``expect``). ``defaults``
gives inputs shared by every case of the file.
"""
from __future__ import annotations

from typing import Any

from agi.sim.script import SCRIPTED_STATUSES
from agi.steps.queue import ABANDONED_STATUS
from agi.storage.callbacks import REQUEST_FIELDS
from agi.vocabulary import STATUSES
from agi.yamlschema import FLOW_NAME, STEP_NAME, obj

CASE_FILE_VERSION = 1

_TEXT = {"type": "string"}
_NUMBER = {"type": "string", "minLength": 1}
#: One prompt's keys; YAML may write them as a number (``[2, 12345678]``).
_KEYS = {"type": ["string", "integer", "null"], "pattern": r"^(-|[0-9*#ABCD]*)$", "minimum": 0}
#: How Asterisk can end each Queue(), Dial() and VoiceMail() run, and what an
#: earlier call's CDR can hold: a misspelt one would run the case on a status
#: no Asterisk gives.
_QUEUE_STATUS = {"enum": list(SCRIPTED_STATUSES["queue"])}
_DIAL_STATUS = {"enum": list(SCRIPTED_STATUSES["dial"])}
_VM_STATUS = {"enum": list(SCRIPTED_STATUSES["voicemail"])}
_CDR_QUEUE_STATUS = {"enum": [*SCRIPTED_STATUSES["queue"], ABANDONED_STATUS]}
_SCALAR = {"type": ["string", "number", "boolean", "null"]}
_CHANCE = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
#: Seconds a simulated call's clock moves on by: at most a day.
_CALL_SECONDS = {"type": "number", "minimum": 0, "maximum": 86400}
_OVERRIDE_STATE = {"enum": ["open", "closed"]}
_PATH_ENTRY = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_-]*(:[A-Za-z0-9_*#]+)?$"}

#: What the caller, Asterisk and the services do in one case.
INPUTS: dict[str, Any] = {
    "caller": _TEXT,
    "called": _TEXT,
    "at": {},  # a time: checked when the case is built (YAML may give a datetime)
    "dtmf": {"oneOf": [{"type": "string", "pattern": r"^[0-9*#ABCD, -]*$"},
                       {"type": "array", "items": _KEYS}]},
    "hangup_after": {"type": "integer", "minimum": 0},
    "queue_statuses": {"type": "array", "items": _QUEUE_STATUS},
    "dial_statuses": {"type": "array", "items": _DIAL_STATUS},
    "vm_statuses": {"type": "array", "items": _VM_STATUS},
    "queue_wait": _CALL_SECONDS,
    "talk_time": _CALL_SECONDS,
    "app_results": {"type": "object", "additionalProperties": {"type": "integer"}},
    "lists": {"type": "object", "additionalProperties": {
        "oneOf": [{"type": "array", "items": _NUMBER}, {"const": "unavailable"}]}},
    "overrides": {"type": "object", "additionalProperties": {
        "oneOf": [_OVERRIDE_STATE,
                  obj({"state": _OVERRIDE_STATE, "from": {}, "until": {}, "reason": _TEXT}, ("state",))]}},
    "random": {"oneOf": [_CHANCE, {"type": "array", "items": _CHANCE, "minItems": 1}]},
    "webhook_response": {"oneOf": [{"type": "integer", "minimum": 100, "maximum": 599},
                                   {"const": "timeout"}]},
    "agent": {"oneOf": [_NUMBER, obj({"name": _NUMBER, "interface": _NUMBER}, ("interface",))]},
    # a list of earlier calls, or "unavailable" (pattern applies to text, items to lists)
    "history": {"type": ["array", "string"], "pattern": "^unavailable$", "items": obj({
        "at": {}, "caller": _TEXT, "status": {"enum": list(STATUSES)}, "queue": _NUMBER,
        "queue_status": _CDR_QUEUE_STATUS, "dial_status": _DIAL_STATUS, "agent": _NUMBER,
        "agent_interface": _NUMBER}, ("at",))},
    "pending_callbacks": {"type": "array", "items": _NUMBER},
    "args": {"type": "array", "items": _TEXT},
    "on_call": {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]*/.+$"}},
    "spy_sessions": {"type": "array", "items": obj({"seconds": _CALL_SECONDS,
                                                    "ends": {"enum": ["key", "agent", "hangup"]}}, ("ends",))},
    # supervisors' PINs by number, or "unavailable" (pattern applies to text)
    "supervisors": {"type": ["object", "string"], "pattern": "^unavailable$",
                    "additionalProperties": {"type": "string", "pattern": "^[0-9]{4,12}$"}},
}

#: What must come out of the case; each key is checked on its own.
EXPECT: dict[str, Any] = {
    "path": {"type": "array", "items": _PATH_ENTRY},
    "path_includes": {"type": "array", "items": _PATH_ENTRY, "minItems": 1},
    "visits": {"type": "array", "items": STEP_NAME, "minItems": 1},
    "skips": {"type": "array", "items": STEP_NAME, "minItems": 1},
    "status": _TEXT,
    "outcome": _TEXT,
    "last_step": STEP_NAME,
    "cdr": {"type": "object", "additionalProperties": _SCALAR},
    "fields": {"type": "object", "additionalProperties": _SCALAR},
    "variables": {"type": "object", "additionalProperties": _SCALAR},
    "commands_include": {"type": "array", "items": _NUMBER, "minItems": 1},
    "commands_exclude": {"type": "array", "items": _NUMBER, "minItems": 1},
    "callbacks": {"type": "array", "items": obj({column: _SCALAR for column in REQUEST_FIELDS})},
    "callbacks_closed": {"type": "array", "items": _NUMBER},
    "webhooks": {"type": "array", "items": obj({"url": _TEXT, "payload": {"type": "object"}, "wait": {"type": "boolean"},
                                                "headers": {"type": "object", "additionalProperties": _TEXT}})},
}

CASE_SCHEMA: dict[str, Any] = obj({
    "name": {"type": "string", "minLength": 1},
    "flow": FLOW_NAME,
    **INPUTS,
    "expect": {**obj(EXPECT), "minProperties": 1},
}, ("name", "expect"))

CASE_FILE_SCHEMA: dict[str, Any] = obj({
    "version": {"const": CASE_FILE_VERSION},
    "flow": FLOW_NAME,
    "description": _TEXT,
    "defaults": obj(INPUTS),
    "cases": {"type": "array", "minItems": 1, "items": {"type": "object"}},
}, ("version", "flow", "cases"))
