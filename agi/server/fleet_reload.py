"""The flows of every worker of a supervisor (agi/server/fleet.py), changed
together: one watcher, the supervisor's, and one report per reload."""
from __future__ import annotations

import logging
import signal
from typing import TYPE_CHECKING, Any

from twisted.application.internet import TimerService
from twisted.application.service import MultiService
from twisted.internet import defer
from twisted.python.failure import Failure

from agi.engine.model import FlowSet
from agi.loading.library import FlowLibrary, Loaded
from agi.server.service import in_daemon_thread
from agi import early_sighup

if TYPE_CHECKING:
    from agi.server.fleet import WorkersService

log = logging.getLogger("agiflow.server")


class ReloadFlows(MultiService):
    """The flows of every worker, changed together. On SIGHUP, and every
    ``watch_interval`` seconds (0: never) when a flow file was added,
    removed or changed since the last reload, the supervisor loads the
    flows; when they have an error it reports them and no worker is asked
    to reload (each keeps the set it serves: the same everywhere), only told
    to count the failed load (SIGUSR1) for its metrics and /health. When they
    load, every worker is sent SIGHUP and reloads (the workers watch no file),
    and once all have said how it went the supervisor reports the load, as a
    single server does (``loaded N flows ...``): when the log says so, every
    worker serves them. The workers report their own loads only at DEBUG."""

    def __init__(self, library: FlowLibrary, workers: WorkersService, watch_interval: float, reactor: Any) -> None:
        super().__init__()
        self.setName("reload-flows")
        self.library = library
        self.workers = workers
        self.reactor = reactor
        self.busy = False
        self.again = False
        self.stopped = False
        self._sent = library.snapshot()
        self._previous: Any = None
        workers.started.addCallback(self._listening)  # first: not after a failed start
        if watch_interval > 0:
            watcher = TimerService(watch_interval, self.check_files)
            watcher.clock = reactor
            watcher.setServiceParent(self)

    def startService(self) -> None:
        self._previous = signal.signal(signal.SIGHUP, self._on_sighup)
        super().startService()
        if early_sighup.take():  # a SIGHUP while the supervisor started
            self._sighup()

    def _listening(self, result: None) -> None:
        """Every worker listens: a reload asked for while they started runs
        now, once the start is reported."""
        if self.again:
            self.reactor.callLater(0, self.reload)
        return result

    def stopService(self) -> "defer.Deferred[Any]":
        self.stopped = True
        signal.signal(signal.SIGHUP, self._previous)
        return super().stopService()  # type: ignore[no-any-return]

    def _on_sighup(self, _signum: int, _frame: Any) -> None:
        self.reactor.callFromThread(self._sighup)

    def _sighup(self) -> None:
        log.info("SIGHUP: reloading flows")
        self.reload()

    def check_files(self) -> None:
        if not self.busy and self.library.snapshot() != self._sent:
            self.reload()

    def reload(self) -> None:
        """Check the files; when they load, every worker reloads, then the
        supervisor reports. One reload at a time."""
        if self.busy or not self.workers.started.called:  # a worker still starting may have read the old files
            self.again = True
            return
        self._sent = self.library.snapshot()
        self.busy, self.again = True, False
        # On a thread of its own: a large file takes seconds to read, while
        # signals (a SIGTERM to pass on) and workers that die wait here.
        in_daemon_thread(self.reactor, self.library.load).addCallback(self._loaded).addErrback(self._not_loaded)

    def _loaded(self, loaded: Loaded) -> None:
        """Serve what the load read; when it has errors, report them once
        and ask no worker to reload."""
        if self.stopped:  # stopping: no worker is asked to load it
            self.busy = False
            return
        previous = self.library.current
        quiet, self.library.quiet = self.library.quiet, True
        try:  # errors are reported here, once
            errors = self.library.apply(loaded)
        finally:
            self.library.quiet = quiet
        if errors:
            log.error("every worker keeps the flows it serves")
            self.workers.tell_failed_reload()  # each counts it: its metrics and /health say so
            self._done()
            return
        self.workers.reload_all().addCallback(self._report, previous)

    def _not_loaded(self, failure: Failure) -> None:
        """A last resort (load() reports the loader's own failures): the
        watcher goes on, never left busy for good."""
        log.error("loading the flows failed: %s", failure.getErrorMessage())
        self._done()

    def _done(self) -> None:
        self.busy = False
        if self.again and not self.stopped:  # a SIGHUP, or a change, while it loaded
            self.reload()

    def _report(self, answers: dict[int, bool | None], previous: FlowSet) -> None:
        if self.stopped:  # the workers stop: what each did is no news
            self.busy = False
            return
        loaded = sorted(index for index, ok in answers.items() if ok)
        kept = sorted(index for index, ok in answers.items() if ok is False)
        silent = sorted(index for index, ok in answers.items() if ok is None)
        self.library.announce(previous)
        if silent:
            log.warning("workers %s did not say how their reload went", silent)
        if kept:  # the files changed while the workers read them, or a worker could not read them
            log.error("workers %s kept the flows they serve%s", kept,
                      f" while workers {loaded} loaded the new ones" if loaded else "")
            self.again = self.again or self.library.snapshot() != self._sent
        elif not silent:
            log.info("all %d workers serve the new flows", len(loaded))
        elif loaded:  # not "all": the others were named above
            log.info("workers %s serve the new flows; workers %s may still serve the previous ones",
                     loaded, silent)
        self._done()
