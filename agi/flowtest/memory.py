"""In-memory services for one test case: number lists written in the case,
schedule overrides, and webhooks recorded instead of sent (callback requests
are kept by ``agi.storage.callbacks.MemoryCallbackRequests``). Nothing here reads the database or the network, so a test
case gives the same result on every machine."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from agi.lists.numbers import PREFIX_MARK, normaliser, probe_keys
from agi.services import (MAX_COUNTED_CALLS, PIN_NONE, CallHistorySummary, EarlierCall, HistoryQuery,
                          HistoryUnavailable, ListHit, ListUnavailable, Override, OverridesUnavailable, PinCheck, SupervisorsUnavailable,
                          WebhookResult)
from agi.storage.supervisors import NOT_WANTED, judge
from agi.vocabulary import iso
from agi.webhooks import DryRunWebhooks

#: A list given as ``unavailable`` in a case: reading it fails, as a
#: missing or corrupt list does on a server.
UNAVAILABLE = "unavailable"


class MemoryLists:
    """``NumberLists`` over the lists a case names, matching as the server's
    SQLite lists do: entries and numbers in E.164 (national forms read in
    ``region``), the exact entry first, else the longest prefix (an entry
    written with a trailing ``*``). A list the case does not name, or names
    as ``unavailable``, raises ListUnavailable."""

    def __init__(self, lists: Mapping[str, Sequence[str] | str], region: str) -> None:
        self.normaliser = normaliser(region)
        self._lists: dict[str, frozenset[str] | None] = {
            name: None if entries == UNAVAILABLE else frozenset(map(self.normaliser.key, entries))
            for name, entries in lists.items()}

    def match(self, list_name: str, number: str) -> ListHit | None:
        if list_name not in self._lists:
            raise ListUnavailable(f"list '{list_name}' is not given in this test case")
        keys = self._lists[list_name]
        if keys is None:
            raise ListUnavailable(f"list '{list_name}' is unavailable in this test case")
        for key in probe_keys(self.normaliser.number(number)):
            if key in keys:
                prefix = key.endswith(PREFIX_MARK)
                return ListHit(list_name, key[:-1] if prefix else key, prefix)
        return None


@dataclass(frozen=True)
class CaseOverride:
    """A schedule override a case gives: from ``start`` (from the beginning
    without one) until ``until`` (without one it lasts the call)."""

    schedule: str
    state: str
    until: datetime | None = None
    reason: str = ""
    start: datetime | None = None


class MemoryOverrides:
    """``ScheduleOverrides`` from the case: each named schedule forced open
    or closed from ``start`` until ``until``, and for no moment outside. One
    without ``until`` is in force for the rest of the call, and steps see it
    end a day after the moment they ask."""

    def __init__(self, overrides: Sequence[CaseOverride]) -> None:
        self._overrides = {o.schedule: o for o in overrides}

    def set(self, override: Override, now: datetime, wanted: Callable[[], bool] = lambda: True) -> None:
        """An override a step sets during the case, seen by later steps."""
        if not wanted():
            raise OverridesUnavailable("not changed: the call had stopped waiting for the database")
        self._overrides[override.schedule] = CaseOverride(override.schedule, override.state, override.until,
                                                          override.reason, override.start)

    def clear(self, schedule: str, wanted: Callable[[], bool] = lambda: True) -> bool:
        if not wanted():
            raise OverridesUnavailable("not changed: the call had stopped waiting for the database")
        return self._overrides.pop(schedule, None) is not None

    def active(self, schedule: str, at: datetime) -> Override | None:
        override = self.unexpired(schedule, at)
        return override if override is not None and override.in_force(at) else None

    def unexpired(self, schedule: str, at: datetime) -> Override | None:
        given = self._overrides.get(schedule)
        if given is None:
            return None
        override = Override(schedule, given.state, given.until or at + timedelta(days=1), given.reason, given.start)
        return override if at < override.until else None


@dataclass(frozen=True)
class CaseCall:
    """An earlier call a case gives for the ``history`` step; ``caller``
    None is the case's own caller."""

    at: datetime
    caller: str | None = None
    status: str = "completed"
    queue: str | None = None
    queue_status: str | None = None
    dial_status: str | None = None
    agent: str | None = None
    agent_interface: str | None = None


