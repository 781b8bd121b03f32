"""The per-call compliance guard the channel applies to every command it
sends (see docs/compliance.md):

- once a do-not-call check of the call says ``listed`` or ``error`` (or
  never finished), no command that can place a call goes out for the rest
  of the call;
- a recording command goes out only while the call's last consent decision
  allows recording;
- code agiflow cannot see (Gosub, AGI, System...) goes out neither after a
  do-not-call hit nor after the caller's consent was refused.

The same tables tell the validator which ``exec`` applications place a
call or record (``app_kinds``). Asterisk finds applications and AGI
commands whatever their case, so names are compared in lower case. Pure:
no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable
from urllib.parse import unquote

from agi.exec_family import MAX_NESTING, RUNS_NAMED_APP, named_apps
from agi.protocol import appargs
from agi.protocol.appoptions import option_flags
from agi.protocol.wire import REMEMBERED_LENGTH
from agi.variable_writes import names_written, read_as

#: What running an application can do.
DIALS = "dials"
RECORDS = "records"
HIDDEN = "hidden"

#: Applications that place a call (Queue rings its members, Transfer makes
#: the caller's device or trunk call the destination, AddQueueMember adds an
#: interface the queue rings for every caller who waits in it).
DIALLING_APPS = frozenset({
    "dial", "retrydial", "originate", "page", "queue", "followme", "disa", "parkandannounce",
    "slastation", "slatrunk", "transfer", "addqueuemember",
})
#: Applications that record the call's audio to a file.
RECORDING_APPS = frozenset({"mixmonitor", "monitor", "record", "dictate"})
#: Applications whose recording option letters enable one-touch recording.
_ONE_TOUCH_APPS = frozenset({"dial", "retrydial", "queue"})
#: Applications and the option letters that record: ChanSpy's and
#: ExtenSpy's ``r`` the call listened to, Page's the page, MeetMe's the
#: conference; Dial's (RetryDial's) and Queue's ``x``, ``X``, ``w`` and ``W``
#: let the called or the calling party start recording the call with a key
#: (features.conf's one-touch recording).
_RECORDING_LETTERS = {"chanspy": "r", "extenspy": "r", "page": "r", "meetme": "r",
                      "dial": "xXwW", "retrydial": "xXwW", "queue": "xXwW"}
#: Applications that run other applications, dialplan or programs agiflow
#: cannot see: they may place a call and may record.
HIDDEN_CODE_APPS = frozenset({
    "exec", "execif", "execiftime", "tryexec", "gosub", "gosubif", "macro", "macroif", "macroexclusive",
    "agi", "eagi", "deadagi", "system", "trysystem", "stasis", "audiosocket", "blindtransfer",
    "attendedtransfer", "channelredirect", "originate",  # Originate runs an application or extension
    "externalivr",  # runs a program, as System does
    "disa",  # runs the dialplan of its context on what the caller keys
    "jack",  # hands the call's audio to outside programs, as AudioSocket does
    "stasisbroadcast",  # hands the call to an ARI application, as Stasis does
    "waitforcondition",  # evaluates its expression: a function such as SHELL() runs a program
})
#: Applications whose options can run a subroutine, macro or dialplan
#: location on a channel: ``b()``, ``B()``, ``F()``, ``G()``, ``M()``, ``U()``
#: (Bridge's ``F()`` sends the other party to dialplan).
CODE_OPTION_APPS = frozenset({"dial", "retrydial", "queue", "followme", "page", "bridge"})
_CODE_OPTION = re.compile(r"[bBFGMU]\(")
#: Applications, the argument (0-based) holding their option letters and
#: how many arguments they declare (the last one declared is read
#: unparsed: its quotes and backslashes reach the option parser).
_OPTIONS_ARGUMENT = {"dial": (2, 4), "queue": (1, 9), "page": (1, 3), "meetme": (1, 3), "chanspy": (1, 2),
                     "extenspy": (1, 2), "followme": (1, 2), "bridge": (1, 2)}
#: RetryDial declares four arguments and hands its last, unparsed, to Dial.
_RETRYDIAL_DIAL_ARGUMENT = (3, 4)
#: Option letters that run dialplan on a channel with no brackets, as
#: Asterisk reads the letters (``(F)`` is ``F``, and so is ``ƒ``, whose
#: first byte 0xC6 is read as ``F``): ``F`` alone sends the called party
#: (Bridge's: the bridged party) on in this extension's dialplan once the
#: caller hangs up, Dial's ``e`` runs the ``h`` extension on it.
_BARE_CODE_LETTERS = {"dial": "Fe", "queue": "F", "bridge": "F"}
#: Channel technologies that run code agiflow cannot see: ``Local/`` runs
#: dialplan; the others hand the call's audio to an outside program or
#: address, as the AudioSocket application does (chan_audiosocket,
#: chan_rtp's ``UnicastRTP/`` and ``MulticastRTP/``, chan_websocket).
HIDDEN_CHANNELS = ("local/", "audiosocket/", "unicastrtp/", "multicastrtp/", "websocket/")
#: Applications and the argument (0-based) that names the channels they
#: call: a channel of HIDDEN_CHANNELS among them runs code agiflow cannot
#: see, and a phone number
#: in it must be one a do-not-call check of the call covered
#: (ParkAndAnnounce dials its fourth to announce the parked call;
#: AddQueueMember's second is the interface the queue will ring).
_DESTINATION_ARGUMENT = {"dial": 0, "retrydial": 3, "page": 0, "originate": 0, "transfer": 0,
                         "parkandannounce": 3, "addqueuemember": 1}
#: A phone number in a destination: a run of 7 digits or more, which may be
#: written with visual separators (``600-333-444``, ``(600) 333.444``): a
#: trunk or carrier that drops them calls the number; a ``+`` before it
#: makes it international.
_DIGIT_RUN = re.compile(r"(\+[-. ()]*)?(\d(?:[-. ()]*\d)*)")
_MIN_NUMBER_DIGITS = 7
#: A run that is an IPv4 address (a host, not a number) when it stands
#: where a host does, after ``@``: parts of up to 255.
_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")
_NOT_A_DIGIT = re.compile(r"\D")
#: Originate's type argument and, for type ``exten``, the extension its new
#: channel runs once answered (0-based).
_ORIGINATE_TYPE, _ORIGINATE_EXTENSION = 1, 3
#: Queue()'s AGI and gosub arguments (0-based), run on the member's channel.
_QUEUE_CODE_ARGUMENTS = (5, 6)
#: MixMonitor's command argument (0-based), run as System runs it.
_MIXMONITOR_COMMAND = 2
#: The AGI command that records.
RECORD_FILE = "RECORD FILE"

#: Do-not-call results that block call-placing commands for the rest of the call.
BLOCKING_RESULTS = ("listed", "error")
#: A check under way; it blocks until it says clear.
UNFINISHED = "unfinished"
#: A check that began and never gave a result (its number template failed):
#: it blocks for good, whatever a later check says.
NEVER_FINISHED = "never finished"
#: Why a command was refused (the CDR's ``refused_commands``).
DO_NOT_CALL = "do-not-call"
NO_CONSENT = "no consent"


def app_kinds(app: str, argument: str = "", _depth: int = 0) -> frozenset[str]:
    """What running ``app`` with ``argument`` can do: DIALS, RECORDS, HIDDEN."""
    name = app.strip().lower()
    kinds: set[str] = set()
    if name in RUNS_NAMED_APP:
        if _depth >= MAX_NESTING:  # nested past reading: anything (fail closed)
            return frozenset({DIALS, RECORDS, HIDDEN})
        for inner, inner_argument in named_apps(name, argument):
            kinds |= app_kinds(inner, inner_argument, _depth + 1)
    originated = _originated(argument) if name == "originate" else None
    if originated is not None:  # the new channel runs it: ChanSpy(<this call>,qr) records this call
        if _depth >= MAX_NESTING:
            return frozenset({DIALS, RECORDS, HIDDEN})
        kinds |= app_kinds(*originated, _depth + 1) & {RECORDS}
    if name in DIALLING_APPS:
        kinds.add(DIALS)
    if name in RECORDING_APPS or (name in _RECORDING_LETTERS and _records_by_option(name, argument)):
        kinds.add(RECORDS)
    if name in HIDDEN_CODE_APPS or ((name in CODE_OPTION_APPS or name in _DESTINATION_ARGUMENT
                                     or name == "mixmonitor") and _runs_code(name, argument)):
        kinds.add(HIDDEN)
    return frozenset(kinds)


def _originated(argument: str) -> tuple[str, str] | None:
    """The application (name, argument) an Originate of type ``app`` has
    its new channel run (``Originate(PJSIP/201,app,ChanSpy,<channel>\\,qr)``),
    or None for one of type ``exten``."""
    fields = appargs.split(argument)
    if len(fields) < 3 or _originate_type(fields) != "app":
        return None
    return fields[2], fields[3] if len(fields) > 3 else ""


def _originate_type(fields: list[str]) -> str:
    """An Originate's type (``app`` or ``exten``) from its arguments."""
    return fields[_ORIGINATE_TYPE].strip().lower() if len(fields) > _ORIGINATE_TYPE else ""


