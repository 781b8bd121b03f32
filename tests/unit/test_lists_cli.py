"""What a user sees with ``agiflow lists``, through click's CliRunner, on a
real SQLite file named by a temporary config."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result
from support.postgres import dml_role, ended_before_purge, without_public_temporary

from agi.cli.main import cli
from agi.db.location import PostgresUrl
from agi.lists.store import SqliteNumberLists
from agi.steps.list_check import LISTS_SCHEMA

CSV = ("number,note\n"
       "+34600111222,asked 2025-01-03\n"
       "0034 600 111 223,\n"
       "not a number,typo\n"
       "+3490*,premium rate\n")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps({"database": "lists.db", "default_region": "ES"}))
    (tmp_path / "robinson.csv").write_text(CSV)
    return path


def agiflow(config: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["lists", *args, "-c", str(config)], input=input)


def test_import_reports_counts_and_each_bad_line_with_its_file_and_line(config: Path) -> None:
    result = agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("robinson: imported 3 entries from robinson.csv in ")
    assert result.stdout.rstrip().endswith(
        "3 added, 0 already listed or repeated, 1 bad line skipped; 3 entries in the list")
    assert result.stderr.startswith("robinson.csv:4: 'not a number' is not a phone number")
    assert (config.parent / "lists.db").exists()


def test_a_file_with_no_good_line_fails_and_leaves_the_list_alone(config: Path) -> None:
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    (config.parent / "bad.csv").write_text("abc\n12\n")
    result = agiflow(config, "import", "robinson", "bad.csv", "--replace", "--skip-bad")
    assert result.exit_code == 1
    assert "bad.csv:1: 'abc'" in result.stderr and "bad.csv:2: '12'" in result.stderr
    assert "no valid entries; list 'robinson' is unchanged" in result.stderr
    assert agiflow(config, "check", "robinson", "600111222").exit_code == 0


def test_a_file_of_bad_lines_only_says_no_valid_entries_without_skip_bad_too(config: Path) -> None:
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    before = agiflow(config, "export", "robinson").stdout
    (config.parent / "bad.csv").write_text("abc\n12\n")
    for options in ([], ["--replace"]):
        result = agiflow(config, "import", "robinson", "bad.csv", *options)
        assert result.exit_code == 1
        assert result.stderr.splitlines()[-1] == "error: bad.csv: no valid entries; list 'robinson' is unchanged"
        assert agiflow(config, "export", "robinson").stdout == before
    assert agiflow(config, "import", "vip", "bad.csv").exit_code == 1
    assert "vip" not in agiflow(config, "show").stdout


@pytest.mark.parametrize("header, row", [
    ("e164,notes", "600111222,asked"),
    ("E.164,Notes", "600111222,asked"),
    ("phone_number,comment", "600111222,asked"),
    ("Phone Number,Description", "600111222,asked"),
    ("id,tel,reason", "7,600111222,asked"),
    ("msisdn", "600111222"),
])
def test_a_header_of_column_names_is_skipped_whatever_words_it_uses(config: Path, header: str, row: str) -> None:
    (config.parent / "headed.csv").write_text(f"{header}\n{row}\n")
    result = agiflow(config, "import", "vip", "headed.csv")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "imported 1 entry from headed.csv" in result.stdout
    assert agiflow(config, "check", "vip", "600111222").stdout.endswith("  (asked)\n" if "," in row else "222\n")


def test_import_replace_swaps_the_list(config: Path) -> None:
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    result = agiflow(config, "import", "robinson", "-", "--replace", input="611000000\n")
    assert result.exit_code == 0, result.output
    assert "robinson: replaced with 1 entry from -" in result.stdout
    assert result.stdout.rstrip().endswith("0 already listed or repeated, no bad lines; 1 entry in the list")
    assert agiflow(config, "export", "robinson").stdout == "number,note\n+34611000000,\n"


def test_check_exits_0_and_prints_the_entry_when_listed(config: Path) -> None:
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    result = agiflow(config, "check", "robinson", "600 111 222")
    assert (result.exit_code, result.stdout) == (0, "+34600111222: listed in robinson by entry "
                                                    "+34600111222  (asked 2025-01-03)\n")
    result = agiflow(config, "check", "robinson", "902000000")
    assert (result.exit_code, result.stdout) == (0, "+34902000000: listed in robinson by prefix +3490*  (premium rate)\n")


def test_check_exits_1_when_not_listed_and_2_when_it_cannot_tell(config: Path) -> None:
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    result = agiflow(config, "check", "robinson", "612345678")
    assert (result.exit_code, result.stdout) == (1, "+34612345678: not in robinson\n")
    assert agiflow(config, "check", "vip", "612345678").exit_code == 2
    bad = agiflow(config, "check", "robinson", "hello")
    assert bad.exit_code == 2 and "'hello' is not a phone number" in bad.stderr


@pytest.mark.parametrize("trouble", [KeyboardInterrupt(), OSError(5, "Input/output error"), RuntimeError("pool closed")])
def test_check_that_is_interrupted_or_fails_unforeseen_exits_2_never_1(config: Path, trouble: BaseException,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # a script's deadline (SIGINT while a locked database kept the lookup waiting) ended it 'Aborted!', exit 1:
    # the status that says a number may be called
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")

    def fails(*args: Any) -> None:
        raise trouble
    monkeypatch.setattr(SqliteNumberLists, "match", fails)
    result = agiflow(config, "check", "robinson", "600111222")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and "not listed" not in result.stdout


@pytest.mark.parametrize("list_name, number, may_call", [
    ("robinson", "612345678", True),
    ("robinson", "600111222", False),  # listed
    ("robinson", "902123456", False),  # listed by prefix
    ("vip", "612345678", False),  # no such list: it cannot tell
    ("robinson", "hello", False),  # no phone number: it cannot tell
])
def test_the_script_cli_md_quotes_says_may_call_only_for_a_number_not_listed(config: Path, list_name: str,
                                                                              number: str, may_call: bool) -> None:
    """The line cli.md gives scripts, run by a shell: a list that cannot be
    read (exit 2) must not read as "may call"."""
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    page = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    [line] = [ln for ln in page.splitlines() if ln.startswith("$ agiflow lists check") and "may call" in ln]
    script = line.removeprefix("$ ").replace("robinson 612345678", f"{list_name} {number}", 1)
    shell = subprocess.run(["bash", "-c", f'agiflow() {{ "$PYTHON" -m agi.cli "$@" -c "$CONFIG"; }}\n{script}'],
                           capture_output=True, text=True, timeout=60, cwd=config.parent,
                           env={**os.environ, "PYTHON": sys.executable, "CONFIG": str(config),
                                "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert ("may call" in shell.stdout.splitlines()) is may_call, (script, shell.stdout, shell.stderr)


def test_add_and_remove_one_entry(config: Path) -> None:
    assert agiflow(config, "add", "vip", "600 999 888", "--note", "Ana").stdout == "vip: added +34600999888\n"
    assert agiflow(config, "add", "vip", "+34 90", "--prefix").stdout == "vip: added +3490*\n"
    again = agiflow(config, "add", "vip", "0034600999888", "--note", "Ana G.")
    assert again.stdout == "vip: already listed, note updated: +34600999888\n"
    assert agiflow(config, "check", "vip", "600999888").stdout.endswith("(Ana G.)\n")
    kept = agiflow(config, "add", "vip", "600999888")
    assert kept.stdout == "vip: already listed, note kept: +34600999888\n"
    assert agiflow(config, "check", "vip", "600999888").stdout.endswith("(Ana G.)\n")
    assert agiflow(config, "remove", "vip", "90", "--prefix").stdout == "vip: removed +3490*\n"
    missing = agiflow(config, "remove", "vip", "90*")
    assert missing.exit_code == 1 and "+3490* is not in the list" in missing.stderr


def test_a_bad_number_or_list_name_is_a_usage_error(config: Path) -> None:
    assert agiflow(config, "add", "vip", "hello").exit_code == 2
    result = agiflow(config, "add", "my list", "600999888")
    assert result.exit_code == 2 and "NAME" in result.stderr


@pytest.mark.parametrize("name, ok", [("x_", True), ("a.b-c", True), ("9" + "a" * 63, True), ("a" * 65, False),
                                      ("robinson\n", False), ("robinson\r", False), (" robinson", False),
                                      ("_x", False), (".x", False), ("-x", False)])
def test_a_list_name_is_letters_digits_and_dot_dash_underscore_up_to_64_starting_with_a_letter_or_digit(
        config: Path, name: str, ok: bool) -> None:
    result = CliRunner().invoke(cli, ["lists", "create", "-c", str(config), "--", name])
    assert result.exit_code == (0 if ok else 2), result.output


def test_a_flow_may_not_name_a_list_with_a_line_break_either() -> None:
    assert not jsonschema.Draft7Validator(LISTS_SCHEMA).is_valid("robinson\n")
    assert jsonschema.Draft7Validator(LISTS_SCHEMA).is_valid(["robinson", "internal_dnc"])


def test_export_writes_csv_that_imports_back_to_the_same_list(config: Path) -> None:
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    result = agiflow(config, "export", "robinson", "-o", "out.csv")
    assert result.stdout == "robinson: 3 entries written to out.csv\n"
    exported = (config.parent / "out.csv").read_text()
    assert exported == ("number,note\n+34600111222,asked 2025-01-03\n+34600111223,\n+3490*,premium rate\n")
    assert agiflow(config, "import", "copy", "out.csv").exit_code == 0
    assert agiflow(config, "export", "copy").stdout == exported


def test_exporting_a_list_that_does_not_exist_writes_nothing_and_leaves_the_output_file_as_it_was(
        database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL the list was looked up once the output was open: the
    header went out, and -o emptied yesterday's export a dialer reads."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.yaml"
    where = database.url if isinstance(database, PostgresUrl) else str(database)
    config.write_text(json.dumps({"database": where, "default_region": "ES"}))
    assert agiflow(config, "create", "vip").exit_code == 0
    (tmp_path / "robinson.csv").write_text("number,note\n+34600111222,\n")
    result = agiflow(config, "export", "robinson", "-o", "robinson.csv")
    assert result.exit_code == 1 and "no number list named 'robinson'" in result.stderr
    assert (tmp_path / "robinson.csv").read_text() == "number,note\n+34600111222,\n"
    result = agiflow(config, "export", "robinson")
    assert result.exit_code == 1 and result.stdout == ""


def test_an_export_that_fails_half_way_leaves_the_output_file_as_it_was(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An export of millions of entries reads them as it writes: a server gone
    half-way (ListUnavailable) left a half file in place of the last export."""
    from agi.cli import lists as lists_cli
    from agi.services import ListUnavailable
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    (config.parent / "out.csv").write_text("number,note\n+34600999999,\n")

    def cut(out: Any, rows: Any) -> int:
        out.write("number,note\n")
        raise ListUnavailable("cannot read number list 'robinson': server closed the connection unexpectedly")

    monkeypatch.setattr(lists_cli, "write_entries", cut)
    result = agiflow(config, "export", "robinson", "-o", "out.csv")
    assert result.exit_code == 1 and "server closed the connection" in result.stderr, result.output
    assert (config.parent / "out.csv").read_text() == "number,note\n+34600999999,\n"
    assert [p.name for p in config.parent.iterdir() if p.name.startswith(".out.csv")] == []


