"""Every ``agiflow`` command against a broken config or database: one line
on stderr, a non-zero exit status, never a traceback."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner, Result
from support.cdr_builder import CdrBuilder

from agi.cli.main import cli
from agi.db import postgres_sql as pgsql
from agi.db.location import Database, PostgresUrl

REPO = Path(__file__).resolve().parents[2]

#: One invocation of every command that takes -c/--config.
COMMANDS: dict[str, list[str]] = {
    "serve": ["serve", "--port", "0"],
    "validate": ["validate"],
    "simulate": ["simulate", "support", "--caller", "600111222"],
    "test": ["test"],
    "graph": ["graph", "support"],
    "sounds build": ["sounds", "build"],
    "schedule list": ["schedule", "list"],
    "schedule show": ["schedule", "show", "office_hours"],
    "schedule override": ["schedule", "override", "office_hours", "open", "--until", "2h"],
    "schedule clear": ["schedule", "clear", "office_hours"],
    **{f"report {kind}": ["report", kind] for kind in
       ("calls", "summary", "inbound", "fcr", "tracking", "ivr", "compliance")},
    "lists show": ["lists", "show"],
    "lists create": ["lists", "create", "vip"],
    "lists delete": ["lists", "delete", "vip", "--yes"],
    "lists add": ["lists", "add", "vip", "600111222"],
    "lists remove": ["lists", "remove", "vip", "600111222"],
    "lists check": ["lists", "check", "vip", "600111222"],
    "lists import": ["lists", "import", "vip", "numbers.csv"],
    "lists export": ["lists", "export", "vip"],
    "callbacks list": ["callbacks", "list"],
    "callbacks export": ["callbacks", "export"],
    "callbacks done": ["callbacks", "done", "1"],
    "callbacks cancel": ["callbacks", "cancel", "1"],
}
#: The commands that never open the database.
NO_DATABASE = {"validate", "test", "graph", "sounds build"}
#: Commands that need the database to exist (the others create it, or read it when it is there).
NEED_IT = {name for name in COMMANDS if name.startswith(("report", "callbacks"))} | {
    "lists delete", "lists remove", "lists check", "lists export"}


def _write(content: str | bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return write


#: Nine levels of nine aliases: a few hundred bytes that stand for 9**9 values.
BILLION_LAUGHS = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 9))

BROKEN_CONFIGS: dict[str, Callable[[Path], None]] = {
    "a YAML list": _write("- database: x.db\n- flows: flows\n"),
    "a scalar": _write("just some words\n"),
    "an empty list": _write("[]\n"),
    "binary": _write(bytes(range(256)) * 4),
    "invalid UTF-8": _write(b"database: caf\xe9.db\n"),
    "a control character": _write(b"flows: flows\ndatabase: \"cdr\x1b.db\"\n"),  # once line 1, in two lines
    "aliases that stand for a billion values": _write(BILLION_LAUGHS),
    "over 1 MB": _write(b"# a comment\n" * (1024 * 1024 // 12 + 1)),
    "a directory": Path.mkdir,
    "missing": lambda path: None,
    "a named pipe no program writes to": os.mkfifo,  # once waited on for ever
}


def _random(path: Path) -> None:
    path.write_bytes(os.urandom(16384))


def _foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    conn.close()


def _same_names(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        for table in ("calls", "number_lists", "callbacks", "schedule_overrides"):
            conn.execute(f"CREATE TABLE {table} (something_else TEXT)")
    conn.close()


BROKEN_DATABASES: dict[str, Callable[[Path], None]] = {
    "random bytes": _random,
    "a directory": Path.mkdir,
    "a SQLite file of another program": _foreign,
    "a SQLite file whose tables have agiflow's names": _same_names,
    "a named pipe": os.mkfifo,  # once held every command for ever
    "a link to a device": lambda path: path.symlink_to("/dev/zero"),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped flows, a CSV to import, and no server ever started."""
    shutil.copytree(REPO / "flows", tmp_path / "flows")
    (tmp_path / "numbers.csv").write_text("600111222\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    def no_server(config: object) -> int:
        raise AssertionError("the server must not start")
    monkeypatch.setattr("agi.server.service.serve", no_server)
    return tmp_path


def agiflow(args: list[str], config: Path) -> Result:
    return CliRunner().invoke(cli, [*args, "-c", str(config)])


def assert_one_line_error(result: Result, code: int | None = None) -> str:
    assert result.exit_code != 0, result.output
    assert code is None or result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def config_with_database(project: Path, database: str = "var/agiflow.db") -> Path:
    config = project / "config.yaml"
    config.write_text(json.dumps({"database": database, "flows": "flows"}), encoding="utf-8")
    (project / "var").mkdir(exist_ok=True)
    return config


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("broken", BROKEN_CONFIGS)
def test_a_broken_config_is_one_line_with_its_file_and_exit_2(project: Path, broken: str, command: str) -> None:
    config = project / "config.yaml"
    BROKEN_CONFIGS[broken](config)
    line = assert_one_line_error(agiflow(COMMANDS[command], config), 2)
    assert line.startswith(f"{config}:"), line


@pytest.mark.parametrize("command", sorted(set(COMMANDS) - NO_DATABASE))
@pytest.mark.parametrize("broken", BROKEN_DATABASES)
def test_a_broken_database_is_one_line_naming_it(project: Path, broken: str, command: str) -> None:
    config = config_with_database(project)
    BROKEN_DATABASES[broken](project / "var" / "agiflow.db")
    line = assert_one_line_error(agiflow(COMMANDS[command], config))
    assert line.startswith("error: ") and str(project / "var" / "agiflow.db") in line, line


@pytest.mark.parametrize("command", sorted(NEED_IT))
def test_a_missing_database_is_one_line_saying_the_file_does_not_exist(project: Path, command: str) -> None:
    config = config_with_database(project)
    line = assert_one_line_error(agiflow(COMMANDS[command], config))
    assert line.endswith(f"the database {project / 'var' / 'agiflow.db'} does not exist"), line
    assert not (project / "var" / "agiflow.db").exists()


def test_messages_say_what_is_wrong_with_the_database(project: Path) -> None:
    config = config_with_database(project)
    database = project / "var" / "agiflow.db"
    said = {}
    for broken, make in BROKEN_DATABASES.items():
        shutil.rmtree(database) if database.is_dir() else database.unlink(missing_ok=True)
        make(database)
        said[broken] = assert_one_line_error(agiflow(["lists", "show"], config))
    assert said["random bytes"] == f"error: the database {database} is not an SQLite database (file is not a database)"
    assert "is a directory, not a database file" in said["a directory"]
    assert "not agiflow's: it has none of agiflow's tables (it has 'customers')" in said["a SQLite file of another program"]
    assert "not agiflow's: its table 'calls' has other columns" in said["a SQLite file whose tables have agiflow's names"]
    assert said["a named pipe"] == (f"error: the database {database} is a named pipe, not a database file "
                                    "(check 'database' in the config)")
    assert said["a link to a device"].startswith(f"error: the database {database} is a device, not a database file")


@pytest.mark.parametrize("args", [["db", "upgrade", "--database"], ["db", "rollups", "--database"],
                                  ["report", "summary", "--db"], ["report", "import-queue-log", "queue_log", "--db"]],
                         ids=lambda args: " ".join(args[:2]))
def test_a_database_named_on_the_command_line_is_not_blamed_on_the_config(project: Path, args: list[str]) -> None:
    """`--database DIR` said '(check 'database' in the config)', which named no such thing."""
    (project / "queue_log").write_text("", encoding="utf-8")
    (project / "not-a-db").mkdir()
    config = config_with_database(project)
    line = assert_one_line_error(agiflow([*args, str(project / "not-a-db")], config))
    assert line == f"error: the database {project / 'not-a-db'} is a directory, not a database file", line


@pytest.mark.parametrize("args", [["db", "upgrade", "--database", "{url}"], ["db", "copy", "--from", "{url}", "--to",
                                  "sqlite:copy.db"], ["lists", "add", "vip", "600111222"], ["lists", "show"],
                                  ["report", "calls"]], ids=lambda args: " ".join(args[:2]))
def test_a_postgresql_database_of_another_program_is_one_line_and_left_alone(
        project: Path, postgres_url: PostgresUrl, args: list[str]) -> None:
    """A table named calls with other columns failed half-way through the
    first migration ('column "started_at" does not exist'), and db copy
    read it as agiflow's."""
    import psycopg
    with psycopg.connect(postgres_url.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE calls (x integer)")
    config = config_with_database(project, postgres_url.url)
    given = [arg.format(url=postgres_url.url) for arg in args]
    line = assert_one_line_error(CliRunner().invoke(cli, given) if args[1] == "copy" else agiflow(given, config))
    assert line.endswith("is not agiflow's: its table 'calls' has other columns"
                         + ("" if args[0] == "db" else " (check 'database' in the config)")), line
    with psycopg.connect(postgres_url.url, autocommit=True) as conn:
        assert [row[0] for row in conn.execute(pgsql.TABLES)] == ["calls"]
    assert not (project / "copy.db").exists()


def test_a_broken_config_says_what_is_wrong(project: Path) -> None:
    config = project / "config.yaml"
    said = {}
    for broken, make in BROKEN_CONFIGS.items():
        shutil.rmtree(config) if config.is_dir() else config.unlink(missing_ok=True)
        make(config)
        said[broken] = assert_one_line_error(agiflow(["validate"], config), 2)
    assert said["a YAML list"] == (f"{config}:1: a config file must be a mapping of settings "
                                   f"(database: ..., flows: ...), not a list")
    assert said["a scalar"].endswith("not a single value (str)")
    assert said["invalid UTF-8"] == (f"{config}:1: cannot read config: not UTF-8 text (byte 0xe9); "
                                     f"a config is a YAML text file")
    assert said["a directory"] == f"{config}:1: cannot read config: Is a directory"
    assert said["a control character"] == (f"{config}:2: invalid YAML: unacceptable character #x001b: "
                                           "special characters are not allowed")
    assert said["over 1 MB"] == (f"{config}:1: cannot read config: larger than 1048576 bytes; "
                                 f"a config is a short YAML text file")
    assert said["aliases that stand for a billion values"] == (
        f"{config}:5: aliases repeat more than 10000 values; write the values out or use fewer aliases")
    assert said["missing"] == f"{config}:1: cannot read config: No such file or directory"
    assert said["a named pipe no program writes to"] == (f"{config}:1: cannot read config: a named pipe that "
                                                         "no program writes to")


@pytest.mark.parametrize("command", [["validate"], ["report", "summary"], ["lists", "add", "vip", "600111222"]])
def test_a_default_config_that_is_a_link_to_nothing_is_one_line_and_not_the_defaults(
        command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """./config.yaml linking to a config that was moved: once, the commands
    took the built-in defaults (a new agiflow.db in the working folder)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").symlink_to(tmp_path / "etc" / "agiflow.yaml")
    result = CliRunner().invoke(cli, command)
    line = assert_one_line_error(result, 2)
    assert line == (f"config.yaml:1: cannot read config: a symbolic link to {tmp_path / 'etc' / 'agiflow.yaml'}, "
                    "which does not exist"), line
    assert not (tmp_path / "agiflow.db").exists()


def refuse_reading(monkeypatch: pytest.MonkeyPatch, file: Path) -> None:
    """Opening ``file`` fails as for a user who may not read it (root reads
    any file, so the refusal is made here), by ``os.open`` and ``open``."""
    import builtins
    real_open, real_builtin_open = os.open, builtins.open

    def refused(path: object, *rest: object, **kwargs: object) -> int:
        if str(path) == str(file):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *rest, **kwargs)  # type: ignore[arg-type]

    def refused_too(path: object, *rest: object, **kwargs: object) -> object:
        if str(path) == str(file):
            raise PermissionError(13, "Permission denied", str(path))
        return real_builtin_open(path, *rest, **kwargs)  # type: ignore[call-overload]
    monkeypatch.setattr(os, "open", refused)
    monkeypatch.setattr(builtins, "open", refused_too)
    monkeypatch.setattr(os, "access", lambda path, mode, *rest, **kwargs: str(path) != str(file))


def test_a_config_the_user_may_not_read_is_one_line_naming_it_and_exit_2(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once click's three-line usage error (`Invalid value for '-c' /
    '--config': Path ... is not readable`), unlike every other config that
    cannot be used. Root reads any file, so the refusal is made here."""
    config = config_with_database(project)
    refuse_reading(monkeypatch, config)
    for command in (["validate"], ["report", "summary"], ["lists", "show"]):
        line = assert_one_line_error(agiflow(command, config), 2)
        assert line == f"{config}:1: cannot read config: Permission denied", line


@pytest.mark.parametrize("args, expected", [
    (["validate", "{file}"], "{file}:1: cannot read flow file: Permission denied"),
    (["lists", "import", "vip", "{file}"], "error: {file}: Permission denied"),
    (["report", "import-queue-log", "{file}"], "error: {file}: Permission denied"),
])
def test_an_input_file_the_user_may_not_read_is_the_commands_own_error_and_exit_1(
        args: list[str], expected: str, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once click's usage error, exit 2 (`Path ... is not readable`), where
    the command's pages promise its own line and exit 1."""
    config = config_with_database(project)
    agiflow(["lists", "create", "vip"], config)
    CdrBuilder(project / "var" / "agiflow.db").close()  # the CDR tables
    file = project / "flows" / "support.yaml" if args[0] == "validate" else project / "input.csv"
    if not file.exists():
        file.write_text("600111222\n")
    refuse_reading(monkeypatch, file)
    result = agiflow([arg.format(file=file) for arg in args], config)
    assert result.exit_code == 1, result.output
    assert expected.format(file=file) in result.output.splitlines(), result.output


def test_a_config_a_program_writes_into_a_named_pipe_is_read(project: Path) -> None:
    config = project / "config.yaml"
    os.mkfifo(config)

    def write() -> None:  # waits in its open() until the command opens the pipe
        with open(config, "w", encoding="utf-8") as pipe:
            pipe.write("flows: flows\n")
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(0.2)
    result = agiflow(["validate"], config)
    assert result.exit_code == 0 and "flows valid" in result.output, result.output


def test_commands_that_write_create_a_missing_database(project: Path) -> None:
    config = config_with_database(project, "new/agiflow.db")
    assert agiflow(["lists", "add", "vip", "600111222"], config).exit_code == 0
    assert (project / "new" / "agiflow.db").is_file()


def test_reading_commands_work_without_a_database_when_they_can(project: Path) -> None:
    config = config_with_database(project)
    shown = agiflow(["lists", "show"], config)
    assert shown.exit_code == 0
    assert shown.stdout == f"no number lists in {project / 'var' / 'agiflow.db'} (the file does not exist)\n"
    assert agiflow(["schedule", "list"], config).exit_code == 0
    assert not (project / "var" / "agiflow.db").exists()


def test_a_simulation_without_the_database_says_it_does_not_exist(project: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    config = config_with_database(project)
    result = agiflow(["simulate", "campaign", "--caller", "600111222", "--called", "600111333"], config)
    assert result.exit_code == 0, result.output
    assert "dnc:error" in result.stdout  # a do-not-call check fails closed
    assert f"the database {project / 'var' / 'agiflow.db'} does not exist" in caplog.text
    assert "no database configured" not in caplog.text


def test_a_file_that_cannot_be_written_is_one_line(project: Path) -> None:
    config = config_with_database(project)
    agiflow(["lists", "add", "vip", "600111222"], config)
    CdrBuilder(project / "var" / "agiflow.db").close()  # the CDR tables
    for command in (["lists", "export", "vip"], ["report", "calls"], ["callbacks", "export"]):
        line = assert_one_line_error(agiflow([*command, "-o", "no/such/folder/out.csv"], config))
        assert line == "error: no/such/folder/out.csv: No such file or directory", line


def test_an_output_file_on_a_full_disk_is_one_line_naming_it_and_leaves_nothing(tiny_disk: Path) -> None:
    """A report, list or callback export that filled the disk said only
    `error: No space left on device`, naming no file."""
    from support.tinydisk import fill
    database = tiny_disk.parent / "agiflow.db"
    config = config_with_database(tiny_disk.parent, str(database))
    agiflow(["lists", "add", "vip", "600111222"], config)
    CdrBuilder(database).close()  # the CDR tables
    filler = fill(tiny_disk)
    output = tiny_disk / "out.csv"
    for command in (["lists", "export", "vip"], ["report", "calls"], ["callbacks", "export"]):
        line = assert_one_line_error(agiflow([*command, "-o", str(output)], config))
        assert line == f"error: {output}: No space left on device", line
    assert sorted(path.name for path in tiny_disk.iterdir()) == ["filler"]
    filler.unlink()


@pytest.mark.parametrize("timeout", ["inf", "1e300", "nan", "3601", "0"])
def test_status_refuses_a_timeout_it_cannot_wait_for_with_a_usage_error(timeout: str) -> None:
    result = CliRunner().invoke(cli, ["status", "--url", "http://127.0.0.1:9", "--timeout", timeout])
    assert result.exit_code == 2, result.output
    assert "--timeout" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


#: Values a shell passes as bytes that are not UTF-8 (``--note $'caf\xe9'`` in a Latin-1 terminal):
#: Python keeps the byte as a surrogate, which no database can store.
NOT_UTF8 = "caf\udce9"


@pytest.mark.parametrize("args", [
    ["lists", "add", "vip", "600111222", "--note", NOT_UTF8],
    ["schedule", "override", "office_hours", "closed", "--until", "1h", "--reason", NOT_UTF8],
    ["report", "calls", "--flow", NOT_UTF8],
    ["report", "calls", "--caller", NOT_UTF8],
], ids=["lists add --note", "schedule override --reason", "report --flow", "report --caller"])
def test_a_value_that_is_not_utf8_is_one_line_naming_it(project: Path, database: Database,
                                                         args: list[str]) -> None:
    config = project / "config.yaml"
    url = database.url if isinstance(database, PostgresUrl) else "var/agiflow.db"
    config.write_text(json.dumps({"database": url, "flows": "flows"}), encoding="utf-8")
    (project / "var").mkdir(exist_ok=True)
    assert agiflow(["db", "upgrade"], config).exit_code == 0  # the database exists, with every table
    said = assert_one_line_error(agiflow(args, config), 1)
    assert said == "error: 'caf\\xe9' is not UTF-8 text: give it in UTF-8"


@pytest.mark.parametrize("args, option", [
    (["db", "upgrade", "--database", "postgresql://"], "--database"),
    (["db", "rollups", "--database", "postgresql://"], "--database"),
    (["report", "summary", "--db", "postgresql://"], "--db"),
    (["report", "import-queue-log", "-", "--db", "postgresql://"], "--db"),
    (["db", "copy", "--from", "postgresql://", "--to", "x.db"], "--from"),
])
def test_a_database_option_that_names_no_database_is_a_usage_error(
        args: list[str], option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 2, (done.output, done.exception)
    assert f"Invalid value for {option}: the PostgreSQL URL names no database" in done.stderr.replace("'", "")


@pytest.mark.parametrize("args", [["report", "summary"], ["report", "calls", "--format", "csv"],
                                  ["callbacks", "export"], ["lists", "export", "vip"]])
def test_an_output_file_that_is_a_folder_is_one_line_and_exit_1(
        args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["db", "upgrade"]).exit_code == 0
    CliRunner().invoke(cli, ["lists", "create", "vip"])
    (tmp_path / "out").mkdir()
    done = CliRunner().invoke(cli, [*args, "-o", "out"])
    assert done.exit_code == 1, (done.output, done.exception)
    assert done.stderr == "error: out: Is a directory\n"


@pytest.mark.parametrize("args", [["report", "summary"], ["report", "calls", "--format", "csv"],
                                  ["callbacks", "export"], ["lists", "export", "vip"]])
@pytest.mark.parametrize("output", ["agiflow.db", "./agiflow.db", "agiflow.db-wal", "link.db"])
def test_an_output_file_that_is_the_database_is_refused_and_the_database_kept(
        args: list[str], output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``-o agiflow.db`` (for agiflow.csv) replaced the database, every CDR,
    list and callback request in it, with the export."""
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["lists", "add", "vip", "600111222"]).exit_code == 0
    CdrBuilder(tmp_path / "agiflow.db").close()  # the CDR tables
    (tmp_path / "link.db").symlink_to("agiflow.db")
    before = (tmp_path / "agiflow.db").read_bytes()
    done = CliRunner().invoke(cli, [*args, "-o", output])
    assert done.exit_code == 1, (done.output, done.exception)
    assert done.stderr == f"error: {output}: that is the database agiflow.db (or a file SQLite " \
                          "keeps beside it): write the output to another file\n"
    assert (tmp_path / "agiflow.db").read_bytes() == before


def test_a_database_on_a_full_disk_is_one_line_saying_the_disk_is_full(tiny_disk: Path) -> None:
    """SQLite must create FILE-shm beside a WAL database even to read it; on
    a full disk every command said only `cannot be opened (disk I/O error)`."""
    from support.tinydisk import fill
    from agi.lists.admin import ListAdmin
    from agi.lists.numbers import Normaliser
    database = tiny_disk / "agiflow.db"
    with ListAdmin(database) as admin:
        admin.add("vip", Normaliser("ES").entry("600111222"))
    assert not (tiny_disk / "agiflow.db-shm").exists()
    filler = fill(tiny_disk)
    config = tiny_disk.parent / "config.yaml"
    config.write_text(json.dumps({"database": str(database)}))
    for args in (["lists", "show"], ["report", "summary"], ["lists", "add", "vip", "600111223"]):
        result = CliRunner().invoke(cli, [*args, "-c", str(config)])
        assert result.exit_code == 1, result.output
        assert result.output.startswith(f"error: the database {database} cannot be opened (disk I/O error): "
                                        "its disk is full"), result.output
        assert len(result.output.splitlines()) == 1
    filler.unlink()
    assert CliRunner().invoke(cli, ["lists", "show", "-c", str(config)]).exit_code == 0


@pytest.mark.parametrize("args, option", [
    (["validate", ""], "PATHS"),
    (["validate", "flows", ""], "PATHS"),
    (["test", ""], "PATHS"),
    (["test", "--flows", ""], "--flows"),
    (["sounds", "build", ""], "PATHS"),
    (["lists", "import", "vip", ""], "FILE"),
    (["lists", "export", "vip", "-o", ""], "--output"),
    (["report", "calls", "-o", ""], "--output"),
    (["report", "summary", "--db", ""], "--db"),
    (["report", "import-queue-log", ""], "FILE"),
    (["report", "import-queue-log", "-", "--db", " "], "--db"),
    (["callbacks", "export", "-o", ""], "--output"),
    (["callbacks", "dial", "--spool", "", "--channel", "PJSIP/{number}", "--dnc", "vip"], "--spool"),
    (["db", "upgrade", "--database", ""], "--database"),
    (["db", "rollups", "--database", "sqlite:"], "--database"),
    (["db", "copy", "--from", "", "--to", "copy.db"], "--from"),
    (["db", "copy", "--from", "agiflow.db", "--to", ""], "--to"),
    (["validate", "-c", ""], "--config"),
])
def test_an_empty_file_folder_or_database_name_is_a_usage_error(
        args: list[str], option: str, project: Path) -> None:
    """An empty value (a shell variable that was not set) once named the
    current folder: validate checked it, test ran its cases, callbacks dial
    wrote call files into it, -o said '.: Is a directory'."""
    assert CliRunner().invoke(cli, ["lists", "add", "vip", "600111222"]).exit_code == 0
    with sqlite3.connect(project / "agiflow.db") as conn:
        conn.execute("INSERT INTO callbacks (requested_at, arrived_at, number, status, attempts) "
                     "VALUES ('2025-03-10T09:00:00.000Z', '2025-03-10T09:00:00.000Z', '+34600999888', 'pending', 0)")
    conn.close()
    before = sorted(os.listdir(project))
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 2, (done.output, done.exception)
    assert "Traceback" not in done.output
    said = done.stderr.replace("'", "").replace('"', "")
    assert "Invalid value for " in said and option in said and "empty: give the" in said, done.stderr
    assert sorted(os.listdir(project)) == before