def _called(name: str, argument: str, position: int) -> list[str]:
    """What command ``name`` calls: its destination argument, and the
    extension an Originate of type ``exten`` sends its new channel to."""
    fields = appargs.split(argument)
    called = fields[position:position + 1]
    if name == "originate" and _originate_type(fields) == "exten" and len(fields) > _ORIGINATE_EXTENSION:
        called.append(fields[_ORIGINATE_EXTENSION])
    return called


def _runs_code(name: str, argument: str) -> bool:
    """Whether ``name``'s options in ``argument`` run code on a channel;
    remembered for an argument of at most REMEMBERED_LENGTH characters (a
    flow sends the same few arguments call after call; a long one, with a
    caller's text in it, once stayed in memory, 1,024 of them)."""
    if len(argument) <= REMEMBERED_LENGTH:
        return _runs_code_remembered(name, argument)
    return _reads_runs_code(name, argument)


def _reads_runs_code(name: str, argument: str) -> bool:
    fields = appargs.split(argument)  # what the application reads: escapes and quotes removed
    if name in CODE_OPTION_APPS and any(_CODE_OPTION.search(field) for field in fields):
        return True
    letters = _BARE_CODE_LETTERS.get("dial" if name == "retrydial" else name)
    if letters is not None and any(letter in letters for letter in option_letters(name, argument)):
        return True
    destination = _DESTINATION_ARGUMENT.get(name)
    if destination is not None and len(fields) > destination and \
            any(tech in fields[destination].lower() for tech in HIDDEN_CHANNELS):
        return True
    if name == "mixmonitor":  # its third argument is a command run once the recording ends
        return len(fields) > _MIXMONITOR_COMMAND and bool(fields[_MIXMONITOR_COMMAND].strip())
    return name == "queue" and any(len(fields) > i and fields[i].strip() for i in _QUEUE_CODE_ARGUMENTS)


