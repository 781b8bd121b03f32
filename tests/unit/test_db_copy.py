"""``agiflow db copy`` into a database other servers already use (both
backends as the target): nothing of theirs changes, nothing of the source
is lost or lands in another row (docs/cli.md#agiflow-db-copy)."""
from __future__ import annotations

import contextlib
import io
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.cdr_builder import CdrBuilder
from support.postgres import CONNECT_TIMEOUT, dml_role, without_public_temporary

from agi.cli.main import cli
from agi.db.location import Database, PostgresUrl
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.reports.stored_text import as_text
from agi.storage.callbacks import StoredCallbackRequests
from agi.storage.cdr_writer import CdrStore
from agi.storage.copy import copy_all
from agi.storage.stores import callback_book, list_admin, number_lists
from agi.storage.supervisors import supervisors_store
from agi.vocabulary import iso
from test_database import rows_of

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)


def a_server(database: Database, *, start: str, number: str, pin_for: str, list_name: str, entries: str) -> None:
    """A server's rows: a call with two steps, a callback request, a list, a PIN (and its audit entry)."""
    cdr = CdrBuilder(database)
    cdr.add(start, steps=[("menu", "menu", "1", {}), ("bye", "hangup", "done", {})])
    cdr.close()
    store = CdrStore(database)
    store.open()
    store.start()
    StoredCallbackRequests(store).request({"requested_at": iso(NOW.timestamp()), "number": number})
    assert store.close()
    with list_admin(database) as admin:
        admin.import_entries(list_name, read_entries(io.StringIO(entries), Normaliser("ES"), ReadReport()))
    supervisors_store(database).set_pin(pin_for, "4321", NOW, "ana")


def test_a_copy_into_a_database_other_servers_use_keeps_their_rows_and_adds_every_row_of_the_source(
        database: Any, tmp_path: Path) -> None:
    target = database if isinstance(database, PostgresUrl) else tmp_path / "fleet.db"
    a_server(target, start="2025-03-10 07:00:00", number="+34600111222", pin_for="+34600555444",
             list_name="vip", entries="+34600111222\n")
    source = tmp_path / "node2.db"
    a_server(source, start="2025-03-10 08:00:00", number="+34600333444", pin_for="+34600999888",
             list_name="robinson", entries="+34911111111\n+34922222222\n")

    copied = copy_all(source, target)

    lists = number_lists(target, "ES")
    assert lists.match("robinson", "+34911111111") is not None  # the source's do-not-call list is there
    assert lists.match("vip", "+34911111111") is None  # and none of it went into the fleet's VIP list
    with list_admin(target) as admin:
        assert [e[0] for e in admin.entries("vip")] == ["+34600111222"]
        assert {s.name: s.entries for s in admin.lists()} == {"robinson": 2, "vip": 1}
    assert rows_of(target, "SELECT count(*) FROM call_steps") == [(4,)]
    requests = {r["number"]: r["id"] for r in callback_book(target).requests()}
    assert requests == {"+34600111222": 1, "+34600333444": 2}  # the fleet's keeps its id, the source's gets a new one
    assert len(supervisors_store(target).audit_log()) == 2
    assert copied.renumbered == {"callbacks": 1, "supervisor_audit": 1}

    again = copy_all(source, target)
    assert again.renumbered == {}
    assert rows_of(target, "SELECT count(*) FROM calls") == [(2,)]
    assert rows_of(target, "SELECT count(*) FROM call_steps") == [(4,)]
    assert rows_of(target, "SELECT count(*) FROM callbacks") == [(2,)]
    assert rows_of(target, "SELECT count(*) FROM supervisor_audit") == [(2,)]
    assert rows_of(target, "SELECT count(*) FROM list_entries") == [(3,)]


