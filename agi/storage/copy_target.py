"""The writing side of ``agiflow db copy`` on either backend: chunks of
rows loaded into a temporary table, then inserted without touching a row
the target already has. The SQL that differs per backend is here."""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator

from psycopg import errors

from agi.db.transactions import rollback
from agi.vocabulary import IN_PROGRESS

#: Rows read and written per transaction.
CHUNK = 50_000
#: The most ids a copy takes one by one to move an id counter past the ids it writes.
MAX_IDS_TAKEN = 1_000_000
#: What names a row of a table whose ids are not copied.
ROW_KEYS = {"call_steps": ("call", "seq"), "list_entries": ("list_id", "number")}


class BadValue(Exception):
    """A source row holds a value the target's column cannot take (SQLite
    keeps ``2.5`` in an integer column, text in a number column)."""


def read_chunks(conn: Any, postgres: bool, select: str, params: tuple[Any, ...] = ()) -> Iterator[list[Any]]:
    """The rows of ``select``, CHUNK at a time (through a server-side
    cursor on PostgreSQL)."""
    if postgres:
        with conn.raw.transaction(), conn.raw.cursor(name="agiflow_copy") as cursor:
            cursor.itersize = CHUNK
            cursor.execute(select.replace("?", "%s"), params or None)
            while rows := cursor.fetchmany(CHUNK):
                yield rows
        return
    cursor = conn.execute(select, params)
    while rows := cursor.fetchmany(CHUNK):
        yield rows