class MemoryHistory:
    """``CallHistory`` over the earlier calls a case gives (or
    ``unavailable``: every lookup fails), read as the server reads the CDR database: a
    call counts when its caller ID, as stored, is one of the query's
    spellings and it started in the window."""

    def __init__(self, calls: Sequence[CaseCall] | str, caller: str, pending: Sequence[str]) -> None:
        self.calls = calls
        self.caller = caller
        self.pending = frozenset(pending)

    async def lookup(self, query: HistoryQuery) -> CallHistorySummary:
        if isinstance(self.calls, str):
            raise HistoryUnavailable("the history is unavailable in this test case")
        found = sorted((c for c in self.calls if (c.caller if c.caller is not None else self.caller) in query.spellings
                        and query.since <= c.at < query.until), key=lambda c: c.at, reverse=True)
        found = found[:MAX_COUNTED_CALLS]
        if not found:
            return CallHistorySummary(callback_pending=query.spellings[0] in self.pending)
        last = found[0]
        earlier = EarlierCall(iso(last.at.timestamp()) or "", last.status, last.queue, last.queue_status,
                              last.dial_status, last.agent, last.agent_interface)
        return CallHistorySummary(len(found), iso(found[-1].at.timestamp()), earlier,
                                  query.spellings[0] in self.pending)


class MemorySupervisors:
    """``Supervisors`` over the PINs a case gives (``unavailable``: every
    check fails), with the server's rule for wrong PINs and locks; the
    audit log is kept in ``audit_log``."""

    def __init__(self, pins: Mapping[str, str] | str) -> None:
        self.pins = pins
        self.failures: dict[str, tuple[int, datetime | None]] = {}
        self.audit_log: list[dict[str, str]] = []

    def check_pin(self, number: str, pin: str, at: datetime, call_id: str,
                  wanted: Callable[[], bool] = lambda: True) -> PinCheck:
        if isinstance(self.pins, str):
            raise SupervisorsUnavailable("supervisor PINs are unavailable in this test case")
        if not wanted():
            raise SupervisorsUnavailable(NOT_WANTED)
        if number not in self.pins:
            check = PinCheck(PIN_NONE)
        else:
            failures, locked = self.failures.get(number, (0, None))
            check = judge(lambda: pin == self.pins[number], failures, locked, at)  # type: ignore[index]
            self.failures[number] = (check.failures, check.locked_until)
        self.audit(number, "pin", check.result, at, call_id)
        return check

    def audit(self, number: str, action: str, result: str, at: datetime, call_id: str, detail: str = "") -> None:
        if isinstance(self.pins, str):
            raise SupervisorsUnavailable("supervisor PINs are unavailable in this test case")
        self.audit_log.append({"number": number, "action": action, "result": result, "detail": detail})


class CaseWebhooks:
    """``Webhooks`` that sends nothing: each POST is recorded as
    ``agiflow simulate`` records it (``posts``), and answered with the
    HTTP status the case gives, or a timeout."""

    def __init__(self, response: int | str = 200) -> None:
        self.response = response
        self._dry_run = DryRunWebhooks()

    @property
    def posts(self) -> list[dict[str, Any]]:
        return self._dry_run.posts

    async def post(self, url: str, payload: Mapping[str, Any], timeout: float,
                   headers: Mapping[str, str]) -> WebhookResult:
        return self._answer(await self._dry_run.post(url, payload, timeout, headers), timeout)

    def post_in_background(self, url: str, payload: Mapping[str, Any], timeout: float,
                           headers: Mapping[str, str], done: Callable[[WebhookResult], None]) -> None:
        self._dry_run.post_in_background(url, payload, timeout, headers,
                                         lambda result: done(self._answer(result, timeout)))

    def _answer(self, recorded: WebhookResult, timeout: float) -> WebhookResult:
        if not recorded.ok:  # a URL that cannot be posted to fails as it would on a server
            return recorded
        if not isinstance(self.response, int):
            return WebhookResult(ok=False, error=f"no answer within {timeout:g} s")
        return WebhookResult(ok=200 <= self.response < 300, status=self.response)


def fixed_chance(values: Sequence[float]) -> Callable[[], float]:
    """``Services.chance`` giving ``values`` in turn, then the last one again."""
    remaining = list(values)

    def chance() -> float:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]
    return chance
