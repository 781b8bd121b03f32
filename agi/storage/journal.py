"""The CDR writer's local journal: operations that could not wait in
memory for the database (its queue is full while the database is down,
slow or unreachable), one JSON line each, kept in order and written to the
database when it is back (every write is idempotent: a line written twice
changes nothing).

Lines are appended to the operating system one by one (all of an append or
none of it), by the thread that queues them: a crash of agiflow loses none; a power cut may
lose what the system had not yet written to disk. The file is emptied only
after every line in it was committed to the database.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any, Iterator

from agi.wording import file_kind

log = logging.getLogger("agiflow.cdr")

Operation = tuple[str, Any]
#: Operations whose argument is a (call key, values) pair.
_PAIRS = ("insert_step", "update_call")


def encode(operation: Operation) -> str:
    return json.dumps(list(operation), ensure_ascii=False, separators=(",", ":"), default=str) + "\n"


def encode_lines(operations: list[Operation]) -> bytes:
    """The journal's lines of ``operations``, as ``Journal.append_lines`` takes them."""
    return "".join(map(encode, operations)).encode("utf-8")


def decode(line: str) -> Operation:
    """The operation of a line; ValueError (or TypeError) for a line that
    is not one: every operation is a name and a mapping, or a name and a
    (call key, mapping) pair, and for a line nested deeper than the JSON
    reader recurses (a damaged line; once a RecursionError that stopped the
    start)."""
    try:
        name, arg = json.loads(line)
    except RecursionError:
        raise ValueError("nested too deeply to be an operation") from None
    if name in _PAIRS:
        key, values = arg
        if not isinstance(key, str) or not isinstance(values, dict):
            raise ValueError(f"{name}: not a call key and values")
        return (name, (key, values))
    if not isinstance(name, str) or not isinstance(arg, dict):
        raise ValueError("not an operation name and its values")
    return (name, arg)


#: What ``at_path`` finds at a file's path.
SAME, OTHER, NONE = "same", "other", "none"


def at_path(path: Path, fd: int) -> str:
    """What is at ``path`` beside the open file ``fd``: that file (SAME),
    another with contents of its own (OTHER), or none, or an empty one
    (NONE: the file was removed, or rotated away)."""
    try:
        there = os.stat(path)
    except FileNotFoundError:
        return NONE
    here = os.fstat(fd)
    if (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino):
        return SAME
    return OTHER if there.st_size else NONE


def append_whole(fd: int, data: bytes) -> None:
    """Write ``data`` at the end of the file open at ``fd`` (with O_APPEND):
    all of it, or none. A write the disk cut short (full) is taken back:
    a half line left there would join the next line, both then unreadable
    (an operation lost, a call left without its end). OSError when it
    cannot be written whole. The file's one writer holds it meanwhile, so
    what this call wrote is what the file grew by (no fstat before each
    append: the .starts file appends one per call start, on the reactor)."""
    view = memoryview(data)
    written = 0
    try:
        while written < len(view):
            written += os.write(fd, view[written:])
    except OSError:
        if written:
            os.ftruncate(fd, os.fstat(fd).st_size - written)
        raise


#: The longest line read as an operation. A call's row with every text at
#: its cap (agi/db/caps.py) is a few hundred KB of JSON at most; a longer
#: line is damage (a disk error, bytes a crash left without a line end),
#: read past in pieces and skipped: read whole, one of 300 MB once took
#: 1.3 GB of memory before the server listened.
MAX_LINE = 1 << 20


def read_line(file: Any) -> tuple[bytes, bool]:
    """The next line of the binary ``file`` as ``readline`` gives it (b""
    at the end, no newline when the file ends first) and True; for a line
    longer than MAX_LINE, its first 200 bytes (and its newline, when it
    has one) and False, the rest of it read past in pieces."""
    line = file.readline(MAX_LINE + 1)
    if len(line) <= MAX_LINE or line.endswith(b"\n"):
        return line, True
    while (rest := file.readline(MAX_LINE)) and not rest.endswith(b"\n"):
        pass
    return line[:200] + rest[-1:], False


def _decoded(line: bytes, whole: bool = True) -> Operation | None:
    if not whole:
        log.error("journal: skipping a line longer than %d bytes (no operation is): %r...", MAX_LINE, line[:-1])
        return None
    try:
        return decode(line.decode("utf-8"))
    except (ValueError, TypeError):
        log.error("journal: skipping a line that is not an operation: %r", line[:200])
        return None


class JournalError(OSError):
    """The journal file cannot be opened (its folder cannot be made, or it is no file)."""


#: How every line of a journal starts: a JSON list, the operation's name first.
LINE_START = b'["'


def foreign_content(path: Path, head: bytes) -> JournalError | None:
    """The error for a file whose first bytes (``head``) start no journal
    line: another file named as the journal by mistake (a flow, the config,
    the database), which the start would have emptied after writing its
    'operations' (none)."""
    if not head or head.startswith(LINE_START[:len(head)]):
        return None
    return JournalError(f"cannot open the CDR journal {path}: it holds something other than CDR operations "
                        f"(it starts with {head!r}); it is left as it is: give `journal` a file of its own")


def check_file(path: Path, fd: int) -> None:
    """JournalError when the open ``fd`` at ``path`` is no regular file (a
    link to /dev/zero was read for ever, filling the memory) or holds
    something other than journal lines; the caller closes ``fd`` then."""
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        raise JournalError(f"cannot open the CDR journal {path}: it is {file_kind(mode)}, not a file")
    foreign = foreign_content(path, os.pread(fd, 16, 0))
    if foreign:
        raise foreign


