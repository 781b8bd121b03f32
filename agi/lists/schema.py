"""Tables and the named SQL statements of the number lists.

A list is a row of ``number_lists``; its entries are the ``list_entries``
rows whose ``list_id`` is the list's current ``id``. An entry is an E.164
number (``+34600111222``) or a prefix stored with a trailing ``*``
(``+3490*``), so one primary key serves both and a lookup is one statement
probing at most 16 keys. Replacing a list writes its new entries under a
fresh id and then points the list at it in one short transaction, so
readers see the old list or the new one, never half of either. Ids come
from ``list_generations`` and are never reused.
"""
from __future__ import annotations

import re
import sqlite3

#: What a list may be called (flows name lists too, so keep it simple).
LIST_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
LIST_NAME_RE = re.compile(LIST_NAME)

CREATE = (
    "CREATE TABLE IF NOT EXISTS number_lists ("
    " name TEXT PRIMARY KEY,"
    " id INTEGER NOT NULL UNIQUE,"
    " entries INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS list_entries ("
    " list_id INTEGER NOT NULL,"
    " number TEXT NOT NULL,"
    " note TEXT,"
    " added_at INTEGER NOT NULL,"
    " PRIMARY KEY (list_id, number)) WITHOUT ROWID",
    # Every list id ever handed out (AUTOINCREMENT: never reused), so that
    # entries being purged can never belong to a newer list.
    "CREATE TABLE IF NOT EXISTS list_generations ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL,"
    " created_at TEXT NOT NULL)",
)


def match_sql(keys: int) -> str:
    """The list's id and its entries among ``keys`` probed keys: no row
    when the list does not exist, one row with NULLs when nothing matches."""
    marks = ", ".join("?" * keys)
    return ("SELECT l.id, e.number, e.note FROM number_lists AS l "
            f"LEFT JOIN list_entries AS e ON e.list_id = l.id AND e.number IN ({marks}) "
            "WHERE l.name = ?")


LIST_BY_NAME = "SELECT id, entries FROM number_lists WHERE name = ?"
ALL_LISTS = "SELECT name, entries, created_at, updated_at FROM number_lists ORDER BY name"
CREATE_LIST = ("INSERT INTO number_lists (name, id, entries, created_at, updated_at) "
               "VALUES (?, ?, 0, ?, ?)")
POINT_LIST = "UPDATE number_lists SET id = ?, entries = ?, updated_at = ? WHERE name = ?"
COUNT_CHANGE = "UPDATE number_lists SET entries = entries + ?, updated_at = ? WHERE id = ?"
DELETE_LIST = "DELETE FROM number_lists WHERE name = ?"
NEW_ID = "INSERT INTO list_generations (name, created_at) VALUES (?, ?)"
LIST_IDS = "SELECT id FROM number_lists"
NEXT_STORED_ID = "SELECT min(list_id) FROM list_entries WHERE list_id > ?"
ADD_ENTRY = ("INSERT INTO list_entries (list_id, number, note, added_at) VALUES (?, ?, ?, ?) "
             "ON CONFLICT (list_id, number) DO UPDATE SET note = excluded.note")
ENTRY_EXISTS = "SELECT 1 FROM list_entries WHERE list_id = ? AND number = ?"
REMOVE_ENTRY = "DELETE FROM list_entries WHERE list_id = ? AND number = ?"
#: Entries of a list no longer in use, removed a chunk at a time.
PURGE_CHUNK = ("DELETE FROM list_entries WHERE list_id = ? AND number IN "
               "(SELECT number FROM list_entries WHERE list_id = ? LIMIT ?)")
EXPORT = "SELECT number, note, added_at FROM list_entries WHERE list_id = ? ORDER BY number"

STAGING_CREATE = "CREATE TEMP TABLE IF NOT EXISTS list_staging (number TEXT NOT NULL, note TEXT)"
STAGING_CLEAR = "DELETE FROM temp.list_staging"
STAGING_INSERT = "INSERT INTO temp.list_staging (number, note) VALUES (?, ?)"
#: Staged entries into a list, in key order so the B-tree grows at its end;
#: the first line of a number wins, entries already listed are kept.
STAGING_COPY = ("INSERT OR IGNORE INTO list_entries (list_id, number, note, added_at) "
                "SELECT ?, number, note, ? FROM temp.list_staging ORDER BY number, rowid")


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the list tables if missing; WAL so the server reads while
    the CLI writes."""
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in CREATE:
        conn.execute(statement)
