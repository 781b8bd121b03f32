"""The channel facade that step types use: answer, play, collect digits, set
variables, run applications. It never sees a socket: it speaks to any
transport that sends one encoded command and returns the Reply, so the same
flow runs over FastAGI, over stdin AGI and in the simulator.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Protocol

from agi.call_guard import CallGuard
from agi.metrics import NO_METRICS, Metrics, refusal_kind
from agi.protocol.wire import SAFE_COMMAND_LINE, Reply, encode_command

#: Commands Asterisk still answers after the caller hung up (res_agi.c).
DEAD_CHANNEL_COMMANDS = frozenset(
    {"NOOP", "GET VARIABLE", "GET FULL VARIABLE", "SET VARIABLE", "EXEC", "VERBOSE",
     "DATABASE GET", "DATABASE PUT", "DATABASE DEL", "DATABASE DELTREE"}
)


#: CHANNEL STATUS's answer for an answered channel (AST_STATE_UP).
STATE_UP = 6


class ChannelHungUp(Exception):
    """The caller hung up (or the connection to Asterisk is gone)."""


class CallerGone(ChannelHungUp):
    """An application run to hang up (``Hangup``) found the caller gone:
    their ``HANGUP`` line came before its answer."""


class ConnectionClosed(ChannelHungUp):
    """The socket to Asterisk closed (or was closed) while the flow ran."""


class AgiCommandError(Exception):
    """Asterisk refused a command; carries its Reply."""

    def __init__(self, message: str, reply: Reply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class UnknownApplication(AgiCommandError):
    """EXEC of an application that this Asterisk does not have (result -2)."""


class CommandRefused(AgiCommandError):
    """The call's compliance guard kept the command from Asterisk (a dial
    after a do-not-call hit, a recording without consent): never sent."""


class CommandTransport(Protocol):
    """Sends one command line and resolves with Asterisk's reply."""

    hangup_seen: bool

    def send(self, line: bytes) -> Awaitable[Reply]: ...


@dataclass(frozen=True)
class DigitsResult:
    """Digits collected by GET DATA: the keys and whether input timed out."""

    digits: str
    timed_out: bool
    failed: bool = False


@dataclass(frozen=True)
class Played:
    """A sound streamed by STREAM FILE: the key that interrupted it,
    whether Asterisk could not play it (a missing file), and where it
    stopped (``endpos``, in samples; None when Asterisk did not say)."""

    key: str | None
    failed: bool = False
    endpos: int | None = None


