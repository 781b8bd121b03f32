"""What the server counts: the metrics interface and its no-op default, the
decorators that feed it at the CDR sink, the command transport, the number
lists and the webhook sender, and their Prometheus names and labels. Label
values come from fixed sets and loaded flows only."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agi.call_guard import DO_NOT_CALL, NO_CONSENT
from agi.channel import Channel, CommandRefused
from agi.engine.model import FlowSet
from agi.loading.loader import flow_from_document, load_flows
from agi.loading.yamlio import load_yaml
from agi.metered import MeteredCdr, MeteredLists, MeteredTransport, MeteredWebhooks
from agi.metrics import NO_METRICS, OTHER, UNKNOWN_FLOW, command_name, refusal_kind
from agi.ready import Ready
from agi.server.prometheus import PrometheusMetrics
from agi.services import ListHit, ListUnavailable, Services, WebhookResult
from agi.session import SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import SimTransport, run_sync
from agi.storage.cdr_memory import MemoryCdr

SHIPPED_FLOWS = Path(__file__).resolve().parents[2] / "flows"


class Recorded:
    """A Metrics that records every event."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.events.append((name, *args))


def value(metrics: PrometheusMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def ticking(step: float = 0.25) -> Any:
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]
    return clock


# -- labels --------------------------------------------------------------------------

@pytest.mark.parametrize("line, name", [
    (b'STREAM FILE "agiflow/welcome" ""\n', "STREAM FILE"), (b"ANSWER\n", "ANSWER"),
    (b'EXEC "Dial" "PJSIP/100"\n', "EXEC"), (b'SET VARIABLE "A" "B"\n', "SET VARIABLE"),
    (b'GET FULL VARIABLE "${X}"\n', "GET FULL VARIABLE"), (b'MADE UP "x"\n', OTHER), (b"\xff\xfe\n", OTHER),
])
def test_a_command_is_labelled_by_its_agi_name_or_other(line: bytes, name: str) -> None:
    assert command_name(line) == name


def test_refusal_reasons_map_to_a_fixed_set_of_kinds() -> None:
    assert [refusal_kind(r) for r in ("do-not-call", "no consent", "anything else")] == [
        "do_not_call", "no_consent", OTHER]


def test_no_metrics_accepts_every_event_and_is_the_services_default() -> None:
    assert Services().metrics is NO_METRICS
    NO_METRICS.call_started("x")
    NO_METRICS.call_ended("x", "completed", 1.0)
    NO_METRICS.step_finished("x", "y", "next")
    NO_METRICS.command_done("ANSWER", 0.1)
    NO_METRICS.list_checked("vip", "hit")
    NO_METRICS.compliance_refused("do_not_call")
    NO_METRICS.webhook_done(True, 0.1)


# -- decorators ----------------------------------------------------------------------

def _call(flow: str, metrics: Any, cdr: Any = None) -> tuple[MemoryCdr, MeteredCdr]:
    flows, errors = load_flows([SHIPPED_FLOWS])
    assert errors == []
    inner = MemoryCdr()
    sink = MeteredCdr(inner, metrics)
    transport = SimTransport(SimulatedAsterisk(make_environment(flow), CallerScript(sounds=EverySound())))
    timed = MeteredTransport(transport, metrics, ticking())
    run_sync(run_session(transport.environment(), timed, flows, sink, SessionSettings(), lambda: 1.8e9))
    return inner, sink


def test_a_call_is_counted_by_flow_and_status_and_passed_on_unchanged() -> None:
    recorded = Recorded()
    inner, sink = _call("closed", recorded)
    [row] = inner.calls.values()
    names = [event[0] for event in recorded.events]
    assert names[0] == "call_started" and names[-1] == "call_ended"
    assert recorded.events[0] == ("call_started", "closed")
    assert recorded.events[-1] == ("call_ended", "closed", row["status"], row["duration"])
    steps = [event[1:] for event in recorded.events if event[0] == "step_finished"]
    assert steps == [("closed", s["step"], s["outcome"]) for s in inner.steps]
    assert sink.active == {}


