"""Shared fixtures and the layout of the suite.

- ``tests/unit``: no sockets, no processes, no real time;
- ``tests/integration``: real TCP sockets on 127.0.0.1, ``agiflow serve``
  and ``agiflow-agi`` processes, headless Chromium; marked ``integration``;
- ``tests/quality``: the docs, types, lint and import direction checks;
- ``tests/support``: helpers the tests import (``from support.x import y``);
- ``tests/data/asterisk``: the recorded Asterisk 22 transcripts.

Tests that take the ``database`` fixture (or ``lists_db``, or a fixture
built on them) run once on a SQLite file and once on PostgreSQL
(docs/database.md#tests).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from agi.db.location import Database, PostgresUrl
from support.server_process import servers
from support.tinydisk import tiny_disk

#: Fixtures every test may use, defined in tests/support.
__all__ = ["servers", "tiny_disk"]

from support.flows_folder import FlowsFolder
from support.number_lists import lists_database
from support.postgres import TestServer, find_server

#: The backends of the ``database`` fixture.
BACKENDS = ("sqlite", "postgresql")

#: The repository's root folder.
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def flows_folder(tmp_path: Path) -> FlowsFolder:
    """``tmp_path/flows``, where a test writes its schedules files and flows."""
    return FlowsFolder(tmp_path / "flows")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration carries the ``integration`` mark;
    a test marked ``sqlite_only`` (it damages or inspects the SQLite file
    itself) runs on SQLite alone."""
    integration = REPO / "tests" / "integration"
    kept, dropped = [], []
    for item in items:
        if integration in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("database") == "postgresql" and item.get_closest_marker("sqlite_only"):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# -- the database backends ----------------------------------------------------------

@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TestServer]:
    """A real PostgreSQL (support.postgres): the one that answers locally,
    or a throwaway cluster. Without one the PostgreSQL variants skip, and
    fail under CI (where ``make test`` installs it)."""
    server = find_server()
    if server is None:
        message = "no PostgreSQL server and no initdb: install Debian's postgresql package (make test does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres_server: TestServer) -> Iterator[PostgresUrl]:
    """A PostgreSQL database of the test's own (a fresh schema), dropped after it."""
    url, schema = postgres_server.schema_url()
    yield url
    postgres_server.drop_schema(schema)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """The ``database`` setting of a test that runs on both backends: a
    SQLite file in ``tmp_path`` (not created), or a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "agiflow.db"
    return request.getfixturevalue("postgres_url")  # type: ignore[no-any-return]


@pytest.fixture
def lists_db(database: Database) -> Database:
    """A database with the number lists robinson, internal, vip and block
    (see support.number_lists), on each backend."""
    return lists_database(database)


@pytest.fixture(autouse=True)
def no_cdr_writer_left_running() -> Iterator[None]:
    """A CDR writer thread a test started and left running retries and logs
    into the tests that run after it in the same process: close the store."""
    import threading
    import time
    before = {t for t in threading.enumerate() if t.name == "cdr-writer"}
    yield
    deadline = time.monotonic() + 2
    while (left := [t for t in threading.enumerate() if t.name == "cdr-writer" and t not in before and t.is_alive()]) \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not left, f"{len(left)} CDR writer thread(s) still running after the test: close its CdrStore"