def test_a_copy_into_postgresql_leaves_the_planner_knowing_the_rows_copied(tmp_path: Path, database: Any) -> None:
    """A table that had just received the calls was planned as empty until
    autovacuum came round; lookups of the history step ran past their timeout."""
    if not isinstance(database, PostgresUrl):
        pytest.skip("the planner's row counts are PostgreSQL's")
    source = tmp_path / "node.db"
    cdr = CdrBuilder(source)
    for n in range(300):
        cdr.add(f"2025-03-10 08:{n // 60:02d}:{n % 60:02d}")
    cdr.close()
    copy_all(source, database)
    assert rows_of(database, "SELECT reltuples FROM pg_class WHERE oid = 'calls'::regclass") == [(300,)]


def test_a_list_both_databases_have_gets_the_entries_it_lacks(database: Any, tmp_path: Path) -> None:
    target = database if isinstance(database, PostgresUrl) else tmp_path / "fleet.db"
    with list_admin(target) as admin:
        admin.import_entries("robinson", read_entries(io.StringIO("+34911111111\n"), Normaliser("ES"), ReadReport()))
    source = tmp_path / "node2.db"
    with list_admin(source) as admin:
        admin.import_entries("robinson", read_entries(io.StringIO("+34911111111\n+3490*\n"), Normaliser("ES"),
                                                      ReadReport()))
    copy_all(source, target)
    assert number_lists(target, "ES").match("robinson", "+34902123456") is not None  # the source's prefix
    with list_admin(target) as admin:
        assert {s.name: s.entries for s in admin.lists()} == {"robinson": 2}


def test_db_copy_says_which_rows_got_a_new_id(database: Any, tmp_path: Path) -> None:
    target = database if isinstance(database, PostgresUrl) else tmp_path / "fleet.db"
    a_server(target, start="2025-03-10 07:00:00", number="+34600111222", pin_for="+34600555444",
             list_name="vip", entries="+34600111222\n")
    source = tmp_path / "node2.db"
    a_server(source, start="2025-03-10 08:00:00", number="+34600333444", pin_for="+34600999888",
             list_name="robinson", entries="+34911111111\n")
    result = CliRunner().invoke(cli, ["db", "copy", "--from", f"sqlite:{source}",
                                      "--to", target.url if isinstance(target, PostgresUrl) else str(target)])
    assert result.exit_code == 0, result.output
    assert "callbacks: 1 row (1 with a new id: the target's rows had theirs)\n" in result.output


