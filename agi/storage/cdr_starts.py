"""The first row of every running call, kept in a file beside the journal
until the database has it, so that a server killed (SIGKILL, out of
memory) before its writer wrote a call's first row still leaves that call
a row: the next start writes it, and marks it ``interrupted`` with the
other calls left running (docs/cdr.md).

A call's row is appended as the call starts, by the thread that queues it,
with one ``write`` (no flush to disk: a process killed loses none, a power
cut may). The writer empties the file whenever nothing it recorded is left
unwritten. Replayed rows change nothing where the row exists (every insert
is idempotent)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from agi.storage.journal import (MAX_LINE, NONE, JournalError, Operation, append_whole, at_path, check_file,
                                 decode, encode, read_line)

log = logging.getLogger("agiflow.cdr")


def starts_path(journal: Path) -> Path:
    """Where the calls started beside ``journal`` are kept."""
    return journal.with_name(journal.name + ".starts")


class CallStarts:
    """The file beside the journal ``journal``; ``record`` and ``clear``
    under the lock of the queue they go with (agi/storage/cdr_waiting.py)."""

    def __init__(self, journal: Path) -> None:
        self.path = starts_path(journal)
        self._fd: int | None = None
        #: Rows recorded since the file was last emptied.
        self.recorded = 0
        self._failed = False

    def open(self) -> list[Operation]:
        """Open the file; returns the first rows a previous run left in it (to write first)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o600)
        except OSError as exc:
            raise JournalError(f"cannot open the CDR journal {self.path}: {exc.strerror or exc}") from None
        try:
            check_file(self.path, fd)
        except JournalError:
            os.close(fd)
            raise
        self._fd = fd
        left: list[Operation] = []
        with open(self.path, "rb") as lines:
            while True:
                line, whole = read_line(lines)
                if not line.endswith(b"\n"):
                    break  # cut short by the kill: its call never reached the queue either
                if not whole:
                    log.error("%s: skipping a line longer than %d bytes (no call's row is): %r...",
                              self.path, MAX_LINE, line[:-1])
                    continue
                try:
                    left.append(decode(line.decode("utf-8")))
                except (ValueError, TypeError):
                    log.error("%s: skipping a line that is not a call's row: %r", self.path, line[:200])
        # anything there (even a line cut short) is emptied once the rows are written
        self.recorded = max(len(left), 1) if os.fstat(fd).st_size else 0
        return left

    def record(self, operation: Operation) -> None:
        """Keep a call's first row until it is written; a file that cannot
        be written is said once, and the call goes on (as before this file)."""
        if self._fd is None:
            return
        try:
            self._follow_the_path()
            append_whole(self._fd, encode(operation).encode("utf-8"))
            self.recorded += 1
        except OSError as exc:
            if not self._failed:
                log.error("%s cannot be written (%s): a call starting now leaves no row if agiflow is killed "
                          "before its writer writes it", self.path, exc.strerror or exc)
            self._failed = True

    def _follow_the_path(self) -> None:
        """When the file was removed (a cleanup script), its rows are written
        at the path again and the next go there: a server killed next once
        left their calls without a row."""
        assert self._fd is not None
        if at_path(self.path, self._fd) != NONE:
            return  # still there, or another file put there: left alone, the rows go on in the one open
        log.error("%s was removed while calls ran; writing the rows of the calls not yet written there again",
                  self.path)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o600)
        try:
            append_whole(fd, os.pread(self._fd, os.fstat(self._fd).st_size, 0))
        except OSError:
            os.close(fd)
            raise
        os.close(self._fd)
        self._fd = fd

    def clear(self) -> None:
        """Every row recorded was written: empty the file."""
        if self._fd is None or not self.recorded:
            return
        try:
            os.ftruncate(self._fd, 0)
            self.recorded, self._failed = 0, False
        except OSError as exc:
            log.error("%s cannot be emptied: %s", self.path, exc.strerror or exc)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
