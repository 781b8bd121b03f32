"""Number lists in ``agiflow db copy``: a list is its name on every
server, its id is each database's own. A source list's entries go into the
target's list of the same name (created with an id of the target's when
missing); the target list keeps its entries and gets those it lacks, and
its count and prefix lengths are worked out again. Entries of no current
list (left by a replace, waiting to be purged) are not copied."""
from __future__ import annotations

from typing import Any, Callable

from agi.db.transactions import rollback
from agi.db import postgres_sql as pgsql
from agi.lists import schema as list_sql
from agi.lists.numbers import ALL_LENGTHS
from agi.storage.copy_target import CopyTarget, read_chunks

ENTRY_COLUMNS = ["list_id", "number", "note", "added_at"]


def copy_lists(reader: Any, source_pg: bool, into: CopyTarget, source_tables: dict[str, list[str]],
               progress: Callable[[str, int], None]) -> dict[str, int]:
    """Copy every list of the source into ``into``; the lists and entries read."""
    lengths = "prefix_lengths" if "prefix_lengths" in source_tables["number_lists"] else str(ALL_LENGTHS)
    lists = [tuple(row) for chunk in read_chunks(
        reader, source_pg, f"SELECT name, id, {lengths}, created_at, updated_at FROM number_lists ORDER BY name")
        for row in chunk]
    counts = {"number_lists": len(lists), "list_entries": 0}
    for name, source_id, prefix_lengths, created_at, updated_at in lists:
        target_id = _target_list(into, name, created_at, updated_at)
        for chunk in read_chunks(reader, source_pg, "SELECT number, note, added_at FROM list_entries "
                                 "WHERE list_id = ? ORDER BY number", (source_id,)):
            into.write("list_entries", ENTRY_COLUMNS, [(target_id, *row) for row in chunk])
            counts["list_entries"] += len(chunk)
            progress("list_entries", counts["list_entries"])
        into.conn.execute(
            "UPDATE number_lists SET entries = (SELECT count(*) FROM list_entries WHERE list_id = ?), "
            "prefix_lengths = prefix_lengths | ?, "
            "updated_at = CASE WHEN updated_at < ? THEN ? ELSE updated_at END WHERE id = ?",
            (target_id, int(prefix_lengths), updated_at, updated_at, target_id))
    return counts


def _target_list(into: CopyTarget, name: str, created_at: str, updated_at: str) -> int:
    """The id of the target's list ``name``, created (empty) when missing."""
    conn = into.conn
    row = conn.execute(list_sql.LIST_BY_NAME, (name,)).fetchone()
    if row is not None:
        return int(row[0])
    if into.postgres:
        with conn.raw.transaction():
            list_id = conn.execute(pgsql.NEW_ID, (name, created_at)).fetchone()[0]
            conn.execute(list_sql.CREATE_LIST, (name, list_id, created_at, updated_at))
        return int(list_id)
    conn.execute("BEGIN IMMEDIATE")
    try:
        list_id = conn.execute(list_sql.NEW_ID, (name, created_at)).lastrowid
        conn.execute(list_sql.CREATE_LIST, (name, list_id, created_at, updated_at))
    except BaseException:
        rollback(conn)
        raise
    conn.execute("COMMIT")
    return int(list_id)
    conn.execute("BEGIN IMMEDIATE")
    try:
        list_id = conn.execute("INSERT INTO list_generations (name, created_at) VALUES (?, ?)",
                               (name, created_at)).lastrowid
        conn.execute("INSERT INTO number_lists (name, id, entries, prefix_lengths, created_at, updated_at) "
                     "VALUES (?, ?, 0, 0, ?, ?)", (name, list_id, created_at, updated_at))
    except BaseException:
        rollback(conn)
        raise
    conn.execute("COMMIT")
    return int(list_id)
