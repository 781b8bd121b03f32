"""Several server processes share one CDR database: each row names the
process that ran the call (``node``), a process that starts marks only its
own calls interrupted, and N writer threads on one SQLite file lose nothing."""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlite_utils

from agi.config import ServerConfig, node_name, worker_count
from agi.cpus import usable_cpus
from agi.db.location import Database, PostgresUrl
from agi.loading.loader import load_flows
from agi.session import SessionSettings, call_key, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import SimTransport, run_sync
from agi.storage.cdr_memory import MemoryCdr
from agi.storage.cdr_writer import CdrStore
from agi.vocabulary import iso

SHIPPED_FLOWS = Path(__file__).resolve().parents[2] / "flows"


def running(key: str, node: str | None, worker: int | None) -> dict:
    return {"id": key, "call_id": f"1795385106.{key}", "flow": "demo", "started_at": iso(1.8e9),
            "status": "in_progress", "node": node, "worker": worker}


def statuses(database: Database) -> dict[str, str]:
    """id -> status of every calls row, on either backend."""
    if isinstance(database, PostgresUrl):
        import psycopg
        from psycopg import conninfo

        from agi.db.postgres import parameters
        with psycopg.connect(conninfo.make_conninfo(**parameters(database))) as conn:
            return dict(conn.execute("SELECT id, status FROM calls").fetchall())
    return {r["id"]: r["status"] for r in sqlite_utils.Database(database)["calls"].rows}


@pytest.fixture
def shared(database: Database) -> Database:
    """Calls left running by two workers of pbx1, one of pbx2, one of a node
    whose name starts like pbx1's, and one from before rows named their node,
    on either backend."""
    store = CdrStore(database, flush_interval=0)
    store.open()
    store.start()
    for key, node, worker in (("a", "pbx1", 1), ("b", "pbx1", 2), ("c", "pbx2", 1), ("d", "pbx10", 1),
                              ("e", None, None)):
        store.call_started(running(key, node, worker))
    assert store.close()
    return database


def test_a_restarted_worker_marks_only_its_own_calls_interrupted(shared: Database) -> None:
    assert CdrStore(shared).open("pbx1", 2) == 1
    assert statuses(shared) == {"a": "in_progress", "b": "interrupted", "c": "in_progress",
                                "d": "in_progress", "e": "in_progress"}


def test_a_node_that_starts_marks_every_worker_of_its_own_and_rows_that_name_no_node(shared: Database) -> None:
    assert CdrStore(shared).open("pbx1") == 3
    assert statuses(shared) == {"a": "interrupted", "b": "interrupted", "c": "in_progress",
                                "d": "in_progress", "e": "interrupted"}


def test_without_a_node_every_call_left_running_is_marked_as_before(shared: Database) -> None:
    assert CdrStore(shared).open() == 5


def test_the_row_of_a_call_names_the_server_process_that_ran_it() -> None:
    flows, errors = load_flows([SHIPPED_FLOWS])
    assert errors == []
    asterisk = SimulatedAsterisk(make_environment("closed", uniqueid="1795385106.9"), CallerScript(sounds=EverySound()))
    transport = SimTransport(asterisk)
    cdr = MemoryCdr()
    run_sync(run_session(transport.environment(), transport, flows, cdr, SessionSettings(node="pbx1", worker=2),
                         lambda: 1.8e9))
    [row] = cdr.calls.values()
    assert (row["node"], row["worker"]) == ("pbx1", 2)


def test_the_node_name_is_server_node_or_the_host_name() -> None:
    assert node_name(ServerConfig(node="pbx-a")) == "pbx-a"
    assert node_name(ServerConfig()) == __import__("socket").gethostname()


def test_workers_default_to_one_per_cpu_and_a_number_is_kept() -> None:
    assert worker_count(ServerConfig(), cpus=8) == 8
    assert worker_count(ServerConfig(), cpus=1) == 1
    assert worker_count(ServerConfig(workers=3), cpus=8) == 3
    assert worker_count(ServerConfig()) == usable_cpus()


def test_a_forked_process_makes_other_cdr_keys_than_its_parent() -> None:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, call_key(1.8e9).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    assert theirs != call_key(1.8e9)


