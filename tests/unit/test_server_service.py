"""``agiflow serve`` as one Twisted MultiService: the CDR writer, the
listener and the timers start together, and stop one after another so
that a call still running at SIGTERM gets its CDR written."""
from __future__ import annotations

import signal
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import pytest
from twisted.application.service import IService
from twisted.internet.testing import MemoryReactorClock

from agi.config import Config, ServerConfig
from agi.loading.library import FlowLibrary
from agi.server.service import ServerService, make_service
from agi.storage.cdr_writer import CdrStore
from agi.vocabulary import iso

FLOWS = Path(__file__).resolve().parents[2] / "flows"


class _Connection:
    """What the factory keeps of a connection that stays open."""

    def close(self) -> None:
        pass


@pytest.fixture
def sighup_kept() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, previous)


def _server(tmp_path: Path, **server: Any) -> tuple[ServerService, MemoryReactorClock, CdrStore]:
    config = Config(flows=FLOWS, database=tmp_path / "cdr.db",
                    server=ServerConfig(host="127.0.0.1", port=4573, **server))
    library = FlowLibrary(config.flows)
    assert library.reload() == []
    store = CdrStore(config.database, flush_interval=0)
    store.open()
    reactor = MemoryReactorClock()
    return make_service(config, library, store, reactor), reactor, store


def test_the_server_is_one_service_tree_started_in_order(tmp_path: Path, sighup_kept: None) -> None:
    server, reactor, store = _server(tmp_path)
    names = [child.name for child in server]
    # database-threads: history lookups and PIN checks run there on either backend
    assert names == ["log-flush", "stop-signals", "flows", "cdr-writer", "database-threads", "webhooks", "fastagi"]
    assert all(IService.providedBy(child) for child in server)
    server.privilegedStartService()
    [(port, factory, _, host)] = reactor.tcpServers
    assert (host, port, factory) == ("127.0.0.1", 4573, server.factory)
    server.startService()
    assert all(child.running for child in server)
    server.stopService()
    assert not any(child.running for child in server)


def test_a_call_running_at_shutdown_gets_its_cdr_written_after_the_drain(tmp_path: Path, sighup_kept: None) -> None:
    server, reactor, store = _server(tmp_path)
    server.privilegedStartService()
    server.startService()
    call = _Connection()
    server.factory.connections.add(call)  # type: ignore[arg-type]
    stopped = server.stopService()
    assert not stopped.called and not server.factory.accepting
    assert server.getServiceNamed("cdr-writer").running  # the writer waits for the drain
    store.call_started({"id": "a", "call_id": "1.1", "started_at": iso(1.8e9), "status": "completed"})
    server.factory.connection_gone(call)  # type: ignore[arg-type]
    assert stopped.called and server.cdrs_saved
    with sqlite3.connect(tmp_path / "cdr.db") as db:
        assert db.execute("SELECT id, status FROM calls").fetchall() == [("a", "completed")]


def test_the_drain_timeout_ends_the_wait_for_calls(tmp_path: Path, sighup_kept: None) -> None:
    server, reactor, store = _server(tmp_path, drain_timeout=5.0)
    server.privilegedStartService()
    server.startService()
    call = _Connection()
    call.abort = lambda reason: server.factory.connection_gone(call)  # type: ignore[attr-defined]
    server.factory.connections.add(call)  # type: ignore[arg-type]
    stopped = server.stopService()
    reactor.advance(4.9)
    assert not stopped.called
    reactor.advance(0.1)
    assert stopped.called


def test_flows_reload_on_sighup_and_on_a_timer_only_when_watching(tmp_path: Path, sighup_kept: None) -> None:
    watching, _, _ = _server(tmp_path, watch_interval=2.0)
    assert len(list(watching.getServiceNamed("flows"))) == 1
    server, reactor, _ = _server(tmp_path, watch_interval=0)
    flows = server.getServiceNamed("flows")
    assert list(flows) == []
    before = signal.getsignal(signal.SIGHUP)
    server.privilegedStartService()
    server.startService()
    assert signal.getsignal(signal.SIGHUP) == flows._on_sighup
    server.stopService()
    assert signal.getsignal(signal.SIGHUP) == before
