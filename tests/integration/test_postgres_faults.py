"""``agiflow serve`` on PostgreSQL while the database misbehaves.

A throwaway cluster of the module's own (support.postgres) is stopped,
restarted and frozen (SIGSTOP) under load. Calls must never wait on it
beyond ``database_timeout``: do-not-call checks that get no answer take
``error`` (the campaign flow then never dials), and every CDR is written
once the server is back: nothing lost, nothing written twice.
"""
from __future__ import annotations

import io
import json
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.postgres import Cluster, new_cluster
from support.server_process import HOST, ServerProcess, new_uniqueid, running_server, simulated, write_config

from agi.db.location import PostgresUrl
from agi.lists.csvio import ReadReport, read_entries
from agi.lists.numbers import Normaliser
from agi.sim import run_simulated_call
from agi.storage.stores import list_admin

pytestmark = pytest.mark.integration
#: database_timeout in these servers' configs.
TIMEOUT = 0.3


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    found = new_cluster()
    if found is None:
        message = "no initdb/pg_ctl (Debian's postgresql package): make test installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield found
    found.remove()


@pytest.fixture
def url(cluster: Cluster) -> PostgresUrl:
    """A fresh database on the cluster, with the do-not-call lists of the campaign flow."""
    name = f"faults_{new_uniqueid().replace('.', '_')}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    database = PostgresUrl(cluster.url.rsplit("/", 1)[0] + f"/{name}")
    with list_admin(database) as admin:
        for list_name in ("robinson", "do_not_call"):
            admin.import_entries(list_name, read_entries(io.StringIO("+34600999999\n"), Normaliser("ES"),
                                                         ReadReport()))
    return database


def config_for(folder: Path, url: PostgresUrl) -> Path:
    config = write_config(folder)
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings.update(database=url.url, database_timeout=TIMEOUT, journal="journal.jsonl", default_region="ES")
    config.write_text(json.dumps(settings), encoding="utf-8")
    return config


def campaign_call(server: ServerProcess) -> tuple[str, float, list[str]]:
    """One campaign call; its uniqueid, how long it took, the commands it got."""
    uniqueid = new_uniqueid()
    started = time.monotonic()
    result = run_simulated_call(HOST, server.port, simulated("campaign", uniqueid), timeout=10)
    return uniqueid, time.monotonic() - started, list(result.commands)


def rows(url: PostgresUrl, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.url) as conn:
        return [tuple(r) for r in conn.execute(sql).fetchall()]


def wait_for(condition: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except psycopg.Error:
            pass
        time.sleep(0.1)
    return False


def cluster_pids(cluster: Cluster) -> list[int]:
    """The postmaster and every backend of the cluster."""
    master = cluster.postmaster_pid()
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def signal_all(pids: list[int], signum: int) -> None:
    """Send ``signum`` to each process; one that has ended meanwhile (a
    backend whose connection closed) has nothing left to freeze or thaw."""
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def calls_during(server: ServerProcess, count: int) -> list[tuple[str, float, list[str]]]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: campaign_call(server), range(count)))


def assert_written_once(url: PostgresUrl, uniqueids: list[str]) -> None:
    wanted = set(uniqueids)
    assert wait_for(lambda: {r[0] for r in rows(url, "SELECT call_id FROM calls WHERE status <> 'in_progress'")}
                    >= wanted), "some calls' CDRs never reached the database"
    found = rows(url, "SELECT call_id, count(*) FROM calls GROUP BY call_id")
    assert all(count == 1 for _, count in found)
    steps = rows(url, "SELECT call, seq, count(*) FROM call_steps GROUP BY call, seq HAVING count(*) > 1")
    assert steps == []


def test_a_stopped_server_fails_checks_closed_at_once_and_the_cdrs_are_written_once_it_is_back(
        tmp_path: Path, cluster: Cluster, url: PostgresUrl) -> None:
    with running_server(config_for(tmp_path, url)) as server:
        before = calls_during(server, 5)
        cluster.stop("fast")
        try:
            during = calls_during(server, 20)
        finally:
            cluster.start()
        for _, took, commands in during:
            assert took < 3.0, "a call waited on the stopped database"
            assert not any('EXEC "Dial"' in c for c in commands), "dialled without a do-not-call answer"
        assert_written_once(url, [u for u, _, _ in before + during])
        results = rows(url, "SELECT robinson, count(*) FROM calls GROUP BY robinson ORDER BY 1")
        assert ("error", 20) in results
        after = calls_during(server, 3)  # lookups work again on fresh connections
        assert_written_once(url, [u for u, _, _ in after])
        assert {r[0] for r in rows(url, "SELECT robinson FROM calls WHERE call_id IN ("
                                   + ", ".join(f"'{u}'" for u, _, _ in after) + ")")} == {"clear"}


