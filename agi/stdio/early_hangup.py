"""Imported first by ``agi.stdio.main``: from here on, a caller who hangs up
while ``agiflow-agi`` is still starting is noted, not fatal
(agi/early_sighup.py), and so is a SIGTERM or SIGINT: a system shutdown
sends SIGTERM to every script process of Asterisk at once, also to one
still starting, which died there and left its call no CDR row. Noted
(``stop_signal``), the call ends ``interrupted`` before its first command.
Stops are noted only in the ``agiflow-agi`` process (its command, or
``catch_stops`` from its entry point), never in a program that imports
agiflow (a test runner's Ctrl-C must still stop it)."""
from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from agi import early_sighup

early_sighup.catch()

_stops: list[int] = []


def _note_stop(signum: int, _frame: FrameType | None) -> None:
    _stops.append(signum)


def catch_stops() -> None:
    """Note SIGTERM and SIGINT instead of dying of them, unless something
    already handles them or this is not the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, default in ((signal.SIGTERM, signal.SIG_DFL), (signal.SIGINT, signal.default_int_handler)):
        if signal.getsignal(signum) == default:
            signal.signal(signum, _note_stop)


def stop_signal() -> signal.Signals | None:
    """The first SIGTERM or SIGINT noted while the process started, if any."""
    return signal.Signals(_stops[0]) if _stops else None


if Path(sys.argv[0]).name == "agiflow-agi":  # the console script, before it imports the rest
    catch_stops()
