"""Dialplan applications that the simulated Asterisk runs for EXEC.

Each application returns what Asterisk's would: 0 to go on, -1 when the
channel is gone. An unknown application gives -2 (res_agi.c handle_exec).
On a dead channel the "Set-like" ones (no media: Set, MSet, NoOp, Verbose,
Log, UserEvent, StopMixMonitor...) still run; every other one answers -1,
as Wait did in hangup-exec.agi.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agi.sim.asterisk import SimulatedAsterisk

#: Applications that touch no media and so still run on a hung-up channel.
SET_LIKE_APPLICATIONS = frozenset(
    {"set", "mset", "noop", "verbose", "log", "userevent", "celgenuserevent",
     "stopmixmonitor", "dumpchan", "queuelog"}
)

#: Other applications a stock Asterisk 22 has (lower case), beyond those
#: simulated below; they answer 0.
OTHER_APPLICATIONS = frozenset(
    {"agi", "background", "busy", "chanspy", "confbridge", "congestion", "echo",
     "execif", "gosub", "gosubif", "goto", "gotoif", "musiconhold", "page",
     "playtones", "progress", "read", "record", "ringing", "return", "saydigits",
     "saynumber", "senddtmf", "startmusiconhold", "stopmusiconhold",
     "stopplaytones", "system", "transfer", "voicemail", "voicemailmain",
     "waitexten", "addqueuemember", "removequeuemember", "pausequeuemember",
     "unpausequeuemember"}
)

App = Callable[["SimulatedAsterisk", str], int]


def _set(sim: SimulatedAsterisk, options: str) -> int:
    name, sep, value = options.partition("=")
    if sep:
        sim.vars.write(name.strip(), value)
    return 0


def _mset(sim: SimulatedAsterisk, options: str) -> int:
    for pair in options.split(","):
        _set(sim, pair)
    return 0


def _answer(sim: SimulatedAsterisk, options: str) -> int:
    sim.answered = True
    return 0


def _playback(sim: SimulatedAsterisk, options: str) -> int:
    files, _, flags = options.partition(",")
    status = "SUCCESS"
    for name in files.split("&"):
        if sim.sound_length(name.strip()) is None:
            status = "FAILED"
        else:
            sim.played.append(name.strip())
    sim.vars.write("PLAYBACKSTATUS", status)
    if "noanswer" not in flags:
        sim.answered = True
    return 0


def _queue(sim: SimulatedAsterisk, options: str) -> int:
    sim.vars.write("QUEUESTATUS", sim.next_outcome("queue", "TIMEOUT"))
    return 0


def _dial(sim: SimulatedAsterisk, options: str) -> int:
    status = sim.next_outcome("dial", "ANSWER")
    sim.vars.write("DIALSTATUS", status)
    if status == "ANSWER":
        sim.answered = True
    return 0


def _mixmonitor(sim: SimulatedAsterisk, options: str) -> int:
    filename = options.split(",", 1)[0]
    sim.mixmonitor_files.append(filename)
    sim.mixmonitor_active = True
    sim.vars.write("MIXMONITOR_FILENAME", filename)
    return 0


def _stopmixmonitor(sim: SimulatedAsterisk, options: str) -> int:
    sim.mixmonitor_active = False
    return 0


def _hangup(sim: SimulatedAsterisk, options: str) -> int:
    sim.hang_up(by="dialplan")
    return -1


def _nothing(sim: SimulatedAsterisk, options: str) -> int:
    return 0


APPLICATIONS: dict[str, App] = {
    "set": _set, "mset": _mset, "answer": _answer, "playback": _playback,
    "queue": _queue, "dial": _dial, "mixmonitor": _mixmonitor,
    "stopmixmonitor": _stopmixmonitor, "hangup": _hangup, "wait": _nothing,
    **{name: _nothing for name in SET_LIKE_APPLICATIONS | OTHER_APPLICATIONS
       if name not in ("set", "mset", "stopmixmonitor")},
}


def run_application(sim: SimulatedAsterisk, name: str, options: str) -> int:
    """EXEC ``name`` with its single options string; the app's result."""
    key = name.lower()
    app = APPLICATIONS.get(key)
    if app is None:
        return -2
    sim.applications.append((name, options))
    if key not in SET_LIKE_APPLICATIONS:
        if sim.dead or sim.hung_up:
            return -1
        if sim.caller_hangs_up_now():
            if key == "dial":
                sim.vars.write("DIALSTATUS", "CANCEL")
            return -1
    return app(sim, options)
