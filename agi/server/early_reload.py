"""A SIGHUP that reaches ``agiflow serve`` while it is still starting.

The server reloads its flows on SIGHUP, but its handler is installed only
once the flows are loaded, the database checked and the port bound (a
second or more). Left to its default action, a SIGHUP before that (a
``systemctl reload`` just after a start: with ``Type=simple`` systemd sees
the service started at once) killed the process without a line in its log,
and systemd restarts no service a SIGHUP ended. ``agiflow serve`` calls
``catch`` first, so the signal is only noted until the server's own
handler takes over; the server then reloads once it runs (``take``).
"""
from __future__ import annotations

import signal
import threading
from types import FrameType


class _Pending:
    sighup = False


def _note(_signum: int, _frame: FrameType | None) -> None:
    _Pending.sighup = True


def catch() -> None:
    """Note SIGHUP instead of dying of it, unless something already handles
    it (a test runner, an embedding program) or this is not the main thread."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        signal.signal(signal.SIGHUP, _note)


def take() -> bool:
    """Whether SIGHUP came since ``catch`` and was not taken yet."""
    pending, _Pending.sighup = _Pending.sighup, False
    return pending
