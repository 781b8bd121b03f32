"""Dialplan applications that the simulated Asterisk runs for EXEC.

Each application returns what Asterisk's would: 0 to go on, -1 when the
channel is gone. An unknown application gives -2 (res_agi.c handle_exec).
On a dead channel the "Set-like" ones (no media: Set, MSet, NoOp, Verbose,
Log, UserEvent, StopMixMonitor...) still run; every other one answers -1,
as Wait did in hangup-exec.agi, leaving its variables as they were, apart
from Queue and Dial (``DEAD_CHANNEL``), whose own checks of the hangup set
them. Queue, Dial and VoiceMail set their status variables and return what
app_queue.c, app_dial.c and app_voicemail.c return in Asterisk 22, hangups
included (see each function).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from agi.protocol.appargs import split

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
    {"agi", "background", "busy", "confbridge", "congestion", "echo",
     "execif", "gosub", "gosubif", "goto", "gotoif", "musiconhold", "page",
     "playtones", "progress", "read", "record", "ringing", "return", "saydigits",
     "saynumber", "senddtmf", "startmusiconhold", "stopmusiconhold",
     "stopplaytones", "system", "transfer", "voicemailmain",
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
    for pair in split(options):
        _set(sim, pair)
    return 0


def _answer(sim: SimulatedAsterisk, options: str) -> int:
    sim.answered = True
    return 0


def _playback(sim: SimulatedAsterisk, options: str) -> int:
    files, flags, *_ = split(options, 2) + ["", ""]
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


#: QUEUESTATUS when the caller could not join (app_queue.c join_queue();
#: UNKNOWN: no such queue): Queue() returns 0 at once and the caller never
#: waited, so ABANDONED is not set.
QUEUE_JOIN_FAILURES = frozenset({"FULL", "JOINEMPTY", "JOINUNAVAIL", "UNKNOWN"})
#: The script's word for "a queue member answered": Asterisk has no such
#: QUEUESTATUS, it leaves the variable alone when a member answered.
ANSWERED = "ANSWERED"
#: The script's word for "the caller left the queue with a key" (queue_log's
#: EXITWITHKEY): Asterisk sets no QUEUESTATUS and Queue() returns 0.
KEY_EXIT = "EXITWITHKEY"
#: The key a simulated caller leaves a ringing Dial() with (EXITWITHKEY).
DIAL_EXIT_KEY = "5"
#: Q.850 cause 16, AST_CAUSE_NORMAL_CLEARING.
NORMAL_CLEARING = 16
#: Variables app_dial.c blanks when Dial() starts ("Reset all DIAL variables").
DIAL_VARIABLES = ("DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME", "ANSWEREDTIME",
                  "DIALEDTIME", "RINGTIME")


def _option_field(options: str, index: int, declared: int) -> str:
    """The ``index``-th argument of an application that declares
    ``declared`` of them, as Asterisk splits its options string."""
    fields = split(options, declared)
    return fields[index] if index < len(fields) else ""


_OPTION_ARGUMENT = re.compile(r"\([^()]*\)")


def _option_letters(options: str, index: int, declared: int) -> str:
    """The option letters of that argument, without the arguments of the
    options (the ``g`` of ``A(agiflow/whisper)`` is no ``g`` option)."""
    letters, previous = _option_field(options, index, declared), None
    while letters != previous:
        letters, previous = _OPTION_ARGUMENT.sub("", letters), letters
    return letters


def _queue(sim: SimulatedAsterisk, options: str) -> int:
    """Queue() as app_queue.c (Asterisk 22) leaves it.

    A caller who waited and left without an answer (timeout, leaveempty...)
    gets QUEUESTATUS and ABANDONED=TRUE (record_abandoned) and Queue returns
    0; one who hangs up while waiting gets ABANDONED=TRUE, no QUEUESTATUS,
    and -1; one who leaves with a key (EXITWITHKEY) nothing, and 0. When a member answered, QUEUESTATUS is left untouched and Queue
    returns -1 after the conversation ("we will always return with -1 so
    that it is hung up properly", try_calling), or 0 with CONTINUE when the
    ``c`` option is given and the member hung up first.
    """
    status = sim.scripted_outcome("queue") or "TIMEOUT"
    if status in QUEUE_JOIN_FAILURES:
        sim.vars.write("QUEUESTATUS", status)
        return 0
    sim.elapsed += sim.script.queue_wait
    if status == KEY_EXIT:
        return 0
    if status in (ANSWERED, "CONTINUE"):
        return _queue_answered(sim, "c" in _option_letters(options, 1, 9) or status == "CONTINUE")
    sim.vars.write("ABANDONED", "TRUE")
    if sim.caller_hangs_up_now():
        return -1
    sim.vars.write("QUEUESTATUS", status)
    return 0


def _queue_answered(sim: SimulatedAsterisk, go_on: bool) -> int:
    """A member answered: QEHOLDTIME/QEORIGINALPOS with setqueueentryvar,
    MEMBERNAME/MEMBERINTERFACE with setinterfacevar, then the conversation;
    whoever hangs up first ends it. A member who hangs up first leaves the
    caller's channel with HANGUPCAUSE 16."""
    if sim.script.queue_entry_vars:
        sim.vars.write("QEHOLDTIME", str(int(sim.script.queue_wait)))
        sim.vars.write("QEORIGINALPOS", "1")
    if sim.script.queue_member is not None:
        name, interface = sim.script.queue_member
        sim.vars.write("MEMBERNAME", name)
        sim.vars.write("MEMBERINTERFACE", interface)
    sim.elapsed += sim.script.talk_time
    if sim.caller_hangs_up_now():
        return -1
    sim.set_hangup_cause(NORMAL_CLEARING)  # the member hung up first (seen on Asterisk 22.11)
    if go_on:
        sim.vars.write("QUEUESTATUS", "CONTINUE")
        return 0
    return -1


def _dial(sim: SimulatedAsterisk, options: str) -> int:
    """Dial() as app_dial.c (Asterisk 22) leaves it: DIALSTATUS always.

    Unanswered statuses return 0; a caller hanging up while it rings is
    CANCEL and -1; one who leaves with a key (the d option; the script's
    EXITWITHKEY) is CANCEL too, on the line, and Dial() returns the key's
    code (DIAL_EXIT_KEY). An answer sets the caller's HANGUPCAUSE to 16; an
    answered call sets ANSWEREDTIME/DIALEDTIME when the bridge ends and returns -1 (ast_bridge_call), or 0 with the ``g``
    option when the called party hung up first.
    """
    for name in DIAL_VARIABLES:
        sim.vars.write(name, "")
    scripted = sim.scripted_outcome("dial")
    status = scripted or "ANSWER"
    if status == "CANCEL" or (sim.hangup_pending and scripted is None):
        if not sim.caller_hangs_up_now():
            sim.hang_up(by="caller")
        sim.vars.write("DIALSTATUS", "CANCEL")
        return -1
    if status == KEY_EXIT:
        sim.vars.write("DIALSTATUS", "CANCEL")
        return ord(DIAL_EXIT_KEY)
    sim.vars.write("DIALSTATUS", status)
    if status != "ANSWER":
        return 0
    sim.answered = True
    sim.set_hangup_cause(NORMAL_CLEARING)  # app_dial.c, on answer: "the eventual hangup is likely to be normal"
    tech, _, resource = _option_field(options, 0, 4).split("&")[0].partition("/")
    sim.vars.write("DIALEDPEERNAME", f"{tech}/{resource.split('/')[0]}-{len(sim.applications):08x}"
                   + (";1" if tech.lower() == "local" else ""))
    sim.vars.write("DIALEDPEERNUMBER", resource)
    sim.elapsed += sim.script.talk_time
    sim.vars.write("ANSWEREDTIME", str(int(sim.script.talk_time)))
    sim.vars.write("DIALEDTIME", str(int(sim.script.talk_time)))
    if sim.caller_hangs_up_now():
        return -1
    return 0 if "g" in _option_letters(options, 2, 4) else -1


def _voicemail(sim: SimulatedAsterisk, options: str) -> int:
    """VoiceMail() as app_voicemail.c leave_voicemail() ends: VMSTATUS
    SUCCESS, USEREXIT or FAILED. A caller who hangs up during the greeting
    gets FAILED and -1; with a scripted SUCCESS they hung up after leaving
    the message, which is kept."""
    scripted = sim.scripted_outcome("voicemail")
    if sim.hangup_pending and scripted != "SUCCESS":
        sim.caller_hangs_up_now()
        sim.vars.write("VMSTATUS", "FAILED")
        return -1
    sim.vars.write("VMSTATUS", scripted or "SUCCESS")
    return -1 if sim.caller_hangs_up_now() else 0


def _chanspy(sim: SimulatedAsterisk, options: str) -> int:
    """ChanSpy(prefix,options) with ``b``: spies on a bridged channel whose
    name starts with the prefix, for as long as the script's next session
    says; none to spy on returns at once (``S``). A session that ends with
    the spied-on call ending takes those channels away."""
    prefix = _option_field(options, 0, 2)
    spied = [name for name in sim.vars.others if name.startswith(prefix)]
    if not spied:
        return 0
    seconds, ending = sim.next_spy_session()
    sim.elapsed += seconds
    if ending == "hangup":
        sim.hang_up(by="caller")
        return -1
    if ending == "agent":
        for name in spied:
            del sim.vars.others[name]
    return 0


def _mixmonitor(sim: SimulatedAsterisk, options: str) -> int:
    """MixMonitor(file,options,command); without a file name it records
    nothing and returns -1 (app_mixmonitor.c)."""
    filename = (split(options, 3) or [""])[0]
    if not filename.strip():
        return -1
    sim.mixmonitor_files.append(filename)
    sim.mixmonitors_running += 1
    sim.vars.write("MIXMONITOR_FILENAME", filename)
    return 0


def _stopmixmonitor(sim: SimulatedAsterisk, options: str) -> int:
    """StopMixMonitor without an id stops one MixMonitor of the channel
    (app_mixmonitor.c: the first datastore it finds, the newest), not all of them.
    Its one argument, read whole (a space too), is the id of the recording
    to stop: the simulated recordings have none, so one given stops nothing.
    It answers 0 either way."""
    if not options:
        sim.mixmonitors_running = max(0, sim.mixmonitors_running - 1)
    return 0


def _hangup(sim: SimulatedAsterisk, options: str) -> int:
    """Hangup([cause]) as pbx_builtins.c: the cause given, else the
    channel's own, else 16."""
    given = options.strip()
    cause = int(given) if given.isdigit() and 0 < int(given) <= 127 else 0
    sim.set_hangup_cause(cause or int(sim.vars.builtins["HANGUPCAUSE"]) or NORMAL_CLEARING)
    sim.hang_up(by="dialplan")
    return -1


def _nothing(sim: SimulatedAsterisk, options: str) -> int:
    return 0


APPLICATIONS: dict[str, App] = {
    "set": _set, "mset": _mset, "answer": _answer, "playback": _playback,
    "queue": _queue, "dial": _dial, "voicemail": _voicemail, "mixmonitor": _mixmonitor,
    "stopmixmonitor": _stopmixmonitor, "hangup": _hangup, "wait": _nothing, "chanspy": _chanspy,
    **{name: _nothing for name in SET_LIKE_APPLICATIONS | OTHER_APPLICATIONS
       if name not in ("set", "mset", "stopmixmonitor")},
}


#: Applications that watch the caller hang up themselves: a hangup after
#: an answer is reported differently from one while waiting.
WATCH_HANGUP = frozenset({"queue", "dial", "voicemail", "chanspy"})


def _queue_on_dead_channel(sim: SimulatedAsterisk, options: str) -> int:
    """app_queue.c on a channel already hung up: the caller joins, the wait
    sees the hangup at once and the abandon is recorded (ABANDONED=TRUE,
    no QUEUESTATUS, -1), as for a caller who hangs up while waiting."""
    sim.vars.write("ABANDONED", "TRUE")
    return -1


def _dial_on_dead_channel(sim: SimulatedAsterisk, options: str) -> int:
    """app_dial.c on a channel already hung up: the DIAL variables blanked,
    then "Caller hung up before dial": DIALSTATUS=CANCEL, -1, no one called."""
    for name in DIAL_VARIABLES:
        sim.vars.write(name, "")
    sim.vars.write("DIALSTATUS", "CANCEL")
    return -1


#: What the applications that look at the hangup themselves do when EXEC
#: runs them on a dead channel; any other answers -1 and sets nothing.
DEAD_CHANNEL: dict[str, App] = {"queue": _queue_on_dead_channel, "dial": _dial_on_dead_channel}


def run_application(sim: SimulatedAsterisk, name: str, options: str) -> int:
    """EXEC ``name`` with its single options string; the app's result."""
    key = name.lower()
    app = APPLICATIONS.get(key)
    forced = sim.script.app_results.get(key)
    if forced == -2 or (app is None and forced is None):
        return -2  # no such application (a module not loaded, or one the simulator has no model of)
    sim.applications.append((name, options))
    if key not in SET_LIKE_APPLICATIONS:
        if sim.dead or sim.hung_up:
            return DEAD_CHANNEL[key](sim, options) if key in DEAD_CHANNEL and forced is None else -1
        if forced is None and key not in WATCH_HANGUP and sim.caller_hangs_up_now():
            return -1
    if forced is not None or app is None:
        return forced if forced is not None else -2
    return app(sim, options)
