"""The stdin/stdout transport of plain AGI mode, on top of pyst2.

pyst2's ``asterisk.agi.AGI`` reads the ``agi_*`` environment, catches the
SIGHUP Asterisk sends a script process when the caller hangs up, and writes
command lines to stdout. Its reply parsing is not used: it takes an
out-of-band ``HANGUP`` line for a reply, waits forever after the single-line
``520 Invalid command syntax.  Proper usage not available.``, raises on the
``100 Trying...`` that precedes GOSUB's answer and loses the ``(timeout)`` of
``200 result= (timeout)``. Replies are read from the same stdin with
``agi.protocol.wire.ReplyParser``, the parser the FastAGI server uses.
"""
from __future__ import annotations

import io
import logging
from typing import IO, Any, Mapping, Sequence

from agi.channel import ConnectionClosed
from agi.protocol.environment import AgiEnvironment, EnvironmentReader, without_nul
from agi.protocol.wire import (MAX_LINES_WITHOUT_REPLY, TOO_MANY_LINES_WITHOUT_REPLY, AnswerTooLong, Reply,
                               ReplyParser)
from agi.ready import Ready

log = logging.getLogger("agiflow.agi")


#: Commands whose result is what the caller keyed (a PIN, an account
#: number): pyst2 prints that result, DebugStream does not log it.
KEYED_RESULT_COMMANDS = ("GET DATA", "WAIT FOR DIGIT", "GET OPTION")


