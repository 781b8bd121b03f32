"""Log lines for a busy server: written in batches, warnings at once;
bounded, whatever the network sends.

A server logs a line per call. Written one by one, each costs a write to
the pipe of journald or of a terminal, and waking its reader: about a
twentieth of the server's CPU per call. ``BatchedStreamHandler`` buffers
lines and writes them when a line of ``flush_level`` or above comes (with
everything before it), when ``interval`` seconds have passed since the last
write, and when ``flush_pending`` is called (the server does so every
``interval``), so no line waits longer than that.

Text from the network (a caller name, a flow name, a reply) is never part of
a format string, and ``BoundedFormatter`` cuts every message at
``MAX_MESSAGE`` characters, with what is not printable escaped: a peer
cannot make one line longer than that, start a line of its own, send the
terminal an escape sequence, nor lose a line by putting ``%`` in what it sends. ``WarningBudget`` keeps
one connection or call from writing more than a few warnings of a kind;
``RateLimitedWarnings`` does the same for warnings about single
connections across the whole server (a port scan, a flood of refused peers),
and ``RateLimitedLines`` for the lines Twisted writes about each connection
it cannot accept (no file descriptor left).
"""
from __future__ import annotations

import io
import logging
import os
import re
import select
import threading
import time
import weakref
from collections import deque
from functools import partial
from typing import IO, Any, Callable

from agi.safe_text import escaped_text

