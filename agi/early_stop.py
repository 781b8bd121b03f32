"""A SIGTERM or SIGINT that comes while ``agiflow serve`` is still starting:
noted, and the server stops in order as soon as it runs (``take``).

Its own handlers (``StopSignals``, agi/server/service.py) are installed only
once the reactor runs: the flows loaded, the database opened and the port
bound, a second or more. Before that, Python's default made a Ctrl-C a
KeyboardInterrupt wherever the start was: "Aborted!" and exit 1, or, inside
a service starting (a Deferred), a traceback in the log and a server that
went on running, the Ctrl-C lost; and a SIGTERM killed it without its
orderly stop. Only the ``serve`` command catches them, never a program that
imports agiflow (a test runner's Ctrl-C must still stop it)."""
from __future__ import annotations

import signal
import threading
from types import FrameType

_stops: list[int] = []


def _note(signum: int, _frame: FrameType | None) -> None:
    _stops.append(signum)


def catch() -> None:
    """Note SIGTERM and SIGINT instead of dying of them, unless something
    already handles them or this is not the main thread. One ignored from
    the start (a shell starts a background job with SIGINT ignored) is
    noted too: the running server stops on either whatever it inherited,
    and a signal lost while it started left it running."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, default in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.default_int_handler)):
        if signal.getsignal(signum) in (default, signal.SIG_IGN):
            signal.signal(signum, _note)


def take() -> int | None:
    """The first SIGTERM or SIGINT noted since ``catch`` and not taken yet."""
    first = _stops[0] if _stops else None
    _stops.clear()
    return first
