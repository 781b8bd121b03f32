"""A reactor whose thread pool runs nothing until the test says: what the
server hands to its database threads (agi/server/database_threads.py) is
seen waiting there, while the reactor goes on."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from twisted.internet.testing import MemoryReactorClock

from agi.db.location import Database
from agi.server.database_threads import DatabaseThreads
from agi.services import Services


class HeldPool:
    """A thread pool that runs nothing until ``run_all``."""

    def __init__(self) -> None:
        self.waiting: list[tuple[Any, ...]] = []

    def callInThreadWithCallback(self, on_result: Any, function: Any, *args: Any) -> None:
        self.waiting.append((on_result, function, args))

    def run_all(self) -> None:
        waiting, self.waiting = self.waiting, []
        for on_result, function, args in waiting:
            try:
                on_result(True, function(*args))
            except Exception as exc:  # handed over as a thread would
                on_result(False, exc)


class HeldReactor(MemoryReactorClock):
    def __init__(self) -> None:
        super().__init__()
        self.pool = HeldPool()

    def getThreadPool(self) -> HeldPool:
        return self.pool

    def callFromThread(self, function: Any, *args: Any) -> None:
        function(*args)


def held_threads(reactor: HeldReactor, timeout: float = 9.0) -> DatabaseThreads:
    """The server's database threads over the test's pool."""
    return DatabaseThreads(reactor, timeout, pool=reactor.pool)


@contextmanager
def server_services(database: Database, *, metrics: bool = False) -> Iterator[Services]:
    """The services ``agiflow serve`` gives its calls on ``database`` (the
    shipped flows), as ``make_service`` wires them; with the metrics
    listener configured when ``metrics``."""
    from agi.config import Config, MetricsConfig, ServerConfig
    from agi.loading.library import FlowLibrary
    from agi.server.service import make_service
    from agi.storage.cdr_writer import CdrStore

    config = Config(flows=Path(__file__).resolve().parents[2] / "flows", database=database,
                    server=ServerConfig(metrics=MetricsConfig(port=0) if metrics else None))
    store = CdrStore(config.database)
    store.open()
    try:
        yield make_service(config, FlowLibrary(config.flows), store, MemoryReactorClock()).factory.services
    finally:
        store.close()
