"""``agiflow serve --workers N``: a supervisor process and N workers.

The supervisor checks what a single server checks before it starts (the
flows, the CDR database, the port), marks the calls this node left running
as interrupted, keeps the port (agi/server/reuseport.py) and starts N
workers, each a whole server (agi/server/worker.py) listening on the same
port: the kernel spreads the calls over them, so the node uses N cores.

- ``WorkersService`` starts the workers, restarts one that dies (after a
  backoff that doubles while it keeps dying young) or goes silent for
  ``server.worker_timeout`` (stopped, or its reactor blocked: it is killed),
  and on stop sends each SIGTERM and waits until every one has drained and exited.
- ``ReloadFlows`` (agi/server/fleet_reload.py) has every worker reload the
  flows on SIGHUP and when a file changes, then reports the reload once.
- ``StopSignals`` (agi/server/service.py): SIGTERM/SIGINT stop the supervisor.

The workers share the CDRs, the number lists and the overrides through the
database; nothing else is shared.
"""
from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, field
from typing import Any, Callable, Generator

from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from agi.config import Config, node_name
from agi.log_output import flush_batched
from agi.loading.library import FlowLibrary
from agi.server.fleet_reload import ReloadFlows
from agi.server.reuseport import reserve
from agi.server.recovery import recovered, replay_worker_journals
from agi.server.service import LogFlushService, StopSignals, list_warnings
from agi.server.worker import KEPT, READY, READY_FD, RELOADED, STOPPING
from agi.wording import endpoint

log = logging.getLogger("agiflow.server")

#: Seconds a worker has to start listening before the supervisor gives up on it.
START_TIMEOUT = 60.0
#: Seconds the workers get to say how a reload went.
RELOAD_TIMEOUT = 30.0
#: Seconds between two looks for workers gone silent (``server.worker_timeout``).
WATCH_EVERY = 1.0
#: Seconds a stopping worker gets beyond server.drain_timeout before SIGKILL:
#: its last CDRs may wait up to 30 s for a locked database.
STOP_GRACE = 60.0


@dataclass
class Backoff:
    """Seconds to wait before restarting a worker that died: ``first``,
    doubled for each death in a row of a worker that ran less than
    ``stable_after`` seconds, at most ``longest``."""

    first: float = 0.5
    longest: float = 30.0
    stable_after: float = 30.0
    failures: int = 0

    def delay(self, ran_for: float) -> float:
        if ran_for >= self.stable_after:
            self.failures = 0
        delay = min(self.longest, self.first * float(1 << min(self.failures, 30)))
        self.failures += 1
        return delay


@dataclass
class Worker:
    """One worker's slot: the process now filling it, if any."""

    index: int
    backoff: Backoff = field(default_factory=Backoff)
    process: Any = None  # the IProcessTransport while it runs
    started_at: float = 0.0
    ready: bool = False
    restart: Any = None  # the IDelayedCall of a pending restart
    heard: float = 0.0  # when it last said anything (it says ``alive`` every second)
    draining: bool = False  # it said it is stopping: its reactor may wait on its last CDRs
    exits: list[tuple[int | None, int | None]] = field(default_factory=list)  # (status, signal) of each

    @property
    def alive(self) -> bool:
        return self.process is not None


def describe_exit(status: int | None, signum: int | None) -> str:
    if signum is not None:
        try:
            return f"killed by {signal.Signals(signum).name}"
        except ValueError:
            return f"killed by signal {signum}"
    return f"exited with status {status}"


class WorkerProcess(ProcessProtocol):
    """The supervisor's end of one worker process."""

    def __init__(self, service: "WorkersService", worker: Worker) -> None:
        self.service = service
        self.worker = worker
        self.buffer = b""

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """What the worker says on READY_FD, a line at a time."""
        if childFD != READY_FD:
            return
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        self.worker.heard = self.service.reactor.seconds()
        for line in lines:
            news = line + b"\n"
            if news == READY and not self.worker.ready:
                self.service.worker_ready(self.worker)
            elif news in (RELOADED, KEPT):
                self.service.worker_reloaded(self.worker, news == RELOADED)
            elif news == STOPPING:
                self.worker.draining = True

    def processEnded(self, reason: Failure) -> None:
        value = reason.value
        self.service.worker_ended(self.worker, getattr(value, "exitCode", None), getattr(value, "signal", None))


