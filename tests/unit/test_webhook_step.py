"""The webhook step: what it would post (the dry run simulations use), how
a failed POST routes the call, and what validation refuses. Real HTTP is
in tests/test_integration_webhooks.py."""
from __future__ import annotations

import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest

from agi.loading.loader import load_flows
from agi.services import Services, WebhookResult
from agi.simulate import SimulationResult, simulate
from agi.webhooks import DryRunWebhooks, USER_AGENT

AT = datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc)

FLOW = """\
version: 1
name: hook
timezone: Europe/Madrid
params: {crm: crm.example.com, token: s3cret}
start: menu
steps:
  menu:
    menu: {prompt: main-menu, choices: {"1": tag}}
    on: {timeout: notify}
  tag:
    set: {variables: {TEAM: sales}, cdr: {department: sales}}
    next: notify
  notify:
    webhook:
      url: "https://{{ params.crm }}/hooks/missed?caller={{ call.caller }}"
      timeout: 2.5
      headers: {Authorization: "Bearer {{ params.token }}"}
      data:
        event: missed_call
        team: "{{ vars.TEAM | default('none') }}"
        tries: 3
        tags: [vip, "{{ call.called }}"]
    on: {ok: thanks, failed: sorry}
  thanks:
    play: thanks
  sorry:
    play: sorry
"""


class FixedWebhooks:
    """Answers every POST with ``result`` and keeps what it was given."""

    def __init__(self, result: WebhookResult) -> None:
        self.result = result
        self.posts: list[tuple[str, Mapping[str, Any]]] = []

    async def post(self, url: str, payload: Mapping[str, Any], timeout: float,
                   headers: Mapping[str, str]) -> WebhookResult:
        self.posts.append((url, payload))
        return self.result

    def post_in_background(self, url: str, payload: Mapping[str, Any], timeout: float,
                           headers: Mapping[str, str], done: Callable[[WebhookResult], None]) -> None:
        self.posts.append((url, payload))
        done(self.result)


def run(tmp_path: Path, dtmf: list[str | None], webhooks: Any, flow: str = FLOW) -> SimulationResult:
    (tmp_path / "flow.yaml").write_text(textwrap.dedent(flow))
    flows, errors = load_flows([tmp_path])
    assert errors == []
    return simulate(flows.get("hook"), flows, caller="600111222", called="912000000", at=AT, dtmf=dtmf,
                    services=Services(webhooks=webhooks))


def path(result: SimulationResult) -> list[str]:
    return [f"{s['step']}:{s['outcome']}" for s in result.steps]


def details(result: SimulationResult, step: str) -> dict[str, Any]:
    [row] = [s for s in result.steps if s["step"] == step]
    return json.loads(row["details"])


def test_the_post_carries_the_call_its_path_variables_cdr_values_and_the_rendered_data(tmp_path: Path) -> None:
    dry = DryRunWebhooks()
    result = run(tmp_path, ["1"], dry)

    assert path(result) == ["menu:1", "tag:next", "notify:ok", "thanks:next"]
    [post] = result.webhooks
    assert post["url"] == "https://crm.example.com/hooks/missed?caller=600111222"
    assert post["headers"] == {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                               "Authorization": "Bearer s3cret"}
    assert post["timeout"] == 2.5 and post["wait"] is True and post["sent"] is False
    call = result.call["call_id"]
    assert post["payload"] == {
        "call": {"id": call, "caller": "600111222", "caller_name": "", "called": "912000000",
                 "channel": "Local/s@caller-00000000;1", "language": "en", "context": "default",
                 "extension": "s", "args": []},
        "flow": "hook", "step": "notify", "time": "2025-03-10T09:30:00.000+01:00",
        "path": ["menu:1", "tag:next"], "vars": {"TEAM": "sales"},
        "cdr": {"fields": {"department": "sales"}},
        "data": {"event": "missed_call", "team": "sales", "tries": 3, "tags": ["vip", "912000000"]},
    }
    assert details(result, "notify") == {"url": post["url"], "wait": True, "status": None}
    assert not any("crm.example.com" in e.command for e in result.exchanges), "nothing goes to Asterisk"


