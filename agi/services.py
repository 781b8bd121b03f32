"""What steps use besides the channel: number lists, schedule overrides,
callback requests, webhooks, recording settings, chance and metrics.

One ``Services`` is built per server (or per simulation) and shared by every
call. Each field is an interface defined here, so steps depend on what they
need, never on SQLite, Twisted or HTTP directly; tests pass their own.
A field left ``None`` means the feature is not available: the steps that
need it say so through their ``error`` outcome (and compliance steps fail
closed).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Awaitable, Callable, Mapping, Protocol

from agi.metrics import NO_METRICS, Metrics


class ListUnavailable(Exception):
    """A number list does not exist or cannot be read."""


@dataclass(frozen=True)
class ListHit:
    """A number matched an entry of a list (exactly or by prefix)."""

    list: str
    entry: str
    prefix: bool = False
    note: str | None = None


class NumberLists(Protocol):
    def match(self, list_name: str, number: str) -> ListHit | None | Awaitable[ListHit | None]:
        """The entry of ``list_name`` that ``number`` matches, or None, at
        once or as an awaitable (a store the server reads off the reactor).
        Raises ListUnavailable if the list is missing or unreadable, and
        ValueError if ``number`` is not a phone number."""


@dataclass(frozen=True)
class Override:
    """A schedule forced open or closed from ``start`` until ``until``;
    ``start`` None: from the beginning of time."""

    schedule: str
    state: str  # "open" or "closed"
    until: datetime
    reason: str = ""
    start: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        """True while ``at`` is inside the override's window."""
        return (self.start is None or self.start <= at) and at < self.until


class OverridesUnavailable(Exception):
    """Schedule overrides cannot be read (the database is locked or broken)."""


class ScheduleOverrides(Protocol):
    def active(self, schedule: str, at: datetime) -> Override | None | Awaitable[Override | None]:
        """The override in force for ``schedule`` at ``at`` (``at`` inside
        its window), if any, at once or as an awaitable. Raises OverridesUnavailable when overrides
        cannot be read."""


class CallbackRequests(Protocol):
    def request(self, row: Mapping[str, Any]) -> None:
        """Store one callback request for the dialer (never blocks the call)."""


@dataclass(frozen=True)
class WebhookResult:
    ok: bool
    status: int | None = None
    error: str | None = None


class Webhooks(Protocol):
    async def post(self, url: str, payload: Mapping[str, Any], timeout: float,
                   headers: Mapping[str, str]) -> WebhookResult:
        """POST ``payload`` as JSON; never raises, never blocks other calls."""

    def post_in_background(self, url: str, payload: Mapping[str, Any], timeout: float,
                           headers: Mapping[str, str], done: Callable[[WebhookResult], None]) -> None:
        """Start the same POST and return at once; ``done`` gets the result."""


@dataclass(frozen=True)
class RecordingSettings:
    """Where MixMonitor writes recordings and in which format."""

    directory: str = "/var/spool/asterisk/monitor/agiflow"
    format: str = "wav"


@dataclass
class Services:
    lists: NumberLists | None = None
    overrides: ScheduleOverrides | None = None
    callbacks: CallbackRequests | None = None
    webhooks: Webhooks | None = None
    recordings: RecordingSettings = field(default_factory=RecordingSettings)
    default_region: str = "ES"
    #: Returns a float in [0, 1): percentage splits; injected for tests.
    chance: Callable[[], float] = random.random
    #: What the server counts (agi/metrics.py); nothing by default. The
    #: compliance guard reports its refusals here (``compliance_refused``).
    metrics: Metrics = NO_METRICS