def test_writer_threads_of_several_workers_share_one_sqlite_file_and_lose_nothing(tmp_path: Path) -> None:
    """Four CdrStores (four workers' writer threads, each its own connection)
    write 4 x 1500 calls with their steps into one file at once, while a fifth
    connection takes the write lock for 80 ms of every 120: WAL, one writer at a
    time, the busy timeout, and the kept batch on a lock that outlasts it."""
    path = tmp_path / "cdr.db"
    CdrStore(path).open()
    stores = [CdrStore(path, flush_interval=0.001, batch_size=50, busy_timeout=0.05, retry_delay=0.01)
              for _ in range(4)]
    done = threading.Event()

    def hog() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=5)
        while not done.is_set():
            conn.execute("BEGIN IMMEDIATE")
            done.wait(0.08)  # longer than the writers' busy timeout
            conn.execute("COMMIT")
            done.wait(0.04)
        conn.close()

    locker = threading.Thread(target=hog)
    locker.start()
    for n, store in enumerate(stores, 1):
        store.start()
        for i in range(1500):
            key = f"{n}-{i:05d}"
            store.call_started(running(key, "pbx1", n))
            store.step_finished(key, {"seq": 1, "step": "answer", "outcome": "next"})
            store.call_ended(key, {"status": "completed"})
    assert all(store.close() for store in stores)
    done.set()
    locker.join()
    db = sqlite_utils.Database(path)
    counts = dict(db.execute("SELECT worker, count(*) FROM calls WHERE status = 'completed' AND node = 'pbx1' "
                             "GROUP BY worker").fetchall())
    assert counts == {n: 1500 for n in range(1, 5)}
    assert db.execute("SELECT count(*) FROM call_steps").fetchone()[0] == 6000
    assert any(store.failures for store in stores), "the lock never outlasted a writer's busy timeout"


def test_each_worker_keeps_a_journal_of_its_own() -> None:
    from agi.config import Config
    from agi.server.worker import worker_config, worker_journal

    config = Config(journal=Path("/var/lib/agiflow/agiflow-journal.jsonl"))
    assert worker_journal(config.journal, 2) == Path("/var/lib/agiflow/agiflow-journal.worker2.jsonl")
    assert {worker_config(config, n).journal for n in (1, 2, 3)} == {
        Path(f"/var/lib/agiflow/agiflow-journal.worker{n}.jsonl") for n in (1, 2, 3)}


def test_a_node_that_starts_writes_every_workers_journal_before_it_marks_their_calls(tmp_path: Path) -> None:
    """Journals of an earlier run with three workers: the call each holds is
    written first, then marked interrupted if it had not ended; files that
    are not a worker's journal are left alone, a number in digits other than
    0-9 included (a superscript two once stopped the start with a traceback)."""
    from agi.config import Config
    from agi.server.recovery import recovered, replay_worker_journals
    from agi.storage.journal import Journal

    config = Config(database=tmp_path / "cdr.db", journal=tmp_path / "agiflow-journal.jsonl")
    for worker, ended in ((1, True), (3, False)):
        journal = Journal(tmp_path / f"agiflow-journal.worker{worker}.jsonl")
        journal.open()
        journal.append([("insert_call", running(f"w{worker}", "pbx1", worker))])
        if ended:
            journal.append([("update_call", (f"w{worker}", {"status": "completed"}))])
        journal.close()
    # digits no worker's name is written with: a superscript two, an Arabic-Indic three
    others = [tmp_path / f"agiflow-journal.worker{name}.jsonl" for name in ("X", "\u00b2", "\u0663")]
    for other in others:
        other.write_text("not a worker's\n", encoding="utf-8")
    assert replay_worker_journals(config, "pbx1") and recovered(config, "pbx1")
    assert statuses(config.database) == {"w1": "completed", "w3": "interrupted"}
    assert (tmp_path / "agiflow-journal.worker3.jsonl").stat().st_size == 0
    assert [other.read_text(encoding="utf-8") for other in others] == ["not a worker's\n"] * 3


def test_a_journal_that_cannot_be_opened_stops_the_start_with_a_line_naming_the_journal(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from agi.config import Config
    from agi.server.recovery import open_store

    (tmp_path / "a-file").write_text("", encoding="utf-8")
    config = Config(database=tmp_path / "cdr.db", journal=tmp_path / "a-file" / "agiflow-journal.jsonl")
    assert open_store(config, "pbx1") is None
    assert f"not starting: cannot open the CDR journal {config.journal}:" in caplog.text
    assert "cannot open the CDR database" not in caplog.text


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null"])
def test_a_journal_that_is_a_device_stops_the_start_at_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, target: str) -> None:
    """A journal linked to /dev/zero was read for ever, filling the memory."""
    from agi.config import Config
    from agi.server.recovery import open_store

    config = Config(database=tmp_path / "cdr.db", journal=tmp_path / "agiflow-journal.jsonl")
    Path(config.journal).symlink_to(target)
    assert open_store(config, "pbx1") is None
    assert f"not starting: cannot open the CDR journal {config.journal}: it is a device, not a file" in caplog.text
