"""Where the CDR writer's operations wait to be written: in memory while
the database takes writes (at most ``max_queue``), in the local journal
(agi/storage/journal.py) from the first write it refuses, or past
``max_queue``, until it has taken them all. Always in order: what waits in
memory is older than the journal's lines, and what the journal could not
take (its disk full) is newer, held in memory behind them.

The reactor thread ``put``s; the writer thread takes batches, moves memory
to the journal (``spill``) and, at a shutdown it cannot finish, keeps what
is left there for the next start (``keep_for_next_start``)."""
from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any, Callable

from agi.storage.cdr_starts import CallStarts
from agi.storage.journal import Journal, encode_lines

log = logging.getLogger("agiflow.cdr")
Operation = tuple[str, Any]


class Waiting:
    """The operations not yet written, and the journal (None: memory only)."""

    def __init__(self, journal: Journal | None, max_queue: int, *, in_trouble: Callable[[], bool],
                 remind: Callable[[str], None]) -> None:
        self.journal = journal
        #: Beside the journal, the first rows of the calls in memory (agi/storage/cdr_starts.py).
        self.starts = CallStarts(journal.path) if journal is not None else None
        self.max_queue = max_queue
        self.in_trouble = in_trouble  # the last write failed
        self.remind = remind  # logs a trouble (and makes it the writer's)
        self.journaled = 0
        self.memory: deque[Operation] = deque()
        #: Operations newer than the journal's lines that it could not take
        #: (its disk is full): written after them, never before.
        self.held: deque[Operation] = deque()
        self._held_lock = threading.Lock()
        #: Held while an operation is routed (memory or journal) and while the
        #: writer moves memory to the journal, so that none lands behind the move.
        self._route_lock = threading.Lock()
        self.batch: list[Operation] = []  # the batch being written, taken from memory
        self.in_flight = 0

    @property
    def count(self) -> int:
        """Operations not yet written: in memory, held after the journal, or in the batch being written."""
        return len(self.memory) + len(self.held) + self.in_flight

    def put(self, operation: Operation) -> None:
        journal = self.journal
        if journal is None:
            self.memory.append(operation)
            return
        with self._route_lock:
            if journal.active or self.held or self.in_trouble():
                self.to_journal([operation])
            elif len(self.memory) >= self.max_queue:
                if self.to_journal([operation]) and self.journaled == 1:
                    log.warning("CDR queue full (%d operations): the next go to the journal %s until the "
                                "database takes them", self.max_queue, journal.path)
            else:
                if operation[0] == "insert_call" and self.starts is not None:
                    self.starts.record(operation)
                self.memory.append(operation)

    def forget_starts(self) -> None:
        """The writer has written (or journaled) everything it took: when
        nothing new waits in memory, the calls' first rows are all safe."""
        if self.starts is None or not self.starts.recorded:
            return
        with self._route_lock:
            if not self.memory and not self.in_flight:
                self.starts.clear()

    def to_journal(self, operations: list[Operation]) -> bool:
        """Append to the journal (after the operations held back because it
        could not take them); when even that fails, keep them in memory
        (past ``max_queue``, up to the admission limit) and say so: after
        the journal's lines while it has some. False when they stayed in memory."""
        assert self.journal is not None
        with self._held_lock:
            try:
                self.journal.append([*self.held, *operations])
            except OSError as exc:
                (self.held if self.journal.active or self.held else self.memory).extend(operations)
                self.remind(f"journal {self.journal.path} not writable: {exc}")
                return False
            self.held.clear()
        self.journaled += len(operations)
        return True

    def take_batch(self, size: int) -> list[Operation]:
        batch: list[Operation] = []
        while self.memory and len(batch) < size:
            batch.append(self.memory.popleft())
        self.in_flight, self.batch = len(batch), batch
        return batch

    def written(self, left: list[Operation]) -> None:
        """Part of the batch from memory was written: ``left`` is the rest."""
        self.in_flight, self.batch = len(left), left

    def spill(self, batch: list[Operation]) -> bool:
        """The database refused ``batch``, taken from memory: move it and
        every operation behind it to the journal (before its lines, which
        are newer), so that a process killed during the outage loses none;
        new operations follow them there while the trouble lasts. False,
        nothing moved, without a journal or when it cannot be written."""
        journal = self.journal
        if journal is None:
            return False
        # Encoded before the lock, which holds every new call's CDR (the
        # reactor's) while it is taken: 10,000 operations take 50 ms and
        # more. Only this thread takes from memory: what it holds now stays
        # its oldest, and what calls add meanwhile is encoded under the lock.
        older = [*batch, *self.memory]
        text = encode_lines(older)
        with self._route_lock:
            newer = list(self.memory)[len(older) - len(batch):]
            moved = len(older) + len(newer)
            text += encode_lines(newer)
            try:  # before the journal's lines when it has some: they are newer
                if journal.active:
                    journal.put_first_lines(text, moved)
                else:
                    journal.append_lines(text, moved)
            except OSError:
                return False  # kept in memory and retried, as without a journal
            self.memory.clear()
        self.journaled += moved
        self.in_flight, self.batch = 0, []
        log.warning("CDR database not writable: %d operations moved to the journal %s, and the next follow "
                    "them there until the database has taken them", moved, journal.path)
        return True

    def journal_waiting(self) -> bool:
        """The journal holds operations to write, and nothing older waits in memory."""
        return self.journal is not None and self.journal.active and not self.memory

    def journal_written(self) -> bool:
        """The journal was written and emptied: what it could not take
        follows it through memory. True when that queued anything."""
        log.warning("journal %s written to the database; CDRs go through memory again",
                    self.journal.path if self.journal else "")
        self.journaled = 0
        with self._held_lock:
            if not self.held:
                return False
            self.memory.extend(self.held)
            self.held.clear()
            return True

    def keep_for_next_start(self) -> bool:
        """Move what is unwritten (the batch in flight too: it may or may
        not be committed, and writing it again changes nothing) to the
        journal, for the next start. False when there is no journal or it
        cannot be written."""
        left = self.batch + list(self.memory)
        if self.journal is None:
            return False
        if not (left or self.held):  # every unwritten operation is in the journal already
            return self.close_journal()
        self.memory.clear()
        if left and self.journal.active:  # older than the journal's lines: they go first
            try:
                self.journal.put_first(left)
            except OSError as exc:  # no room for a copy: after its lines, better than nowhere
                log.error("journal %s cannot be written anew (%s): %d operations appended after its lines; "
                          "ends of calls among them may be lost", self.journal.path, exc, len(left))
                try:
                    self.journal.append(left)
                except OSError:
                    self.memory.extend(left)
                    return False
        elif left and not self.to_journal(left):
            return False
        self.in_flight = 0
        if self.held and not self.to_journal([]):
            return False
        return self.close_journal()

    def close_journal(self) -> bool:
        if self.starts is not None:  # what it recorded is written, or in the journal
            self.starts.clear()
            self.starts.close()
        if self.journal is not None:
            if self.journal.active:
                log.warning("%d CDR operations kept in the journal %s: the next start writes them",
                            self.journal.lines, self.journal.path)
            self.journal.close()
        return True
