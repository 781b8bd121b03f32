"""The bound on the CDR writer's queue: which operations it still takes.

While the database takes writes the queue stays short. While it cannot (a
full disk, a lock, immutable files), operations wait in memory, and the
queue would grow without limit. It holds at most ``limit`` operations (a
call makes one per step, plus one when it starts and one when it ends):
nothing that fits is lost. Past the limit, whole calls are left out, never
parts of one: a call that starts while the queue is full gets no CDR at
all (its steps and its end are dropped too), while a call whose start was
queued keeps every row. Callback requests that come while it is full are
dropped. Every drop is counted, logged when it starts and once a minute,
and reported when the writer closes.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

log = logging.getLogger("agiflow.cdr")

#: Operations the queue holds at most (about 10,000 calls, 70 MB).
MAX_PENDING = 100_000
REMIND_EVERY = 60.0


class Admission:
    """Decides, on the thread that queues, whether an operation is queued."""

    def __init__(self, limit: int = MAX_PENDING, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.dropped_calls = 0
        self.dropped_operations = 0
        self._refused: set[str] = set()  # running calls whose start was dropped
        self._logged = float("-inf")

    def call_started(self, key: str, pending: int) -> bool:
        if pending < self.limit:
            return True
        self.dropped_calls += 1
        self._refused.add(key)
        return self._drop(pending)

    def step_finished(self, key: str, pending: int) -> bool:
        return not self._refused or key not in self._refused or self._drop(pending)

    def call_ended(self, key: str, pending: int) -> bool:
        if not self._refused or key not in self._refused:
            return True
        self._refused.discard(key)
        return self._drop(pending)

    def other(self, pending: int) -> bool:
        return pending < self.limit or self._drop(pending)

    def _drop(self, pending: int) -> bool:
        self.dropped_operations += 1
        now = self.clock()
        if now - self._logged >= REMIND_EVERY:
            self._logged = now
            log.error("the CDR queue is full (%d operations waiting for the database): new calls get no CDR "
                      "until it takes writes again; %d calls and %d operations dropped so far",
                      pending, self.dropped_calls, self.dropped_operations)
        return False

    def report(self) -> bool:
        """Log what was dropped, if anything; True when nothing was."""
        if self.dropped_operations:
            log.error("CDR queue was full: %d calls got no CDR, %d operations dropped in all",
                      self.dropped_calls, self.dropped_operations)
        return not self.dropped_operations
