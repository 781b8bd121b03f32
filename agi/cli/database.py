"""Is the configured database one a command can use? Checked before a
command opens it, so that a wrong ``database`` setting is one clear line
(a folder, random bytes, another program's SQLite file, a missing file)
and never a traceback from deep inside a query.

A PostgreSQL database is checked by connecting to it and reading its
schema version; a command that writes brings the schema up to date first
(online migrations only, as ``agiflow serve`` does). No click here.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import quote

from agi.db.location import COMPANIONS, Database, PostgresUrl
from agi.wording import file_kind
from agi.storage.schema_version import newer_schema

#: The columns of agiflow's tables that every version has. A table of one
#: of these names without them belongs to another program.
AGIFLOW_TABLES: dict[str, frozenset[str]] = {
    "calls": frozenset({"id", "call_id", "started_at", "status"}),
    "call_steps": frozenset({"id", "call", "seq"}),
    "callbacks": frozenset({"id", "requested_at", "number", "status"}),
    "number_lists": frozenset({"name", "id", "entries", "created_at", "updated_at"}),
    "list_entries": frozenset({"list_id", "number", "note", "added_at"}),
    "list_generations": frozenset({"id", "name", "created_at"}),
    "schedule_overrides": frozenset({"schedule", "state", "until", "reason", "set_at"}),
    "supervisor_pins": frozenset({"number", "pin_hash", "failures", "locked_until", "updated_at"}),
    "supervisor_audit": frozenset({"id", "at", "number", "action", "result"}),
    "agiflow_schema": frozenset({"version", "upgraded_at"}),
}
#: Tables SQLite or its extensions add to any database.
_SQLITE_TABLES = ("sqlite_", "_litestream")


class Need(Enum):
    """What a command does with the database."""

    READ = "read"  # it must exist
    OPTIONAL = "optional"  # read when it exists (simulate, schedule list)
    UPDATE = "update"  # it must exist and be writable
    WRITE = "write"  # created (with its folder) when missing, else it must be writable
    CREATE = "create"  # as WRITE, its schema left to the command (db upgrade, db copy)


#: Ends the problems that a wrong ``database`` setting may cause; left out
#: for a database named on the command line.
CONFIG_HINT = "(check 'database' in the config)"


def database_problem(path: Database, need: Need) -> str | None:
    """Why the database at ``path`` cannot serve a command that needs it
    (``need``), as one sentence naming the file; None when it can."""
    if isinstance(path, PostgresUrl):
        return _postgres_problem(path, need)
    companion = _companion_of(path)
    if companion:
        return companion
    if path.is_dir():
        return f"the database {path} is a directory, not a database file {CONFIG_HINT}"
    if not path.exists():
        if need in (Need.READ, Need.UPDATE):
            return f"the database {path} does not exist"
        return None  # the command creates it, once its arguments are known to be right
    if not path.is_file():  # opened, a named pipe held every command for ever
        return f"the database {path} is {file_kind(path.stat().st_mode)}, not a database file " \
               "(check 'database' in the config)"
    if not os.access(path, os.R_OK):
        return f"the database {path} cannot be read (permission denied)"
    problem = _schema_problem(path)
    if problem or need in (Need.READ, Need.OPTIONAL):
        return problem
    problem = _newer_schema(path)
    if problem:
        return problem
    if not os.access(path, os.W_OK):
        return f"the database {path} is read-only"
    if not os.access(path.parent, os.W_OK):
        return f"the folder of the database {path} is read-only (SQLite writes its journal beside the file)"
    return _sqlite_upgrade(path) if need is not Need.CREATE else None


def _sqlite_upgrade(path: Path) -> str | None:
    """A command that writes brings the schema up to date first (online
    migrations only), as on PostgreSQL: a file a list command made has
    every table the other commands read."""
    from agi.storage.migrations import SchemaError, upgrade_when_behind
    try:
        upgrade_when_behind(path)
    except SchemaError as exc:
        return f"the database {path}: {exc}"
    except sqlite3.Error as exc:
        return f"the database {path}: {' '.join(str(exc).split())}"
    return None


def _companion_of(path: Path) -> str | None:
    """A file SQLite keeps beside another database is none of its own:
    opened as one, it is made a database that SQLite later takes for the
    other's log and empties (or it breaks the other database's log)."""
    for suffix, kind in COMPANIONS.items():
        if path.name.endswith(suffix) and path.with_name(path.name[:-len(suffix)]).is_file():
            return (f"the database {path} is the {kind} of the database "
                    f"{path.with_name(path.name[:-len(suffix)])}, not a database of its own")
    return None


def _schema_problem(path: Path) -> str | None:
    """An SQLite file with agiflow's tables (or no tables yet)?"""
    try:
        with contextlib.closing(_read_only(path)) as conn:
            tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            wrong = [name for name in tables if name in AGIFLOW_TABLES
                     and not AGIFLOW_TABLES[name] <= {row[1] for row in conn.execute(f'PRAGMA table_info("{name}")')}]
    except sqlite3.Error as exc:
        return _open_problem(path, exc)
    if wrong:
        return (f"the database {path} is not agiflow's: its table {wrong[0]!r} has other columns "
                f"{CONFIG_HINT}")
    own = [name for name in tables if not name.startswith(_SQLITE_TABLES)]
    if own and not any(name in AGIFLOW_TABLES for name in own):
        shown = ", ".join(map(repr, own[:3])) + (", ..." if len(own) > 3 else "")
        return f"the database {path} is not agiflow's: it has none of agiflow's tables (it has {shown})"
    return None