def test_a_failed_post_takes_the_failed_branch_and_the_cdr_says_why(tmp_path: Path) -> None:
    fixed = FixedWebhooks(WebhookResult(False, status=500, error="HTTP 500: boom"))
    result = run(tmp_path, [None, None, None], fixed)

    assert path(result) == ["menu:timeout", "notify:failed", "sorry:next"]
    assert details(result, "notify")["status"] == 500
    assert details(result, "notify")["error"] == "HTTP 500: boom"
    assert fixed.posts[0][1]["data"]["team"] == "none"


def test_without_waiting_the_step_goes_on_at_once_with_ok_whatever_the_result(tmp_path: Path) -> None:
    fixed = FixedWebhooks(WebhookResult(False, error="no answer within 2.5s"))
    result = run(tmp_path, ["1"], fixed, flow=FLOW.replace("      timeout: 2.5\n", "      timeout: 2.5\n      wait: false\n"))

    assert path(result)[2] == "notify:ok"
    assert details(result, "notify") == {"url": fixed.posts[0][0], "wait": False}


def test_a_rendered_url_that_is_not_http_fails_without_posting(tmp_path: Path) -> None:
    fixed = FixedWebhooks(WebhookResult(True, status=200))
    flow = FLOW.replace("https://{{ params.crm }}", "{{ params.crm }}")
    result = run(tmp_path, ["1"], fixed, flow=flow)

    assert path(result)[2] == "notify:failed"
    assert "use http://host/" in details(result, "notify")["error"]
    assert fixed.posts == []


def test_without_a_webhook_sender_the_step_ends_in_error(tmp_path: Path) -> None:
    result = run(tmp_path, ["1"], None)
    assert path(result)[2] == "notify:error"
    assert result.call["status"] == "error"


@pytest.mark.parametrize("url, message", [
    ("ftp://crm.example.com/x", "use http://host/... or https://host/..."),
    ("http://crm.example.com:99999/x", "Port out of range"),
])
def test_a_written_url_that_cannot_work_is_a_validation_error(tmp_path: Path, url: str, message: str) -> None:
    flow = FLOW.replace('"https://{{ params.crm }}/hooks/missed?caller={{ call.caller }}"', url)
    (tmp_path / "flow.yaml").write_text(flow)
    _, errors = load_flows([tmp_path])
    assert len(errors) == 1 and message in errors[0].message and errors[0].line == 14, errors


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "CONNECTION"])
def test_a_header_that_frames_the_request_is_a_validation_error(tmp_path: Path, name: str) -> None:
    """agiflow writes these from the body it sends: a second Content-Length,
    or a Transfer-Encoding over a body that is not chunked, made a request
    an endpoint reads wrong or refuses."""
    flow = FLOW.replace('headers: {Authorization: "Bearer {{ params.token }}"}', f'headers: {{{name}: "2"}}')
    (tmp_path / "flow.yaml").write_text(flow)
    _, errors = load_flows([tmp_path])
    assert len(errors) == 1 and errors[0].line == 14, errors
    assert f"webhook.headers: {name} is agiflow's to send" in errors[0].message, errors


def test_a_template_error_in_the_data_is_a_validation_error(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW.replace("event: missed_call", "event: \"{{ call.caller \""))
    _, errors = load_flows([tmp_path])
    assert any("webhook.data.event: template error" in e.message for e in errors), errors