def test_a_change_waits_for_a_lock_held_elsewhere_as_long_on_both_backends(
        database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite a list change waits its write lock for a while, then fails
    with exit 1; on PostgreSQL it waited for ever behind a transaction left
    open (a cron job's lists import never ended)."""
    from agi.lists import admin as list_admin_module
    from agi.storage.migrations import upgrade
    from support import table_rows
    monkeypatch.setattr(list_admin_module, "WRITE_BUSY_TIMEOUT_MS", 1000)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.yaml"
    where = database.url if isinstance(database, PostgresUrl) else str(database)
    config.write_text(json.dumps({"database": where, "default_region": "ES"}))
    upgrade(database)
    with table_rows.write_locked(database, "number_lists"):
        started = time.monotonic()
        result = agiflow(config, "add", "vip", "600111222")
        waited = time.monotonic() - started
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert waited < 10
    assert agiflow(config, "add", "vip", "600111222").exit_code == 0


def test_show_lists_every_list_with_its_count(config: Path) -> None:
    assert agiflow(config, "show").stdout.startswith("no number lists in ")
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    agiflow(config, "create", "vip")
    lines = agiflow(config, "show").stdout.splitlines()
    assert lines[0].split() == ["list", "entries", "updated"]
    assert [line.split()[:2] for line in lines[1:]] == [["robinson", "3"], ["vip", "0"]]


def test_create_makes_an_empty_list_that_steps_can_use(config: Path) -> None:
    assert agiflow(config, "create", "robinson").stdout == "robinson: created\n"
    assert agiflow(config, "create", "robinson").stdout == "robinson: already exists\n"
    assert SqliteNumberLists(config.parent / "lists.db", "ES").match("robinson", "600111222") is None


def test_an_import_into_a_name_that_differs_from_a_list_only_in_case_is_refused_naming_the_list(
        config: Path) -> None:
    agiflow(config, "create", "robinson")
    result = agiflow(config, "import", "ROBINSON", "robinson.csv", "--skip-bad", "--replace")
    assert result.exit_code == 1 and "there is 'robinson'" in result.stderr and "use 'robinson'" in result.stderr
    assert agiflow(config, "show").stdout.splitlines()[1].split()[:2] == ["robinson", "0"]


def test_delete_asks_unless_yes_and_then_the_list_is_gone(config: Path) -> None:
    agiflow(config, "import", "robinson", "robinson.csv", "--skip-bad")
    refused = agiflow(config, "delete", "robinson", input="n\n")
    assert refused.exit_code == 1
    assert "delete number list 'robinson' and its 3 entries?" in refused.output
    missing = agiflow(config, "delete", "robinsn", input="y\n")  # not asked about a list that is not there
    assert (missing.exit_code, missing.output) == (1, "error: no number list named 'robinsn'\n")
    assert agiflow(config, "check", "robinson", "600111222").exit_code == 0
    assert agiflow(config, "delete", "robinson", "--yes").stdout == "robinson: deleted (3 entries)\n"
    agiflow(config, "add", "one", "600111222")
    assert agiflow(config, "delete", "one", "--yes").stdout == "one: deleted (1 entry)\n"
    assert agiflow(config, "check", "robinson", "600111222").exit_code == 2


def test_reading_commands_never_create_the_database(config: Path) -> None:
    agiflow(config, "show")
    agiflow(config, "check", "robinson", "600111222")
    assert agiflow(config, "export", "robinson").exit_code == 1
    assert not (config.parent / "lists.db").exists()


def test_check_on_a_database_with_no_agiflow_tables_yet_says_the_list_does_not_exist(
        database: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An existing database nothing has created agiflow's tables in yet: the
    same words on both backends, and no driver's "no such table"."""
    monkeypatch.chdir(tmp_path)
    if not isinstance(database, PostgresUrl):
        with sqlite3.connect(database) as conn:
            conn.execute("CREATE TABLE gone (x)")
            conn.execute("DROP TABLE gone")
    config = tmp_path / "config.yaml"
    where = database.url if isinstance(database, PostgresUrl) else str(database)
    config.write_text(json.dumps({"database": where, "default_region": "ES"}))
    result = agiflow(config, "check", "vip", "612345678")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: no number list named 'vip' in {where}: it has no agiflow tables yet\n"


def test_a_postgresql_error_of_a_lists_command_is_told_without_agiflows_statement(
        postgres_url: PostgresUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lock held elsewhere past the command's wait: the line went on with
    the statement PostgreSQL quotes (`LINE 1: SELECT id, entries FROM
    number_lis... ^`), which tells the operator nothing."""
    import psycopg

    from agi.db import postgres as pg
    from agi.lists import admin as list_admin
    from agi.storage.migrations import upgrade
    upgrade(postgres_url)
    monkeypatch.setattr(list_admin, "WRITE_BUSY_TIMEOUT_MS", 200)
    config = tmp_path / "config.yaml"
    config.write_text(f"database: '{postgres_url.url}'\n", encoding="utf-8")
    with psycopg.connect(**pg.parameters(postgres_url)) as other:
        other.execute("LOCK TABLE number_lists IN ACCESS EXCLUSIVE MODE")
        result = CliRunner().invoke(cli, ["lists", "add", "vip", "+34600111222", "-c", str(config)])
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: the database {postgres_url}: canceling statement due to lock timeout\n"


def test_an_import_by_a_role_without_temporary_on_the_database_says_which_right_to_grant(
        postgres_url: PostgresUrl, tmp_path: Path) -> None:
    """An import stages its rows in temporary tables. A role with rights on
    the tables alone, on a database whose PUBLIC rights were revoked (`REVOKE
    ALL ON DATABASE ... FROM PUBLIC`), was told `permission denied to create
    temporary tables` and not what to grant, a right database.md did not list."""
    import psycopg
    from support import table_rows

    from agi.db import postgres as pg
    from agi.storage.migrations import upgrade
    upgrade(postgres_url)
    (tmp_path / "robinson.csv").write_text(CSV)
    with dml_role(postgres_url, "agiflow_import") as user_url, without_public_temporary(postgres_url) as name:
        config = tmp_path / "config.yaml"
        config.write_text(json.dumps({"database": user_url.url, "default_region": "ES"}))
        result = agiflow(config, "import", "robinson", str(tmp_path / "robinson.csv"), "--skip-bad")
        assert result.exit_code == 1, result.output
        assert result.stderr == (f"error: the database {user_url}: permission denied to create temporary tables "
                                 f"in database \"{name}\": grant this role TEMPORARY on the database "
                                 "(lists import and db copy stage rows in temporary tables)\n")
        assert table_rows.select(postgres_url, "SELECT count(*) AS n FROM number_lists") == [{"n": 0}]
        role = user_url.url.split("://", 1)[1].split("@", 1)[0]
        with psycopg.connect(**pg.parameters(postgres_url), autocommit=True) as admin:
            admin.execute(f'GRANT TEMPORARY ON DATABASE "{name}" TO {role}')
        result = agiflow(config, "import", "robinson", str(tmp_path / "robinson.csv"), "--skip-bad")
        assert result.exit_code == 0, result.output


def test_a_delete_whose_connection_ends_while_it_removes_the_entries_says_the_list_is_gone(
        postgres_url: PostgresUrl, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The list is gone once its row is; its entries are then removed a chunk
    at a time. The connection ended meanwhile: `error: ...` and exit 1, and a
    second delete said there was no such list."""

    config = tmp_path / "config.yaml"
    config.write_text(f"database: '{postgres_url.url}'\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["lists", "add", "vip", "+34600111222", "-c", str(config)]).exit_code == 0
    ended_before_purge(monkeypatch, postgres_url)
    result = CliRunner().invoke(cli, ["lists", "delete", "vip", "--yes", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "vip: deleted (1 entry)\n"
    assert result.stderr == ("vip: its entries are not all removed yet (terminating connection due to administrator "
                             "command); the next import or delete removes them\n")
    monkeypatch.undo()
    assert CliRunner().invoke(cli, ["lists", "add", "spare", "+34600111333", "-c", str(config)]).exit_code == 0
    assert CliRunner().invoke(cli, ["lists", "delete", "spare", "--yes", "-c", str(config)]).exit_code == 0
    from support import table_rows
    assert table_rows.select(postgres_url, "SELECT count(*) AS n FROM list_entries") == [{"n": 0}]


def test_lists_show_on_postgresql_waits_for_a_lock_held_elsewhere_as_long_as_a_sqlite_read(
        postgres_url: PostgresUrl, tmp_path: Path) -> None:
    """A read-only command (show, export) on SQLite waits 0.2 s for a lock
    (only WAL recovery takes one); on PostgreSQL it waited the 30 s of a list
    import for an ACCESS EXCLUSIVE lock (a migration, a VACUUM FULL)."""
    import time

    import psycopg

    from agi.db import postgres as pg
    from agi.lists.store import READ_BUSY_TIMEOUT_MS
    config = tmp_path / "config.yaml"
    config.write_text(f"database: '{postgres_url.url}'\n", encoding="utf-8")
    assert CliRunner().invoke(cli, ["lists", "add", "vip", "+34600111222", "-c", str(config)]).exit_code == 0
    with psycopg.connect(**pg.parameters(postgres_url)) as other:
        other.execute("LOCK TABLE number_lists IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["lists", "show", "-c", str(config)])
        waited = time.monotonic() - started
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: the database {postgres_url}: canceling statement due to lock timeout\n"
    assert waited < READ_BUSY_TIMEOUT_MS / 1000 + 2, waited
