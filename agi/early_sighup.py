"""A SIGHUP that comes while a program is still starting: noted, not fatal.

Left to its default action, SIGHUP kills a Python process without a word.
Two programs of agiflow meet it before they install their own handler:

- ``agiflow-agi``: Asterisk sends the script SIGHUP the moment the caller
  hangs up, even while the process still imports agiflow and loads its
  flows (most of a second of CPU). Killed there, the call left no CDR row
  and no ``AGIFLOW_STATUS``; noted, the call runs as one whose caller is
  gone (``caller_hangup``, read with ``seen``).
- ``agiflow serve``: it reloads its flows on SIGHUP, but installs that
  handler only once the flows are loaded, the database checked and the
  port bound (a second or more). A ``systemctl reload`` just after a start
  (``Type=simple``: systemd sees the service started at once) killed it,
  and systemd restarts no service a SIGHUP ended; noted, the server
  reloads once it runs (``take``). A supervisor's workers start with
  SIGHUP blocked (agi/server/fleet.py) and take it here: one sent to
  every process while they loaded Python and agiflow killed them.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType


class _Noted:
    sighup = False


def _note(_signum: int, _frame: FrameType | None) -> None:
    _Noted.sighup = True


def catch() -> None:
    """Note SIGHUP instead of dying of it, unless something already handles
    it (a test runner, an embedding program) or this is not the main thread.
    Then take a SIGHUP held back until now: a supervisor starts its workers
    with SIGHUP blocked, since one sent to every process of the server
    before a worker got here killed it."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
        signal.signal(signal.SIGHUP, _note)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})


def seen() -> bool:
    """Whether SIGHUP came since ``catch``."""
    return _Noted.sighup


def take() -> bool:
    """Whether SIGHUP came since ``catch`` and was not taken yet."""
    pending, _Noted.sighup = _Noted.sighup, False
    return pending
