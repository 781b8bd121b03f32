"""The flows of every worker of a supervisor (agi/server/fleet.py), changed
together: one watcher, the supervisor's, and one report per reload."""
from __future__ import annotations

import logging
import signal
from typing import TYPE_CHECKING, Any

from twisted.application.internet import TimerService
from twisted.application.service import MultiService
from twisted.internet import defer

from agi.loading.library import FlowLibrary

if TYPE_CHECKING:
    from agi.server.fleet import WorkersService

log = logging.getLogger("agiflow.server")


class ReloadFlows(MultiService):
    """The flows of every worker, changed together. On SIGHUP, and every
    ``watch_interval`` seconds (0: never) when a flow file was added,
    removed or changed since the last reload, every worker is sent SIGHUP
    and reloads (the workers themselves watch no file). Once all have said
    how it went, the supervisor loads the flows too and reports the reload
    once, as a single server does: ``loaded N flows ...`` or every error and
    ``flows not reloaded``. The workers report theirs only at DEBUG."""

    def __init__(self, library: FlowLibrary, workers: WorkersService, watch_interval: float, reactor: Any) -> None:
        super().__init__()
        self.setName("reload-flows")
        self.library = library
        self.workers = workers
        self.reactor = reactor
        self.busy = False
        self.again = False
        self._sent = library.snapshot()
        self._previous: Any = None
        if watch_interval > 0:
            watcher = TimerService(watch_interval, self.check_files)
            watcher.clock = reactor
            watcher.setServiceParent(self)

    def startService(self) -> None:
        self._previous = signal.signal(signal.SIGHUP, self._on_sighup)
        super().startService()

    def stopService(self) -> "defer.Deferred[Any]":
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
        """Every worker reloads, then the supervisor reports; one reload at a time."""
        if self.busy:
            self.again = True
            return
        self.busy, self.again = True, False
        self._sent = self.library.snapshot()
        self.workers.reload_all().addCallback(self._report)

    def _report(self, answers: dict[int, bool | None]) -> None:
        self.library.reload()
        loaded = sorted(index for index, ok in answers.items() if ok)
        kept = sorted(index for index, ok in answers.items() if ok is False)
        silent = sorted(index for index, ok in answers.items() if ok is None)
        if silent:
            log.warning("workers %s did not say how their reload went", silent)
        if loaded and kept:  # the files changed while the workers read them: read again
            log.warning("workers %s loaded new flows, workers %s kept theirs: reloading again", loaded, kept)
            self.again = True
        elif loaded:
            log.info("all %d workers serve the new flows", len(loaded))
        elif kept:
            log.error("all %d workers keep the flows they serve", len(kept))
        self.busy = False
        if self.again:
            self.reload()
