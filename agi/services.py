"""What steps use besides the channel: number lists, schedule overrides,
callback requests, the callers' earlier calls, supervisors' PINs,
webhooks, recording settings, chance, metrics, and where blocking work runs.

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
from agi.settings import RecordingSettings


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
    #: Who set it (a user name, a supervisor's number), how (``cli``,
    #: ``phone``) and when; empty for overrides stored before they were kept.
    set_by: str = field(default="", compare=False)
    set_how: str = field(default="", compare=False)
    set_at: datetime | None = field(default=None, compare=False)

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

    def unexpired(self, schedule: str, at: datetime) -> Override | None | Awaitable[Override | None]:
        """As ``active``, but also an override that starts after ``at``: the
        one not ended then, whose start is a change of state to come."""


class OverrideChanges(Protocol):
    """Setting and clearing overrides (blocking: run them through
    ``Services.offload``). Both raise OverridesUnavailable."""

    def set(self, override: Override, now: datetime, wanted: Callable[[], bool] = lambda: True) -> None:
        """Force ``override.schedule`` open or closed, replacing any override;
        not when ``wanted()``, asked last, says the call stopped waiting."""

    def clear(self, schedule: str, wanted: Callable[[], bool] = lambda: True) -> bool:
        """Remove the schedule's override; False when it had none."""


# -- supervisors -------------------------------------------------------------

class SupervisorsUnavailable(Exception):
    """PINs or the audit log cannot be read or written."""


#: How long a call waits for a supervisor's PIN check, change or audit
#: entry (``override``, ``supervise``: "no answer within 3 seconds").
SUPERVISOR_WAIT = 3.0
#: How long, within SUPERVISOR_WAIT, the server's stores wait for a
#: database lock: the rest is for scrypt, the writes and a free database thread.
SUPERVISOR_LOCK_WAIT = 2.5

#: What checking a PIN can say.
PIN_OK = "ok"
PIN_WRONG = "wrong"
PIN_LOCKED = "locked"
PIN_NONE = "no_pin"


@dataclass(frozen=True)
class PinCheck:
    """The result of one PIN check: ``ok``, ``wrong``, ``locked`` (too many
    wrong PINs in a row: refused until ``locked_until``, right or wrong) or
    ``no_pin`` (the number has no PIN); ``failures`` wrong PINs in a row."""

    result: str
    failures: int = 0
    locked_until: datetime | None = None


class Supervisors(Protocol):
    """Supervisors' PINs, stored hashed, and the audit log of what they do
    (blocking: run them through ``Services.offload``)."""

    def check_pin(self, number: str, pin: str, at: datetime, call_id: str,
                  wanted: Callable[[], bool] = lambda: True) -> PinCheck:
        """Check ``pin`` for ``number`` (E.164), counting wrong ones and
        locking the number after too many; audited. Raises SupervisorsUnavailable,
        also when ``wanted()`` says, once the number's row is read, that the
        call stopped waiting for the answer: then nothing is counted or audited."""

    def audit(self, number: str, action: str, result: str, at: datetime, call_id: str, detail: str = "") -> None:
        """Record what a supervisor did. Raises SupervisorsUnavailable."""


class OffloadTimeout(Exception):
    """Work handed to ``Services.offload`` did not finish in time."""


class Offload(Protocol):
    async def __call__(self, timeout: float, work: Callable[..., Any], *args: Any) -> Any:
        """Run the blocking ``work(*args)`` where it cannot hold up other
        calls, and return its result (or raise its exception); OffloadTimeout
        after ``timeout`` seconds."""


async def run_here(timeout: float, work: Callable[..., Any], *args: Any) -> Any:
    """``Offload`` for one call per process (plain AGI mode) and simulations:
    the work runs at once, on the calling thread."""
    return work(*args)


#: How a callback request came (``callbacks.source``): a caller confirmed it
#: by keypad (the callback step), or a queue the caller left unanswered made
#: it by itself (the queue's ``callback`` option).
KEYPAD = "keypad"
MISSED = "missed"


