"""``agiflow serve`` as a tree of Twisted services (the finger tutorial's
shape): ``make_service`` builds a ``ServerService`` whose children start in
this order and stop in the reverse one, each after the one before it has
stopped:

- ``LogFlushService``: writes the batched log lines every FLUSH_INTERVAL;
- ``StopSignals``: SIGTERM/SIGINT start one orderly shutdown;
- ``FlowsService``: reloads the flows on SIGHUP and when a file changes;
- ``CdrWriterService``: the CDR writer thread; writes the last CDRs on stop;
- ``WebhooksService``: lets the webhooks in flight finish on stop;
- ``MetricsService`` (only with ``server.metrics``): /metrics, /health and
  /ready over HTTP (agi/server/metrics_http.py); it stops after the drain,
  so /ready says "shutting down" while calls finish;
- ``FastAGIService``: the TCP listener; on stop, no new calls, then a drain.

``serve`` refuses to start on invalid flows, an unusable CDR database or a
port it cannot bind, then runs the reactor until a signal stops it.
"""
from __future__ import annotations

import gc
import logging
import os
import resource
import signal
import threading
from dataclasses import replace
from typing import Any, Callable, Generator

from twisted.application.internet import TCPServer, TimerService
from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.task import deferLater
from twisted.logger import STDLibLogObserver, globalLogBeginner
from twisted.python.failure import Failure


from agi.config import Config, ServerConfig, node_name
from agi.db.location import Database, PostgresUrl
from agi.engine.model import FlowSet
from agi.loading.library import FlowLibrary, Loaded
from agi.log_output import (ACCEPT_TROUBLE, FLUSH_INTERVAL, LISTENER_LINES, DroppedLines, RateLimitedLines,
                            flush_batched)
from agi import early_sighup, early_stop
from agi.server.dead_peers import watch_for_dead_peers
from agi.server.database_threads import DatabaseThreads, off_the_reactor
from agi.server.pg_reactor import lookups_on_the_reactor, reactor_lists
from agi.metered import MeteredCdr
from agi.metrics import NO_METRICS
from agi.server.factory import FastAGIFactory
from agi.server.health import ServerState, list_users
from agi.server.metrics_http import ListenError, MetricsService, in_thread, metrics_site
from agi.server.prometheus import PrometheusMetrics, server_registry
from agi.server.last_accept import HANDSHAKE_GRACE, refuse_new_handshakes
from agi.server.reuseport import BACKLOG, listen_shared, probe_address
from agi.server.webhooks import TwistedWebhooks
from agi.server.recovery import open_store, replay_worker_journals
from agi.server.worker import READY, Lifeline, WorkerRole, orphaned, worker_config
from agi.services_from_config import live_services
from agi.services import ListUnavailable
from agi.storage.cdr_writer import CdrStore
from agi.storage.stores import missing_lists
from agi.db.sqlite_files import guard_against_sigbus
from agi.wording import endpoint

log = logging.getLogger("agiflow.server")
#: Collections less often than Python's (700, 10, 10): a call frees nearly
#: everything it makes by reference counting, and with calls in progress
#: the young generation passed 700 objects several times a call, each pass
#: scanning them all (about 3 % of the server's CPU, 1 % after).
GC_THRESHOLDS = (20_000, 50, 100)


def limit_accept_trouble() -> None:
    """Twisted logs three lines for each connection it cannot accept once
    every file descriptor is taken: of each kind, 10, then one a minute.
    Its lines about each port it opens and closes are left out."""
    twisted_log = logging.getLogger("twisted")
    if not any(isinstance(f, RateLimitedLines) for f in twisted_log.filters):
        twisted_log.addFilter(RateLimitedLines(ACCEPT_TROUBLE))
    if not any(isinstance(f, DroppedLines) for f in twisted_log.filters):
        twisted_log.addFilter(DroppedLines(LISTENER_LINES))