def take(path: Path, file: Any) -> None:
    """Hold ``file`` for this process alone (an advisory lock, released
    when it is closed): JournalError when another server has it open, whose
    lines (another database's CDRs, perhaps) this one would write as its own."""
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise JournalError(f"cannot open the CDR journal {path}: another agiflow server is using it; "
                               "give each server a `journal` of its own") from None


class Journal:
    """The file at ``path``; ``append`` from any thread, ``batches`` and
    ``clear`` from the writer thread only."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._file: Any = None
        #: Lines appended and not yet cleared (counted since this process opened it).
        self.lines = 0
        #: Another file with lines of its own was found at ``path`` (said once).
        self._elsewhere = False

    @property
    def active(self) -> bool:
        """Operations wait in the file: new ones must follow them there."""
        return self.lines > 0

    def open(self) -> int:
        """Open the file (creating its folder); returns the lines a previous
        run left in it, which are written first."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            file = open(self.path, "a+b")
        except OSError as exc:
            raise JournalError(f"cannot open the CDR journal {self.path}: {exc.strerror or exc}") from None
        try:
            check_file(self.path, file.fileno())
            take(self.path, file)
        except JournalError:
            file.close()
            raise
        with self._lock:
            self._file = file
            self._file.seek(0)
            whole, lines = 0, 0
            while read_line(self._file)[0].endswith(b"\n"):
                whole, lines = self._file.tell(), lines + 1
            if self._file.seek(0, os.SEEK_END) != whole:  # a line cut short by a crash: never queued whole
                log.warning("journal %s: dropping an incomplete last line", self.path)
                self._file.truncate(whole)
            self.lines = lines
        return self.lines

    def append(self, operations: list[Operation]) -> None:
        """Add ``operations`` after every line already there; OSError when
        the file cannot be written (the caller keeps them in memory)."""
        self.append_lines(encode_lines(operations), len(operations))

    def append_lines(self, text: bytes, count: int) -> None:
        """``append`` of ``count`` operations already encoded (``encode_lines``)."""
        with self._lock:
            if self._file is None:
                raise OSError(f"the journal {self.path} is not open")
            self._follow_the_path()
            append_whole(self._file.fileno(), text)  # not through the file's buffer: a rest of a
            self.lines += count  # failed write kept there would fail (or be written by) a later read

    def _follow_the_path(self) -> None:
        """Under the lock, before an append: when no file, or an empty one,
        is at ``path`` any more (a cleanup script removed the journal, a
        rotation moved it away), the lines of the file still open are
        written there again and the journal goes on there; a server killed
        next once took them with it, and their calls were left without a
        row. A file with lines of its own put there is left alone (said
        once): the journal goes on in the file open."""
        found = at_path(self.path, self._file.fileno())
        if found == SAME:
            self._elsewhere = False
            return
        if found == OTHER:
            if not self._elsewhere:
                log.error("the CDR journal %s was replaced by another file while it held operations; they stay "
                          "in the file agiflow has open until the database takes them", self.path)
            self._elsewhere = True
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._rewrite(b"")
        log.error("the CDR journal %s was removed while it held %d operations; they are written there again",
                  self.path, self.lines)

    def keep_at_path(self) -> None:
        """``_follow_the_path`` while no line is appended (the writer
        retrying an outage's operations); a file that cannot be written
        again is tried again at the next call."""
        with self._lock:
            if self._file is not None and self.lines:
                try:
                    self._follow_the_path()
                except OSError:
                    pass

    def put_first(self, operations: list[Operation]) -> None:
        """Put ``operations`` before every line already there (they are
        older): the file is written anew beside it, then put in its place.
        OSError when it cannot be (the file is left as it was)."""
        self.put_first_lines(encode_lines(operations), len(operations))

    def put_first_lines(self, text: bytes, count: int) -> None:
        """``put_first`` of ``count`` operations already encoded (``encode_lines``)."""
        with self._lock:
            if self._file is None:
                raise OSError(f"the journal {self.path} is not open")
            self._rewrite(text)
            self.lines += count

    def _rewrite(self, first: bytes) -> None:
        """Write ``first``, then every line of the open file, to a new file
        beside the path, put it in its place and append to it from now on
        (the lock held). The new file is taken (``take``) before it is put
        in place: no other server finds it free. OSError when it cannot be
        (nothing changed)."""
        assert self._file is not None
        fresh = self.path.with_name(self.path.name + ".new")
        try:
            self._file.flush()
            self._file.seek(0)
            out = open(fresh, "a+b")
            try:
                take(self.path, out)
                out.truncate(0)
                out.write(first)
                while chunk := self._file.read(1 << 20):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                os.replace(fresh, self.path)
            except BaseException:
                out.close()
                raise
        except OSError:
            fresh.unlink(missing_ok=True)
            raise
        self._file.close()
        self._file = out

    def batches(self, size: int) -> Iterator[tuple[list[Operation], int]]:
        """The operations in the file, ``size`` at a time, each with the
        file offset after it, as they are now (lines appended while this
        runs are read too)."""
        offset = 0
        while True:
            with self._lock:
                self._file.seek(offset)
                lines: list[tuple[bytes, bool]] = []
                while len(lines) < size:
                    line, whole = read_line(self._file)
                    if not line.endswith(b"\n"):
                        break
                    lines.append((line, whole))
                offset = self._file.tell()
                self._file.seek(0, os.SEEK_END)
            if not lines:
                return
            yield [op for op in (_decoded(*line) for line in lines) if op is not None], offset

    def clear_if_done(self, offset: int) -> bool:
        """Empty the file when nothing was appended after ``offset``; True when it was."""
        with self._lock:
            self._file.seek(0, os.SEEK_END)
            if self._file.tell() != offset:
                return False
            self._file.truncate(0)
            self._file.flush()
            os.fsync(self._file.fileno())
            self.lines = 0
            return True

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                self._file.close()
                self._file = None