class CallbackRequests(Protocol):
    """Callback requests for the dialer; nothing here blocks the call."""

    def request(self, row: Mapping[str, Any]) -> None:
        """Store one callback request."""

    def missed(self, row: Mapping[str, Any]) -> None:
        """Store one request unless ``row["number"]`` already has a pending one."""

    def reached(self, number: str, call_id: str, at: str) -> None:
        """The caller of ``number`` (E.164) reached an agent on call
        ``call_id`` at ``at``: close the number's pending requests."""


class HistoryUnavailable(Exception):
    """The earlier calls cannot be read (no database, locked, too slow)."""


@dataclass(frozen=True)
class HistoryQuery:
    """Which earlier calls to look at: those whose caller ID is one of
    ``spellings`` (the same number written as Asterisk may give it, E.164
    first), started at or after ``since`` and before ``until``, other than
    the call ``exclude_call`` (an ``agi_uniqueid``). ``timeout`` bounds the
    lookup in seconds."""

    spellings: tuple[str, ...]
    since: datetime
    until: datetime
    exclude_call: str = ""
    timeout: float = 0.5


#: An earlier call's outcome when a queue or dial answered it.
ANSWERED = "answered"
#: ... when the caller hung up while waiting in a queue or while a Dial rang.
ABANDONED = "abandoned"
#: How many earlier calls a lookup counts at most.
MAX_COUNTED_CALLS = 1000


@dataclass(frozen=True)
class EarlierCall:
    """The CDR columns of an earlier call that a history summary reads."""

    started_at: str
    status: str | None = None
    queue: str | None = None
    queue_status: str | None = None
    dial_status: str | None = None
    agent: str | None = None
    agent_interface: str | None = None

    @property
    def outcome(self) -> str:
        """``answered``, ``abandoned``, the queue's or the dial's status in
        lower case (``timeout``, ``busy``...), else the call's status."""
        queue_status, dial_status = (self.queue_status or "").upper(), (self.dial_status or "").upper()
        if queue_status in ("ANSWERED", "CONTINUE") or dial_status == "ANSWER":
            return ANSWERED
        if queue_status == "ABANDONED" or dial_status == "CANCEL":
            return ABANDONED
        return (queue_status or dial_status).lower() or (self.status or "")


@dataclass(frozen=True)
class CallHistorySummary:
    """What a caller's earlier calls in a window say: how many (counted up
    to MAX_COUNTED_CALLS), the first and the last one, and whether a
    callback request of theirs is pending."""

    calls: int = 0
    first_call: str | None = None
    last: EarlierCall | None = None
    callback_pending: bool = False

    def as_names(self, outcome: str = "", number: str = "") -> dict[str, Any]:
        """The ``history`` names templates read (docs/flows.md): the
        summary, the ``history`` step's ``outcome`` and the ``number`` it
        looked up ("" before any history step ran)."""
        last = self.last
        return {
            "outcome": outcome, "number": number, "calls": self.calls, "first_call": self.first_call,
            "last_call": last.started_at if last else None,
            "last_outcome": (last.outcome if last else None) or "",
            "last_status": (last.status if last else None) or "",
            "last_queue": (last.queue if last else None) or "",
            "last_agent": (last.agent if last else None) or "",
            "last_agent_interface": (last.agent_interface if last else None) or "",
            "last_abandoned": bool(last and last.outcome == ABANDONED),
            "callback_pending": self.callback_pending,
        }


class CallHistory(Protocol):
    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        """The summary of the earlier calls ``query`` selects, and whether a
        callback request for its number (the first spelling, E.164) is
        pending. Raises HistoryUnavailable when they cannot be read within
        the query's timeout."""


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


@dataclass
class Services:
    lists: NumberLists | None = None
    overrides: ScheduleOverrides | None = None
    callbacks: CallbackRequests | None = None
    history: CallHistory | None = None
    override_changes: OverrideChanges | None = None
    supervisors: Supervisors | None = None
    webhooks: Webhooks | None = None
    recordings: RecordingSettings = field(default_factory=RecordingSettings)
    default_region: str = "ES"
    #: Returns a float in [0, 1): percentage splits; injected for tests.
    chance: Callable[[], float] = random.random
    #: Where blocking work of a step runs (PIN checks, override changes):
    #: the server's thread pool; at once elsewhere.
    offload: Offload = run_here
    #: What the server counts (agi/metrics.py); nothing by default. The
    #: compliance guard reports its refusals here (``compliance_refused``).
    metrics: Metrics = NO_METRICS
