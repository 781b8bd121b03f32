"""The schema version this agiflow writes and reads: the last migration's
(agi/storage/migrations.py; a test checks they agree). A module of its own
so that a command that only reads can refuse a newer database without
loading the migrations and what they bring."""
from __future__ import annotations

SCHEMA_VERSION = 7


def newer_schema(what: object, found: int) -> str | None:
    """``WHAT has schema version N, newer than this agiflow knows (M)`` when
    ``found`` is newer than SCHEMA_VERSION, else None: every refusal of a
    newer database says it so."""
    if found <= SCHEMA_VERSION:
        return None
    return f"{what} has schema version {found}, newer than this agiflow knows ({SCHEMA_VERSION})"
