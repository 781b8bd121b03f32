"""The FastAGI protocol on Twisted, driven through StringTransport and a
fake clock: no sockets, no real time."""
from __future__ import annotations

import contextlib
import logging
import socket
import textwrap
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import task
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import StringTransport

from agi.storage.cdr_memory import MemoryCdr
from agi.config import ServerConfig
from agi.loading.loader import load_flows
from agi.engine.model import FlowSet
from agi.server.factory import FastAGIFactory

FLOW = """\
version: 1
name: demo
start: answer
steps:
  answer:
    answer:
    next: play
  play:
    play: hello
    next: bye
  bye:
    hangup:
"""

ENV = (b"agi_network: yes\nagi_network_script: demo?lang=es\nagi_uniqueid: 1795385106.0\n"
       b"agi_callerid: +34600111222\nagi_calleridname: Ana: Caller\nagi_arg_1: one\n\n")


@pytest.fixture
def flows(tmp_path: Path) -> FlowSet:
    (tmp_path / "demo.yaml").write_text(textwrap.dedent(FLOW))
    loaded, errors = load_flows([tmp_path])
    assert errors == []
    return loaded


class Harness:
    def __init__(self, flows: FlowSet, **config: Any) -> None:
        self.clock = task.Clock()
        self.cdr = MemoryCdr()
        self.factory = FastAGIFactory(lambda: flows, self.cdr, ServerConfig(**config), self.clock,
                                      wallclock=lambda: 1_800_000_000.0)

    def connect(self, host: str = "127.0.0.1") -> tuple[Any, StringTransport]:
        proto = self.factory.buildProtocol(None)
        address = (IPv6Address if ":" in host else IPv4Address)("TCP", host, 40000)
        transport = StringTransport(peerAddress=address)
        proto.makeConnection(transport)
        return proto, transport


def sent(transport: StringTransport) -> list[str]:
    lines = transport.value().decode().split("\n")
    transport.clear()
    return [line for line in lines if line]


