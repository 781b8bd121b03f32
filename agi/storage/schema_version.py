"""The schema version this agiflow writes and reads: the last migration's
(agi/storage/migrations.py; a test checks they agree). A module of its own
so that a command that only reads can refuse a newer database without
loading the migrations and what they bring."""
from __future__ import annotations

SCHEMA_VERSION = 7


def newer_schema(where: object, found: int) -> str | None:
    """Why a database at schema version ``found`` is not for this agiflow, or None."""
    if found <= SCHEMA_VERSION:
        return None
    return (f"the database {where}: the database has schema version {found}, newer than this agiflow "
            f"knows ({SCHEMA_VERSION}): upgrade agiflow")
