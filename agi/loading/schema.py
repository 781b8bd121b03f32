"""JSON Schemas of flow files: the parts the loader checks one by one (for
clear messages), and the whole schema for editors (``agiflow schema``)."""
from __future__ import annotations

from typing import Any

from agi.steps import REGISTRY
from agi.vocabulary import DIRECTIONS
from agi.yamlschema import FLOW_NAME, STEP_NAME, obj

FLOW_VERSION = 1

LANGUAGE = {"type": "string", "pattern": "^[a-z]{2,3}([_-][A-Za-z]{2,4})?$"}
#: A sound name as Asterisk takes it: relative to its sounds folder, no extension.
SOUND_NAME = {"type": "string", "pattern": r"^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_.+/-]*$"}
#: ``prompts: {agiflow/welcome: {en: "Welcome...", es: "Bienvenido..."}}``
PROMPTS_SCHEMA: dict[str, Any] = {
    "type": "object", "propertyNames": SOUND_NAME,
    "additionalProperties": {"type": "object", "minProperties": 1, "propertyNames": LANGUAGE,
                             "additionalProperties": {"type": "string", "minLength": 1}},
}

FLOW_SCHEMA: dict[str, Any] = obj({
    "version": {"const": FLOW_VERSION},
    "name": FLOW_NAME,
    "description": {"type": "string"},
    "timezone": {"type": "string", "minLength": 1},
    "direction": {"enum": list(DIRECTIONS)},
    "language": LANGUAGE,
    "start": STEP_NAME,
    "params": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
    "steps": {"type": "object", "minProperties": 1, "propertyNames": STEP_NAME,
              "additionalProperties": {"type": "object"}},
    "prompts": PROMPTS_SCHEMA,
}, ("version", "name", "start", "steps"))

COMMON_STEP_SCHEMA: dict[str, Any] = {
    "on": {"type": "object", "additionalProperties": STEP_NAME,
           "propertyNames": {"pattern": r"^[A-Za-z0-9_*#]+$"}},
    "next": STEP_NAME,
    "description": {"type": "string"},
}


def editor_schema() -> dict[str, Any]:
    """One JSON Schema for a whole flow file, for editors and CI linters."""
    step_variants = [
        {**obj({name: cls.schema, **COMMON_STEP_SCHEMA}, (name,)),
         "title": name, "description": cls.summary}
        for name, cls in sorted(REGISTRY.items())
    ]
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$id": "agiflow-flow.schema.json", "title": "agiflow flow", **FLOW_SCHEMA}
    schema["properties"] = {**FLOW_SCHEMA["properties"],
                            "steps": {**FLOW_SCHEMA["properties"]["steps"],
                                      "additionalProperties": {"oneOf": step_variants}}}
    return schema
