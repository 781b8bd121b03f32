"""Supervisors' PINs and the audit log of what supervisors do, in the CDR
database: tables ``supervisor_pins`` and ``supervisor_audit``.

A PIN is never stored: only a scrypt hash of it with a random salt of its
own (``scrypt$n$r$p$salt$hash``). Wrong PINs in a row are counted per
number; after MAX_FAILURES the number is locked for LOCK_SECONDS, right PIN
or not, and a right PIN resets the count. Every check and every action
goes to the audit log, without the PIN. Blocking (scrypt, the database):
the server runs these calls in its database threads (``Services.offload``).
SQLite or PostgreSQL (the tables are made by schema version 3) and
hashlib: no Twisted, no click.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import psycopg

from agi.db.transactions import rollback
from agi.db import postgres as pg
from agi.db import postgres_sql as pgsql
from agi.db.location import Database, PostgresUrl
from agi.db.per_thread import PerThread
from agi.services import (PIN_LOCKED, PIN_NONE, PIN_OK, PIN_WRONG, SUPERVISOR_LOCK_WAIT, SUPERVISOR_WAIT, PinCheck,
                          SupervisorsUnavailable)
from agi.db.caps import CAPS, cap_text
from agi.vocabulary import iso

T = TypeVar("T")

#: Wrong PINs in a row that lock a number, and for how long.
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
#: scrypt's cost (2**14: about 16 MB and a few tens of milliseconds).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 14, 8, 1
#: A PIN is 4 to 12 digits.
PIN_LENGTHS = range(4, 13)

CREATE_PINS = (
    "CREATE TABLE IF NOT EXISTS supervisor_pins ("
    " number TEXT PRIMARY KEY, pin_hash TEXT NOT NULL, failures INTEGER NOT NULL DEFAULT 0,"
    " locked_until TEXT, updated_at TEXT NOT NULL)"
)
CREATE_AUDIT = (
    "CREATE TABLE IF NOT EXISTS supervisor_audit ("
    " id INTEGER PRIMARY KEY, at TEXT NOT NULL, number TEXT NOT NULL, call_id TEXT,"
    " action TEXT NOT NULL, result TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '')"
)
AUDIT_INDEX = "CREATE INDEX IF NOT EXISTS idx_supervisor_audit_at ON supervisor_audit(at)"
#: SQLite's tables (schema version 3; PostgreSQL's in agi/db/postgres_sql.py).
SUPERVISOR_TABLES = (CREATE_PINS, CREATE_AUDIT, AUDIT_INDEX)
SELECT_PIN = "SELECT pin_hash, failures, locked_until FROM supervisor_pins WHERE number = :number"
#: A check's count; ``updated_at`` stays when the PIN was set (``agiflow supervisors list``).
SET_FAILURES = ("UPDATE supervisor_pins SET failures = :failures, locked_until = :locked_until "
                "WHERE number = :number")
UPSERT_PIN = (
    "INSERT INTO supervisor_pins (number, pin_hash, failures, locked_until, updated_at) "
    "VALUES (:number, :pin_hash, 0, NULL, :at) ON CONFLICT (number) DO UPDATE SET "
    "pin_hash = excluded.pin_hash, failures = 0, locked_until = NULL, updated_at = excluded.updated_at"
)
DELETE_PIN = "DELETE FROM supervisor_pins WHERE number = :number"
SELECT_PINS = "SELECT number, failures, locked_until, updated_at FROM supervisor_pins ORDER BY number"
INSERT_AUDIT = ("INSERT INTO supervisor_audit (at, number, call_id, action, result, detail) "
                "VALUES (:at, :number, :call_id, :action, :result, :detail)")
SELECT_AUDIT = ("SELECT at, number, call_id, action, result, detail FROM supervisor_audit "
                "WHERE (CAST(:since AS TEXT) IS NULL OR at >= :since) AND (CAST(:number AS TEXT) IS NULL OR number = :number) "
                "ORDER BY at, id")


#: Why a PIN check that answered after its call stopped waiting changed nothing.
NOT_WANTED = "not checked: the call had stopped waiting for the database"


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    """``pin`` as stored: scrypt with a random 16-byte salt."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    """Whether ``pin`` is the one ``stored`` was made from (constant time)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        found = hashlib.scrypt(pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                               dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(found.hex(), digest)


def pin_problem(pin: str) -> str | None:
    """Why ``pin`` cannot be a PIN, or None."""
    if not pin.isdigit() or not pin.isascii() or len(pin) not in PIN_LENGTHS:
        return f"a PIN is {PIN_LENGTHS.start} to {PIN_LENGTHS.stop - 1} digits"
    return None


class SqliteSupervisors:
    """``Supervisors`` over the SQLite database at ``path``, a connection per thread."""

    #: The statement that reads a number's PIN row in a check's transaction.
    select_pin = SELECT_PIN

    def __init__(self, path: str | Path, *, busy_timeout: float = 1.0, create: bool = False) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        #: Make the database file when it does not exist (``agiflow supervisors pin``).
        self.create = create
        self._conns: PerThread[Any] = PerThread(self._open, self.path)

    def _open(self) -> Any:
        if not self.create and not self.path.is_file():
            raise SupervisorsUnavailable(f"no database at {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=self.busy_timeout)
        for statement in SUPERVISOR_TABLES:  # a file not yet at schema version 3
            conn.execute(statement)
        return conn

    def _connection(self) -> Any:
        return self._conns.get()

    def _transaction(self, work: Callable[[Any], T]) -> T:
        """``work(connection)`` in one write transaction (SQLite's BEGIN
        IMMEDIATE, PostgreSQL's row lock: checks of the same number take
        turns), once more on a new connection when the server had ended
        this one while idle; any database error is SupervisorsUnavailable."""
        def transaction(conn: Any) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error, psycopg.Error):  # a dead connection rolled back itself
                    rollback(conn)
                raise
            return result

        try:
            return self._conns.run(transaction)
        except (sqlite3.Error, psycopg.Error) as exc:
            self.close()
            raise SupervisorsUnavailable(f"cannot use supervisor PINs in {self.path}: {pg.one_line(exc)}") from None

    def check_pin(self, number: str, pin: str, at: datetime, call_id: str,
                  wanted: Callable[[], bool] = lambda: True) -> PinCheck:
        def check(conn: Any) -> PinCheck:
            row = conn.execute(self.select_pin, {"number": number}).fetchone()  # waits for the row's lock
            found = _judge(row, pin, at)
            if not wanted():  # the caller was refused meanwhile: no 'ok' in the audit log, no count
                raise SupervisorsUnavailable(NOT_WANTED)
            conn.execute(INSERT_AUDIT, _audit_row(number, "pin", found.result, at, call_id))
            if row is not None and found.result in (PIN_OK, PIN_WRONG):
                locked = iso(found.locked_until.timestamp()) if found.locked_until else None
                conn.execute(SET_FAILURES, {"number": number, "failures": found.failures, "locked_until": locked})
            return found

        return self._transaction(check)

    def audit(self, number: str, action: str, result: str, at: datetime, call_id: str, detail: str = "") -> None:
        self._transaction(lambda conn: conn.execute(INSERT_AUDIT, _audit_row(number, action, result, at, call_id,
                                                                             detail)))

    def set_pin(self, number: str, pin: str, at: datetime, by: str) -> None:
        """Give ``number`` the PIN ``pin`` (replacing one), unlocked; audited."""
        problem = pin_problem(pin)
        if problem:
            raise ValueError(problem)
        stored = hash_pin(pin)

        def store(conn: Any) -> None:
            conn.execute(UPSERT_PIN, {"number": number, "pin_hash": stored, "at": iso(at.timestamp())})
            conn.execute(INSERT_AUDIT, _audit_row(number, "set_pin", "ok", at, "", f"by {by}"))

        self._transaction(store)

    def remove(self, number: str, at: datetime, by: str) -> bool:
        """Remove ``number``'s PIN; False when it had none; audited."""
        def remove(conn: Any) -> bool:
            removed = bool(conn.execute(DELETE_PIN, {"number": number}).rowcount > 0)
            conn.execute(INSERT_AUDIT, _audit_row(number, "remove_pin", "ok" if removed else "none", at, "",
                                                  f"by {by}"))
            return removed

        return self._transaction(remove)

    def pins(self) -> list[dict[str, Any]]:
        """Every number with a PIN: failures in a row, locked until, last change."""
        rows = self._transaction(lambda conn: conn.execute(SELECT_PINS).fetchall())
        return [dict(zip(("number", "failures", "locked_until", "updated_at"), row)) for row in rows]

    def audit_log(self, since: str | None = None, number: str | None = None) -> list[dict[str, Any]]:
        rows = self._transaction(lambda conn: conn.execute(SELECT_AUDIT, {"since": since, "number": number}).fetchall())
        return [dict(zip(("at", "number", "call_id", "action", "result", "detail"), row)) for row in rows]

    def close(self) -> None:
        self._conns.close()


class PostgresSupervisors(SqliteSupervisors):
    """``Supervisors`` in a PostgreSQL database: the same statements on a
    connection per thread, a check holding its number's row until it is
    counted. The tables are the schema's (``agiflow db upgrade``)."""

    select_pin = pgsql.SELECT_PIN_FOR_UPDATE

    def __init__(self, url: PostgresUrl, *, statement_timeout_ms: int = 5000,
                 lock_timeout_ms: int | None = None) -> None:
        super().__init__(Path(str(url)))
        self.url = url
        self.path = url  # type: ignore[assignment]  # named in messages
        self.statement_timeout_ms = statement_timeout_ms
        self.lock_timeout_ms = lock_timeout_ms

    def _open(self) -> Any:
        return pg.Connection(pg.connect(self.url, statement_timeout_ms=self.statement_timeout_ms,
                                        lock_timeout_ms=self.lock_timeout_ms, application_name="agiflow supervisors"))


def _judge(row: Sequence[Any] | None, pin: str, at: datetime) -> PinCheck:
    """What ``pin`` is worth against the stored row, at ``at``."""
    if row is None:
        return PinCheck(PIN_NONE)
    stored, failures, locked_until = row
    locked = datetime.fromisoformat(locked_until.replace("Z", "+00:00")) if locked_until else None
    return judge(lambda: pin_matches(pin, stored), failures, locked, at)


def judge(matches: Callable[[], bool], failures: int, locked_until: datetime | None, at: datetime) -> PinCheck:
    """The rule for one PIN check of a number that has a PIN: refused while
    locked (the PIN is not even compared), else right (the count starts
    again) or wrong (counted; MAX_FAILURES in a row lock it for LOCK_SECONDS)."""
    if locked_until is not None and at < locked_until:
        return PinCheck(PIN_LOCKED, failures, locked_until)
    if matches():
        return PinCheck(PIN_OK, 0)
    failures = (0 if locked_until is not None else failures) + 1  # a lock that ran out starts the count again
    return PinCheck(PIN_WRONG, failures, at + timedelta(seconds=LOCK_SECONDS) if failures >= MAX_FAILURES else None)


def _audit_row(number: str, action: str, result: str, at: datetime, call_id: str, detail: str = "") -> dict[str, Any]:
    return {"at": iso(at.astimezone(timezone.utc).timestamp()), "number": number, "call_id": call_id or None,
            "action": action, "result": result, "detail": cap_text(detail, CAPS["reason"])}


def supervisors_store(database: str | Path | Database, *, create: bool = False) -> SqliteSupervisors:
    """The supervisors of ``database``; ``create`` makes a missing SQLite
    file (``agiflow supervisors pin``)."""
    if isinstance(database, PostgresUrl):
        return PostgresSupervisors(database)
    if create:  # with every table, as a PostgreSQL database is by the command's check
        from agi.storage.migrations import upgrade_when_behind  # which imports this module's tables
        upgrade_when_behind(Path(database))
    return SqliteSupervisors(database, create=create)


def server_supervisors(database: str | Path | Database) -> SqliteSupervisors:
    """The server's supervisors: a check or audit entry waits for a locked
    database (SQLite's write lock, PostgreSQL's row lock) SUPERVISOR_LOCK_WAIT
    seconds, and PostgreSQL stops a statement at SUPERVISOR_WAIT: both within
    the time the step waits (SUPERVISOR_WAIT), so that a lock another node
    holds briefly is waited for, not taken for a refusal."""
    if isinstance(database, PostgresUrl):
        return PostgresSupervisors(database, statement_timeout_ms=int(SUPERVISOR_WAIT * 1000),
                                   lock_timeout_ms=int(SUPERVISOR_LOCK_WAIT * 1000))
    return SqliteSupervisors(database, busy_timeout=SUPERVISOR_LOCK_WAIT)
