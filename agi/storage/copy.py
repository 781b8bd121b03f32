"""``agiflow db copy``: every row of one database into another (SQLite to
PostgreSQL to move a node to a fleet's database, or back).

The target is first brought to the current schema; it may already hold
other servers' rows. Tables are copied in chunks, one transaction each,
with only the columns both sides have, and nothing the target holds is
changed. What tells that a row is already there, and what happens to its id:

- calls, overrides and PINs: their keys (a call's id, a schedule's name, a
  number) are the same everywhere; a row whose key the target has is kept
  as it is.
- steps: the target numbers them; ``(call, seq)`` says a step is there.
- callback requests and audit entries keep their ids (the numbers agents
  know them by) when the target has no row with that id, else get a new
  one; a row the target already has (the same request or entry) is skipped.
- number lists: a list is its name. Its entries go into the target's list
  of that name (created, with an id of the target's, when missing), which
  gets those it lacks.

So an interrupted copy can be run again: it adds what is missing and
duplicates nothing. On PostgreSQL each chunk goes through ``COPY`` into a
temporary table, then ``INSERT ... ON CONFLICT DO NOTHING``.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from agi.db import postgres as pg
from agi.db import postgres_sql as pgsql
from agi.db.location import Database, PostgresUrl
from agi.storage.copy_lists import copy_lists
from agi.storage.copy_target import CopyTarget, read_chunks
from agi.storage.migrations import upgrade, version
from agi.storage.schema_version import newer_schema


@dataclass(frozen=True)
class Table:
    """How one table is copied. ``ids``: ``natural`` (the key is the
    same on every server), ``target`` (the target numbers the rows) or
    ``kept_when_free``; ``same``: the columns equal in a row the target
    already has (for ``kept_when_free``; those in ``nullable`` may both be
    NULL, the others never are, so that they can be matched by a hash)."""

    name: str
    ids: str = "natural"
    same: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()
    #: The columns a row still pending in the target takes from the source's once it is closed there.
    closing: tuple[str, ...] = ()


#: Tables in the order they are copied; the number lists come after the callbacks.
PLAN = (
    Table("calls"),
    Table("call_steps", "target"),
    Table("callbacks", "kept_when_free", ("requested_at", "number", "call_id", "request_key"),
          ("call_id", "request_key"), ("status", "done_at", "note")),
    Table("schedule_overrides"),
    Table("supervisor_pins"),
    Table("supervisor_audit", "kept_when_free", ("at", "number", "call_id", "action", "result", "detail"),
          ("call_id",)),
)
#: Every table a source may hold, for the check that it is agiflow's.
TABLES = tuple(table.name for table in PLAN) + ("number_lists", "list_entries", "list_generations")


class CopyError(Exception):
    """The copy cannot be made (same database, no agiflow tables in the source)."""


@dataclass
class Copied:
    """Rows read per table, and rows that got a new id because the target
    used theirs for another row."""

    rows: dict[str, int]
    renumbered: dict[str, int]


def copy_database(source: Database, target: Database,
                  progress: Callable[[str, int], None] = lambda table, rows: None) -> dict[str, int]:
    """Copy every agiflow table of ``source`` into ``target``; the rows
    read per table. ``progress(table, rows)`` after each chunk."""
    return copy_all(source, target, progress).rows


def copy_all(source: Database, target: Database,
             progress: Callable[[str, int], None] = lambda table, rows: None) -> Copied:
    """``copy_database``, saying also which rows got new ids."""
    if _same_database(source, target):
        raise CopyError("the source and the target are the same database")
    if not isinstance(source, PostgresUrl) and not Path(source).is_file():
        raise CopyError(f"no database at {source}")
    found = version(source)
    newer = newer_schema(source, found)
    if newer:
        raise CopyError(f"{newer}: its newer columns would be left behind; copy it with an agiflow of its version")
    upgrade(target)
    copied = Copied({}, {})
    with contextlib.closing(_open(source)) as reader, contextlib.closing(_open(target)) as writer:
        source_tables = _columns(reader, source)
        if not any(table in source_tables for table in TABLES):
            raise CopyError(f"{source} has none of agiflow's tables")
        into = CopyTarget(writer, isinstance(target, PostgresUrl), _columns(writer, target))
        for table in PLAN:
            if table.name in source_tables:
                _copy_table(reader, isinstance(source, PostgresUrl), into, table, source_tables[table.name],
                            copied, progress)
        if "number_lists" in source_tables and "list_entries" in source_tables:
            copied.rows.update(copy_lists(reader, isinstance(source, PostgresUrl), into, source_tables, progress))
        into.analyze([name for name, rows in copied.rows.items() if rows])
    return copied


def _copy_table(reader: Any, source_pg: bool, into: CopyTarget, table: Table, source_columns: list[str],
                copied: Copied, progress: Callable[[str, int], None]) -> None:
    columns = [c for c in source_columns if c in into.tables.get(table.name, ())]
    if table.ids == "target":
        columns = [c for c in columns if c != "id"]
    order = "id" if "id" in source_columns else None
    copied.rows[table.name] = 0
    for chunk in read_chunks(reader, source_pg, f"SELECT {', '.join(columns)} FROM {table.name}"
                             + (f" ORDER BY {order}" if order else "")):
        same = [c for c in table.same if c in columns]
        if table.ids == "kept_when_free" and "id" in columns and same:
            renumbered = into.write_keeping_free_ids(table.name, columns, chunk, same,
                                                     [c for c in table.nullable if c in same], table.closing)
            if renumbered:
                copied.renumbered[table.name] = copied.renumbered.get(table.name, 0) + renumbered
        elif table.name == "calls" and "id" in columns:
            into.write_ending_calls(columns, chunk)
        else:
            into.write(table.name, columns, chunk)
        copied.rows[table.name] += len(chunk)
        progress(table.name, copied.rows[table.name])


def _same_database(source: Database, target: Database) -> bool:
    """Whether both name one database, however written: a path through a
    link, or a URL with another host name, port or parameters."""
    if isinstance(source, PostgresUrl) and isinstance(target, PostgresUrl):
        return str(source) == str(target) or _identity(source) == _identity(target)
    if isinstance(source, PostgresUrl) or isinstance(target, PostgresUrl):
        return False
    if Path(source).resolve() == Path(target).resolve():
        return True
    return Path(source).exists() and Path(target).exists() and os.path.samefile(source, target)


def _identity(url: PostgresUrl) -> tuple[str, ...]:
    """The server, database and schema ``url`` reaches (agi/db/postgres_sql.py)."""
    with contextlib.closing(pg.connect(url, application_name="agiflow db copy")) as conn:
        return tuple(conn.execute(pgsql.IDENTITY).fetchone() or ())


def _open(database: Database) -> Any:
    if isinstance(database, PostgresUrl):
        return pg.Connection(pg.connect(database, application_name="agiflow db copy"))
    conn = sqlite3.connect(database, isolation_level=None)
    conn.text_factory = _text_or_bytes
    return conn


def _text_or_bytes(raw: bytes) -> str | bytes:
    """A TEXT of SQLite's as text; one whose bytes are no UTF-8 (another
    tool's row) as those bytes, which the copy takes as it takes a BLOB."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def _columns(conn: Any, database: Database) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if isinstance(database, PostgresUrl):
        rows = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position")
        for table, column in rows:
            found.setdefault(table, []).append(column)
        return found
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        found[table] = [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]
    return found