def test_a_call_to_an_unknown_flow_is_counted_under_a_fixed_label() -> None:
    recorded = Recorded()
    _call("no/such/flow?x=1", recorded)
    assert ("call_started", UNKNOWN_FLOW) in recorded.events
    assert ("call_ended", UNKNOWN_FLOW, "unknown_flow", 0.0) in recorded.events


def test_every_command_is_timed_from_sending_to_the_answer() -> None:
    recorded = Recorded()
    _call("closed", recorded)
    commands = [event[1:] for event in recorded.events if event[0] == "command_done"]
    assert commands and all(seconds == 0.25 for _, seconds in commands)
    assert commands[0][0] == "ANSWER" and commands[-1][0] == "SET VARIABLE"


def test_the_timed_transport_passes_hangups_and_abort_reasons_through() -> None:
    class Inner:
        hangup_seen = True
        abort_reason = "cut"

        def send(self, line: bytes) -> Ready[Any]:
            return Ready(error=ConnectionError("gone"))

    recorded = Recorded()
    timed = MeteredTransport(Inner(), recorded)  # type: ignore[arg-type]
    assert (timed.hangup_seen, timed.abort_reason) == (True, "cut")
    with pytest.raises(ConnectionError):
        run_sync(timed.send(b"ANSWER\n"))  # type: ignore[arg-type]
    assert recorded.events == []  # a lost command is not a turnaround


def test_calls_running_are_kept_per_flow() -> None:
    sink = MeteredCdr(MemoryCdr(), NO_METRICS)
    sink.call_started({"id": "a", "flow": "support"})
    sink.call_started({"id": "b", "flow": "support"})
    sink.call_started({"id": "c", "flow": None})
    assert sink.active == {"support": 2, UNKNOWN_FLOW: 1}
    sink.call_ended("a", {"status": "completed", "duration": 3.0})
    sink.call_ended("c", {"status": "unknown_flow", "duration": 0.0})
    assert sink.active == {"support": 1}


class Lists:
    def match(self, list_name: str, number: str) -> ListHit | None:
        if list_name == "gone":
            raise ListUnavailable("no list gone")
        if not number.isdigit():
            raise ValueError("not a number")
        return ListHit(list_name, number) if number == "1" else None


def test_list_checks_are_counted_by_list_and_result_and_errors_still_raised() -> None:
    recorded = Recorded()
    lists = MeteredLists(Lists(), recorded)
    assert lists.match("vip", "1") == ListHit("vip", "1")
    assert lists.match("vip", "2") is None
    with pytest.raises(ListUnavailable):
        lists.match("gone", "1")
    with pytest.raises(ValueError):
        lists.match("vip", "abc")
    assert [event[1:] for event in recorded.events] == [
        ("vip", "hit"), ("vip", "miss"), ("gone", "error"), ("vip", "invalid_number")]


class Hooks:
    def __init__(self) -> None:
        self.later: list[Any] = []

    async def post(self, url: str, payload: Any, timeout: float, headers: Any) -> WebhookResult:
        return WebhookResult(url.endswith("/ok"), 200 if url.endswith("/ok") else 500)

    def post_in_background(self, url: str, payload: Any, timeout: float, headers: Any, done: Any) -> None:
        self.later.append(lambda: done(WebhookResult(False, error="timeout")))


def test_webhooks_are_timed_and_failures_counted_waited_for_or_not() -> None:
    recorded = Recorded()
    inner = Hooks()
    hooks = MeteredWebhooks(inner, recorded, ticking(0.5))
    assert run_sync(hooks.post("http://x/ok", {}, 5, {})).ok
    assert not run_sync(hooks.post("http://x/bad", {}, 5, {})).ok
    results: list[WebhookResult] = []
    hooks.post_in_background("http://x/slow", {}, 5, {}, results.append)
    inner.later[0]()
    assert results == [WebhookResult(False, error="timeout")]
    assert [event[1:] for event in recorded.events] == [(True, 0.5), (False, 0.5), (False, 0.5)]


# -- Prometheus ----------------------------------------------------------------------