_runs_code_remembered = lru_cache(maxsize=1024)(_reads_runs_code)


def _records_by_option(name: str, argument: str) -> bool:
    """Whether the option letters hold one that records (``r``, Dial's
    ``x``...) as Asterisk reads them: not in the brackets of another option
    (``g(ring)`` is a group, not ``r``), but ``(r)`` is the options ``(``,
    ``r`` and ``)``, and a character outside ASCII is read as the letters
    of its bytes."""
    return any(letter in _RECORDING_LETTERS[name] for letter in option_letters(name, argument))


def option_letters(name: str, argument: str) -> dict[str, str]:
    """The option letters (with their arguments) application ``name``
    reads from ``argument``, as Asterisk splits it and parses its options
    (agi/protocol/appoptions.py); none for an application not known here."""
    if name == "retrydial":
        place, declared = _RETRYDIAL_DIAL_ARGUMENT
        fields = appargs.split(argument, declared)
        return option_letters("dial", fields[place]) if len(fields) > place else {}
    if name not in _OPTIONS_ARGUMENT:
        return {}
    place, declared = _OPTIONS_ARGUMENT[name]
    fields = appargs.split(argument, declared)
    return option_flags(fields[place]) if len(fields) > place else {}


#: What a do-not-call result blocks.
_CAN_CALL = frozenset({DIALS, HIDDEN})
#: Each verb as the CDR names it, made once: commands use a handful of verbs.
_VERB_NAMES: dict[str, str] = {}


def command_kinds(verb: str, args: tuple[object, ...]) -> tuple[str, frozenset[str]]:
    """The name a command is known by in the CDR (the application, or the
    AGI command) and what it can do."""
    name = _VERB_NAMES.get(verb) or _VERB_NAMES.setdefault(verb, " ".join(verb.split()).upper())
    if name == "EXEC":
        app = str(args[0]) if args else ""
        return app, app_kinds(app, str(args[1]) if len(args) > 1 else "")
    if name == RECORD_FILE:
        return RECORD_FILE, frozenset({RECORDS})
    return name, frozenset()