#: Spawns a process as reactor.spawnProcess does.
Spawn = Callable[..., Any]


class WorkersService(Service):
    """Starts ``count`` workers with ``command(index)``, keeps them running,
    stops them together. ``started`` fires once every worker listens, or
    fails when one cannot start."""

    def __init__(self, count: int, command: Callable[[int], list[str]], reactor: Any, *,
                 spawn: Spawn | None = None, stop_timeout: float = STOP_GRACE,
                 start_timeout: float = START_TIMEOUT, reload_timeout: float = RELOAD_TIMEOUT,
                 silence_timeout: float = 0.0) -> None:
        self.setName("workers")
        self.workers = [Worker(index) for index in range(1, count + 1)]
        self.command = command
        self.reactor = reactor
        self.spawn = spawn or reactor.spawnProcess
        self.stop_timeout = stop_timeout
        self.start_timeout = start_timeout
        self.reload_timeout = reload_timeout
        self.silence_timeout = silence_timeout
        self._watchdog: LoopingCall | None = None
        self._watched_at: float | None = None  # when the watchdog last looked
        self._reloading: tuple[dict[int, bool | None], defer.Deferred[dict[int, bool | None]]] | None = None
        self.started: defer.Deferred[None] = defer.Deferred()
        self.stopping = False
        self.clean = True  # every worker stopped on request with status 0
        self._all_ended: list[defer.Deferred[None]] = []
        self._timers: list[Any] = []

    # -- starting and restarting ------------------------------------------------

    def startService(self) -> None:
        super().startService()
        for worker in self.workers:
            self._start(worker)
        self._timers.append(self.reactor.callLater(self.start_timeout, self._start_timed_out))
        if self.silence_timeout > 0:
            self._watchdog = LoopingCall(self._kill_silent)
            self._watchdog.clock = self.reactor
            self._watchdog.start(WATCH_EVERY, now=False)

    def _start(self, worker: Worker) -> None:
        worker.restart = None
        worker.ready = worker.draining = False
        worker.started_at = self.reactor.seconds()
        argv = self.command(worker.index)
        # The worker starts with SIGHUP held back, until it can note one (agi/early_sighup.py):
        # SIGHUP to every process (systemctl kill, a terminal that hangs up) killed a starting worker.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        try:
            worker.process = self.spawn(WorkerProcess(self, worker), argv[0], argv, env=dict(os.environ),
                                        childFDs={0: "w", 1: 1, 2: 2, READY_FD: "r"})
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        log.info("worker %d started (pid %s)", worker.index, getattr(worker.process, "pid", "?"))

    def worker_ready(self, worker: Worker) -> None:
        worker.ready = True
        worker.heard = self.reactor.seconds()
        if not self.started.called and all(w.ready for w in self.workers):
            self.started.callback(None)

    def _start_timed_out(self) -> None:
        if not self.started.called:
            late = [w.index for w in self.workers if not w.ready]
            self.started.errback(RuntimeError(f"workers {late} did not listen within {self.start_timeout:.0f}s"))

    def _kill_silent(self) -> None:
        """SIGKILL to a listening worker that has said nothing (not even its
        heartbeat) for ``silence_timeout`` seconds: stopped (SIGSTOP), or its
        reactor blocked. The kernel would go on giving it calls, which hang;
        killed, it is started again as a worker that died, and its
        replacement marks its calls interrupted."""
        now = self.reactor.seconds()
        looked, self._watched_at = self._watched_at, now
        if looked is not None and not 0 <= now - looked <= max(self.silence_timeout / 2, 2 * WATCH_EVERY):
            for worker in self.workers:  # the supervisor itself was stopped, or the clock jumped: hear them anew
                worker.heard = now
            return
        for worker in self.workers:
            if worker.alive and worker.ready and not worker.draining and now - worker.heard > self.silence_timeout:
                log.error("worker %d has said nothing for %.0fs (stopped, or its reactor blocked): killing it",
                          worker.index, now - worker.heard)
                worker.heard = now  # one kill: its end starts it again
                try:
                    worker.process.signalProcess("KILL")
                except Exception:  # gone meanwhile
                    pass

    def worker_ended(self, worker: Worker, status: int | None, signum: int | None) -> None:
        worker.process = None
        worker.exits.append((status, signum))
        self._reload_settled()
        how = describe_exit(status, signum)
        if self.stopping:
            if not worker.ready and signum == signal.SIGTERM:  # still starting: no call to drain
                log.info("worker %d stopped before it listened (%s)", worker.index, how)
            else:
                self.clean = self.clean and status == 0 and signum is None
                (log.info if status == 0 else log.error)("worker %d %s", worker.index, how)
            self._check_all_ended()
        elif not self.started.called:
            log.error("worker %d %s before it listened", worker.index, how)
            self.started.errback(RuntimeError(f"worker {worker.index} {how} before it listened"))
        else:
            delay = worker.backoff.delay(self.reactor.seconds() - worker.started_at)
            if status == 0 and signum is None:  # stopped by itself (a SIGTERM of its own): it drained its calls
                log.warning("worker %d %s once its calls had ended; starting it again in %.1fs", worker.index, how,
                            delay)
            elif not worker.ready:  # it could not start (the database unusable, newer, the flows invalid)
                log.error("worker %d %s before it listened, with no call; starting it again in %.1fs",
                          worker.index, how, delay)
            else:
                log.error("worker %d %s; its calls were cut; starting it again in %.1fs", worker.index, how, delay)
            worker.restart = self.reactor.callLater(delay, self._start, worker)

    # -- reloading the flows -----------------------------------------------------------

    def reload_all(self) -> "defer.Deferred[dict[int, bool | None]]":
        """SIGHUP to every worker that listens; fires with {worker: loaded the
        new flows (True), kept its own (False), or no answer (None): it died,
        or ``reload_timeout`` passed} once each has answered or cannot."""
        asked = [w for w in self.workers if w.alive and w.ready]
        done: defer.Deferred[dict[int, bool | None]] = defer.Deferred()
        self._reloading = ({w.index: None for w in asked}, done)
        for worker in asked:
            worker.process.signalProcess("HUP")
        timer = self.reactor.callLater(self.reload_timeout, self._reload_settled, True)
        done.addBoth(lambda result: (timer.cancel() if timer.active() else None, result)[1])
        self._reload_settled()
        return done

    def worker_reloaded(self, worker: Worker, ok: bool) -> None:
        if self._reloading is not None and worker.index in self._reloading[0]:
            self._reloading[0][worker.index] = ok
            self._reload_settled()

    def _reload_settled(self, timed_out: bool = False) -> None:
        if self._reloading is None:
            return
        answers, done = self._reloading
        dead = {w.index for w in self.workers if not w.alive}  # it loads the files as it starts again
        if timed_out or all(ok is not None or index in dead for index, ok in answers.items()):
            self._reloading = None
            done.callback(dict(answers))

    # -- signals and stopping ------------------------------------------------------

    def tell_failed_reload(self) -> None:
        """SIGUSR1 to every worker that listens (each has its handler): the
        supervisor's load failed; each counts it and keeps its flows. Not
        once the workers are stopping: they drain, and will not serve again."""
        if not self.running:
            return
        for worker in self.workers:
            if worker.alive and worker.ready:
                try:
                    worker.process.signalProcess(signal.SIGUSR1)
                except Exception:  # gone meanwhile
                    pass

    def signal_all(self, signame: str) -> int:
        """Send a signal ("HUP", "TERM", "KILL") to every running worker; how many."""
        sent = 0
        for worker in self.workers:
            if worker.alive:
                try:
                    worker.process.signalProcess(signame)
                    sent += 1
                except Exception:  # gone meanwhile
                    pass
        return sent

    def stopService(self) -> "defer.Deferred[None]":
        """SIGTERM to every worker (each drains its calls); fires once all
        have exited; SIGKILL to any still running after ``stop_timeout``."""
        super().stopService()
        self.stopping = True
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        for timer in [w.restart for w in self.workers if w.restart is not None] + self._timers:
            if timer.active():
                timer.cancel()
        done: defer.Deferred[None] = defer.Deferred()
        self._all_ended.append(done)
        self.signal_all("TERM")
        self._timers = [self.reactor.callLater(self.stop_timeout, self._kill_remaining)]
        self._check_all_ended()
        return done

    def _kill_remaining(self) -> None:
        remaining = [w.index for w in self.workers if w.alive]
        if remaining:
            log.error("workers %s still running %.0fs after SIGTERM: killing them", remaining, self.stop_timeout)
            self.clean = False
            self.signal_all("KILL")

    def _check_all_ended(self) -> None:
        if any(w.alive for w in self.workers):
            return
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        waiting, self._all_ended = self._all_ended, []
        for d in waiting:
            d.callback(None)


