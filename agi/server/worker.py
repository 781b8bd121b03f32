"""What makes ``agiflow serve`` one worker of a supervisor (agi/server/fleet.py).

A worker is the whole server of agi/server/service.py with three changes:
it listens on the supervisor's port beside the other workers
(agi/server/reuseport.py); at start it marks as interrupted only the calls
its own earlier process left running (the CDR's ``node`` and ``worker``
columns say which process ran a call); and it talks to its supervisor over
two pipes:

- it writes ``ready`` to ``ready_fd`` once it listens, and ``reloaded`` or
  ``kept`` after each SIGHUP, once it has loaded the flows or kept its own;
  from its reactor's thread, ``alive`` every HEARTBEAT_EVERY seconds (a
  worker that goes silent, stopped or its reactor blocked, is killed and
  started again by its supervisor), and ``stopping`` when it begins to drain;
- it reads ``lifeline_fd`` (its standard input), which the supervisor never
  writes: end of file means the supervisor is gone (killed with SIGKILL, or
  crashed), and the worker stops at once, as the single server would have.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IReactorFDSet
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from agi.config import Config

log = logging.getLogger("agiflow.server")

#: The worker's descriptors, as the supervisor spawns it.
LIFELINE_FD = 0
READY_FD = 3
#: What the worker writes to READY_FD: once it listens, and after each
#: reload its supervisor asked for (the new flows loaded, or the old kept).
READY = b"ready\n"
RELOADED = b"reloaded\n"
KEPT = b"kept\n"
#: ... every HEARTBEAT_EVERY seconds while its reactor turns, and once it drains.
ALIVE = b"alive\n"
STOPPING = b"stopping\n"
HEARTBEAT_EVERY = 1.0
#: A worker's exit status when its supervisor vanished.
ORPHANED = 3


def worker_config(config: Config, index: int) -> Config:
    """Worker ``index``'s settings: it watches no flow file (its supervisor
    does, and sends every worker SIGHUP), its metrics listener has a port of
    its own, ``server.metrics.port`` + index - 1 (0 stays 0: each picks one),
    and so has its CDR journal (worker_journal): one writer per file."""
    metrics = config.server.metrics
    if metrics is not None and metrics.port != 0:
        metrics = replace(metrics, port=metrics.port + index - 1)
    return replace(config, server=replace(config.server, watch_interval=0, metrics=metrics),
                   journal=worker_journal(config.journal, index))


def worker_journal(journal: Path, index: int) -> Path:
    """Worker ``index``'s CDR journal beside ``journal``: ``agiflow-journal.worker2.jsonl``."""
    return journal.with_name(f"{journal.stem}.worker{index}{journal.suffix}")


def worker_journals(journal: Path) -> list[tuple[int, Path]]:
    """The workers' journals found beside ``journal``, by worker number:
    those of every earlier run, however many workers it had. The number is
    in the digits 0-9 a worker's name is written with: another file there
    (``worker²``, which ``str.isdigit`` takes and ``int`` refuses) is left alone."""
    found = []
    for path in journal.parent.glob(f"{journal.stem}.worker*{journal.suffix}"):
        number = path.name[len(journal.stem) + len(".worker"):len(path.name) - len(journal.suffix)]
        if number.isascii() and number.isdigit() and int(number) > 0:
            found.append((int(number), path))
    return sorted(found)


@dataclass(frozen=True)
class WorkerRole:
    """Worker ``index`` (from 1) of a node: the CDR ``worker`` of its calls."""

    index: int
    ready_fd: int = READY_FD
    lifeline_fd: int = LIFELINE_FD

    def notify(self, news: bytes, *, quiet: bool = False) -> None:
        """Tell the supervisor: READY once it listens, RELOADED or KEPT after
        each SIGHUP; ``quiet``: a failure (the pipe full, the supervisor
        gone: the lifeline says so) is not logged."""
        try:
            os.write(self.ready_fd, news)
        except OSError as exc:
            if not quiet:
                log.warning("worker %d could not tell its supervisor %r: %s", self.index, news.strip(), exc)

    def reloaded(self, ok: bool) -> None:
        self.notify(RELOADED if ok else KEPT)

    def beat(self, reactor: Any) -> None:
        """Say ``alive`` every HEARTBEAT_EVERY seconds from the reactor's
        thread, never waiting: a supervisor that does not read (stopped)
        must not block the calls once the pipe is full."""
        os.set_blocking(self.ready_fd, False)
        heartbeat = LoopingCall(self.notify, ALIVE, quiet=True)
        heartbeat.clock = reactor
        heartbeat.start(HEARTBEAT_EVERY, now=False)
        reactor.addSystemEventTrigger("before", "shutdown", self.notify, STOPPING)


class Lifeline:
    """Watches a pipe that only ever ends: ``on_lost`` when it does."""

    def __init__(self, fd: int, on_lost: Callable[[], object]) -> None:
        self.fd = fd
        self.on_lost = on_lost
        self.reactor: IReactorFDSet | None = None

    def watch(self, reactor: IReactorFDSet) -> None:
        self.reactor = reactor
        reactor.addReader(self)  # type: ignore[arg-type]

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "lifeline"

    def doRead(self) -> None:
        try:
            data = os.read(self.fd, 512)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()

    def connectionLost(self, reason: Failure) -> None:
        """Done: the reactor saw the end of the pipe (epoll's HUP). Lost: the
        reactor is shutting down and lets go of every descriptor, which is
        not the supervisor's doing."""
        if reason.check(ConnectionDone):
            self._lost()
        else:
            self.reactor = None

    def _lost(self) -> None:
        if self.reactor is not None:
            self.reactor.removeReader(self)  # type: ignore[arg-type]  # a no-op once the reactor has
            self.reactor = None
            self.on_lost()


def orphaned(index: int, exit: Callable[[int], Any] = os._exit) -> Callable[[], None]:
    """What a worker does when its supervisor is gone: say so and end at once,
    as if killed with it (the calls it runs are cut; the next start of the
    node marks their rows interrupted)."""

    def stop() -> None:
        log.error("worker %d: the supervisor is gone; stopping at once", index)
        logging.shutdown()
        exit(ORPHANED)

    return stop
