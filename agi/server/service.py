"""``agiflow serve``: wire flows, CDR store and factory to the reactor;
reload on SIGHUP and on file change; drain on SIGTERM."""
from __future__ import annotations

import gc
import logging
import resource
import signal
import sqlite3
from pathlib import Path
from typing import Any

from twisted.internet import defer, task
from twisted.logger import STDLibLogObserver, globalLogBeginner

from agi.storage.cdr_writer import CdrStore
from agi.storage.sqlite_files import guard_against_sigbus
from agi.config import Config
from agi.loading.library import FlowLibrary
from agi.engine.model import FlowSet
from agi.lists.store import missing_lists
from agi.log_output import FLUSH_INTERVAL, flush_batched
from agi.wiring import server_services
from agi.server.factory import FastAGIFactory
from agi.server.webhooks import TwistedWebhooks

log = logging.getLogger("agiflow.server")


def serve(config: Config, reactor: Any = None) -> int:
    """Run the FastAGI server until SIGTERM/SIGINT; 1 if it cannot start."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor
        reactor = default_reactor
    globalLogBeginner.beginLoggingTo([STDLibLogObserver(name="twisted")],  # type: ignore[list-item]
                                    redirectStandardIO=False)
    library = FlowLibrary(config.flows, on_load=lambda flows: warn_missing_lists(flows, config.database))
    if library.reload():
        log.error("not starting: fix the flow errors above (agiflow validate %s)", config.flows)
        return 1
    store = CdrStore(config.database)
    try:
        interrupted = store.open()
    except (sqlite3.Error, OSError) as exc:
        log.error("not starting: cannot open the CDR database %s: %s", config.database, exc)
        return 1
    guard_against_sigbus(str(config.database))  # a database file made immutable never kills the server
    _allow_open_files(config.server.max_calls)
    if interrupted:
        log.warning("marked %d calls left running by the previous server as interrupted", interrupted)
    store.start()
    services = server_services(config, cdr=store, reactor=reactor)
    factory = FastAGIFactory(library, store, config.server, reactor, services=services)
    try:
        port = reactor.listenTCP(config.server.port, factory, interface=config.server.host)
    except Exception as exc:  # noqa: BLE001 - report any bind failure plainly
        log.error("cannot listen on %s:%d: %s", config.server.host, config.server.port, exc)
        store.close()
        return 1
    address = port.getHost()
    log.info("agiflow listening on %s:%d (CDRs in %s)", address.host, address.port, config.database)

    log_flusher = task.LoopingCall(flush_batched)
    log_flusher.clock = reactor
    log_flusher.start(FLUSH_INTERVAL, now=False)
    signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(_reload, library))
    if config.server.watch_interval > 0:
        watcher = task.LoopingCall(library.reload_if_changed)
        watcher.clock = reactor
        watcher.start(config.server.watch_interval, now=False)

    cdrs_saved: list[bool] = []

    @defer.inlineCallbacks
    def shutdown() -> Any:
        log.info("shutting down: no new calls")
        yield port.stopListening()
        yield factory.drain(config.server.drain_timeout)
        if isinstance(services.webhooks, TwistedWebhooks) and services.webhooks.in_flight:
            log.info("waiting for %d webhooks still in flight", len(services.webhooks.in_flight))
            yield services.webhooks.settle()
        log.info("writing the last %d CDR operations", store.pending)
        cdrs_saved.append(store.close())
        log.info("stopped: %d calls served, %d connections refused", factory.finished, factory.rejected)

    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    reactor.callWhenRunning(_install_stop_signals, reactor)
    gc.freeze()  # startup objects never need collecting: shorter GC pauses during calls
    reactor.run()
    return 0 if all(cdrs_saved) else 1


def _allow_open_files(max_calls: int) -> None:
    """Every call is a socket: raise the soft limit on open files (ulimit -n)
    toward the hard limit when max_calls needs more; warn when it cannot."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_calls + 100  # the listening socket, the database, the log, the reactor
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning("server.max_calls is %d but only %d files may be open (ulimit -n): "
                    "calls beyond that cannot be accepted; raise the hard limit", max_calls, target)


def warn_missing_lists(flows: FlowSet, database: Path) -> None:
    """Log each number list a flow reads that the database does not have:
    its steps take their ``error`` outcome (a do-not-call check fails
    closed) until the list is created or imported."""
    users: dict[str, set[str]] = {}
    for flow in flows.flows.values():
        for step in flow.steps.values():
            for name in step.node.list_references():
                users.setdefault(name, set()).add(flow.name)
    for name in missing_lists(database, users):
        log.warning("number list %r (used by %s) does not exist in %s: those steps end in 'error' "
                    "(do-not-call checks fail closed) until `agiflow lists create %s` or `import`",
                    name, ", ".join(sorted(users[name])), database, name)


def _install_stop_signals(reactor: Any) -> None:
    """SIGTERM/SIGINT start one orderly shutdown; repeats are only logged."""
    stopping: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        if stopping:
            log.info("signal %d: already shutting down", signum)
            return
        stopping.append(signum)
        log.info("signal %d: shutting down", signum)
        reactor.callFromThread(reactor.stop)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _reload(library: FlowLibrary) -> None:
    log.info("SIGHUP: reloading flows")
    library.reload()
