"""`agiflow report` starts fast because it loads only what a report needs:
not the server (Twisted), not the flow loader and its step types, not
jsonschema when the config is valid, not the PostgreSQL driver psycopg
but for a report that walks many rows on PostgreSQL. Checked on the
modules a fresh process has imported (timing is the benchmark's
business: bench/report_startup.py)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.cdr_builder import CdrBuilder

from agi.db.location import Database, PostgresUrl

REPO = Path(__file__).resolve().parents[2]
#: Modules a report never needs.
NEVER = ("twisted", "agi.server", "agi.loading.loader", "agi.steps", "agi.engine", "agi.simulate", "agi.sim",
         "jinja2", "holidays", "agi.db.sqlite_files", "regex")
#: Modules a report with a valid config does not need either, on a SQLite file or
#: on PostgreSQL (agiflow's own libpq client reads it, not psycopg).
NOT_NEEDED = ("psycopg", "jsonschema", "agi.storage.migrations", "agi.storage.cdr_writer", "sqlite_utils",
              "phonenumbers", "logging")
#: ... but a report that walks many rows on PostgreSQL reads them with psycopg (faster), which logs.
NOT_FOR_WALKS_ON_POSTGRES = tuple(name for name in NOT_NEEDED if name not in ("psycopg", "logging"))

SCRIPT = """
import json, sys
from agi.cli.main import cli
try:
    cli(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported(args: list[str], cwd: Path) -> set[str]:
    """The modules ``agiflow ARGS`` imported, in a fresh interpreter."""
    run = subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=cwd, capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO), "TZ": "UTC", "PATH": "/usr/bin:/bin"}, timeout=60)
    result = json.loads(run.stderr.splitlines()[-1])
    assert result["code"] in (0, None), run.stderr
    return set(result["modules"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture
def cdr(database: Database) -> Database:
    builder = CdrBuilder(database)
    builder.add("2025-03-10 09:00:00", queue="support", queue_status="ANSWERED", talk_time=30.0)
    builder.close()
    return builder.path


def test_a_report_loads_neither_the_server_nor_the_flow_loader(cdr: Database, tmp_path: Path) -> None:
    target = cdr.url if isinstance(cdr, PostgresUrl) else str(cdr)
    for fmt in ("table", "csv", "json", "html"):
        modules = imported(["report", "summary", "--db", target, "--format", fmt], tmp_path)
        assert loaded(modules, NEVER) == [], fmt
        assert loaded(modules, NOT_NEEDED) == [], fmt


def test_phone_numbers_data_is_loaded_for_a_report_given_a_caller_and_no_more(cdr: Database,
                                                                             tmp_path: Path) -> None:
    target = cdr.url if isinstance(cdr, PostgresUrl) else str(cdr)
    modules = imported(["report", "summary", "--db", target, "--caller", "600111222"], tmp_path)
    assert loaded(modules, NEVER) == []
    assert "phonenumbers" in modules  # without --caller it is not: the test above
    assert loaded(modules, NOT_NEEDED) == sorted(m for m in modules if m.startswith("phonenumbers"))


def test_a_report_through_the_shipped_config_loads_no_more(cdr: Database, tmp_path: Path) -> None:
    text = (REPO / "config.yaml").read_text(encoding="utf-8")
    target = cdr.url if isinstance(cdr, PostgresUrl) else str(cdr)
    (tmp_path / "config.yaml").write_text(re.sub(r"(?m)^database: .*$", f"database: '{target}'", text),
                                          encoding="utf-8")
    modules = imported(["report", "calls", "-c", "config.yaml"], tmp_path)
    assert loaded(modules, NEVER) == []
    on_postgres = isinstance(cdr, PostgresUrl)
    assert loaded(modules, NOT_FOR_WALKS_ON_POSTGRES if on_postgres else NOT_NEEDED) == []
    assert ("psycopg" in modules) == on_postgres


def test_an_invalid_config_is_still_checked_by_jsonschema_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("database: x.db\nserver:\n  port: seventy\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "agi.cli", "report", "summary", "-c", "config.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 2
    assert run.stderr.startswith("config.yaml:3: server.port: 'seventy' is not of type 'integer'"), run.stderr


COUNT_CONNECTIONS = """
import sys
from agi.db import libpq
opened = []
connect = libpq.Connection.__init__
def counted(self, *args, **kwargs):
    opened.append(1)
    connect(self, *args, **kwargs)
libpq.Connection.__init__ = counted
from agi.cli.main import cli
try:
    cli(sys.argv[1:])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print(len(opened), file=sys.stderr)
"""


def test_a_report_on_postgresql_checks_and_reads_through_one_connection(cdr: Database, tmp_path: Path) -> None:
    if not isinstance(cdr, PostgresUrl):
        pytest.skip("a SQLite file has no server connection")
    run = subprocess.run([sys.executable, "-c", COUNT_CONNECTIONS, "report", "summary", "--db", cdr.url],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(REPO), "TZ": "UTC", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines()[-1] == "1"
    assert "summary" in run.stdout.lower()