class DebugStream(io.TextIOBase):
    """A text stream that turns pyst2's diagnostics (it prints the
    environment and every command to stderr) into DEBUG log lines; the
    result of a command that reads keys is left out, so keyed digits (a
    supervisor's PIN) never reach the log."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self._logger = logger
        self._buffer = ""
        self._keys_read = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.strip():
                self._logger.debug("pyst2: %s", self._shown(line.strip()))
        return len(text)

    def _shown(self, line: str) -> str:
        if line.startswith("COMMAND:"):
            self._keys_read = line[len("COMMAND:"):].strip().upper().startswith(KEYED_RESULT_COMMANDS)
        elif line.startswith(("RESULT_LINE:", "RESULT_DICT:")) and self._keys_read:
            return line.split(":", 1)[0] + ": (keys not logged)"
        return line


def text_streams(stdin: IO[bytes], stdout: IO[bytes]) -> tuple[IO[str], IO[str]]:
    """Line-oriented text views of the raw pipes: LF only (a CR stays in the
    line, as Asterisk sends it), bytes that are not UTF-8 decoded with
    replacement characters, every write flushed at once."""
    reader = io.TextIOWrapper(stdin, encoding="utf-8", errors="replace", newline="\n")
    writer = io.TextIOWrapper(stdout, encoding="utf-8", errors="surrogateescape", newline="\n",
                              write_through=True)
    return reader, writer


class InputTooLong(ValueError):
    """A line, or an environment, past the caps the server applies too."""


class BoundedLines:
    """The stdin pyst2 and the transport read lines from, with the FastAGI
    server's caps: a line longer than ``max_line`` characters, or an
    environment past EnvironmentReader's caps, raises InputTooLong instead
    of growing without limit."""

    def __init__(self, stream: IO[str], max_line: int) -> None:
        self._stream = stream
        self.max_line = max_line
        self._environment: EnvironmentReader | None = EnvironmentReader()

    def readline(self, size: int = -1) -> str:
        """The next line; in the environment, the lines of a caller name (or
        number, DNID) that holds line breaks are left out, as the FastAGI
        server leaves them out: pyst2 would end the environment at a blank
        one, or take one that reads ``agi_callerid: ...`` for that key."""
        while True:
            line = without_nul(self._stream.readline(self.max_line + 1))
            if len(line) > self.max_line and not line.endswith("\n"):
                raise InputTooLong(f"Asterisk sent a line longer than max_reply_line ({self.max_line} characters)")
            if self._environment is None or not line:
                return line
            try:
                self._environment.feed(line.removesuffix("\n"))
            except ValueError as exc:
                raise InputTooLong(str(exc)) from None
            if self._environment.done:
                self._environment = None
            elif self._environment.inside_value:
                continue
            return line


def environment(pyst_env: Mapping[str, str], flow: str, args: Sequence[str]) -> AgiEnvironment:
    """The call's environment as the FastAGI server would see it.

    Asterisk runs ``agiflow-agi`` with the dialplan arguments on its command
    line (and again as agi_arg_1..N). The first one names the flow: it
    becomes ``network_script``, so ``support?lang=fr`` works as in
    ``agi://host/support?lang=fr``; the rest become agi_arg_1..N.
    """
    values = {key[4:]: value for key, value in pyst_env.items()
              if key.startswith("agi_") and not key.startswith("agi_arg_")}
    values["network_script"] = flow
    values.update({f"arg_{n}": value for n, value in enumerate(args, start=1)})
    return AgiEnvironment(values)


class Stopped(Exception):
    """The process was asked to stop (SIGTERM, SIGINT) while it waited on Asterisk."""


class StdioTransport:
    """Sends one command through pyst2 and reads its complete reply."""

    #: Asterisk writes no HANGUP line to a script process: it sends SIGHUP,
    #: or nothing with AGISIGHUP=no (the channel then asks CHANNEL STATUS
    #: after a -1 to tell a hangup from a missing sound).
    announces_hangups = False

    def __init__(self, agi: Any) -> None:
        self._agi = agi
        self._parser = ReplyParser()
        self._hangup = False
        self._waiting = False
        self.closed = False
        self.abort_reason: str | None = None

    def stop(self, reason: str) -> None:
        """From a signal handler: no command is sent any more and the call
        ends ``interrupted`` with ``reason``; a command waiting on Asterisk
        is given up at once (raising here breaks the blocked read)."""
        self.abort_reason = self.abort_reason or reason
        self.closed = True
        if self._waiting:
            raise Stopped(reason)

    @property
    def hangup_seen(self) -> bool:
        """The caller hung up: Asterisk sent SIGHUP (script processes) or a
        ``HANGUP`` line (as it does on FastAGI)."""
        return self._hangup or self._parser.hangup_seen or bool(getattr(self._agi, "_got_sighup", False))

    @hangup_seen.setter
    def hangup_seen(self, value: bool) -> None:
        self._hangup = value

    def send(self, line: bytes) -> Ready[Reply]:
        """Write one command line; resolve with Asterisk's reply. Fails with
        ConnectionClosed when Asterisk has closed the pipes."""
        if self.closed:
            return Ready(error=ConnectionClosed("stdin/stdout to Asterisk are closed"))
        try:
            self._waiting = True
            self._agi.send_command(line.decode("utf-8", "surrogateescape"))
            return Ready(self._read_reply())
        except Stopped as exc:
            return Ready(error=ConnectionClosed(str(exc)))
        except (AnswerTooLong, InputTooLong) as exc:
            self.closed = True
            self.abort_reason = str(exc)
            return Ready(error=ConnectionClosed(str(exc)))
        except (OSError, ValueError, ConnectionClosed) as exc:
            self.closed = True
            return Ready(error=ConnectionClosed(f"lost the pipes to Asterisk: {exc}"))
        finally:
            self._waiting = False

    def _read_reply(self) -> Reply:
        """Read lines until one completes a reply; a HANGUP line only notes
        the hangup. AnswerTooLong past MAX_LINES_WITHOUT_REPLY lines."""
        stdin = self._agi.stdin
        for _ in range(MAX_LINES_WITHOUT_REPLY + 1):
            line = stdin.readline()
            if not line:
                raise ConnectionClosed("Asterisk closed stdin while a command was pending")
            reply = self._parser.feed(line[:-1] if line.endswith("\n") else line)
            if reply is not None:
                return reply
        raise AnswerTooLong(TOO_MANY_LINES_WITHOUT_REPLY)