class Supervisor(MultiService):
    """The supervisor's services; stopping them stops every worker first."""

    def __init__(self, workers: WorkersService, reload: ReloadFlows, reactor: Any) -> None:
        super().__init__()
        self.workers = workers
        for child in (LogFlushService(reactor), StopSignals(reactor), reload, workers):
            child.setServiceParent(self)

    @defer.inlineCallbacks
    def stopService(self) -> Generator[Any, Any, None]:
        log.info("shutting down: stopping %d workers", sum(w.alive for w in self.workers.workers))
        Service.stopService(self)
        for child in reversed(list(self)):
            yield defer.maybeDeferred(child.stopService)
        flush_batched()


def supervise(config: Config, count: int, command: Callable[[int], list[str]], reactor: Any = None) -> int:
    """Run ``count`` workers of ``config`` on one port until SIGTERM/SIGINT;
    ``command(index)`` is a worker's argv, given the port as
    ``config.server.port``. 1 if it cannot start or a worker did not stop cleanly."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor
        reactor = default_reactor
    library = FlowLibrary(config.flows, on_load=list_warnings(config.database, later=reactor.callInThread))
    if library.reload():
        log.error("not starting: fix the flow errors above (agiflow validate %s)", config.flows)
        return 1
    node = node_name(config.server)
    try:  # first: a second start on a port in use must not mark the running calls interrupted
        held = reserve(config.server.host, config.server.port)
    except OSError as exc:
        log.error("cannot listen on %s: %s", endpoint(config.server.host, config.server.port), exc)
        return 1
    if not replay_worker_journals(config, node) or not recovered(config, node):
        held.close()
        return 1
    host, port = held.getsockname()[:2]
    workers = WorkersService(count, command_for(command, port), reactor,
                             stop_timeout=config.server.drain_timeout + STOP_GRACE,
                             silence_timeout=config.server.worker_timeout)
    supervisor = Supervisor(workers, ReloadFlows(library, workers, config.server.watch_interval, reactor), reactor)
    outcome: dict[str, int] = {}
    workers.started.addCallbacks(
        lambda _: log.info("agiflow listening on %s (%d workers, node %s, CDRs in %s)", endpoint(host, port), count,
                           node, config.database),
        lambda failure: _not_started(failure, outcome, reactor))
    supervisor.startService()
    reactor.addSystemEventTrigger("before", "shutdown", supervisor.stopService)
    try:
        reactor.run()
    finally:
        held.close()
    return outcome.get("code", 0 if workers.clean else 1)


def command_for(command: Callable[[int], list[str]], port: int) -> Callable[[int], list[str]]:
    """``command`` with the port the supervisor holds after ``--port``."""
    return lambda index: [*command(index), "--port", str(port)]


def _not_started(failure: Failure, outcome: dict[str, int], reactor: Any) -> None:
    log.error("not starting: %s", failure.getErrorMessage())
    outcome["code"] = 1
    reactor.stop()