class CopyTarget:
    """The database written to: ``conn`` (sqlite3 or ``pg.Connection``) and
    its tables' columns."""

    def __init__(self, conn: Any, postgres: bool, tables: dict[str, list[str]]) -> None:
        self.conn = conn
        self.postgres = postgres
        self.tables = tables

    def write(self, table: str, columns: list[str], rows: list[Any]) -> None:
        """Insert ``rows``; a row whose key (any unique one) the target has is left out."""
        with self._loaded(table, columns, rows):
            self._insert(table, columns, "")

    def write_ending_calls(self, columns: list[str], rows: list[Any]) -> None:
        """``write`` for calls, and a call the target holds still in progress
        (a copy taken while it ran) gets the source's row once it has ended
        there. The same call id is the same call: the row came from this
        source, no other server wrote it. A row that has ended is kept."""
        others = [c for c in columns if c != "id"]
        with self._loaded("calls", columns, rows):
            if "status" in others:
                self.conn.execute(
                    f"UPDATE calls SET ({', '.join(others)}) = (SELECT {', '.join('c.' + c for c in others)} "
                    "FROM agiflow_copy AS c WHERE c.id = calls.id) "
                    f"WHERE status = '{IN_PROGRESS}' AND EXISTS (SELECT 1 FROM agiflow_copy AS c "
                    f"WHERE c.id = calls.id AND c.status <> '{IN_PROGRESS}')")
            self._insert("calls", columns, "")

    def write_keeping_free_ids(self, table: str, columns: list[str], rows: list[Any], same: list[str],
                               nullable: list[str], closing: tuple[str, ...] = ()) -> int:
        """Insert ``rows`` that the target does not have yet (no row equal
        in ``same``; those in ``nullable`` may both be NULL), with their ids
        when the target has no row with that id, else with a new one; how
        many got a new id. A row the target has still pending takes the
        source's ``closing`` columns once the source's is closed."""
        with self._loaded(table, columns, rows):
            if "status" in closing and all(c in columns for c in closing):
                self._close_pending(table, same, nullable, closing)
            self._drop_rows_present(table, same, nullable)
            if self.postgres:  # before they are written: no server may take them meanwhile
                self._move_identity(table)
            self._insert(table, columns, f"WHERE NOT EXISTS (SELECT 1 FROM {table} AS t WHERE t.id = c.id)")
            self._drop_rows_present(table, same, nullable)
            renumbered = self.scalar("SELECT count(*) FROM agiflow_copy")
            self._insert(table, [c for c in columns if c != "id"], "", order_by_id=True)
        return int(renumbered)

    def analyze(self, tables: list[str]) -> None:
        """PostgreSQL: let the planner know what was copied (``ANALYZE``).
        Until autovacuum came round, a table that had just received a
        million calls was planned as the empty table it was, and the
        history step's lookups ran past their timeout."""
        if self.postgres:
            for table in tables:
                with self.conn.raw.transaction():
                    self.conn.execute(f"ANALYZE {table}")

    def scalar(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        return self.conn.execute(sql, params).fetchone()[0]

    def _move_identity(self, table: str) -> None:
        """PostgreSQL's id counter of ``table`` past every id the chunk
        brings and the table holds. It never goes back: a server's batch in
        flight holds ids above those committed, and setting the counter to
        the largest committed gave them out again. Up to a million ids are
        taken as the servers take them (``nextval``: USAGE on the sequence
        is enough); a longer way is jumped with ``setval`` (UPDATE)."""
        sequence = f"pg_get_serial_sequence('{table}', 'id')"
        past, at = self.conn.execute(
            f"SELECT greatest((SELECT max(id) FROM agiflow_copy), (SELECT max(id) FROM {table})), "
            f"coalesce(pg_sequence_last_value({sequence}), 0)").fetchone()
        if past is None or past <= at:
            return
        if past - at > MAX_IDS_TAKEN:
            self.conn.execute(f"SELECT setval({sequence}, ?)", (past,))
            return
        self.conn.execute(f"SELECT count(nextval({sequence})) FROM generate_series(1, ?)", (past - at,))

    def _drop_rows_present(self, table: str, same: list[str], nullable: list[str]) -> None:
        match = self._match(same, nullable, "t", "agiflow_copy")
        self.conn.execute(f"DELETE FROM agiflow_copy WHERE EXISTS (SELECT 1 FROM {table} AS t WHERE {match})")

    def _match(self, same: list[str], nullable: list[str], target: str, copied: str) -> str:
        """Rows of ``target`` and ``copied`` equal in ``same`` (NULL equal to NULL in ``nullable``)."""
        # SQLite would probe an index on a column that is mostly NULL: "+" keeps it to the others
        null_safe = "{t}.{c} IS NOT DISTINCT FROM {s}.{c}" if self.postgres else "+{t}.{c} IS {s}.{c}"
        return " AND ".join((null_safe if c in nullable else "{t}.{c} = {s}.{c}").format(c=c, t=target, s=copied)
                            for c in same)

    def _close_pending(self, table: str, same: list[str], nullable: list[str], closing: tuple[str, ...]) -> None:
        """A request the target holds still pending, closed in the source
        since (a copy taken before it was called back), takes the close."""
        match = self._match(same, nullable, table, "c")
        closed = f"FROM agiflow_copy AS c WHERE {match} AND c.status <> 'pending'"
        self.conn.execute(f"UPDATE {table} SET ({', '.join(closing)}) = (SELECT {', '.join('c.' + n for n in closing)} "
                          f"{closed} LIMIT 1) WHERE status = 'pending' AND EXISTS (SELECT 1 {closed})")

    def _insert(self, table: str, columns: list[str], where: str, order_by_id: bool = False) -> None:
        names = ", ".join(columns)
        order = " ORDER BY c.id" if order_by_id or "id" in columns else ""
        if self.postgres:
            self.conn.execute(f"INSERT INTO {table} ({names}) OVERRIDING SYSTEM VALUE "
                              f"SELECT {', '.join('c.' + n for n in columns)} FROM agiflow_copy AS c {where}{order} "
                              "ON CONFLICT DO NOTHING")
        else:
            self.conn.execute(f"INSERT OR IGNORE INTO {table} ({names}) "
                              f"SELECT {', '.join('c.' + n for n in columns)} FROM agiflow_copy AS c {where}{order}")

    @contextmanager
    def _loaded(self, table: str, columns: list[str], rows: list[Any]) -> Iterator[None]:
        """A transaction in which ``agiflow_copy`` holds ``rows``; it is gone after."""
        conn, names = self.conn, ", ".join(columns)
        if self.postgres:
            with conn.raw.transaction():
                conn.execute(f"CREATE TEMP TABLE agiflow_copy ON COMMIT DROP AS SELECT {names} FROM {table} "
                             "WITH NO DATA")
                try:
                    with conn.raw.cursor() as cursor, cursor.copy(f"COPY agiflow_copy ({names}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(_postgres_row(row))
                except errors.DataError as exc:
                    raise _bad_value(exc, table, columns, rows) from None
                yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"CREATE TEMP TABLE agiflow_copy AS SELECT {names} FROM main.{table} WHERE 0")
            conn.executemany(f"INSERT INTO agiflow_copy ({names}) VALUES ({', '.join('?' * len(columns))})", rows)
            yield
            conn.execute("DROP TABLE temp.agiflow_copy")
        except BaseException:
            rollback(conn)
            raise
        conn.execute("COMMIT")


def _bad_value(exc: errors.DataError, table: str, columns: list[str], rows: list[Any]) -> Exception:
    """``exc`` (PostgreSQL's ``COPY agiflow_copy, line 2, column steps: "2.5"``)
    as the table, row, column and value of the source it came from."""
    found = re.match(r"COPY agiflow_copy, line (\d+), column (\w+)", exc.diag.context or "")
    if not found or not 0 < int(found[1]) <= len(rows) or found[2] not in columns:
        return exc
    row, column = rows[int(found[1]) - 1], found[2]
    keys = [k for k in (("id",) if "id" in columns else ROW_KEYS.get(table, ())) if k in columns]
    which = ", ".join(f"{k} {row[columns.index(k)]}" for k in keys) or f"row {found[1]} of a chunk"
    return BadValue(f"table {table}, row {which}: column {column} holds {row[columns.index(column)]!r}, "
                    f"which PostgreSQL cannot take ({exc.diag.message_primary}): correct it in the source "
                    "(or set it to NULL) and run the copy again; the rows copied before it are kept")


def _postgres_row(row: Any) -> Any:
    """``row`` as PostgreSQL's text columns take it: a BLOB (SQLite keeps
    one in a text column that another tool wrote) as the text every report
    reads it as (UTF-8, U+FFFD for a byte that is none), and a NUL in a text
    (SQLite keeps one, PostgreSQL takes none) as U+FFFD, as the server
    stores one that Asterisk sent."""
    if not any(isinstance(value, bytes) or (isinstance(value, str) and "\x00" in value) for value in row):
        return row
    return [_text(value) for value in row]


def _text(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value