def test_call_runs_one_command_at_a_time_and_closes_at_the_end(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(ENV)
    assert sent(transport) == ["ANSWER"]
    proto.dataReceived(b"200 result=0\n")
    assert sent(transport) == ['STREAM FILE "hello" ""']
    proto.dataReceived(b"200 result=0 endpos=3404\n")
    assert sent(transport) == ["HANGUP"]
    assert not transport.disconnecting
    proto.dataReceived(b"200 result=1\nHANGUP\n")
    assert sent(transport) == ['SET VARIABLE "AGIFLOW_STATUS" "completed"']
    assert not transport.disconnecting
    proto.dataReceived(b"200 result=1\n")
    assert transport.disconnecting
    [row] = h.cdr.calls.values()
    assert row["status"] == "completed" and row["path"] == "answer:next > play:next > bye:done"
    assert row["caller_name"] == "Ana: Caller" and row["requested_flow"] == "demo?lang=es"


def test_hangup_line_before_the_reply_is_not_taken_as_the_reply(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(ENV)
    proto.dataReceived(b"200 result=0\n")
    assert sent(transport) == ["ANSWER", 'STREAM FILE "hello" ""']
    proto.dataReceived(b"200 result=-1 endpos=16160\n")
    assert sent(transport) == ["NOOP"]
    proto.dataReceived(b"HANGUP\n200 result=0\n")
    assert sent(transport) == ['GET VARIABLE "HANGUPCAUSE"']
    proto.dataReceived(b"200 result=1 (16)\n")
    assert sent(transport) == ['SET VARIABLE "AGIFLOW_STATUS" "caller_hangup"']
    proto.dataReceived(b"200 result=1\n")
    assert transport.disconnecting
    [row] = h.cdr.calls.values()
    assert row["status"] == "caller_hangup" and row["path"] == "answer:next > play:hangup"
    assert row["hangup_cause"] == "16"


def test_a_200_line_inside_a_multi_line_answer_is_not_taken_as_the_reply(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(ENV)
    proto.dataReceived(b"200 result=0\r\n")  # a whole reply in one segment, with CRLF
    assert sent(transport) == ["ANSWER", 'STREAM FILE "hello" ""']
    proto.dataReceived(b"520-Invalid command syntax.  Proper usage follows:\n")
    proto.dataReceived(b"200 result=0 is what it answers\n")  # a usage line, each in its own segment
    assert sent(transport) == []
    proto.dataReceived(b"520 End of proper usage.\n")
    assert sent(transport) == ['SET VARIABLE "AGIFLOW_STATUS" "error"']
    proto.dataReceived(b"200 result=1\n")
    assert transport.disconnecting
    [row] = h.cdr.calls.values()
    assert row["status"] == "error" and row["path"] == "answer:next > play:error"


def test_a_multi_line_answer_that_never_ends_closes_the_connection_and_the_cdr_says_why(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(ENV)
    proto.dataReceived(b"520-Invalid command syntax.  Proper usage follows:\n")
    for _ in range(100):
        proto.dataReceived(b"Usage: ANSWER\n" * 100)
    assert transport.disconnecting or transport.disconnected
    proto.connectionLost()
    [row] = h.cdr.calls.values()
    assert row["status"] == "interrupted" and "multi-line answer longer than 256 lines" in row["error"]


@pytest.mark.parametrize("head, line", [
    (b"", b"HANGUP\n"),
    (b"", b"100 result=0 Trying...\n"),
    (b"520-Invalid command syntax.  Proper usage follows:\n", b"HANGUP\n"),  # not lines of the answer either
], ids=["hangup", "trying", "hangup-inside-an-answer"])
def test_lines_that_answer_no_command_past_1024_in_a_row_close_the_connection(
        flows: FlowSet, head: bytes, line: bytes) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(ENV)
    proto.dataReceived(head + line * (1024 - len(head.splitlines())))
    assert not transport.disconnecting
    proto.dataReceived(line)
    assert transport.disconnecting or transport.disconnected
    proto.connectionLost()
    [row] = h.cdr.calls.values()
    assert row["status"] == "interrupted"
    assert row["error"] == "Asterisk sent more than 1024 lines in a row that answer no command"


def test_lines_that_answer_no_command_are_counted_from_the_last_reply(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(ENV)
    assert sent(transport) == ["ANSWER"]
    trying = b"100 result=0 Trying...\n"
    proto.dataReceived(trying * 1000 + b"200 result=0\n")
    assert sent(transport) == ['STREAM FILE "hello" ""']
    proto.dataReceived(trying * 1000 + b"200 result=0 endpos=3404\n")
    assert sent(transport) == ["HANGUP"] and not transport.disconnecting


def test_replies_split_into_single_bytes_are_reassembled(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    for byte in ENV + b"200 result=0\n":
        proto.dataReceived(bytes([byte]))
    assert sent(transport) == ["ANSWER", 'STREAM FILE "hello" ""']


def test_unknown_flow_ends_the_agi_with_a_status_and_a_cdr(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(ENV.replace(b"demo?lang=es", b"nosuch"))
    assert sent(transport) == ['SET VARIABLE "AGIFLOW_STATUS" "unknown_flow"']
    proto.dataReceived(b"200 result=1\n")
    assert transport.disconnecting
    [row] = h.cdr.calls.values()
    assert row["status"] == "unknown_flow"


def test_fallback_context_is_set_before_closing_when_configured(flows: FlowSet) -> None:
    from agi.session import Fallback
    h = Harness(flows, fallback=Fallback("agiflow-fallback"))
    proto, transport = h.connect()
    proto.dataReceived(ENV.replace(b"demo?lang=es", b"nosuch"))
    for _ in range(4):
        proto.dataReceived(b"200 result=1\n")
    assert sent(transport) == ['SET VARIABLE "AGIFLOW_STATUS" "unknown_flow"', 'SET CONTEXT "agiflow-fallback"',
                               'SET EXTENSION "s"', 'SET PRIORITY "1"']
    assert transport.disconnecting


def test_client_that_never_sends_the_environment_is_closed_after_the_timeout(flows: FlowSet) -> None:
    h = Harness(flows, env_timeout=2)
    proto, transport = h.connect()
    proto.dataReceived(b"agi_network: yes\n")
    h.clock.advance(1.9)
    assert not transport.disconnecting
    h.clock.advance(0.2)
    assert transport.disconnecting
    assert h.cdr.calls == {}


def test_close_in_the_middle_of_the_environment_leaves_nothing_running(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(b"agi_network: yes\nagi_netw")
    proto.connectionLost()
    assert h.factory.connections == set() and h.clock.getDelayedCalls() == []


def test_connection_lost_mid_command_ends_the_call_with_its_cdr(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(ENV)
    proto.connectionLost()
    [row] = h.cdr.calls.values()
    assert row["status"] == "caller_hangup" and row["path"] == "answer:hangup"
    assert h.factory.calls == {}


def test_line_over_the_limit_closes_only_that_connection(flows: FlowSet) -> None:
    h = Harness(flows, max_reply_line=1024)
    proto, transport = h.connect()
    other, other_transport = h.connect()
    proto.dataReceived(b"agi_x: " + b"a" * 2000 + b"\n")
    assert transport.disconnecting
    other.dataReceived(ENV)
    assert sent(other_transport) == ["ANSWER"]


class HangingWebhooks:
    """A webhook endpoint that never answers: the call waits with no AGI command pending."""

    def post(self, *args: Any) -> Any:
        from twisted.internet import defer
        return defer.Deferred()


def test_lines_that_answer_no_command_are_logged_ten_times_then_counted_once_at_the_close(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from agi.services import Services
    (tmp_path / "hook.yaml").write_text("version: 1\nname: hook\nstart: tell\nsteps:\n"
                                        "  tell:\n    webhook: {url: 'http://127.0.0.1:9/x'}\n")
    flows, errors = load_flows([tmp_path])
    assert errors == []
    h = Harness(flows)
    h.factory.services = Services(webhooks=HangingWebhooks())  # type: ignore[arg-type]
    proto, transport = h.connect()
    proto.dataReceived(ENV.replace(b"demo?lang=es", b"hook"))
    assert sent(transport) == []  # waiting for the webhook
    with caplog.at_level(logging.WARNING, logger="agiflow.server"):
        for _ in range(8):  # as many as may come in a row (MAX_LINES_WITHOUT_REPLY)
            proto.dataReceived(b"junk %s %d line\n" * 128)
        assert not transport.disconnecting
        proto.connectionLost()
    messages = [record.getMessage() for record in caplog.records if record.name == "agiflow.server"]
    assert len(messages) == 11
    assert messages[9].endswith("'junk %s %d line'; further ones from this connection are only counted")
    assert messages[10] == "127.0.0.1:40000: 1014 more unexpected lines were not logged"


def test_connections_beyond_max_calls_are_refused_and_counted(flows: FlowSet) -> None:
    h = Harness(flows, max_calls=1)
    _, first = h.connect()
    _, second = h.connect()
    assert not first.disconnecting and second.disconnecting
    assert h.factory.rejected == 1


def test_allowlist_refuses_other_addresses(flows: FlowSet) -> None:
    h = Harness(flows, allow=("10.0.0.5",))
    _, transport = h.connect("127.0.0.1")
    assert transport.disconnecting and h.factory.rejected == 1


def test_allowlist_takes_ipv4_mapped_peers_and_networks(flows: FlowSet) -> None:
    h = Harness(flows, allow=("127.0.0.1", "10.1.0.0/16", "2001:db8::/32"))
    accepted = {host: not h.connect(host)[1].disconnecting
                for host in ("::ffff:127.0.0.1", "127.0.0.1", "10.1.200.3", "::ffff:10.1.0.9", "2001:db8::7",
                             "10.2.0.1", "::1", "::ffff:127.0.0.2", "2001:db9::1")}
    assert accepted == {"::ffff:127.0.0.1": True, "127.0.0.1": True, "10.1.200.3": True, "::ffff:10.1.0.9": True,
                        "2001:db8::7": True, "10.2.0.1": False, "::1": False, "::ffff:127.0.0.2": False,
                        "2001:db9::1": False}
    assert h.factory.rejected == 4


def test_drain_waits_for_running_calls_then_cuts_them(flows: FlowSet) -> None:
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(ENV)
    done = h.factory.drain(30)
    assert not done.called
    _, late = h.connect()
    assert late.disconnecting
    h.clock.advance(31)
    assert transport.disconnecting
    proto.connectionLost()
    assert done.called
    [row] = h.cdr.calls.values()
    assert row["status"] == "interrupted"


def test_the_drain_names_connections_still_sending_their_environment_apart_from_calls(
        flows: FlowSet, caplog: pytest.LogCaptureFixture) -> None:
    """A connection accepted just before the stop still gets its env_timeout
    to become a call; it was counted as a call when cut ("draining 1
    calls", then "cutting 2 calls")."""
    h = Harness(flows, env_timeout=60.0)
    proto, _ = h.connect()
    proto.dataReceived(ENV)
    _, silent = h.connect()
    with caplog.at_level(logging.INFO, logger="agiflow.server"):
        h.factory.drain(30)
        h.clock.advance(31)
    lines = [r.getMessage() for r in caplog.records if "drain" in r.getMessage()]
    assert lines == ["draining 1 calls and 1 connections still sending their environment (up to 30s)",
                     "drain timeout: cutting 1 calls and 1 connections still sending their environment"]
    assert silent.disconnecting


class SocketTransport(StringTransport):
    """A StringTransport whose handle is a real socket, as a TCP transport's is."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
        self.sock = sock

    def getHandle(self) -> socket.socket:
        return self.sock


def test_commands_go_straight_to_the_socket_until_it_is_full_then_through_the_transport(flows: FlowSet) -> None:
    ours, asterisk = socket.socketpair()
    ours.setblocking(False)
    asterisk.setblocking(False)
    with ours, asterisk:
        proto = Harness(flows).factory.buildProtocol(None)
        transport = SocketTransport(ours)
        proto.makeConnection(transport)
        proto.dataReceived(ENV)
        assert asterisk.recv(100) == b"ANSWER\n" and transport.value() == b""
        with contextlib.suppress(BlockingIOError):
            while True:  # Asterisk stops reading: the socket's buffer fills up
                ours.send(b"x" * 65536)
        proto.dataReceived(b"200 result=0\n")
        assert transport.value() == b'STREAM FILE "hello" ""\n'
        with contextlib.suppress(BlockingIOError):
            while asterisk.recv(1 << 20):  # Asterisk reads again
                pass
        proto.dataReceived(b"200 result=0 endpos=100\n")
        # still through the transport: nothing may overtake what waits in its buffer
        assert transport.value() == b'STREAM FILE "hello" ""\nHANGUP\n'


class StalledWebhooks:
    """Webhooks whose POST never answers (the step's own timeout is up to 60 s).
    ``raises``: a cut wait raises where it waits (as a database read does),
    else it gives a failed result (as the server's webhooks do)."""

    def __init__(self, raises: bool) -> None:
        self.pending: list[Any] = []
        self.raises = raises

    async def post(self, url: str, payload: Any, timeout: float, headers: Any) -> Any:
        from twisted.internet.defer import CancelledError, Deferred

        from agi.services import WebhookResult
        waiting: Deferred[Any] = Deferred()
        self.pending.append(waiting)
        try:
            return await waiting
        except CancelledError:
            if self.raises:
                raise
            return WebhookResult(False, error="cancelled")

    def post_in_background(self, *args: Any) -> None:
        raise AssertionError("not used")


@pytest.mark.parametrize("caller_hung_up", [False, True])
@pytest.mark.parametrize("raises", [False, True])
def test_the_drain_timeout_cuts_a_call_waiting_on_a_webhook(tmp_path: Path, caller_hung_up: bool, raises: bool,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """At the drain timeout a call still waiting for a webhook's answer is
    cut as any other, its connection gone or not: the drain once waited for
    the webhook's own timeout (up to 60 s a step) past ``drain_timeout``."""
    from agi.services import Services
    (tmp_path / "hook.yaml").write_text(textwrap.dedent("""\
        version: 1
        name: hook
        start: answer
        steps:
          answer:
            answer:
            next: tell
          tell:
            webhook: {url: "http://127.0.0.1:9/x", timeout: 60}
            on: {ok: again, failed: again, hangup: again, error: again}
          again:
            webhook: {url: "http://127.0.0.1:9/y", timeout: 60}
            on: {ok: bye, failed: bye, hangup: bye, error: bye}
          bye:
            hangup:
        """))
    loaded, errors = load_flows([tmp_path])
    assert errors == []
    webhooks = StalledWebhooks(raises)
    clock, cdr = task.Clock(), MemoryCdr()
    factory = FastAGIFactory(lambda: loaded, cdr, ServerConfig(), clock, wallclock=lambda: 1_800_000_000.0,
                             services=Services(webhooks=webhooks))
    proto = factory.buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    proto.makeConnection(transport)
    proto.dataReceived(ENV.replace(b"demo?lang=es", b"hook"))
    proto.dataReceived(b"200 result=0\n")  # ANSWER
    assert len(webhooks.pending) == 1
    if caller_hung_up:
        proto.connectionLost()
    done = factory.drain(5)
    clock.advance(6)
    if not caller_hung_up:
        assert transport.disconnecting
        proto.connectionLost()
    assert done.called, "the drain still waits for the webhook"
    [row] = cdr.calls.values()
    assert row["status"] == "interrupted" and "drain timeout" in row["error"]
    assert len(webhooks.pending) == (1 if raises else 2)  # a next webhook step is cut as it starts
    assert "crashed" not in caplog.text  # a cut is no crash


def test_caller_name_holding_a_blank_line_neither_ends_the_environment_nor_shifts_replies(flows: FlowSet) -> None:
    # As Asterisk 22.11 writes CALLERID(name) "A\nB\n\nagi_network_script: other": unescaped.
    env = (b"agi_network: yes\nagi_network_script: demo\nagi_uniqueid: 1796677756.2\nagi_version: 22.11.0-rc1\n"
           b"agi_callerid: +34600111222\nagi_calleridname: A\nB\n\nagi_network_script: other\nagi_callingpres: 0\n"
           b"agi_dnid: unknown\nagi_rdnis: unknown\nagi_context: lab-in\nagi_extension: demo\n"
           b"agi_accountcode: \nagi_threadid: 140434544076480\n\n")
    h = Harness(flows)
    proto, transport = h.connect()
    proto.dataReceived(env)
    assert sent(transport) == ["ANSWER"]
    proto.dataReceived(b"200 result=0\n")
    assert sent(transport) == ['STREAM FILE "hello" ""']
    proto.dataReceived(b"200 result=0 endpos=3404\n")
    assert sent(transport) == ["HANGUP"]


DIAL_FLOW = """\
version: 1
name: demo
start: answer
steps:
  answer:
    answer:
    next: dial
  dial:
    dial: {destination: Local/agent-ana@lab-agents, callerid: {name: Lab Desk}}
    on: {answer: bye, busy: bye, noanswer: bye, cancel: bye, congestion: bye, chanunavail: bye}
  bye:
    hangup:
"""


@pytest.mark.parametrize("segments", [
    [b"200 result=1 (Ana\n\nagi_network_script: e2e_menu\nagi_callerid: +34911111111\n)\n"],
    [b"200 result=1 (Ana\n", b"\nagi_network_script: e2e_menu\n", b"agi_callerid: +34911111111\n)\n"],
])
def test_a_caller_name_read_back_with_line_breaks_is_one_answer_and_is_put_back_to_its_first_line(
        tmp_path: Path, segments: list[bytes]) -> None:
    # As Asterisk 22.11 answers GET VARIABLE of a name that holds line breaks: unescaped.
    (tmp_path / "demo.yaml").write_text(DIAL_FLOW)
    loaded, errors = load_flows([tmp_path])
    assert errors == []
    h = Harness(loaded)
    proto, transport = h.connect()
    proto.dataReceived(ENV)
    assert sent(transport) == ["ANSWER"]
    proto.dataReceived(b"200 result=0\n")
    assert sent(transport) == ['GET VARIABLE "CALLERID(name)"']
    for segment in segments:
        proto.dataReceived(segment)
    assert sent(transport) == ['SET VARIABLE "CALLERID(name)" "Lab Desk"']
    proto.dataReceived(b"200 result=1\n")
    assert sent(transport) == ['EXEC "Dial" "Local/agent-ana@lab-agents"']
    proto.dataReceived(b"200 result=0\n")
    assert sent(transport) == ['SET VARIABLE "CALLERID(name)" "Ana"']