@dataclass(frozen=True)
class Refusal:
    """A command the guard did not let out, and why."""

    command: str
    reason: str
    message: str

    def cdr_text(self) -> str:
        return f"{self.command} ({self.reason})"


class CallGuard:
    """The compliance state of one call: the do-not-call result, the
    consent decision, the recording commands sent and the commands refused."""

    def __init__(self) -> None:
        self.blocked_by: str | None = None
        #: Each number a check of the call let through, in E.164 (one that
        #: is no phone number covers none); None until a check does
        #: (destinations are compared only from then on).
        self.checked: list[str] | None = None
        #: How a number in a destination is read to E.164, as the lists read
        #: numbers (ValueError for one that is no phone number).
        self.read: Callable[[str], str] = _e164_as_written
        self.consent: bool | None = None
        self.recording_commands = 0
        #: The files of the MixMonitors sent and not stopped, whichever step
        #: sent them, so that a withdrawn consent stops every one
        #: (StopMixMonitor without an id stops one MixMonitor of the channel)
        #: and a consent given again starts one when none runs. Each
        #: StopMixMonitor without an id sent, whichever step sent it, takes
        #: the newest off (Asterisk stops the channel's newest MixMonitor).
        self.mixmonitor_files: list[str] = []
        #: The file of every MixMonitor sent in the call, stopped or not.
        self.mixmonitor_sent: list[str] = []
        #: The commands sent with one-touch recording (Dial's or Queue's x,
        #: X, w, W): a party may have started a MixMonitor of the call with
        #: a key, which goes on after the bridge, so a withdrawn consent
        #: sends a StopMixMonitor for each too. None of them counts as a
        #: recording a consent given again keeps.
        self.one_touch: list[str] = []
        #: How many MixMonitors the last command sent may have started.
        self._started_last = 0
        self.refused: list[Refusal] = []
        #: The result each do-not-call check's variable was last set to,
        #: by name: a later hit sets every one to the blocking result.
        self.result_variables: dict[str, str] = {}

    def check_started(self) -> None:
        """A do-not-call check begins: nothing may dial until it says clear.
        An earlier check that began and gave no result keeps blocking."""
        if self.blocked_by is None:
            self.blocked_by = UNFINISHED
        elif self.blocked_by == UNFINISHED:
            self.blocked_by = NEVER_FINISHED

    def check_result(self, result: str, number: str = "", read: Callable[[str], str] | None = None) -> None:
        """The result of a check of ``number``; ``listed`` and ``error``
        block for good. From the first check that lets a call through, a
        command may call a phone number only if a check covered it: the
        number checked however ``read`` (the lists' reading of numbers, in
        the default region) reads it (``612345678``, ``0034612345678``,
        ``+34612345678``), never another number that merely ends like it.
        A number ``read`` refuses covers none."""
        if result in BLOCKING_RESULTS and self.blocked_by in (None, UNFINISHED, NEVER_FINISHED):
            self.blocked_by = result
        elif self.blocked_by == UNFINISHED:
            self.blocked_by = None
        if result not in BLOCKING_RESULTS:
            self.read = read or self.read
            self.checked = self.checked or []
            try:
                self.checked.append(self.read(number))
            except ValueError:  # let through unchecked, it covers none: 600111222# calls 600111222
                pass

    def set_consent(self, allows_recording: bool) -> None:
        """The call's latest consent decision (a later one replaces it)."""
        self.consent = allows_recording

    def admit(self, verb: str, args: tuple[object, ...]) -> Refusal | None:
        """The refusal of a command about to be sent, or None (then a
        recording command is counted as sent)."""
        name, kinds = command_kinds(verb, args)
        refusal = self._refusal(name, kinds)
        if refusal is None and DIALS in kinds and self.checked is not None:
            refusal = self._unchecked_number(name, str(args[1]) if len(args) > 1 else "")
        if refusal is None and self.blocked_by is not None and self.result_variables:
            refusal = self._result_overwritten(name, args)
        self._started_last = 0
        if refusal is not None:
            self.refused.append(refusal)
        elif RECORDS in kinds:
            self.recording_commands += 1
            started = [(appargs.split(argument) or [""])[0]
                       for app, argument in _runs(name, _argument(args)) if app == "mixmonitor"]
            self.mixmonitor_files += started
            self.mixmonitor_sent += started
            self._started_last = len(started)
            self.one_touch += [name for app, argument in _runs(name, _argument(args))
                               if app in _ONE_TOUCH_APPS and _records_by_option(app, argument)]
        else:
            for app, argument in _runs(name, _argument(args), surely=True):
                # without an id it stops the newest; with one, maybe none. Its one
                # argument is read whole: a space is an id (of no recording), not none
                if self.mixmonitor_files and app == "stopmixmonitor" and not argument:
                    self.mixmonitor_files.pop()
        return refusal

    def app_ended(self, app: str, result: int | None) -> None:
        """An application that was sent has answered ``result``: a
        MixMonitor that failed (-1, or -2: Asterisk has no such application)
        records nothing, so it is no recording a withdrawn consent must stop
        or a consent given again must keep; nor does an Exec, ExecIf or
        ExecIfTime of one, which answer what the application they ran
        answered. An answer that is no number proves nothing: the recording
        is still taken as running."""
        if result is not None and result < 0 and app.strip().lower() != "tryexec":
            for _ in range(min(self._started_last, len(self.mixmonitor_files))):
                self.mixmonitor_files.pop()
        self._started_last = 0

    def _refusal(self, name: str, kinds: frozenset[str]) -> Refusal | None:
        if not kinds:
            return None  # most commands can neither call, record nor run hidden code
        if kinds & _CAN_CALL and self.blocked_by is not None:
            said = "did not finish" if self.blocked_by in (UNFINISHED, NEVER_FINISHED) else f"said {self.blocked_by}"
            return Refusal(name, DO_NOT_CALL, f"{name} refused: a do-not-call check of this call {said}; "
                                              f"nothing that can place a call is sent for the rest of the call")
        if RECORDS in kinds and self.consent is not True:
            why = "no consent step has run" if self.consent is None else "the caller did not consent"
            return Refusal(name, NO_CONSENT, f"{name} refused: recording needs consent and {why}")
        if HIDDEN in kinds and self.consent is False:
            return Refusal(name, NO_CONSENT, f"{name} refused: it runs code agiflow cannot see, which may "
                                             f"record, and the caller did not consent to recording")
        return None

    def _unchecked_number(self, name: str, argument: str, depth: int = 0) -> Refusal | None:
        """The refusal of a command that would call a phone number no check
        of the call covered (``_covered``). What an Exec and its kin run,
        the application an Originate of type ``app`` gives its new channel,
        and the extension an Originate of type ``exten`` sends it to (the
        number a click-to-call rings once the agent answers) are compared
        too."""
        lower = name.strip().lower()
        if lower in RUNS_NAMED_APP:  # Exec(Dial(...)) calls what its Dial would
            if depth >= MAX_NESTING:
                return Refusal(name, DO_NOT_CALL, f"{name} refused: applications nested more than "
                                                  f"{MAX_NESTING} deep cannot be checked")
            for inner, inner_argument in named_apps(lower, argument):
                refusal = self._unchecked_number(inner, inner_argument, depth + 1)
                if refusal is not None:
                    return Refusal(name, DO_NOT_CALL, f"{name} refused: {refusal.message}")
            return None
        position = _DESTINATION_ARGUMENT.get(lower)
        if position is None:
            return None
        originated = self._originated_app(argument, depth) if lower == "originate" else None
        if originated is not None:
            return Refusal(name, DO_NOT_CALL, f"{name} refused: {originated.message}")
        for destination in _called(lower, argument, position):
            if "${" in destination or "$[" in destination:  # AGIEXECFULL=yes: Asterisk builds it
                return Refusal(name, DO_NOT_CALL, f"{name} refused: Asterisk builds what it calls from ${{...}} "
                                                  f"or $[...], which no do-not-call check of this call can cover")
            for number, international in _phone_numbers(destination):
                if not self._covered(number, international):
                    return Refusal(name, DO_NOT_CALL, f"{name} refused: it calls {number}, which no do-not-call "
                                                      f"check of this call covered; dial the number you checked")
        return None

    def _covered(self, digits: str, international: bool) -> bool:
        """Whether a check of the call covered the number ``digits`` (after
        a ``+`` when ``international``): read as the lists read numbers,
        it is one the checks let through."""
        try:
            return self.read(("+" if international else "") + digits) in (self.checked or ())
        except ValueError:  # no phone number: not one a check covered
            return False

    def _originated_app(self, argument: str, depth: int) -> Refusal | None:
        """The refusal of what an Originate of type ``app`` has its new
        channel run (``Originate(PJSIP/201,app,Dial,PJSIP/600111222@trunk)``
        dials the number once the agent answers), as an Exec of it."""
        originated = _originated(argument)
        if originated is None:
            return None
        if depth >= MAX_NESTING:
            return Refusal("Originate", DO_NOT_CALL, f"applications nested more than {MAX_NESTING} deep "
                                                     f"cannot be checked")
        return self._unchecked_number(*originated, depth + 1)

    def _result_overwritten(self, name: str, args: tuple[object, ...]) -> Refusal | None:
        """The refusal of a command that would set a do-not-call check's
        variable to anything but the result the checks left, while a check
        blocks the call: the dialplan dials on it. A check's own write of
        its result passes; a name a template built is judged as sent."""
        written: list[tuple[str, str | None]]
        if name == "SET VARIABLE":
            written = [(str(args[0]) if args else "", str(args[1]) if len(args) > 1 else "")]
        else:
            written = [(variable, None) for variable in names_written(name, _argument(args))]
        for variable, value in written:
            for read in sorted(read_as(variable) & self.result_variables.keys()):
                if value != self.result_variables[read]:
                    return Refusal(name, DO_NOT_CALL, f"{name} refused: it sets {variable}, which a do-not-call "
                                                      f"check of this call set to {self.result_variables[read]}; "
                                                      f"only a do-not-call check may set it, since the dialplan "
                                                      f"reads it to decide whether to dial")
        return None

    def cdr_values(self) -> dict[str, object]:
        """The call's CDR columns ``recording_commands`` and ``refused_commands``."""
        refused = ", ".join([r.cdr_text() for r in self.refused]) if self.refused else None
        return {"recording_commands": self.recording_commands, "refused_commands": refused or None}