def serve(config: Config, reactor: Any = None, worker: WorkerRole | None = None) -> int:
    """Run the FastAGI server until SIGTERM/SIGINT; 1 if it cannot start or
    some CDRs could not be written. As ``worker`` of a supervisor
    (agi/server/fleet.py) it shares the supervisor's port and marks only
    its own earlier process's calls interrupted."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor
        reactor = default_reactor
    globalLogBeginner.beginLoggingTo([STDLibLogObserver(name="twisted")],
                                    redirectStandardIO=False)
    limit_accept_trouble()
    if worker is not None:
        config = worker_config(config, worker.index)
    # a worker's supervisor warns about the lists of every load, once for all workers
    library = FlowLibrary(config.flows, on_load=None if worker is not None else
                          list_warnings(config.database, later=reactor.callInThread))
    if library.reload():
        log.error("not starting: fix the flow errors above (agiflow validate %s)", config.flows)
        return 1
    node = node_name(config.server)
    if worker is None:  # a worker's supervisor holds the address and checked it
        try:  # before the database: a second start must not mark the running server's calls interrupted
            probe_address(config.server.host, config.server.port)
        except OSError as exc:
            log.error("cannot listen on %s: %s", endpoint(config.server.host, config.server.port), exc)
            return 1
        if not replay_worker_journals(config, node):  # an earlier run's, with workers
            return 1
    store = open_store(config, node, worker.index if worker else None)
    if store is None:
        return 1
    guard_against_sigbus(str(config.database))  # a database file made immutable never kills the server
    server = make_service(config, library, store, reactor, node=node, worker=worker)
    try:
        server.privilegedStartService()
    except ListenError as exc:
        log.error("%s", exc)
        return 1
    except Exception as exc:
        log.error("cannot listen on %s: %s", endpoint(config.server.host, config.server.port), exc)
        return 1
    address = server.listener.address
    if worker is None:
        log.info("agiflow listening on %s (CDRs in %s)", endpoint(address.host, address.port), config.database)
    else:
        log.info("worker %d listening on %s (pid %d)", worker.index, endpoint(address.host, address.port),
                 os.getpid())
        Lifeline(worker.lifeline_fd, orphaned(worker.index)).watch(reactor)
        library.quiet = True  # its supervisor reports each reload, once for all workers
        worker.notify(READY)
        worker.beat(reactor)
    if server.metrics is not None:
        where = server.metrics.address
        log.info("metrics and health on http://%s/ (/metrics, /health, /ready)", endpoint(where.host, where.port))
    server.startService()
    reactor.addSystemEventTrigger("before", "shutdown", server.stopService)
    gc.freeze()  # startup objects never need collecting: shorter GC pauses during calls
    gc.set_threshold(*GC_THRESHOLDS)
    reactor.run()
    return 0 if server.cdrs_saved else 1


def make_service(config: Config, library: FlowLibrary, store: CdrStore, reactor: Any, *,
                 node: str | None = None, worker: WorkerRole | None = None) -> "ServerService":
    """The server's service tree over loaded flows and an opened CDR store;
    ``node`` and the worker's number (1 for a single server) go into its CDR
    rows; a ``worker`` listens beside the other workers and tells its
    supervisor how each reload went."""
    webhooks = TwistedWebhooks(reactor)
    listen = config.server.metrics
    metrics = PrometheusMetrics() if listen is not None else None
    services = live_services(config, cdr=store, webhooks=webhooks, metrics=metrics or NO_METRICS)
    threads = DatabaseThreads(reactor, config.database_timeout)
    services = off_the_reactor(services, threads, postgres=isinstance(config.database, PostgresUrl))
    services = lookups_on_the_reactor(services, threads, reactor)
    calls = MeteredCdr(store, metrics) if metrics is not None else None
    factory = FastAGIFactory(library, calls or store, config.server, reactor, services=services, metrics=metrics,
                             node=node, worker=worker.index if worker else 1)
    if config.log_format == "json":  # its lines carry the linkedid: ask Asterisk for it
        factory.settings = replace(factory.settings, linkedid=True)
    server = ServerService(factory)
    children: list[Service] = [LogFlushService(reactor), StopSignals(reactor),
                               FlowsService(library, config.server, reactor, worker.reloaded if worker else None),
                               CdrWriterService(store),
                               DatabaseThreadsService(threads, services.lists), WebhooksService(webhooks)]
    if listen is not None and metrics is not None and calls is not None:
        state = ServerState(library, store, factory, calls.active, clock=reactor.seconds, started_at=reactor.seconds())
        site = metrics_site(server_registry(metrics, state), state, in_thread(reactor))
        children.append(MetricsService(listen, site, reactor))
    children.append(FastAGIService(config.server, factory, reactor, shared_port=worker is not None))
    for child in children:
        child.setServiceParent(server)
    return server


class ServerService(MultiService):
    """The whole server: children start in order and stop one after another
    in reverse order (a MultiService stops them all at once)."""

    def __init__(self, factory: FastAGIFactory) -> None:
        super().__init__()
        self.factory = factory

    @property
    def listener(self) -> "FastAGIService":
        return next(child for child in self if isinstance(child, FastAGIService))

    @property
    def metrics(self) -> MetricsService | None:
        """The metrics listener, when ``server.metrics`` is set."""
        return next((child for child in self if isinstance(child, MetricsService)), None)

    @property
    def cdrs_saved(self) -> bool:
        """False when the CDR writer stopped with operations unwritten."""
        return all(child.saved for child in self if isinstance(child, CdrWriterService))

    @defer.inlineCallbacks
    def stopService(self) -> Generator[Any, Any, None]:
        log.info("shutting down: no new calls")
        Service.stopService(self)
        for child in reversed(list(self)):
            yield defer.maybeDeferred(child.stopService)
        log.info("stopped: %d calls served, %d connections refused", self.factory.finished, self.factory.rejected)
        flush_batched()


class FastAGIService(TCPServer):
    """The FastAGI listener; stopping it closes the port, then lets running
    calls end for up to ``drain_timeout`` seconds."""

    def __init__(self, config: ServerConfig, factory: FastAGIFactory, reactor: Any, shared_port: bool = False) -> None:
        super().__init__(config.port, factory, interface=config.host, reactor=reactor)
        self.setName("fastagi")
        self.config = config
        self.factory = factory
        self.shared_port = shared_port

    def _getPort(self) -> Any:
        if self.shared_port:
            port = listen_shared(self.reactor, self.config.host, self.config.port, self.factory)
        else:
            port = super()._getPort()
        listener = getattr(port, "socket", None)  # a test's fake reactor gives a port without one
        if listener is not None:
            watch_for_dead_peers(listener)
        return port

    def privilegedStartService(self) -> None:
        _allow_open_files(self.config.max_calls)
        super().privilegedStartService()

    @property
    def address(self) -> Any:
        """The address it listens on (the port the system picked for port 0)."""
        port: Any = self._port
        return port.getHost()

    @defer.inlineCallbacks
    def stopService(self) -> Generator[Any, Any, None]:
        yield self._take_the_last_connections()
        yield super().stopService()
        yield self.factory.drain(self.config.drain_timeout)

    def _take_the_last_connections(self) -> "defer.Deferred[None]":
        """Closing the socket would reset the connections the system has
        accepted on it (agi.server.last_accept): refuse new handshakes, take
        calls for a moment while those under way end, then, just before the
        socket closes (Twisted closes it on the reactor's next pass), take
        every connection accepted by then."""
        port: Any = self._port
        if not (getattr(port, "connected", False) and hasattr(port, "numberAccepts")):
            return defer.succeed(None)
        close = port.connectionLost

        def accept_then_close(reason: Any) -> Any:
            port.numberAccepts = max(port.numberAccepts, self.config.max_calls, BACKLOG + 1)
            port.doRead()
            return close(reason)

        port.connectionLost = accept_then_close
        if not refuse_new_handshakes(port.socket):
            return defer.succeed(None)
        clock: Any = self.reactor
        return deferLater(clock, HANDSHAKE_GRACE, lambda: None)


class CdrWriterService(Service):
    """The CDR writer thread of an opened ``CdrStore``; stopping it writes
    everything queued (see CdrStore.close)."""

    def __init__(self, store: CdrStore) -> None:
        self.setName("cdr-writer")
        self.store = store
        self.saved = True

    def startService(self) -> None:
        super().startService()
        self.store.start()

    def stopService(self) -> None:
        super().stopService()
        log.info("writing the last %d CDR operations", self.store.pending)
        self.saved = self.store.close()


class DatabaseThreadsService(Service):
    """The threads that do calls' database work (agi/server/database_threads.py),
    and the connections of list lookups on the reactor (agi/server/pg_reactor.py)."""

    def __init__(self, threads: DatabaseThreads, lists: Any = None) -> None:
        self.setName("database-threads")
        self.threads = threads
        self.lists = reactor_lists(lists)

    def startService(self) -> None:
        super().startService()
        self.threads.start()

    def stopService(self) -> None:
        super().stopService()
        if self.lists is not None:
            self.lists.close()
        self.threads.stop()


class WebhooksService(Service):
    """Stopping it waits for the webhooks still in flight (each ends within its timeout)."""

    def __init__(self, sender: TwistedWebhooks) -> None:
        self.setName("webhooks")
        self.sender = sender

    def stopService(self) -> "defer.Deferred[Any] | None":
        super().stopService()
        if not self.sender.in_flight:
            return None
        log.info("waiting for %d webhooks still in flight", len(self.sender.in_flight))
        return self.sender.settle()


class FlowsService(MultiService):
    """Reloads the flows on SIGHUP and, every ``watch_interval`` seconds
    (0: never), when a flow file was added, removed or changed;
    ``on_reload(ok)`` hears how each SIGHUP's reload went. A worker (one
    with ``on_reload``) also counts, on SIGUSR1, a load of its supervisor
    that failed, so its metrics and /health say so."""

    def __init__(self, library: FlowLibrary, config: ServerConfig, reactor: Any,
                 on_reload: Callable[[bool], object] | None = None) -> None:
        super().__init__()
        self.setName("flows")
        self.library = library
        self.reactor = reactor
        self.on_reload = on_reload
        self._previous: Any = None
        #: A load under way on its thread, and whether a SIGHUP came meanwhile.
        self._loading: defer.Deferred[Any] | None = None
        self._again = False
        self._stopped = False
        self._checking = False
        if config.watch_interval > 0:
            watcher = TimerService(config.watch_interval, self._reload_if_changed)
            watcher.clock = reactor
            watcher.setServiceParent(self)

    def startService(self) -> None:
        self._previous = signal.signal(signal.SIGHUP, self._on_sighup)
        if self.on_reload is not None:  # a worker: its supervisor's load failed
            signal.signal(signal.SIGUSR1, self._on_failed_elsewhere)
        super().startService()
        if early_sighup.take():  # a SIGHUP while the server started
            self.reactor.callWhenRunning(self._reload)

    def stopService(self) -> "defer.Deferred[Any]":
        self._stopped = True
        signal.signal(signal.SIGHUP, self._previous)
        if self.on_reload is not None:  # stopped: a late one must not kill the worker (SIGUSR1's default)
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        stopped: defer.Deferred[Any] = super().stopService()
        return stopped

    def _on_failed_elsewhere(self, _signum: int, _frame: Any) -> None:
        self.reactor.callFromThread(self.library.count_failed_load)

    def _on_sighup(self, _signum: int, _frame: Any) -> None:
        self.reactor.callFromThread(self._reload)

    def _reload(self) -> None:
        log.log(logging.DEBUG if self.library.quiet else logging.INFO, "SIGHUP: reloading flows")
        if self._loading is not None:  # the files may have changed since that load read them
            self._again = True
            return
        self._load().addCallback(self._reloaded)

    def _reloaded(self, ok: bool) -> None:
        if self.on_reload is not None and not self._stopped:  # a stopping worker's supervisor hears of none
            self.on_reload(ok)

    def _reload_if_changed(self) -> None:
        """The watcher's check, on a thread of its own: it lists the whole
        folder (50,000 other files in it took more than a second, every
        watch interval, on the thread that serves the calls). Neither the
        check nor the load is handed back: a stop would wait for it (the
        watcher waits for the call it made)."""
        if self._loading is not None or self._checking:
            return
        self._checking = True

        def checked(changed: Any) -> None:
            self._checking = False
            if changed is True and self._loading is None and not self._stopped:
                self._load()

        in_daemon_thread(self.reactor, self.library.changed).addBoth(checked)

    def _load(self) -> "defer.Deferred[bool]":
        """Load the flows on a thread of their own, then serve them here:
        reading and checking a large flow file takes seconds (a file of
        256 KB, 10 s), which held every call of the process."""
        loading = self._loading = in_daemon_thread(self.reactor, self.library.load)

        def apply(loaded: Loaded) -> bool:
            if self._stopped:  # stopping: what it read is served by no call
                return False
            return not self.library.apply(loaded)

        def failed(failure: Any) -> bool:  # load() reports the loader's own failures; this is a last resort
            log.error("loading the flows failed: %s", failure.getErrorMessage())
            return False

        def done(ok: Any) -> bool:
            self._loading = None
            if self._again and not self._stopped:  # a SIGHUP came while it loaded
                self._again = False
                self.reactor.callLater(0, self._reload)
            if not isinstance(ok, bool):  # apply() itself failed: report it, keep watching
                log.error("serving the flows loaded failed: %s", ok.getErrorMessage())
                return False
            return ok

        return loading.addCallbacks(apply, failed).addBoth(done)


def in_daemon_thread(reactor: Any, work: Callable[[], Any]) -> "defer.Deferred[Any]":
    """``work()`` (a flow load or the watcher's check) on a daemon thread
    of its own, its result fired on the reactor. A stop waits for nothing
    there: a flow load under way (seconds for a large file) on the
    reactor's pool, which a stop joins, held the exit that long, its port
    already closed. Without a thread pool (a test's reactor) it runs
    here, at once."""
    if getattr(reactor, "getThreadPool", None) is None:
        return defer.maybeDeferred(work)
    result: defer.Deferred[Any] = defer.Deferred()

    def run() -> None:
        try:
            value = work()
        except BaseException:
            reactor.callFromThread(result.errback, Failure())
        else:
            reactor.callFromThread(result.callback, value)

    threading.Thread(target=run, name="agiflow-flow-load", daemon=True).start()
    return result


class LogFlushService(TimerService):
    """Writes the batched log lines every FLUSH_INTERVAL, and once more on stop."""

    def __init__(self, reactor: Any) -> None:
        super().__init__(FLUSH_INTERVAL, flush_batched)
        self.setName("log-flush")
        self.clock = reactor

    def stopService(self) -> "defer.Deferred[Any]":
        flush_batched()
        return super().stopService()  # type: ignore[no-any-return]


class StopSignals(Service):
    """Once the reactor runs (which installs its own handlers), SIGTERM and
    SIGINT start one orderly shutdown; repeats are only logged. One that
    came while the server started (agi/early_stop.py) starts it at once."""

    def __init__(self, reactor: Any) -> None:
        self.setName("stop-signals")
        self.reactor = reactor
        self.stopping: list[int] = []

    def startService(self) -> None:
        super().startService()
        self.reactor.callWhenRunning(self._install)

    def _install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        noted = early_stop.take()
        if noted is not None:  # it came while the server started
            self._on_signal(noted, None)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.stopping:
            log.info("signal %d: already shutting down", signum)
            return
        self.stopping.append(signum)
        log.info("signal %d: shutting down", signum)
        self.reactor.callFromThread(self.reactor.stop)


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


def list_warnings(database: Database, later: Callable[..., object] | None = None) -> Callable[[FlowSet], None]:
    """warn_missing_lists for each load of the flows. The first load, before
    the server listens, checks at once; later ones (reloads, while calls
    run) through ``later``, as ``reactor.callInThread``: asking the
    database must never hold the thread that serves calls."""
    loads = [0]

    def on_load(flows: FlowSet) -> None:
        loads[0] += 1
        if loads[0] == 1 or later is None:
            warn_missing_lists(flows, database)
        else:
            later(warn_missing_lists, flows, database)

    return on_load


def warn_missing_lists(flows: FlowSet, database: Database) -> None:
    """Log each number list a flow reads that the database does not have:
    its steps take their ``error`` outcome (a do-not-call check fails
    closed) until the list is created or imported."""
    users = list_users(flows)
    try:
        missing = missing_lists(database, users)
    except ListUnavailable as exc:
        log.warning("%s: cannot tell whether the number lists the flows use exist (%s)", exc,
                    ", ".join(sorted(users)))
        return
    for name in missing:
        log.warning("number list %r (used by %s) does not exist in %s: those steps end in 'error' "
                    "(do-not-call checks fail closed) until `agiflow lists create %s` or `import`",
                    name, ", ".join(sorted(users[name])), database, name)