#: Every command's log line: time, level, logger, message.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Seconds a routine line may wait in the server's buffer.
FLUSH_INTERVAL = 0.5
#: Longest message of a log line, in characters (a traceback follows in full).
MAX_MESSAGE = 4096
#: Warnings of one kind a connection or call logs before the rest are only counted.
WARNINGS_PER_KIND = 10


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the last being ``…`` when cut."""
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


class BoundedFormatter(logging.Formatter):
    """LOG_FORMAT with every message cut at MAX_MESSAGE characters, what is
    not printable in it escaped (a carriage return or an escape sequence
    from the network, in a uniqueid, a flow name or a reply, once began a
    line of the peer's making or reached the terminal showing the log); a record
    whose arguments do not fit its format string is still written, with
    its arguments after it, instead of a "--- Logging error ---"."""

    def __init__(self, fmt: str = LOG_FORMAT, max_message: int = MAX_MESSAGE) -> None:
        super().__init__(fmt)
        self.max_message = max_message
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """``logging.Formatter.formatTime``, the second formatted once for
        all the lines of that second (a busy server writes hundreds)."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if self._second[0] != second:
            self._second = (second, time.strftime(self.default_time_format, self.converter(record.created)))
        msec = self.default_msec_format
        return self._second[1] if msec is None else msec % (self._second[1], record.msecs)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = shorten(escaped_text(record.message), self.max_message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        try:
            return super().format(record)
        except (TypeError, ValueError, KeyError):
            record.msg, record.args = f"{record.msg} {record.args!r}", None
            return super().format(record)


class WarningBudget:
    """Counts warnings of one kind from one connection or call: ``take()``
    is True for the first ``limit``; after that they are only counted in
    ``suppressed``, for one closing line that gives the number."""

    __slots__ = ("limit", "taken", "suppressed")

    def __init__(self, limit: int = WARNINGS_PER_KIND) -> None:
        self.limit = limit
        self.taken = 0
        self.suppressed = 0

    def take(self) -> bool:
        if self.taken < self.limit:
            self.taken += 1
            return True
        self.suppressed += 1
        return False

    @property
    def last(self) -> bool:
        """True right after the last warning the budget allows was taken."""
        return self.taken == self.limit and not self.suppressed


class BatchedStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler whose routine lines go out in batches."""

    def __init__(self, stream: IO[str], interval: float = FLUSH_INTERVAL, flush_level: int = logging.WARNING,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stream)
        self.interval = interval
        self.flush_level = flush_level
        self.clock = clock
        self._written_at = clock()
        self._urgent = False

    def emit(self, record: logging.LogRecord) -> None:
        self._urgent = record.levelno >= self.flush_level
        super().emit(record)  # writes the line, then calls flush()

    def flush(self) -> None:
        if self._urgent or self.clock() - self._written_at >= self.interval:
            self.flush_pending()

    def flush_pending(self) -> None:
        """Write every buffered line now."""
        self.acquire()
        try:
            self._written_at = self.clock()
            self.stream.flush()
        finally:
            self.release()

    def close(self) -> None:
        """Write every line, waiting for them to go out (at most EXIT_WAIT
        seconds, for a reader that stopped reading): the process may exit next."""
        self.flush_pending()
        raw = getattr(getattr(self.stream, "buffer", None), "raw", None)
        if isinstance(raw, WholeLines):
            raw.wait_written(EXIT_WAIT)
        super().close()


def batched_stderr(stream: IO[str], interval: float = FLUSH_INTERVAL) -> logging.Handler:
    """A BatchedStreamHandler on the file descriptor behind ``stream``
    (sys.stderr is line buffered: a write per line), or a plain
    StreamHandler when it has none (a test's captured output)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return logging.StreamHandler(stream)
    raw = io.BufferedWriter(WholeLines(fd), buffer_size=1 << 16)
    buffered = io.TextIOWrapper(raw, encoding=getattr(stream, "encoding", None) or "utf-8",
                                errors="backslashreplace")
    return BatchedStreamHandler(buffered, interval)


def log_format(worker: int | None = None) -> str:
    """LOG_FORMAT; a worker's names it after the logger: ``agiflow.call (worker 2): ...``."""
    return LOG_FORMAT if worker is None else LOG_FORMAT.replace("%(name)s:", f"%(name)s (worker {worker}):")


#: A write of at most this many bytes to a pipe is never mixed with another
#: process's writes (POSIX: PIPE_BUF, at least 512; 4096 on Linux).
ATOMIC_WRITE: int = getattr(select, "PIPE_BUF", 512)


#: Log bytes that may wait for stderr to take them (a reader that stopped
#: reading: journald, a pager, a log shipper); past it lines are left out, and counted.
MAX_PENDING_LOG = 4 << 20
#: Seconds the last lines may take to go out as the process exits.
EXIT_WAIT = 2.0


class WholeLines(io.RawIOBase):
    """A file descriptor written in whole lines, at most ATOMIC_WRITE bytes
    a write (a longer line alone): the workers of one server share stderr,
    and their lines never cut into each other's. A line's start is kept
    until its end comes (BufferedWriter hands over a full buffer anywhere).

    The writes happen on a thread of their own: a reader that stops reading
    (the pipe full) once held the server's event loop in ``os.write``, every
    call and the SIGTERM with it. Lines wait for the thread, up to
    ``max_pending`` bytes; lines past it are left out, counted, and the
    count is written once the descriptor takes lines again."""

    def __init__(self, fd: int, max_pending: int = MAX_PENDING_LOG) -> None:
        super().__init__()
        self.fd = fd
        self.tail = b""
        self.max_pending = max_pending
        self._waiting: deque[bytes] = deque()
        self._size = 0
        self._left_out = 0
        self._busy = False  # the thread is writing a chunk it took
        self._ready = threading.Condition()
        self._pid = 0  # the process whose thread writes (a forked child starts its own)
        os.register_at_fork(after_in_child=partial(_after_fork, weakref.ref(self)))

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def write(self, data: Any) -> int:
        size = len(data)
        text = self.tail + bytes(data)
        cut = text.rfind(b"\n") + 1
        self.tail = text[cut:]
        if cut:
            self._put(text[:cut])
        return size

    def _put(self, lines: bytes) -> None:
        with self._ready:
            if self._size + len(lines) > self.max_pending:
                self._left_out += lines.count(b"\n") or 1
                self._ready.notify()
                return
            self._waiting.append(lines)
            self._size += len(lines)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="agiflow-log", daemon=True).start()
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._waiting and not self._left_out:
                    self._ready.wait()
                left_out, self._left_out = (0, self._left_out) if self._waiting else (self._left_out, 0)
                lines = self._waiting.popleft() if self._waiting else b""
                self._busy = bool(lines)
            if left_out:  # everything that waited is out: say what the cap left out (through the handler)
                logging.getLogger("agiflow.log").warning(
                    "%d log lines were left out: standard error took none for %d MB of lines (its reader "
                    "stopped reading)", left_out, self.max_pending >> 20)
                continue
            try:
                self._write_lines(lines)
            except OSError:
                pass  # stderr closed or broken: nothing can tell it
            with self._ready:
                self._size -= len(lines)
                self._busy = False
                self._ready.notify_all()

    def _write_lines(self, data: bytes) -> None:
        while data:
            cut = len(data) if len(data) <= ATOMIC_WRITE else data.rfind(b"\n", 0, ATOMIC_WRITE) + 1
            if cut == 0:  # one line longer than ATOMIC_WRITE: on its own
                cut = data.find(b"\n", ATOMIC_WRITE) + 1 or len(data)
            self._write_all(data[:cut])
            data = data[cut:]

    def _write_all(self, chunk: bytes) -> None:
        while chunk:
            chunk = chunk[os.write(self.fd, chunk):]

    def wait_written(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every line to be written; False when some still wait."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._waiting or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(left)
        return True

    def flush(self) -> None:
        """Hand over a line still without its end (the last words before exit)."""
        if self.tail and not self.closed:
            tail, self.tail = self.tail, b""
            self._put(tail)

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.wait_written(EXIT_WAIT)
        super().close()  # the descriptor stays open: it is stderr


def _after_fork(alive: "weakref.ref[WholeLines]") -> None:
    """A forked child has none of its parent's threads: it starts its own
    (the lines that waited are the parent's to write)."""
    lines = alive()
    if lines is not None:
        lines._ready, lines._busy, lines._pid = threading.Condition(), False, 0
        lines._waiting, lines._size, lines._left_out = deque(), 0, 0


def flush_batched() -> None:
    """Write what the root logger's batched handlers hold."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, BatchedStreamHandler):
            handler.flush_pending()


class RateLimitedWarnings:
    """Warnings about single connections, for the whole server: of each
    kind, the first ``burst`` are logged, then one every ``every`` seconds
    that says how many like it were not logged since the last one."""

    def __init__(self, logger: logging.Logger, clock: Callable[[], float], burst: int = WARNINGS_PER_KIND,
                 every: float = 60.0) -> None:
        self.logger = logger
        self.clock = clock
        self.burst = burst
        self.every = every
        self._kinds: dict[str, tuple[int, float, int]] = {}  # kind -> count, last logged at, not logged since

    def warning(self, kind: str, msg: str, *args: Any) -> None:
        suffix = self.admit(kind)
        if suffix is not None:
            self.logger.warning(msg + "%s", *args, suffix)

    def admit(self, kind: str) -> str | None:
        """Whether one more line of ``kind`` is logged: the text to end it
        with (how many were not logged since the last one), else None."""
        count, logged_at, skipped = self._kinds.get(kind, (0, float("-inf"), 0))
        now = self.clock()
        if count < self.burst or now - logged_at >= self.every:
            self._kinds[kind] = (count + 1, now, 0)
            return f" ({skipped} more like it not logged)" if skipped else ""
        self._kinds[kind] = (count + 1, logged_at, skipped + 1)
        return None


#: Twisted's lines about each connection it could not accept: with every file
#: descriptor taken (a flood of connections), three lines per connection.
ACCEPT_TROUBLE = re.compile(r"EMFILE|Could not accept new connection")


#: Twisted's lines about each listening port it opens and closes: agiflow's
#: own (``listening on``, ``metrics and health on``, ``shutting down``) say it.
LISTENER_LINES = re.compile(r"^\S+ starting on \d+$|^\(\S+ Port \d+ Closed\)$")


class DroppedLines(logging.Filter):
    """Drops the records whose whole message ``pattern`` matches."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        super().__init__()
        self.pattern = pattern

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


class RateLimitedLines(logging.Filter):
    """Of the records whose message ``pattern`` finds, logs the first
    ``burst`` of each kind (the message without its parenthesised details,
    such as a peer's address), then one every ``every`` seconds that says
    how many like it were not logged since; other records pass."""

    def __init__(self, pattern: re.Pattern[str], clock: Callable[[], float] = time.monotonic,
                 burst: int = WARNINGS_PER_KIND, every: float = 60.0) -> None:
        super().__init__()
        self.pattern = pattern
        self.limits = RateLimitedWarnings(logging.getLogger(), clock, burst, every)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if not self.pattern.search(text):
            return True
        suffix = self.limits.admit(re.sub(r"\s*\(.*", "", text))
        if suffix is None:
            return False
        record.msg, record.args = text + suffix, ()
        return True
