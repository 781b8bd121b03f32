"""The schema's version and the migrations that bring a database to it,
for both backends (``agiflow db upgrade``; ``agiflow serve`` runs them at
start when every pending one is ``online``).

A migration is one version step with the statements of each backend. On
PostgreSQL each runs in one transaction with the new version, under an
advisory lock, so that servers starting together take turns and a failed
step changes nothing. SQLite's steps are the idempotent ``ensure_*``
functions of each store, which also upgrade files from before versions
existed. After the steps, columns the code knows and a table lacks (added
by a newer agiflow to agi.vocabulary) are added on both backends.
"""
from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import sqlite_utils

from agi.db.transactions import rollback
from agi.db import postgres as pg
from agi.db import postgres_sql as pgsql
from agi.db.location import Database, PostgresUrl
from agi.lists import schema as list_schema
from agi.storage import rollups
from agi.storage.callbacks import CALLBACK_COLUMNS
from agi.storage.cdr_schema import ensure_schema as ensure_cdr_schema
from agi.storage.schema_version import SCHEMA_VERSION, newer_schema
from agi.storage.overrides import CREATE_TABLE as OVERRIDES_TABLE, add_who_columns
from agi.storage.supervisors import SUPERVISOR_TABLES
from agi.vocabulary import CALL_COLUMNS, iso

log = logging.getLogger("agiflow.database")
SQLITE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS agiflow_schema (version INTEGER NOT NULL, upgraded_at TEXT NOT NULL)"
SQLITE_READ_VERSION = "SELECT max(version) FROM agiflow_schema"