def test_prometheus_names_follow_the_conventions_and_count_each_event() -> None:
    metrics = PrometheusMetrics(CollectorRegistry())
    metrics.call_started("support")
    metrics.call_started("support")
    metrics.call_ended("support", "completed", 42.0)
    metrics.step_finished("support", "menu", "2")
    metrics.command_done("STREAM FILE", 0.02)
    metrics.list_checked("robinson", "hit")
    metrics.compliance_refused("do_not_call")
    metrics.compliance_refused("made up")
    metrics.webhook_done(False, 1.5)
    assert value(metrics, "agiflow_calls_started_total", flow="support") == 2
    assert value(metrics, "agiflow_calls_ended_total", flow="support", status="completed") == 1
    assert value(metrics, "agiflow_calls_active", flow="support") == 1
    assert value(metrics, "agiflow_call_duration_seconds_sum", flow="support") == 42.0
    assert value(metrics, "agiflow_call_duration_seconds_bucket", flow="support", le="60.0") == 1
    assert value(metrics, "agiflow_step_outcomes_total", flow="support", step="menu", outcome="2") == 1
    assert value(metrics, "agiflow_agi_command_duration_seconds_count", command="STREAM FILE") == 1
    assert value(metrics, "agiflow_list_checks_total", list="robinson", result="hit") == 1
    assert value(metrics, "agiflow_compliance_refusals_total", kind="do_not_call") == 1
    assert value(metrics, "agiflow_compliance_refusals_total", kind="other") == 1
    assert value(metrics, "agiflow_compliance_refusals_total", kind="no_consent") == 0
    assert value(metrics, "agiflow_webhook_duration_seconds_count") == 1
    assert value(metrics, "agiflow_webhook_failures_total") == 1
    names = {sample.name for family in metrics.registry.collect() for sample in family.samples}
    assert all(name.startswith("agiflow_") for name in names)
    assert not any(name.endswith("_created") for name in names)


# -- compliance refusals ---------------------------------------------------------------

def test_the_guards_reasons_are_the_two_refusal_kinds() -> None:
    assert (refusal_kind(DO_NOT_CALL), refusal_kind(NO_CONSENT)) == ("do_not_call", "no_consent")


def test_each_command_the_guard_refuses_is_counted_by_kind() -> None:
    recorded = Recorded()
    channel = Channel(SimTransport(SimulatedAsterisk()), metrics=recorded)
    with pytest.raises(CommandRefused):
        run_sync(channel.exec_app("MixMonitor", "/tmp/x.wav"))
    channel.guard.check_started()
    channel.guard.check_result("listed")
    with pytest.raises(CommandRefused):
        run_sync(channel.exec_app("Dial", "PJSIP/100"))
    run_sync(channel.exec_app("Playback", "hello"))
    assert [event for event in recorded.events if event[0] == "compliance_refused"] == [
        ("compliance_refused", "no_consent"), ("compliance_refused", "do_not_call")]


LISTED_THEN_DIAL = """\
version: 1
name: campaign
start: dnc
steps:
  dnc:
    robinson: {list: robinson}
    on: {clear: call, listed: call, error: call}
  call:
    dial: "PJSIP/{{ call.called }}@trunk"
"""


def test_a_refusal_in_a_call_reaches_the_servers_metrics(tmp_path: Path) -> None:
    """A flow the validator would refuse (built here without its path
    checks) dials after a failed do-not-call check: the guard refuses the
    Dial and the refusal is counted in the Services' metrics."""
    flow, errors = flow_from_document(load_yaml(LISTED_THEN_DIAL), "campaign.yaml", {})
    assert flow is not None, errors
    metrics = PrometheusMetrics(CollectorRegistry())
    transport = SimTransport(SimulatedAsterisk(make_environment("campaign", dnid="600111222"),
                                               CallerScript(sounds=EverySound())))
    cdr = MemoryCdr()
    run_sync(run_session(transport.environment(), transport, FlowSet({"campaign": flow}), cdr, SessionSettings(),
                         lambda: 1.8e9, Services(lists=None, metrics=metrics)))
    [row] = cdr.calls.values()
    assert row["refused_commands"] == "Dial (do-not-call)"
    assert value(metrics, "agiflow_compliance_refusals_total", kind="do_not_call") == 1