def test_background_webhooks_in_flight_are_bounded_and_one_more_fails_at_once() -> None:
    """An endpoint that never answers held a socket per background webhook
    until its timeout, without limit: enough calls took the file descriptors
    new calls need."""
    from twisted.internet.testing import MemoryReactorClock

    from agi.server.webhooks import MAX_BACKGROUND, TwistedWebhooks
    reactor = MemoryReactorClock()
    hooks = TwistedWebhooks(reactor, resolver=reactor.nameResolver)  # addresses found at once
    results: list[WebhookResult] = []
    for _ in range(MAX_BACKGROUND + 2):
        hooks.post_in_background("http://127.0.0.1:9/never", {}, 5.0, {}, results.append)
    assert len(reactor.tcpClients) == MAX_BACKGROUND  # connecting, never answered
    assert [r.ok for r in results] == [False, False]
    assert results[0].error == f"not sent: {MAX_BACKGROUND} background webhooks already wait for their answers"
    reactor.advance(6)  # their timeout: each ends failed, and frees its place
    assert len(results) == MAX_BACKGROUND + 2 and hooks.background == 0
    hooks.post_in_background("http://127.0.0.1:9/never", {}, 5.0, {}, results.append)
    assert len(reactor.tcpClients) == MAX_BACKGROUND + 1


class _TakenPool:
    """The reactor's thread pool with every thread taken: work waits in it."""

    def __init__(self) -> None:
        self.waiting: list[tuple[object, ...]] = []

    def callInThreadWithCallback(self, on_result: object, func: object, *args: object, **kwargs: object) -> None:
        self.waiting.append(args)


def test_a_webhook_looks_its_host_name_up_in_threads_of_its_own_not_the_reactor_pool() -> None:
    """A CRM whose name server never answered held the reactor's pool with
    its lookups (each seconds long, past the webhook's timeout): /ready and
    flow reloads run there, and after 40 such calls /ready answered 23 s late."""
    import queue

    from twisted.internet._resolver import GAIResolver
    from twisted.internet.testing import MemoryReactorClock

    from agi.server.webhooks import TwistedWebhooks

    class Reactor(MemoryReactorClock):
        def __init__(self) -> None:
            super().__init__()
            self.pool = _TakenPool()
            self.nameResolver = GAIResolver(self, lambda: self.pool)  # the real reactor's default
            self.from_threads: queue.Queue[tuple[Any, tuple[Any, ...]]] = queue.Queue()

        def callFromThread(self, f: Any, *args: Any) -> None:
            self.from_threads.put((f, args))

    reactor = Reactor()
    hooks = TwistedWebhooks(reactor)
    hooks.post_in_background("http://localhost:9/hook", {}, 5.0, {}, lambda result: None)
    assert reactor.pool.waiting == []
    deliver, args = reactor.from_threads.get(timeout=10)  # the lookup's answer, from a thread of the webhooks'
    deliver(*args)
    assert reactor.tcpClients and reactor.tcpClients[0][1] == 9  # connecting to the address found


def _request_line(url: str) -> bytes:
    """The request line a webhook to ``url`` writes on its connection."""
    from twisted.internet.testing import MemoryReactorClock, StringTransport

    from agi.server.webhooks import TwistedWebhooks
    reactor = MemoryReactorClock()
    results: list[WebhookResult] = []
    TwistedWebhooks(reactor, resolver=reactor.nameResolver).post_in_background(url, {}, 5.0, {}, results.append)
    assert not results, results  # not failed before it was sent
    transport = StringTransport()
    reactor.tcpClients[0][2].buildProtocol(None).makeConnection(transport)
    return transport.value().split(b"\r\n", 1)[0]


@pytest.mark.parametrize(("url", "line"), [
    ("http://127.0.0.1/missed/Ana López?name=Ana López&x=a%20b",
     b"POST /missed/Ana%20L%C3%B3pez?name=Ana%20L%C3%B3pez&x=a%20b HTTP/1.1"),
    ("http://127.0.0.1/c/Иван", b"POST /c/%D0%98%D0%B2%D0%B0%D0%BD HTTP/1.1"),
])
def test_a_url_with_spaces_or_letters_outside_ascii_is_sent_percent_encoded(url: str, line: bytes) -> None:
    """A caller name rendered into the URL failed every post: 'cannot send:
    Invalid URI' for a space, an 'ascii' codec error for a letter such as ó."""
    assert _request_line(url) == line