class SchemaError(Exception):
    """The database's schema cannot be used or upgraded here; the message says what to do."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    #: Safe while other servers use the database (adds tables, columns,
    #: indexes): ``agiflow serve`` runs it at start. Others need ``agiflow db upgrade``.
    online: bool
    sqlite: Callable[[sqlite3.Connection], None]
    postgres: tuple[str, ...]


def _sqlite_v1(conn: sqlite3.Connection) -> None:
    """Every table, as the stores create them (files from before versions included)."""
    ensure_cdr_schema(sqlite_utils.Database(conn))
    list_schema.ensure_schema(conn)
    conn.execute(OVERRIDES_TABLE)


def _sqlite_v2(conn: sqlite3.Connection) -> None:
    """Keys that make retried CDR writes change nothing (see VERSION_2):
    ``ensure_cdr_schema`` (version 1's step, run first) makes them."""


def _sqlite_v3(conn: sqlite3.Connection) -> None:
    """Who set an override and how; supervisors' PINs and audit log. The
    new calls and callbacks columns and index are version 1's step's."""
    add_who_columns(conn)
    for statement in SUPERVISOR_TABLES:
        conn.execute(statement)


def _sqlite_v4(conn: sqlite3.Connection) -> None:
    """The new calls columns: version 1's step adds them."""


def _sqlite_v5(conn: sqlite3.Connection) -> None:
    """The rollups' tables and triggers, and the E.164 caller index: version 1's step adds them."""


def _sqlite_v6(conn: sqlite3.Connection) -> None:
    """The rollups counted again (see FORGET_ROLLUP_COUNTS)."""
    conn.execute(FORGET_ROLLUP_COUNTS)


def _sqlite_v7(conn: sqlite3.Connection) -> None:
    """The campaign rollups (version 1's step creates their table and
    ``rollups_pending``): what the rollups were counted by is kept
    (``counted_by``); the pending quarter hours move to ``rollups_pending``
    (see OLD_PENDING_VIEW), the triggers are made anew to mark it, and for
    schedule steps too; the rollups are counted again (see
    FORGET_ROLLUP_COUNTS), which fills the new table."""
    if "counted_by" not in {row[1] for row in conn.execute("PRAGMA table_info(call_rollups_state)")}:
        conn.execute("ALTER TABLE call_rollups_state ADD COLUMN counted_by INTEGER")
    old = conn.execute("SELECT type FROM sqlite_master WHERE name = 'call_rollups_pending'").fetchone()
    for statement in rollups.SQLITE_DROP_TRIGGERS:
        conn.execute(statement)
    if old is not None and old[0] == "table":
        conn.execute("INSERT OR IGNORE INTO rollups_pending (bucket) SELECT bucket FROM call_rollups_pending")
        conn.execute("DROP TABLE call_rollups_pending")
    for statement in ("DROP VIEW IF EXISTS call_rollups_pending", rollups.OLD_PENDING_VIEW, *rollups.SQLITE_TRIGGERS,
                      *rollups.SQLITE_STEP_TRIGGERS, FORGET_ROLLUP_COUNTS):
        conn.execute(statement)


#: Version 6 corrected the wait of a call that left a queue it never entered
#: (FULL, JOINEMPTY...) for a dial: forgetting what the rollups were counted
#: with makes reports read the calls until the next roll counts them all again.
FORGET_ROLLUP_COUNTS = "DELETE FROM call_rollups_state"

#: PostgreSQL's version 7: the campaign rollups; ``counted_by``; the pending quarter hours
#: moved to ``rollups_pending`` (see OLD_PENDING_VIEW); the trigger functions
#: made anew to mark it, and for schedule steps too; the rollups counted again.
POSTGRES_V7 = (
    *rollups.tables(postgres=True),
    "ALTER TABLE call_rollups_state ADD COLUMN IF NOT EXISTS counted_by INTEGER",
    "DO $do$ BEGIN IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('call_rollups_pending')) = 'r' THEN "
    "INSERT INTO rollups_pending (bucket) SELECT bucket FROM call_rollups_pending ON CONFLICT DO NOTHING; "
    "DROP TABLE call_rollups_pending; END IF; END $do$",
    rollups.OLD_PENDING_VIEW.replace("CREATE VIEW", "CREATE OR REPLACE VIEW"),
    *rollups.POSTGRES_TRIGGERS,
    FORGET_ROLLUP_COUNTS,
)

#: PostgreSQL's version 5.
POSTGRES_V5 = (
    *rollups.tables(postgres=True),
    *rollups.POSTGRES_TRIGGERS,
    "CREATE INDEX IF NOT EXISTS idx_calls_e164_started ON calls (caller_e164, started_at)",
)

MIGRATIONS = (
    Migration(1, "calls, steps, callbacks, number lists, schedule overrides", True, _sqlite_v1, pgsql.VERSION_1),
    Migration(2, "unique keys for idempotent CDR and callback writes", True, _sqlite_v2, pgsql.VERSION_2),
    Migration(3, "agents who answered, callback attempts, override authors, supervisors' PINs and audit log",
              True, _sqlite_v3, pgsql.VERSION_3),
    Migration(4, "calls' direction, caller in E.164, ring time and hangup cause", True, _sqlite_v4, pgsql.VERSION_4),
    Migration(5, "rollups per quarter hour for the reports; an index on callers in E.164", True, _sqlite_v5,
              POSTGRES_V5),
    Migration(6, "the rollups counted again with the corrected wait of calls that overflowed from a queue",
              True, _sqlite_v6, (FORGET_ROLLUP_COUNTS,)),
    Migration(7, "rollups of the campaign report's legs; schedule steps make their call's rollups pending",
              True, _sqlite_v7, POSTGRES_V7),
)


def version(database: Database) -> int:
    """The database's schema version: 0 when it has none yet (new, or
    from before versions)."""
    if isinstance(database, PostgresUrl):
        with contextlib.closing(pg.connect(database)) as conn:
            return _pg_version(pg.Connection(conn))
    if not Path(database).is_file():
        return 0
    with contextlib.closing(sqlite3.connect(database, isolation_level=None)) as conn:
        return _sqlite_version(conn)


#: How long an SQLite upgrade waits for other connections' writes.
SQLITE_LOCK_WAIT = 30.0


def upgrade(database: Database, *, online_only: bool = False,
            clock: Callable[[], float] = time.time) -> list[Migration]:
    """Bring ``database`` to SCHEMA_VERSION; the migrations run. SchemaError
    when it is newer than this agiflow, or when ``online_only`` and a
    pending migration is not online."""
    if isinstance(database, PostgresUrl):
        with contextlib.closing(pg.connect(database)) as raw:
            return _upgrade_pg_in_turn(pg.Connection(raw), online_only, iso(clock()) or "")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + SQLITE_LOCK_WAIT
    while True:
        with contextlib.closing(sqlite3.connect(database, isolation_level=None, timeout=SQLITE_LOCK_WAIT)) as conn:
            try:
                return _upgrade_sqlite(conn, online_only, iso(clock()) or "")
            except sqlite3.OperationalError as exc:
                # A step that reads the schema and then writes can get
                # SQLITE_BUSY at once, without SQLite's wait, when another
                # connection writes meanwhile: every step is idempotent, so
                # the upgrade starts again on a new connection.
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
        time.sleep(0.05)


def upgrade_when_behind(database: Database) -> list[Migration]:
    """What a command that writes runs first: the online steps of a
    database whose schema is behind this agiflow's (a SQLite file a list
    command made with the lists' tables alone, or a new one). A current
    schema is left as it is: a table removed from it by hand is not made
    again, empty, behind the back of what reads it (a do-not-call list)."""
    if version(database) == SCHEMA_VERSION:
        return []
    return upgrade(database, online_only=True)


def _pending(current: int, online_only: bool, where: str) -> list[Migration]:
    newer = newer_schema(where, current)
    if newer:
        raise SchemaError(f"{newer}: upgrade agiflow")
    pending = [m for m in MIGRATIONS if m.version > current]
    offline = [m for m in pending if not m.online]
    if online_only and offline:
        raise SchemaError(f"{where} needs schema version {offline[0].version} ({offline[0].description}), "
                          f"which cannot be applied while servers run: stop them and run `agiflow db upgrade`")
    return pending


def _sqlite_version(conn: sqlite3.Connection) -> int:
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "agiflow_schema" not in tables:
        return 0
    return int(conn.execute(SQLITE_READ_VERSION).fetchone()[0] or 0)


def _upgrade_sqlite(conn: sqlite3.Connection, online_only: bool, now: str) -> list[Migration]:
    """Every step is idempotent: the first always runs, and adds columns the code knows."""
    pending = _pending(_sqlite_version(conn), online_only, "the database")
    _sqlite_v1(conn)
    conn.execute(SQLITE_VERSION_TABLE)
    for migration in pending:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if migration.version > 1:
                migration.sqlite(conn)
            conn.execute("INSERT INTO agiflow_schema (version, upgraded_at) VALUES (?, ?)",
                         (migration.version, now))
            conn.execute("COMMIT")
        except BaseException:
            rollback(conn)
            raise
    return pending


def _pg_version(conn: pg.Connection) -> int:
    if not conn.execute(pgsql.HAS_VERSION_TABLE).fetchone()[0]:
        return 0
    return int(conn.execute(pgsql.READ_VERSION).fetchone()[0] or 0)


#: How long a PostgreSQL upgrade's statement waits for a lock on a table
#: (``calls``, to replace its triggers) before it lets go and tries again: a
#: lock request waiting behind a long transaction (a report's snapshot) holds
#: up every server's writes to that table behind it.
PG_LOCK_TIMEOUT = "500ms"
#: The pause between two tries, and how long an upgrade tries in all.
PG_LOCK_PAUSE = 1.0
PG_LOCK_WAIT = 600.0


def _upgrade_pg_in_turn(conn: pg.Connection, online_only: bool, now: str) -> list[Migration]:
    """``_upgrade_pg`` tried again while the tables are held by another
    transaction, each try waiting at most PG_LOCK_TIMEOUT for its locks;
    SchemaError after PG_LOCK_WAIT."""
    from psycopg import errors
    deadline = time.monotonic() + PG_LOCK_WAIT
    said = False
    while True:
        try:
            return _upgrade_pg(conn, online_only, now)
        except errors.LockNotAvailable as exc:
            if time.monotonic() + PG_LOCK_PAUSE > deadline:
                raise SchemaError(f"the upgrade waited {PG_LOCK_WAIT:.0f} s for tables other transactions "
                                  f"hold (a long report?): {pg.one_line(exc)}; try again") from exc
            if not said:
                log.warning("schema upgrade waits for tables other transactions hold (a long report?); "
                            "the servers' writes go on meanwhile")
                said = True
        time.sleep(PG_LOCK_PAUSE)


def _upgrade_pg(conn: pg.Connection, online_only: bool, now: str) -> list[Migration]:
    """One transaction under the advisory lock: read the version, apply
    what is pending, add the columns the code knows. A current schema
    runs no DDL: a user with only SELECT, INSERT, UPDATE and DELETE on the
    tables (docs/database.md) may run servers and commands, which call this
    at start; PostgreSQL refuses even CREATE TABLE IF NOT EXISTS of a table
    that is there to a user without CREATE on the schema."""
    from psycopg import errors
    with conn.raw.transaction():
        conn.execute(pgsql.UPGRADE_LOCK)
        current = _pg_version(conn)
        pending = _pending(current, online_only, "the database")
        conn.execute(f"SET LOCAL lock_timeout = '{PG_LOCK_TIMEOUT}'")
        try:
            if not current:  # no DDL on a current schema: a role with rights on its tables alone may run
                conn.execute(pgsql.VERSION_TABLE)
            before = {row[0] for row in conn.execute(pgsql.RELATIONS)}
            for migration in pending:
                for statement in migration.postgres:
                    conn.execute(statement)
                conn.execute(pgsql.SET_VERSION, {"version": migration.version, "now": now})
            _pg_add_columns(conn)
            if current and pending:
                _pg_grant_as_on_calls(conn, before)
        except errors.InsufficientPrivilege as exc:  # a role with rights on the tables alone
            raise SchemaError(f"the database has schema version {current}, this agiflow needs {SCHEMA_VERSION}, "
                              f"and this role cannot upgrade it ({pg.one_line(exc)}): run `agiflow db upgrade` "
                              "as the tables' owner") from None
    return pending


def _pg_grant_as_on_calls(conn: pg.Connection, before: set[int]) -> None:
    """Give every role that may use ``calls`` the same rights on the tables
    and views this upgrade made (and on their sequences, USAGE to those that
    insert), so that servers and reports running as such roles go on after
    their owner upgraded the schema (docs/database.md)."""
    rights: dict[str, list[str]] = {}
    for grantee, privilege in conn.execute(pgsql.CALLS_GRANTS):
        rights.setdefault(grantee, []).append(privilege)
    for oid, name, kind in conn.execute(pgsql.RELATIONS).fetchall():
        if oid in before:
            continue
        for grantee, privileges in rights.items():
            if kind == "S":
                what, granted = "SEQUENCE", ["USAGE", "SELECT"] if "INSERT" in privileges else []
            else:
                what, granted = "TABLE", privileges
            if granted:
                conn.raw.execute(f"GRANT {', '.join(granted)} ON {what} {name} TO {grantee}")


def _pg_add_columns(conn: pg.Connection) -> None:
    have: dict[str, set[str]] = {}
    for table, column in conn.execute(pgsql.TABLE_COLUMNS):
        have.setdefault(table, set()).add(column)
    tables: dict[str, dict[str, Any]] = {"calls": CALL_COLUMNS, "callbacks": CALLBACK_COLUMNS}
    for table, columns in tables.items():
        for column, kind in columns.items():
            if column not in have.get(table, set()):
                conn.execute(pgsql.add_column(table, column, kind))


def check_current(database: Database) -> None:
    """SchemaError unless ``database`` is at SCHEMA_VERSION (a command that
    only reads must not upgrade it)."""
    found = version(database)
    if found != SCHEMA_VERSION:
        verb = "upgrade agiflow" if found > SCHEMA_VERSION else "run `agiflow db upgrade`"
        raise SchemaError(f"the database has schema version {found}, this agiflow needs {SCHEMA_VERSION}: {verb}")
