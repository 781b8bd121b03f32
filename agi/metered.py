"""Decorators that feed ``agi.metrics.Metrics`` from the seams every call
already goes through: the CDR sink (calls and steps), the command
transport (AGI command turnaround), the number lists (checks by list and
result) and the webhook sender (duration and failures). ``agiflow serve``
wraps its own with them when the metrics listener is on
(agi/services_from_config.py, agi/server/factory.py).
"""
from __future__ import annotations

import inspect
import time
from typing import Any, Awaitable, Callable, Mapping, Protocol

from agi.metrics import (LIST_ERROR, LIST_HIT, LIST_INVALID_NUMBER, LIST_MISS, OTHER, UNKNOWN_FLOW, Metrics,
                         command_name)
from agi.protocol.wire import Reply
from agi.services import ListHit, ListUnavailable, NumberLists, WebhookResult, Webhooks


class CdrSink(Protocol):
    def call_started(self, row: dict[str, Any]) -> None: ...
    def step_finished(self, call: str, step: dict[str, Any]) -> None: ...
    def call_ended(self, call: str, values: dict[str, Any]) -> None: ...


class MeteredCdr:
    """A CDR sink that counts the calls and steps it is handed, and keeps
    the calls running per flow (``active``), before passing them on."""

    def __init__(self, inner: CdrSink, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        #: Calls running now, by the flow they began in.
        self.active: dict[str, int] = {}
        self._flows: dict[str, str] = {}

    def call_started(self, row: dict[str, Any]) -> None:
        flow = row.get("flow") or UNKNOWN_FLOW
        self._flows[row["id"]] = flow
        self.active[flow] = self.active.get(flow, 0) + 1
        self.metrics.call_started(flow)
        self.inner.call_started(row)

    def step_finished(self, call: str, step: dict[str, Any]) -> None:
        self.metrics.step_finished(step["flow"], step["step"], step["outcome"])
        self.inner.step_finished(call, step)

    def call_ended(self, call: str, values: dict[str, Any]) -> None:
        flow = self._flows.pop(call, None)
        if flow is not None:
            left = self.active[flow] - 1
            if left:
                self.active[flow] = left
            else:
                del self.active[flow]
            self.metrics.call_ended(flow, values.get("status") or OTHER, float(values.get("duration") or 0.0))
        self.inner.call_ended(call, values)


class CommandTransport(Protocol):
    hangup_seen: bool

    def send(self, line: bytes) -> Awaitable[Reply]: ...


class MeteredTransport:
    """A command transport that times each command from sending it to
    Asterisk's answer (a command the connection loses is not counted)."""

    def __init__(self, inner: CommandTransport, metrics: Metrics,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.inner = inner
        self.metrics = metrics
        self.clock = clock

    @property
    def hangup_seen(self) -> bool:
        return self.inner.hangup_seen

    @hangup_seen.setter
    def hangup_seen(self, value: bool) -> None:
        self.inner.hangup_seen = value

    @property
    def abort_reason(self) -> str | None:
        return getattr(self.inner, "abort_reason", None)

    def send(self, line: bytes) -> Awaitable[Reply]:
        return self._timed(line)

    async def _timed(self, line: bytes) -> Reply:
        started = self.clock()
        reply = await self.inner.send(line)
        self.metrics.command_done(command_name(line), self.clock() - started)
        return reply


class MeteredLists:
    """Number lists that count each check by list and result."""

    def __init__(self, inner: NumberLists, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def match(self, list_name: str, number: str) -> ListHit | None | Awaitable[ListHit | None]:
        """The inner store's answer, counted when it is known: at once, or
        when an awaitable answer arrives (the server's PostgreSQL lookups,
        sent from its reactor)."""
        try:
            answer = self.inner.match(list_name, number)
        except (ListUnavailable, ValueError) as exc:
            self._failed(list_name, exc)
            raise
        if inspect.isawaitable(answer):
            return self._counted(list_name, answer)
        self._found(list_name, answer)
        return answer

    async def _counted(self, list_name: str, answer: Awaitable[ListHit | None]) -> ListHit | None:
        try:
            hit = await answer
        except (ListUnavailable, ValueError) as exc:
            self._failed(list_name, exc)
            raise
        self._found(list_name, hit)
        return hit

    def _found(self, list_name: str, hit: ListHit | None) -> None:
        self.metrics.list_checked(list_name, LIST_MISS if hit is None else LIST_HIT)

    def _failed(self, list_name: str, exc: Exception) -> None:
        self.metrics.list_checked(list_name, LIST_ERROR if isinstance(exc, ListUnavailable) else LIST_INVALID_NUMBER)


class MeteredWebhooks:
    """A webhook sender that times each POST and counts its failures."""

    def __init__(self, inner: Webhooks, metrics: Metrics, clock: Callable[[], float] = time.perf_counter) -> None:
        self.inner = inner
        self.metrics = metrics
        self.clock = clock

    async def post(self, url: str, payload: Mapping[str, Any], timeout: float,
                   headers: Mapping[str, str]) -> WebhookResult:
        started = self.clock()
        result = await self.inner.post(url, payload, timeout, headers)
        self.metrics.webhook_done(result.ok, self.clock() - started)
        return result

    def post_in_background(self, url: str, payload: Mapping[str, Any], timeout: float,
                           headers: Mapping[str, str], done: Callable[[WebhookResult], None]) -> None:
        started = self.clock()

        def counted(result: WebhookResult) -> None:
            self.metrics.webhook_done(result.ok, self.clock() - started)
            done(result)

        self.inner.post_in_background(url, payload, timeout, headers, counted)