#: Of the applications that run the one written in their argument, those
#: that run it whatever a condition says.
_ALWAYS_RUNS_NAMED = frozenset({"exec", "tryexec"})


def _runs(app: str, argument: str, surely: bool = False, depth: int = 0) -> list[tuple[str, str]]:
    """The applications, (name in lower case, argument), that running
    ``app`` with ``argument`` runs: itself and what an Exec, TryExec,
    ExecIf or ExecIfTime of it runs (``Exec(MixMonitor(x.wav))`` runs
    MixMonitor); with ``surely``, only those it runs whatever a condition
    says (not ExecIf's or ExecIfTime's)."""
    name = app.strip().lower()
    found = [(name, argument)]
    if name in RUNS_NAMED_APP and depth < MAX_NESTING and (name in _ALWAYS_RUNS_NAMED or not surely):
        for inner, inner_argument in named_apps(name, argument):
            found += _runs(inner, inner_argument, surely, depth + 1)
    return found


def _argument(args: tuple[object, ...]) -> str:
    """An EXEC's argument string ("" when there is none)."""
    return str(args[1]) if len(args) > 1 else ""


def _phone_numbers(destination: str) -> list[tuple[str, bool]]:
    """The digits of each phone number ``destination`` calls, and whether
    a ``+`` comes before them, read after its ``%XX`` escapes (PJSIP reads
    ``sip:600%31%311222@host`` as a call to 600111222). An IPv4 address
    after ``@`` is the host; four groups of digits anywhere else (a
    landline written ``91.123.45.67``) are a number."""
    destination = unquote(destination)
    found = [(_NOT_A_DIGIT.sub("", run.group(2)), run.group(1) is not None)
             for run in _DIGIT_RUN.finditer(destination)
             if not (destination[run.start() - 1:run.start()] == "@" and _IPV4.fullmatch(run.group()))]
    return [(digits, plus) for digits, plus in found if len(digits) >= _MIN_NUMBER_DIGITS]


def _e164_as_written(number: str) -> str:
    """``number`` if it is written in E.164 (``+34612345678``); ValueError
    otherwise: with no reading of national numbers given, only the same
    number written the same way is the same number."""
    if not (number[:1] == "+" and number[1:].isascii() and number[1:].isdigit()):
        raise ValueError(f"{number!r} is not written in E.164")
    return number