def test_a_frozen_server_bounds_every_check_by_the_timeout_and_loses_no_cdr(
        tmp_path: Path, cluster: Cluster, url: PostgresUrl) -> None:
    with running_server(config_for(tmp_path, url)) as server:
        calls_during(server, 3)  # connections open, then the server freezes under them
        pids = cluster_pids(cluster)
        signal_all(pids, signal.SIGSTOP)
        try:
            during = calls_during(server, 16)
        finally:
            signal_all(pids, signal.SIGCONT)
        for _, took, commands in during:
            assert took < 3.0, "a call waited on the frozen database"
            assert not any('EXEC "Dial"' in c for c in commands)
        assert_written_once(url, [u for u, _, _ in during])


def test_a_restart_under_load_loses_and_doubles_nothing(tmp_path: Path, cluster: Cluster, url: PostgresUrl) -> None:
    with running_server(config_for(tmp_path, url)) as server:
        with ThreadPoolExecutor(max_workers=1) as background:
            load = background.submit(calls_during, server, 30)
            time.sleep(0.5)
            cluster.stop("fast")
            cluster.start()
            made = load.result()
        assert_written_once(url, [u for u, _, _ in made])


def test_cdrs_of_a_server_stopped_while_the_database_is_down_wait_in_the_journal_for_the_next_start(
        tmp_path: Path, cluster: Cluster, url: PostgresUrl) -> None:
    config = config_for(tmp_path, url)
    server = ServerProcess(config)
    server.wait_listening()
    cluster.stop("fast")
    try:
        made = calls_during(server, 10)
        server.proc.send_signal(signal.SIGTERM)
        assert server.wait_exit(60) == 0
        assert "kept in the journal" in server.log()
        journals = sorted(tmp_path.glob("journal*.jsonl"))  # with several workers, one each
        assert sum(journal.stat().st_size for journal in journals) > 0
    finally:
        cluster.start()
    with running_server(config) as again:
        again.wait_for_log("previous run left in the journal")
        assert_written_once(url, [u for u, _, _ in made])
    assert all(journal.read_text() == "" for journal in journals)


def test_cdrs_of_a_server_killed_while_the_database_is_down_are_written_by_the_next_start(
        tmp_path: Path, cluster: Cluster, url: PostgresUrl) -> None:
    """Once a write has failed, every CDR operation waits in the journal, not
    in memory: a server killed (SIGKILL) during the outage loses none."""
    config = config_for(tmp_path, url)
    settings = json.loads(config.read_text(encoding="utf-8"))
    settings["server"]["workers"] = 1
    config.write_text(json.dumps(settings), encoding="utf-8")
    server = ServerProcess(config)
    server.wait_listening()
    cluster.stop("fast")
    try:
        made = calls_during(server, 10)
        server.wait_for_log("moved to the journal")
        server.proc.kill()
        server.proc.wait(30)
    finally:
        cluster.start()
    with running_server(config) as again:
        again.wait_for_log("previous run left in the journal")
        assert_written_once(url, [u for u, _, _ in made])
    ids = ", ".join(f"'{u}'" for u, _, _ in made)
    assert rows(url, f"SELECT DISTINCT status FROM calls WHERE call_id IN ({ids})") == [("completed",)]


def test_a_flow_reload_while_the_server_is_frozen_holds_no_call(
        tmp_path: Path, cluster: Cluster, url: PostgresUrl) -> None:
    """A reload checks that the lists the flows read exist: off the thread
    that serves calls (it once held every call of a worker for the
    connect timeout, 3 s, or a statement timeout, 5 s)."""
    with running_server(config_for(tmp_path, url)) as server:
        calls_during(server, 3)
        pids = cluster_pids(cluster)
        signal_all(pids, signal.SIGSTOP)
        try:
            since = server.mark()
            server.proc.send_signal(signal.SIGHUP)
            during: list[tuple[str, float, list[str]]] = []
            ends = time.monotonic() + 5
            while time.monotonic() < ends:
                during += calls_during(server, 4)
        finally:
            signal_all(pids, signal.SIGCONT)
        server.wait_for_log(r"loaded \d+ flows?\b", since=since, timeout=15)
        slowest = max(took for _, took, _ in during)
        assert slowest < 2.0, f"a call waited {slowest:.1f}s on the reload's look at the frozen database"
        assert_written_once(url, [u for u, _, _ in during])