class Channel:
    """The live call as the flow sees it."""

    def __init__(self, transport: CommandTransport, max_line: int = SAFE_COMMAND_LINE,
                 clock: Callable[[], float] | None = None,
                 log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
                 metrics: Metrics = NO_METRICS) -> None:
        self._transport = transport
        self._max_line = max_line
        self._clock = clock or time.time
        self._log = log or logging.getLogger("agiflow.call")
        self._metrics = metrics
        #: The call's compliance state: what may not be sent any more.
        self.guard = CallGuard()
        self._hung_up = False
        #: The flow hung up itself (a ``hangup`` step): a dead channel from
        #: then on is not the caller's hangup.
        self.hung_up_by_flow = False
        self.answered_at: float | None = None
        self.commands_sent = 0
        #: Every sound and prompt of the call Asterisk could not play, in order.
        self.sound_failures: list[str] = []
        #: HANGUPCAUSE was read after the caller hung up: the cause of their
        #: hangup, which no later read can change.
        self.caller_cause_read = False
        #: The connection to Asterisk closed while a command waited for its
        #: reply: what that command and any later one would have said is unknown.
        self.connection_lost = False

    @property
    def hung_up(self) -> bool:
        return self._hung_up or self._transport.hangup_seen

    async def command(self, verb: str, *args: object) -> Reply:
        """Send one command and return its 200 reply; raise on anything else.
        The guard may refuse it (CommandRefused): then nothing is sent."""
        if self.hung_up and verb not in DEAD_CHANNEL_COMMANDS:
            raise ChannelHungUp(f"{verb} not sent: the caller hung up")
        line = encode_command(verb, *args, max_line=self._max_line)
        refusal = self.guard.admit(verb, args)
        if refusal is not None:
            self._log.warning("%s", refusal.message)
            self._metrics.compliance_refused(refusal_kind(refusal.reason))
            raise CommandRefused(refusal.message)
        try:
            reply = await self._transport.send(line)
        except ConnectionClosed:
            self.connection_lost = True
            raise
        self.commands_sent += 1
        if reply.code == 511:
            self._hung_up = True
            raise ChannelHungUp(f"{verb}: channel is dead")
        if reply.code != 200:
            raise AgiCommandError(f"{verb}: Asterisk answered {reply.code} {reply.text}", reply)
        return reply

    async def _failed(self, reply: Reply) -> bool:
        """After ``result=-1``: raise ChannelHungUp if the caller is gone.

        A missing sound file gives the same -1 as a hangup; the HANGUP line
        that tells them apart arrives before the reply to the next command,
        so a NOOP settles it. Returns True for a plain failure.
        """
        if reply.result_int is None or reply.result_int >= 0:
            return False
        if not self.hung_up:
            await self.command("NOOP")
        if not self.hung_up and not getattr(self._transport, "announces_hangups", True):
            # A script process hears of a hangup only by SIGHUP, and not at all
            # with AGISIGHUP=no: a command a dead channel refuses (511) settles it.
            await self.command("CHANNEL STATUS")
        if self.hung_up:
            self._hung_up = True
            raise ChannelHungUp("the caller hung up")
        return True

    async def answer(self) -> None:
        reply = await self.command("ANSWER")
        await self._failed(reply)
        if self.answered_at is None:
            self.answered_at = self._clock()

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    async def is_up(self) -> bool:
        """Whether the channel is answered. The flow's own answer is known;
        otherwise ``CHANNEL STATUS`` says (6, up): the dialplan before the
        flow, or an application such as Playback, may have answered it. A
        dead channel is asked nothing."""
        if self.answered or self.hung_up:
            return self.answered
        reply = await self.command("CHANNEL STATUS")
        return reply.result_int == STATE_UP

    async def play(self, sound: str, escape_digits: str = "") -> Played:
        """Play a sound; say which key interrupted it and whether it failed."""
        reply = await self.command("STREAM FILE", sound, escape_digits)
        if await self._failed(reply):
            self.sound_failures.append(sound)
            return Played(reply.digit, failed=True, endpos=reply.endpos)
        return Played(reply.digit, endpos=reply.endpos)

    async def stream(self, sound: str, escape_digits: str = "") -> str | None:
        """Play a sound; return the key that interrupted it, if any."""
        return (await self.play(sound, escape_digits)).key

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        return await self.say("SAY DIGITS", digits, escape_digits)

    async def say(self, verb: str, text: str, escape_digits: str = "") -> str | None:
        """``SAY DIGITS``, ``SAY NUMBER`` or ``SAY ALPHA`` of ``text``."""
        reply = await self.command(verb, text, escape_digits)
        await self._failed(reply)
        return reply.digit

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> DigitsResult:
        """Play ``prompt`` with barge-in and collect up to ``max_digits`` keys;
        ``#`` ends the entry early."""
        reply = await self.command("GET DATA", prompt, timeout_ms, max_digits)
        if await self._failed(reply):
            self.sound_failures.append(prompt)
            return DigitsResult("", timed_out=True, failed=True)
        return DigitsResult(reply.result, timed_out=reply.data == "timeout")

    async def wait_for_digit(self, timeout_ms: int) -> Played:
        """WAIT FOR DIGIT: the key pressed within ``timeout_ms`` (None: none),
        and whether Asterisk failed to wait (a hangup raises)."""
        reply = await self.command("WAIT FOR DIGIT", timeout_ms)
        return Played(reply.digit, failed=await self._failed(reply))

    async def set_variable(self, name: str, value: object) -> None:
        await self.command("SET VARIABLE", name, value)

    async def get_variable(self, name: str) -> str | None:
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.result == "1" else None

    async def hangup_cause(self) -> str | None:
        """The channel's Q.850 cause (``HANGUPCAUSE``, which Asterisk also
        answers on a dead channel) as text, ``"16"``; None while it has
        none (Asterisk says ``0``) or for anything but a cause number."""
        gone = self.hung_up
        cause = (await self.get_variable("HANGUPCAUSE") or "").strip()
        self.caller_cause_read = self.caller_cause_read or gone
        if not (cause.isascii() and cause.isdigit() and len(cause) <= 3):  # never int() of a long text
            return None
        return str(int(cause)) if 0 < int(cause) <= 127 else None

    async def get_full_variable(self, expression: str) -> str | None:
        reply = await self.command("GET FULL VARIABLE", expression)
        return reply.data if reply.result == "1" else None

    async def exec_app(self, application: str, options: str = "", hangs_up: bool = False) -> int:
        """Run a dialplan application; its comma-separated options go as one
        quoted argument. Returns the application's result. ``hangs_up``: an
        application run to hang up (``Hangup``), whose -1 is that hangup: no
        NOOP asks whether the caller left."""
        reply = await self.command("EXEC", application, options)
        result = reply.result_int
        self.guard.app_ended(application, result)
        if result == -2:
            raise UnknownApplication(f"Asterisk has no application {application!r}", reply)
        if hangs_up and result is not None and result < 0:
            self._hung_up = True
            if reply.after_hangup:  # the caller's HANGUP line came first: the application found them gone
                raise CallerGone(f"{application}: the caller had hung up")
            raise ChannelHungUp(f"{application}: the channel hung up")
        await self._failed(reply)
        return result if result is not None else 0

    async def hangup(self) -> None:
        await self.command("HANGUP")
        self._hung_up = True

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", message, level)

    async def continue_at(self, context: str, extension: str, priority: str) -> None:
        """Make the dialplan continue at context,extension,priority once the
        AGI ends."""
        await self.command("SET CONTEXT", context)
        await self.command("SET EXTENSION", extension)
        await self.command("SET PRIORITY", priority)