def _refused_as_newer(where: Database, found: int) -> str | None:
    newer = newer_schema("the database", found)
    return None if newer is None else f"the database {where}: {newer}: upgrade agiflow"


def _newer_schema(path: Path) -> str | None:
    """A database that a newer agiflow wrote is not for this one to write
    (docs/database.md): the schema version, read without changing anything."""
    try:
        with contextlib.closing(_read_only(path)) as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'agiflow_schema'").fetchone():
                return None
            found = conn.execute("SELECT max(version) FROM agiflow_schema").fetchone()[0] or 0
    except sqlite3.Error as exc:
        return _open_problem(path, exc)
    return _refused_as_newer(path, int(found))


def _open_problem(path: Path, exc: sqlite3.Error) -> str:
    """Why SQLite could not read ``path``, in words."""
    code = getattr(exc, "sqlite_errorname", "")
    if code == "SQLITE_NOTADB":
        return f"the database {path} is not an SQLite database ({exc})"
    if code == "SQLITE_CORRUPT":
        return f"the database {path} is damaged ({exc})"
    if not os.access(path.parent, os.W_OK):
        return (f"the database {path} cannot be opened ({exc}): its folder is read-only, and SQLite "
                f"must create {path.name}-shm beside a WAL database even to read it")
    if code.startswith(("SQLITE_IOERR", "SQLITE_FULL")) and _disk_full(path.parent):
        return (f"the database {path} cannot be opened ({exc}): its disk is full, and SQLite "
                f"must create {path.name}-shm beside a WAL database even to read it")
    return f"the database {path} cannot be opened ({exc})"


def _disk_full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False


def _read_only(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def _postgres_schema_problem(url: PostgresUrl, conn: Any, reads: bool) -> str | None:
    """What is wrong with the tables ``conn`` sees: another program's, or
    (for a command that only ``reads``) a schema newer than this agiflow's."""
    from agi.db import libpq
    from agi.db import postgres_sql as pgsql
    try:
        columns: dict[str, set[str]] = {}
        for table, column in conn.execute(pgsql.TABLE_COLUMNS):
            columns.setdefault(table, set()).add(column)
        has_version = conn.execute(pgsql.HAS_VERSION_TABLE).fetchone()
        found = conn.execute(pgsql.READ_VERSION).fetchone() if has_version and has_version[0] else None
    except libpq.PostgresError as exc:
        return f"cannot use the database {url}: {exc}"
    wrong = sorted(name for name in columns if name in AGIFLOW_TABLES and not AGIFLOW_TABLES[name] <= columns[name])
    if wrong:  # another program's table: never upgraded, written or read as agiflow's
        return f"the database {url} is not agiflow's: its table {wrong[0]!r} has other columns {CONFIG_HINT}"
    if reads:  # what reads it checks the tables it reads
        return _refused_as_newer(url, int(found[0] or 0) if found else 0)
    return None


def _postgres_problem(url: PostgresUrl, need: Need) -> str | None:
    """Can the server be reached, are agiflow's tables there agiflow's, and
    is its schema one this agiflow reads? Read with agiflow's libpq client
    (neither psycopg nor the migrations: a report starts sooner); a command
    that writes then upgrades it (online migrations only)."""
    from agi.db import libpq
    try:
        conn = libpq.open_connection(url, "agiflow")
    except libpq.PostgresError as exc:
        return f"cannot use the database {url}: {exc}"
    reads = need not in (Need.WRITE, Need.UPDATE)
    problem = _postgres_schema_problem(url, conn, reads)
    if problem is None and reads:
        libpq.keep(conn)  # a report reads on the same server backend
        return None
    conn.close()
    if problem is not None or reads:
        return problem
    import psycopg

    from agi.db import postgres as pg
    from agi.storage.migrations import SchemaError, upgrade
    try:
        upgrade(url, online_only=True)
    except SchemaError as exc:
        return f"the database {url}: {exc}"
    except psycopg.Error as exc:
        return f"cannot use the database {url}: {pg.one_line(exc)}"
    return None