def test_an_international_host_name_is_sent_in_idna() -> None:
    """``http://bücher.localhost/`` passed validation, then failed every post
    with an 'ascii' codec error."""
    from twisted.internet.testing import MemoryReactorClock

    from agi.server.webhooks import TwistedWebhooks
    reactor = MemoryReactorClock()
    asked: list[str] = []

    class Names:
        def resolveHostName(self, receiver: Any, host: str, *args: Any, **kwargs: Any) -> Any:
            asked.append(host)
            return reactor.nameResolver.resolveHostName(receiver, "127.0.0.1", *args, **kwargs)

    results: list[WebhookResult] = []
    TwistedWebhooks(reactor, resolver=Names()).post_in_background("http://bücher.localhost:8080/x", {}, 5.0, {},
                                                                   results.append)
    assert not results and asked == ["xn--bcher-kva.localhost"]


def test_lookups_a_name_server_leaves_unanswered_are_bounded_and_one_more_webhook_fails_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook's timeout does not take its name lookup back: with a name
    server that never answered, every call queued one more lookup, without end."""
    import threading
    import time

    from twisted.internet.testing import MemoryReactorClock

    from agi.server import webhooks
    answer = threading.Event()

    def unanswered(*args: Any) -> Any:
        answer.wait(10)
        raise OSError("no answer")

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", unanswered)

    class Reactor(MemoryReactorClock):
        def callFromThread(self, f: Any, *args: Any) -> None:
            pass

    reactor = Reactor()
    hooks = webhooks.TwistedWebhooks(reactor)
    results: list[WebhookResult] = []
    for _ in range(webhooks.MAX_LOOKUPS):
        hooks.post_in_background("http://crm.example.com/hook", {}, 2.0, {}, results.append)
    reactor.advance(3)  # each webhook fails at its timeout; its lookup still waits
    assert len(results) == webhooks.MAX_LOOKUPS and hooks.background == 0
    hooks.post_in_background("http://crm.example.com/hook", {}, 2.0, {}, results.append)
    assert results[-1].error == f"not sent: {webhooks.MAX_LOOKUPS} host name lookups already wait for a name server"
    answer.set()
    deadline = time.monotonic() + 10
    while hooks.lookups and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hooks.lookups == 0


def test_a_name_with_many_addresses_that_never_answer_holds_few_sockets() -> None:
    """Twisted tries one more address every 0.3 s while the others still
    connect: a name with 200 addresses that drop every packet held 200
    sockets for one 60-second webhook, and 64 background ones could take
    every file descriptor the calls need."""
    from twisted.internet.address import IPv4Address
    from twisted.internet.interfaces import IHostResolution
    from twisted.internet.testing import MemoryReactorClock
    from zope.interface import implementer

    from agi.server import webhooks
    reactor = MemoryReactorClock()

    @implementer(IHostResolution)
    class Resolution:
        name = "many.example"

    class Names:
        def resolveHostName(self, receiver: Any, host: str, portNumber: int = 0, *args: Any, **kwargs: Any) -> Any:
            receiver.resolutionBegan(Resolution())
            for i in range(200):
                receiver.addressResolved(IPv4Address("TCP", f"192.0.2.{i}", portNumber))
            receiver.resolutionComplete()
            return Resolution()

    results: list[WebhookResult] = []
    webhooks.TwistedWebhooks(reactor, resolver=Names()).post_in_background("http://many.example/x", {}, 60.0, {},
                                                                         results.append)
    for _ in range(700):
        reactor.advance(0.1)
    assert len(reactor.tcpClients) <= webhooks.MAX_ADDRESSES < 10
    assert len(results) == 1 and not results[0].ok
