"""A pure model of Asterisk 22's side of one FastAGI session.

``SimulatedAsterisk.handle(line)`` returns the exact lines res_agi.c writes
in answer to one command line, as the transcripts in
``shared/asterisk-transcripts`` show them: no sockets, no reactor, no time.

Choices where the wire leaves room (documented, tested):

- The out-of-band ``HANGUP`` line. Real Asterisk writes it as soon as its
  loop notices the hangup, right after the failing reply; servers usually
  see it before the reply to their next command. ``hangup_notice`` picks
  where the model puts it: ``"transcript"`` (default: before the next reply
  after a caller hangup, right after the reply to a server HANGUP or the
  Hangup application, as the transcripts have it), ``"after_reply"``
  (always right after) or ``"before_next_reply"`` (always deferred, as
  basic.agi shows it after a server HANGUP).
- After the hangup is noticed the channel is dead: only NOOP, GET
  VARIABLE, GET FULL VARIABLE, SET VARIABLE, EXEC, VERBOSE, DATABASE *
  (and ASYNCAGI BREAK) answer; the rest get 511. EXEC then runs only the
  Set-like applications (see ``agi.sim.apps``); others answer -1.
- AGISIGHUP=no (initial variable) suppresses the HANGUP line;
  AGIEXITONHANGUP=yes ends the session once the hangup is noticed.
- A line starting with ``failure`` ends the session (AGISTATUS=FAILURE).
- A line longer than ``max_line`` bytes (newline included) is cut and its
  tail runs as a further command; a NUL ends the C string early, so Asterisk
  keeps reading and joins the next line to it.
- ``handle(line, interrupted=True)`` says a further command arrived while
  this one ran: STREAM FILE, GET OPTION, GET DATA, SAY * and CONTROL STREAM
  FILE then stop and send no reply (res_agi.c: "there is a new command").
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from agi.sim.commands import COMMANDS, atoi, scan_int
from agi.sim.parse_args import parse_args
from agi.sim.script import (
    DEFAULT_SOUNDS,
    CallerScript,
    DtmfEntry,
    EverySound,
    environment_lines,
    make_environment,
    normalise_environment,
)
from agi.sim.variables import ChannelVariables

__all__ = [
    "DEFAULT_SOUNDS", "CallerScript", "DtmfEntry", "EverySound",
    "SimulatedAsterisk", "make_environment",
]

HangupNotice = Literal["transcript", "after_reply", "before_next_reply"]
Handler = Callable[["SimulatedAsterisk", list[str]], "list[str] | None"]

USAGE_NOT_AVAILABLE = "520 Invalid command syntax.  Proper usage not available."
UNKNOWN = "510 Invalid or unknown command"
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"
#: The usage texts Asterisk 22 prints (basic.agi); other commands print none.
USAGE_TEXT: dict[tuple[str, ...], list[str]] = {
    ("get", "data"): [
        "Stream the given <replaceable>file</replaceable>, and receive DTMF data.",
        "Returns the digits received from the channel at the other end.",
    ],
    ("set", "variable"): ["Sets a variable to the current channel."],
}
INTERRUPTIBLE = {("stream", "file"), ("get", "option"), ("get", "data"),
                 ("control", "stream", "file")}


class SimulatedAsterisk:
    """Asterisk's half of one AGI session, driven one command line at a time."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        script: CallerScript | None = None,
        *,
        variables: Mapping[str, str] | None = None,
        database: dict[str, str] | None = None,
        answered: bool = False,
        max_line: int = 8191,
        hangup_notice: HangupNotice = "transcript",
    ) -> None:
        self.environment = normalise_environment(env if env is not None else make_environment())
        self.script = script or CallerScript()
        self.database = database if database is not None else {}
        self.vars = ChannelVariables(self.environment, variables or {}, self.database)
        #: Other channels of this Asterisk and their variables: the calls of
        #: the interfaces ``script.on_call`` names, each bridged.
        self.vars.others = {f"{_channel_prefix(interface)}{n:08x}" + (";1" if interface.startswith("Local/") else ""):
                            {"BRIDGEPEER": f"PJSIP/trunk-{n:08x}"}
                            for n, interface in enumerate(self.script.on_call, start=1)}
        self.answered = answered
        self.max_line = max_line
        self.hangup_notice = hangup_notice
        initial = {k.upper(): v.strip().lower() for k, v in (variables or {}).items()}
        self.sighup = initial.get("AGISIGHUP") not in ("no", "false", "off", "0", "n", "f")
        self.exit_on_hangup = initial.get("AGIEXITONHANGUP") in ("yes", "true", "on", "1", "y", "t")
        self.hung_up = False
        self.hung_up_by: str | None = None
        self.dead = False
        self.ended = False
        self.failed = False
        self.commands_received = 0
        self.log: list[tuple[str, list[str]]] = []
        self.played: list[str] = []
        self.recordings: list[str] = []
        self.mixmonitor_files: list[str] = []
        #: MixMonitors started and not stopped on the channel.
        self.mixmonitors_running = 0
        self.applications: list[tuple[str, str]] = []
        #: Seconds the call spent in applications that take time (Queue,
        #: Dial): a simulated clock adds them to the call's start.
        self.elapsed = 0.0
        self._goto: dict[str, str] = {}
        self._cursor = {"dtmf": 0, "queue": 0, "dial": 0, "voicemail": 0, "spy": 0}
        self._notice_pending = False
        self._notice_now = False
        self._hangup_now = False
        self._partial: str | None = None
        if self.script.hangup_during == 0:
            self.hang_up(by="caller")

    # -- what tests look at -------------------------------------------------
    @property
    def variables(self) -> dict[str, str]:
        """The channel variables set so far (initial ones included)."""
        return self.vars.values

    @property
    def mixmonitor_active(self) -> bool:
        """Whether a MixMonitor still records the channel."""
        return self.mixmonitors_running > 0

    @property
    def continue_at(self) -> tuple[str, str, int | str] | None:
        """Where the dialplan goes on after the AGI, if SET CONTEXT /
        EXTENSION / PRIORITY moved it: without SET PRIORITY it is the next
        priority after the current one."""
        if not self._goto:
            return None
        b = self.vars.builtins
        priority: int | str = self._goto.get("priority") or atoi(b["PRIORITY"]) + 1
        if isinstance(priority, str) and scan_int(priority) is not None:
            priority = atoi(priority)
        return self._goto.get("context", b["CONTEXT"]), self._goto.get("exten", b["EXTEN"]), priority

    @property
    def agistatus(self) -> str:
        """AGISTATUS as the dialplan would see it after this session."""
        if self.failed:
            return "FAILURE"
        return "HANGUP" if self.hung_up else "SUCCESS"

    def env_lines(self, script: str | None = None) -> list[str]:
        """The environment block, empty terminating line included."""
        return environment_lines(self.environment, script)

    # -- the session loop ---------------------------------------------------
    def handle(self, line: str, *, interrupted: bool = False) -> list[str]:
        """The lines Asterisk writes after receiving ``line`` (no newline)."""
        if self.ended:
            self.log.append((line, []))
            return []
        self.commands_received += 1
        out: list[str] = []
        if self._notice_pending:
            out += self._notice()
        if not self.ended:
            out += self._receive(line, interrupted)
        self.log.append((line, out))
        return out

    def _receive(self, line: str, interrupted: bool) -> list[str]:
        text = line if self._partial is None else self._partial + line
        self._partial = None
        if "\x00" in text:
            self._partial = text.split("\x00", 1)[0]
            return []
        raw = text.encode("utf-8", "surrogateescape") + b"\n"
        chunks = [raw[i:i + self.max_line] for i in range(0, len(raw), self.max_line)]
        self._hangup_now = self.script.hangup_during == self.commands_received
        out: list[str] = []
        for chunk in chunks:
            command = chunk.decode("utf-8", "surrogateescape").removesuffix("\n")
            if command[:7].lower() == "failure":
                self.failed = True
                return out + self._end()
            out += self._run(command, interrupted)
            if self._hangup_now:
                self.caller_hangs_up_now()
            if self._notice_pending and self._notice_now:
                out += self._notice()
            if self.ended:
                break
        return out

    def _run(self, command: str, interrupted: bool) -> list[str]:
        argv = parse_args(command)
        found = _find_command(argv)
        if found is None:
            return [UNKNOWN]
        words, handler, dead_ok = found
        if self.dead and not dead_ok:
            return [DEAD]
        reply = handler(self, argv)
        if reply is None:
            usage = USAGE_TEXT.get(words)
            if usage is None:
                return [USAGE_NOT_AVAILABLE]
            return ["520-Invalid command syntax.  Proper usage follows:", *usage,
                    "520 End of proper usage."]
        if interrupted and (words in INTERRUPTIBLE or words[0] == "say"):
            if reply[0].startswith("200") and not reply[0].startswith("200 result=-1"):
                return []
        return reply

    def _notice(self) -> list[str]:
        self._notice_pending = False
        self.dead = True
        lines = ["HANGUP"] if self.sighup else []
        if self.exit_on_hangup:
            lines += self._end()
        return lines

    def _end(self) -> list[str]:
        """run_agi leaves its loop: it writes HANGUP once more and closes."""
        self.ended = True
        return ["HANGUP"] if self.sighup else []

    # -- used by commands and applications -----------------------------------
    def hang_up(self, *, by: str) -> None:
        """The channel hangs up: ``by`` is caller, agi or dialplan. The
        caller's hangup gives the channel the script's ``hangup_cause``."""
        if self.hung_up:
            return
        self.hung_up, self.hung_up_by = True, by
        if by == "caller":
            self.set_hangup_cause(self.script.hangup_cause)
        self._notice_pending = True
        mode = self.hangup_notice
        self._notice_now = mode == "after_reply" or (mode == "transcript" and by != "caller")

    def set_hangup_cause(self, cause: int) -> None:
        """The channel's HANGUPCAUSE (ast_channel_hangupcause_set)."""
        self.vars.builtins["HANGUPCAUSE"] = str(cause)

    @property
    def hangup_pending(self) -> bool:
        """True when the caller hangs up during the command running now."""
        return self._hangup_now

    def caller_hangs_up_now(self) -> bool:
        """True (once) when the caller hangs up during this command."""
        if not self._hangup_now:
            return False
        self._hangup_now = False
        self.hang_up(by="caller")
        return True

    def next_spy_session(self) -> tuple[float, str]:
        """How the next ChanSpy run ends: (seconds, key | agent | hangup)."""
        index = self._cursor["spy"]
        self._cursor["spy"] += 1
        sessions = self.script.spy_sessions
        return sessions[index] if index < len(sessions) else (0.0, "agent")

    def scripted_outcome(self, kind: str) -> str | None:
        """The next status the script gives for ``queue``, ``dial`` or
        ``voicemail`` runs; None once the script's list is used up."""
        seq = {"queue": self.script.queue_statuses, "dial": self.script.dial_statuses,
               "voicemail": self.script.vm_statuses}[kind]
        index = self._cursor[kind]
        self._cursor[kind] += 1
        return seq[index] if index < len(seq) else None

    def next_outcome(self, kind: str, default: str) -> str:
        """The next QUEUESTATUS / DIALSTATUS / VMSTATUS, else ``default``."""
        return self.scripted_outcome(kind) or default

    def next_dtmf(self) -> DtmfEntry:
        """The caller's keys for the next input command."""
        index = self._cursor["dtmf"]
        self._cursor["dtmf"] += 1
        entries = self.script.dtmf
        entry = entries[index] if index < len(entries) else None
        return entry if isinstance(entry, DtmfEntry) else DtmfEntry(entry or None)

    def sound_length(self, name: str) -> int | None:
        """The sound's length, or None for a file Asterisk cannot open (no
        file has an empty name: STREAM FILE "" fails, checked on 22.11)."""
        sounds = self.script.sounds
        return sounds[name] if name and name in sounds else None

    def listen_for(self, escape: str) -> tuple[str | None, DtmfEntry]:
        """Consume one entry; the first of its keys among ``escape``."""
        entry = self.next_dtmf()
        key = next((k for k in entry.keys or "" if k in escape), None)
        return key, entry


def _channel_prefix(interface: str) -> str:
    """What the names of an interface's channels start with: ``PJSIP/201-``,
    ``Local/agent@agents-`` (a Local channel's options such as ``/n`` are
    not in its name)."""
    if interface.startswith("Local/"):
        interface = "/".join(interface.split("/")[:2])
    return interface + "-"


def _find_command(argv: list[str]) -> tuple[tuple[str, ...], Handler, bool] | None:
    """res_agi.c find_command: the command's words, case-insensitively, are
    the first words of the line."""
    lowered = [w.lower() for w in argv]
    for words, handler, dead_ok in COMMANDS:
        if tuple(lowered[:len(words)]) == words:
            return words, handler, dead_ok
    return None
