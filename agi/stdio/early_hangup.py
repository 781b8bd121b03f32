"""A caller who hangs up while ``agiflow-agi`` is still starting.

Asterisk sends a script process SIGHUP the moment the caller hangs up, even
while the process is still importing agiflow and loading its flows (most
of a second of CPU), long before pyst2 installs its own handler. Left to
its default action SIGHUP would kill the process there: no CDR row, no
``AGIFLOW_STATUS``. ``agi.stdio.main`` imports this module first, so the
signal is only noted from then on; the call then runs as one whose caller
is gone (``caller_hangup``).
"""
from __future__ import annotations

import signal
import threading
from types import FrameType


class _Seen:
    hangup = False


def _note(_signum: int, _frame: FrameType | None) -> None:
    _Seen.hangup = True


def catch() -> None:
    """Note SIGHUP instead of dying of it, unless something already handles
    it (a test runner, an embedding program) or this is not the main thread."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        signal.signal(signal.SIGHUP, _note)


def seen() -> bool:
    """Whether SIGHUP came before pyst2 took the signal over."""
    return _Seen.hangup


catch()