def test_a_source_newer_than_this_agiflow_is_refused_before_anything_is_copied(database: Any, tmp_path: Path) -> None:
    from agi.storage.copy import CopyError
    from agi.storage.migrations import upgrade
    from agi.storage.schema_version import SCHEMA_VERSION
    upgrade(database)
    CdrBuilder(database).close()
    newer = "INSERT INTO agiflow_schema (version, upgraded_at) VALUES (?, 'x')"
    if isinstance(database, PostgresUrl):
        import psycopg

        from agi.db import postgres as pg
        with psycopg.connect(**pg.parameters(database), autocommit=True) as conn:
            conn.execute(newer.replace("?", "%s"), (SCHEMA_VERSION + 1,))
    else:
        import sqlite3
        with sqlite3.connect(database) as conn:
            conn.execute(newer, (SCHEMA_VERSION + 1,))
    target = tmp_path / "target.db"
    with pytest.raises(CopyError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this agiflow knows"):
        copy_all(database, target)
    assert not target.exists()


def test_a_nul_character_in_a_source_row_does_not_stop_the_copy(database: Any, tmp_path: Path) -> None:
    """SQLite keeps a NUL in a text (a caller name an older agiflow or another
    tool wrote); PostgreSQL takes none, so one such row failed the first chunk
    of calls and every copy after it: the fleet's database never got them.
    It arrives with U+FFFD in its place, as the server stores one from Asterisk."""
    target = database if isinstance(database, PostgresUrl) else tmp_path / "fleet.db"
    source = tmp_path / "node2.db"
    cdr = CdrBuilder(source)
    cdr.add("2025-03-10 08:00:00", caller_name="Ana\x00X", steps=[("bye", "hangup", "done", {"said": "a\x00b"})])
    cdr.add("2025-03-10 08:01:00")
    cdr.close()
    copy_all(source, target)
    assert rows_of(target, "SELECT caller_name FROM calls ORDER BY started_at") in (
        [("Ana\ufffdX",), ("",)], [("Ana\x00X",), ("",)])
    assert rows_of(target, "SELECT count(*) FROM call_steps") == [(1,)]
    copy_all(source, target)
    assert rows_of(target, "SELECT count(*) FROM calls") == [(2,)]


def test_a_blob_in_a_text_column_arrives_as_the_text_every_report_reads(database: Any, tmp_path: Path) -> None:
    """SQLite keeps a BLOB in a text column (a row another tool wrote) and
    every report reads it as text (docs/reports.md). Copied into
    PostgreSQL it arrived as the digits of its bytes (``\\x616e61``), so the
    fleet's reports named a caller, a queue or a callback number nobody had."""
    target = database if isinstance(database, PostgresUrl) else tmp_path / "fleet.db"
    source = tmp_path / "node2.db"
    cdr = CdrBuilder(source)
    call = cdr.add("2025-03-10 08:00:00", steps=[("bye", "hangup", "done", {})])
    cdr.conn.execute("UPDATE calls SET caller = CAST('ana' AS BLOB), queue = X'73616cff' WHERE id = ?", (call,))
    cdr.conn.execute("UPDATE call_steps SET outcome = CAST('done' AS BLOB)")
    cdr.close()
    copy_all(source, target)
    if isinstance(target, PostgresUrl):
        assert rows_of(target, "SELECT caller, queue FROM calls") == [("ana", "sal\ufffd")]
        assert rows_of(target, "SELECT outcome FROM call_steps") == [("done",)]
    else:  # kept as it is: SQLite's reports read it as text
        assert rows_of(target, "SELECT caller, queue FROM calls") == [(b"ana", b"sal\xff")]
    result = CliRunner().invoke(cli, ["report", "calls", "--db", str(target), "--since", "2025-03-10",
                                      "--until", "2025-03-11", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert ",ana," in result.output and "sal\ufffd" in result.output and "\\x" not in result.output


def test_a_text_whose_bytes_are_not_utf8_arrives_as_the_blob_of_those_bytes_would(
        database: Any, tmp_path: Path) -> None:
    """SQLite keeps a TEXT whose bytes are no UTF-8 (another tool's row, a
    note written by hand): the copy stopped at it with Python's words,
    ``Could not decode to UTF-8 column 'note' with text 'caf'``, naming no
    table and no row, and copied nothing after it. It arrives as a BLOB of
    the same bytes does: U+FFFD for each byte that is no UTF-8."""
    target = database if isinstance(database, PostgresUrl) else tmp_path / "fleet.db"
    source = tmp_path / "node2.db"
    a_server(source, start="2025-03-10 08:00:00", number="+34600333444", pin_for="+34600999888",
             list_name="robinson", entries="+34911111111,ok\n")
    with contextlib.closing(sqlite3.connect(source, isolation_level=None)) as conn:
        conn.execute("UPDATE calls SET caller_name = 'Jos' || CAST(X'e9' AS TEXT)")
        conn.execute("UPDATE list_entries SET note = 'caf' || CAST(X'e9' AS TEXT)")
        assert conn.execute("SELECT typeof(note) FROM list_entries").fetchone() == ("text",)
    copy_all(source, target)
    assert [as_text(name) for (name,) in rows_of(target, "SELECT caller_name FROM calls")] == ["Jos\ufffd"]
    assert [as_text(note) for (note,) in rows_of(target, "SELECT note FROM list_entries")] == ["caf\ufffd"]
    assert number_lists(target, "ES").match("robinson", "+34911111111") is not None


def other_spelling(database: Database, tmp_path: Path) -> str:
    """The same database named another way: a hard link to the file, or the
    URL with one more parameter."""
    if isinstance(database, PostgresUrl):
        return database.url.replace(f"connect_timeout={CONNECT_TIMEOUT}", f"connect_timeout={CONNECT_TIMEOUT - 1}")
    link = tmp_path / "elsewhere" / "same.db"
    link.parent.mkdir()
    os.link(database, link)
    return f"sqlite:{link}"


def test_the_same_database_named_another_way_is_refused(database: Any, tmp_path: Path) -> None:
    """Only the same spelling (or path) was refused: a URL with another
    parameter, host name or port copied the database into itself."""
    a_server(database, start="2026-03-10T08:00:00", number="+34600111222", pin_for="+34600000001",
             list_name="robinson", entries="+34600999999\n")
    source = database.url if isinstance(database, PostgresUrl) else str(database)
    result = CliRunner().invoke(cli, ["db", "copy", "--from", source, "--to", other_spelling(database, tmp_path)])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == "error: the source and the target are the same database"


@pytest.mark.parametrize("suffix, kind", [("-wal", "write-ahead log"), ("-shm", "shared memory file"),
                                           ("-journal", "rollback journal")])
def test_a_file_sqlite_keeps_beside_a_database_is_refused_as_either_side(
        suffix: str, kind: str, tmp_path: Path) -> None:
    """``--to var/agiflow.db-wal`` (a name the shell completes) made a new
    database there, which SQLite then took for the source's write-ahead log
    and emptied: the copy said 'copied' and nothing was kept."""
    source = tmp_path / "agiflow.db"
    a_server(source, start="2026-03-10T08:00:00", number="+34600111222", pin_for="+34600000001",
             list_name="robinson", entries="+34600999999\n")
    companion = f"{source}{suffix}"
    for args in (["--from", str(source), "--to", companion], ["--from", companion, "--to", str(tmp_path / "b.db")]):
        result = CliRunner().invoke(cli, ["db", "copy", *args])
        assert result.exit_code == 1, result.output
        assert result.output.strip().endswith(f"the database {companion} is the {kind} of the database {source}, "
                                              "not a database of its own"), result.output
    assert not (tmp_path / "b.db").exists()


def test_a_copy_onto_a_full_disk_says_the_disk_is_full(tmp_path: Path, tiny_disk: Path) -> None:
    """SQLite rolls a transaction back by itself when the disk fills; the
    copy then tried to roll it back again and said only `the database: cannot
    rollback - no transaction is active`, naming neither database nor the
    full disk."""
    source = tmp_path / "source.db"
    builder = CdrBuilder(source)
    builder.add_calls(20_000, "2026-03-10 08:00:00")
    builder.close()
    target = tiny_disk / "target.db"
    result = CliRunner().invoke(cli, ["db", "copy", "--from", str(source), "--to", str(target)])
    assert result.exit_code == 1, result.output
    assert result.output == f"error: cannot copy {source} to {target}: database or disk is full\n"
    assert "Traceback" not in result.output


# -- the id counters of a database servers write ---------------------------------------------

def test_a_copy_run_again_while_a_server_writes_leaves_the_servers_next_steps_whole(
        postgres_url: PostgresUrl, tmp_path: Path) -> None:
    """Each copy set the target's id counters to the largest id it could
    see: a server's batch in flight had taken ids above it, not yet
    committed, so the counter went back and the server's next steps got
    those ids again; each was dropped (a unique key violation). A counter
    only ever moves forward now, by taking ids as the servers do."""
    import psycopg

    from agi.db import postgres as pg
    source = tmp_path / "node2.db"
    a_server(source, start="2025-03-10 08:00:00", number="+34600111222", pin_for="+34600999888",
             list_name="robinson", entries="+34600111222\n")
    copy_all(source, postgres_url)
    with psycopg.connect(**pg.parameters(postgres_url)) as in_flight:  # a server's batch, not committed yet
        in_flight.execute("INSERT INTO call_steps (call, seq, step) SELECT 'elsewhere', g, 'menu' "
                          "FROM generate_series(1, 20) AS g")
        in_flight.execute("INSERT INTO callbacks (requested_at, number, status, request_key) "
                          "SELECT '2026-03-10T09:00:00.000Z', '+3460000000' || g, 'pending', 'k' || g "
                          "FROM generate_series(1, 5) AS g")
        copy_all(source, postgres_url)  # adds nothing
    store = CdrStore(postgres_url)
    store.open()
    store.start()
    store.call_started({"id": "next", "call_id": "1.1", "started_at": "2026-03-10T09:00:00.000Z",
                        "status": "in_progress"})
    for seq in range(1, 31):
        store.step_finished("next", {"seq": seq, "flow": "support", "step": f"s{seq}", "type": "play",
                                     "outcome": "done", "started_at": "2026-03-10T09:00:00.000Z"})
    for n in range(10):
        StoredCallbackRequests(store).request({"requested_at": iso(NOW.timestamp()), "number": f"+3461000000{n}"})
    assert store.close()
    assert rows_of(postgres_url, "SELECT count(*) FROM call_steps WHERE call = 'next'") == [(30,)]
    assert rows_of(postgres_url, "SELECT count(*) FROM callbacks WHERE number LIKE '+346100%'") == [(10,)]


def test_a_copy_into_postgresql_needs_only_the_rights_a_server_needs(
        postgres_url: PostgresUrl, tmp_path: Path) -> None:
    """database.md: every command runs as a role with SELECT, INSERT, UPDATE
    and DELETE on the tables and USAGE on their sequences. db copy set the
    id counters with setval, which takes UPDATE on the sequence:
    `permission denied for sequence call_steps_id_seq`, and nothing after
    the calls was copied."""


    from agi.storage.migrations import upgrade
    upgrade(postgres_url)
    source = tmp_path / "node2.db"
    a_server(source, start="2025-03-10 08:00:00", number="+34600111222", pin_for="+34600999888",
             list_name="robinson", entries="+34600111222\n")
    with dml_role(postgres_url, "agiflow_copy") as user_url:
        copied = copy_all(source, user_url)
        assert copied.rows["call_steps"] == 2 and copied.rows["callbacks"] == 1 and copied.rows["list_entries"] == 1
        store = CdrStore(user_url)
        store.open()
        store.start()
        StoredCallbackRequests(store).request({"requested_at": iso(NOW.timestamp()), "number": "+34610000000"})
        assert store.close()
        assert rows_of(postgres_url, "SELECT count(*) FROM callbacks") == [(2,)]


def test_a_copy_by_a_role_without_temporary_on_the_database_says_which_right_to_grant(
        postgres_url: PostgresUrl, tmp_path: Path) -> None:
    """A copy stages rows in temporary tables: on a database whose PUBLIC
    rights were revoked, a role with rights on the tables alone was told
    `permission denied to create temporary tables` and not what to grant."""
    from agi.storage.migrations import upgrade
    upgrade(postgres_url)
    source = tmp_path / "node2.db"
    a_server(source, start="2025-03-10 08:00:00", number="+34600111222", pin_for="+34600999888",
             list_name="robinson", entries="+34600111222\n")
    with dml_role(postgres_url, "agiflow_copy_temp") as user_url, without_public_temporary(postgres_url) as name:
        result = CliRunner().invoke(cli, ["db", "copy", "--from", f"sqlite:{source}", "--to", user_url.url])
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"error: cannot copy {source} to {user_url}: permission denied to create temporary "
                             f"tables in database \"{name}\": grant this role TEMPORARY on the database "
                             "(lists import and db copy stage rows in temporary tables)\n")
    assert rows_of(postgres_url, "SELECT count(*) FROM calls") == [(0,)]


def test_a_call_copied_while_it_ran_gets_its_end_from_the_next_copy(database: Any, tmp_path: Path) -> None:
    """Moving a node to the fleet's database: a copy while it serves, then
    another once it is stopped. The call that was running at the first copy
    stayed `in_progress` in the target (a row it has is kept), and the node,
    started on the fleet's database, marked it `interrupted`: a call that had
    ended well. A row still in progress in the target takes the end the
    source has since written; a row that has ended is never changed."""
    from support import table_rows
    target = database if isinstance(database, PostgresUrl) else tmp_path / "fleet.db"
    source = tmp_path / "node2.db"
    cdr = CdrBuilder(source)
    running = cdr.add("2025-03-10 08:00:00", status="in_progress", duration=None,
                      steps=[("menu", "menu", "1", {})])
    ended = cdr.add("2025-03-10 08:01:00")
    cdr.close()
    copy_all(source, target)
    table_rows.execute(source, "UPDATE calls SET status = 'completed', duration = 42, outcome = 'answered', "
                               "ended_at = '2025-03-10T08:00:42.000Z' WHERE id = :id", {"id": running})
    table_rows.execute(source, "UPDATE calls SET outcome = 'changed by hand' WHERE id = :id", {"id": ended})
    table_rows.execute(source, "INSERT INTO call_steps (call, seq, flow, step, type, outcome, details) "
                               "VALUES (:id, 2, 'support', 'bye', 'hangup', 'done', '{}')", {"id": running})
    copy_all(source, target)
    rows = {row["id"]: row for row in table_rows.select(target, "SELECT id, status, duration, outcome FROM calls")}
    assert (rows[running]["status"], rows[running]["duration"], rows[running]["outcome"]) == (
        "completed", 42, "answered")
    assert rows[ended]["outcome"] != "changed by hand"  # an ended row is kept as it is
    assert rows_of(target, "SELECT count(*) FROM call_steps") == [(2,)]


def test_a_callback_request_closed_after_a_copy_is_closed_by_the_next(database: Any, tmp_path: Path) -> None:
    """A request copied while pending, then called back (or cancelled) on
    the node before it moved: the next copy skipped it as already there, and
    the fleet's dialer called the customer again. A request the target holds
    still pending takes the source's close; one the target closed is kept."""
    from support import table_rows
    target = database if isinstance(database, PostgresUrl) else tmp_path / "fleet.db"
    source = tmp_path / "node2.db"
    CdrBuilder(source).close()
    table_rows.insert(source, "callbacks", [
        {"requested_at": f"2026-03-10T09:0{n}:00.000Z", "number": f"+3460011122{n}", "status": "pending",
         "request_key": f"k{n}", "attempts": 0} for n in range(3)])
    copy_all(source, target)
    table_rows.execute(source, "UPDATE callbacks SET status = 'done', done_at = '2026-03-10T10:00:00.000Z', "
                               "note = 'called back', attempts = 1 WHERE request_key IN ('k0', 'k1')")
    table_rows.execute(target, "UPDATE callbacks SET status = 'cancelled', done_at = '2026-03-10T09:30:00.000Z' "
                               "WHERE request_key = 'k1'")
    copy_all(source, target)
    found = {row["request_key"]: (row["status"], row["done_at"], row["note"]) for row in table_rows.select(
        target, "SELECT request_key, status, done_at, note FROM callbacks")}
    assert found == {"k0": ("done", "2026-03-10T10:00:00.000Z", "called back"),
                     "k1": ("cancelled", "2026-03-10T09:30:00.000Z", None),
                     "k2": ("pending", None, None)}


# -- a source row PostgreSQL cannot take ----------------------------------------------------


@pytest.mark.parametrize("column, value", [("steps", 2.5), ("duration", "long")])
def test_a_source_value_postgresql_cannot_take_names_the_table_row_column_and_value(
        column: str, value: Any, postgres_url: PostgresUrl, tmp_path: Path) -> None:
    """SQLite keeps ``2.5`` in an integer column and text in a number column
    (a row another tool wrote); PostgreSQL takes neither, and the copy said only
    ``COPY agiflow_copy, line 2``: a temporary table and a line of a chunk, so
    the bad row could not be found. The error names the table, the row's id,
    the column and its value, and what to do."""
    source = tmp_path / "node2.db"
    cdr = CdrBuilder(source)
    cdr.add("2025-03-10 08:00:00")
    bad = cdr.add("2025-03-10 08:01:00")
    cdr.close()
    with sqlite3.connect(source) as conn:
        conn.execute(f"UPDATE calls SET {column} = ? WHERE id = ?", (value, bad))
    conn.close()
    result = CliRunner().invoke(cli, ["db", "copy", "--from", str(source), "--to", postgres_url.url])
    assert result.exit_code == 1, result.output
    assert "agiflow_copy" not in result.output
    assert f"table calls, row id {bad}: column {column} holds {value!r}" in result.output, result.output
    assert "correct it in the source" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
