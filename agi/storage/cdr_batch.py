"""How the CDR writer applies one batch of operations in one transaction,
on either backend: the new call rows and the step rows in a few multi-row
inserts each, every other operation in order; a bad row dropped alone (logged), the
database's trouble raised so that the batch is kept and retried."""
from __future__ import annotations

import logging
import sqlite3
from functools import lru_cache
from itertools import chain
from typing import Any, Callable, Iterator

from agi.db.caps import valid_text
from agi.storage import connections
from agi.storage.callbacks import WRITES, apply_write, lock_missed_numbers
from agi.storage.cdr_schema import CALL_TABLE, INSERT_CALL, INSERT_STEP, STEP_TABLE, call_values, insert_sql, \
    row_counts, step_values, update_call_sql

log = logging.getLogger("agiflow.cdr")
#: What executing a group of rows can raise: the database's errors, and text it cannot encode.
_ROW_ERRORS: tuple[type[Exception], ...] = (*connections.ERRORS, UnicodeEncodeError)




def _insert_call(conn: Any, row: dict[str, Any]) -> None:
    conn.execute(INSERT_CALL, call_values(row))


def _insert_step(conn: Any, arg: tuple[str, dict[str, Any]]) -> None:
    conn.execute(INSERT_STEP, step_values(*arg))


class RowAborted(Exception):
    """On PostgreSQL a row failed alone, which aborts the whole transaction:
    roll back and apply the batch again with ``guarded``."""


def apply_batch(conn: Any, batch: list[tuple[str, Any]], guarded: bool = False) -> None:
    """The batch's new call rows, then its step rows, a few multi-row inserts each;
    then every other operation in order (an update always follows the
    insert of its row: same batch, or an earlier one).

    A call that starts and ends within the batch gets its final row in one
    insert: same transaction, same result as the insert and its update,
    unless its row is already there (its first row written again: a
    replayed journal, a batch retried after a lost acknowledgement, the
    running calls written into a database file put in place of the old
    one), which keeps it: then the end is applied as the update it was.
    ``guarded``: each operation applied alone runs in a savepoint of its
    own, so that on PostgreSQL a bad one is dropped without aborting the
    transaction; unguarded, a bad one there raises RowAborted."""
    calls: list[dict[str, Any]] = []
    ends: dict[Any, dict[str, Any] | None] = {}  # call key -> its end values, if it ended in this batch
    steps: list[tuple[str, dict[str, Any]]] = []
    others = []
    for op, arg in batch:
        if op == "insert_step":
            steps.append(arg)
        elif op == "insert_call":
            calls.append(arg)
            ends[arg.get("id")] = None
        elif op == "update_call" and arg[0] in ends and ends[arg[0]] is None:
            ends[arg[0]] = arg[1]
        else:
            others.append((op, arg))
    if calls:
        rows = [(row, ends[row.get("id")]) for row in calls]
        inserted = _insert_many(conn, CALL_TABLE, [call_values({**row, **end} if end else row) for row, end in rows],
                                lambda: [op for row, end in rows for op in _queued_as(row, end)], guarded)
        if inserted is not None and inserted < len(rows):  # some were there: their ends were not written
            for row, end in rows:
                if end:
                    _apply(conn, "update_call", (row.get("id"), end), guarded)
    if steps:
        _insert_many(conn, STEP_TABLE, [step_values(*arg) for arg in steps],
                     lambda: [("insert_step", arg) for arg in steps], guarded)
    lock_missed_numbers(conn, others)
    for op, arg in others:
        _apply(conn, op, arg, guarded)


def _queued_as(row: dict[str, Any], end: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """A call row's operations as they were queued: its insert, and its update if merged."""
    return [("insert_call", row)] if end is None else [("insert_call", row), ("update_call", (row.get("id"), end))]


def _insert_many(conn: Any, table: tuple[str, tuple[str, ...], str], params: list[tuple[Any, ...]],
                 operations: Callable[[], list[tuple[str, Any]]], guarded: bool) -> int | None:
    """All rows at once in a savepoint; when one row is bad, undo the group
    and apply its ``operations()`` one by one, so only the bad one is dropped.
    The rows inserted (a row whose key is already there is not); None when
    they were applied one by one.
    Rows go up to 64 a statement (row_counts): one statement is one step of
    SQLite's, which lets the reactor have the GIL once, not once a row.
    On PostgreSQL, unguarded, there is no savepoint (two round trips fewer):
    a bad row raises RowAborted and the batch is applied again, guarded."""
    saved = guarded or isinstance(conn, sqlite3.Connection)
    if saved:
        conn.execute("SAVEPOINT many")
    inserted = 0
    try:
        for sql, values in _multi_row(table, params):
            inserted += conn.execute(sql, values).rowcount
    except _ROW_ERRORS as exc:
        if connections.trouble(exc):
            raise
        if not saved:
            raise RowAborted(f"{table[0]}: {exc}") from exc
        conn.execute("ROLLBACK TO many")
        conn.execute("RELEASE many")
        for op, arg in operations():
            _apply(conn, op, arg, guarded)
        return None
    if saved:
        conn.execute("RELEASE many")
    return inserted


def _multi_row(table: tuple[str, tuple[str, ...], str],
               params: list[tuple[Any, ...]]) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """``params`` in the fewest statements of the sizes ``row_counts`` allows."""
    start = 0
    for count in row_counts(len(table[1])):
        while len(params) - start >= count:
            yield _insert_rows(table, count), tuple(chain.from_iterable(params[start:start + count]))
            start += count


@lru_cache(maxsize=32)
def _insert_rows(table: tuple[str, tuple[str, ...], str], rows: int) -> str:
    return insert_sql(*table, rows=rows)


def _update_call(conn: Any, arg: tuple[str, dict[str, Any]]) -> None:
    call, values = arg
    cursor = conn.execute(_update_sql(tuple(values)), (*values.values(), call))
    if cursor.rowcount == 0:
        raise LookupError(f"no calls row with id {call!r}")


@lru_cache(maxsize=256)
def _update_sql(columns: tuple[str, ...]) -> str:
    """The UPDATE for these columns, built once: calls end with the same few sets."""
    return update_call_sql(columns)


def _apply(conn: Any, op: str, arg: Any, guarded: bool) -> None:
    """Apply one operation; a row that cannot be applied (a bug, not a
    database problem) is logged and dropped so it cannot block the rest.
    On PostgreSQL, where a failed statement aborts the whole transaction,
    that takes a savepoint per operation (``guarded``); unguarded, the
    first bad row there raises RowAborted, for the batch to be applied
    again guarded (a savepoint is two more round trips: only then)."""
    if guarded:
        conn.execute("SAVEPOINT one")
    try:
        try:
            OPERATIONS[op](conn, arg)
        except connections.TEXT_ERRORS:  # a lone surrogate ("\ud800" from a webhook's JSON), a NUL
            if (valid := valid_text(arg)) == arg:
                raise
            OPERATIONS[op](conn, valid)
    except Exception as exc:
        if isinstance(exc, connections.ERRORS) and connections.trouble(exc):
            raise
        if not guarded and not isinstance(conn, sqlite3.Connection):
            raise RowAborted(f"{op}: {exc}") from exc
        if guarded:
            conn.execute("ROLLBACK TO one")
        log.exception("dropping CDR operation %s: %r", op, arg)
    if guarded:
        conn.execute("RELEASE one")


#: Every write the writer thread knows, by name.
OPERATIONS: dict[str, Callable[[Any, Any], None]] = {
    "insert_call": _insert_call, "insert_step": _insert_step, "update_call": _update_call,
    **{operation: apply_write(operation) for operation in WRITES},
}
