"""``agi.metrics.Metrics`` in Prometheus terms, and the server state read at
each scrape (flows, reloads, the CDR writer, refused connections, build).

Every metric is named by Prometheus conventions: the ``agiflow_`` prefix,
``_total`` for counters, base units (``_seconds``). Label values come only
from fixed sets and from the loaded flows (agi/metrics.py): the series are
bounded by flows x steps x outcomes, whatever the network sends. The full
list is in docs/operations.md.
"""
from __future__ import annotations

import platform
from typing import Any, Iterable, Iterator

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector,
                               disable_created_metrics)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from agi import __version__
from agi.loading.library import FlowLibrary
from agi.metrics import OTHER, REFUSAL_KINDS
from agi.server.health import ServerState

#: Call durations: from a call to an unknown flow to an hour in a queue.
CALL_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
#: AGI command turnaround: a SET VARIABLE takes a millisecond, a Queue() an hour.
COMMAND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
#: Webhooks end within their timeout (at most 60 s).
WEBHOOK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class PrometheusMetrics:
    """The server's ``Metrics``: counters and histograms in ``registry``.
    The labelled children are kept, so an event costs a dict lookup and an
    increment, not a label check."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # no *_created series: half the text of every scrape
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.calls_started = Counter("agiflow_calls_started", "Calls started, by the flow they began in "
                                     "('(unknown)': no flow by the requested name).", ["flow"], registry=r)
        self.calls_ended = Counter("agiflow_calls_ended", "Calls ended, by flow and status.",
                                   ["flow", "status"], registry=r)
        self.calls_active = Gauge("agiflow_calls_active", "Calls running now, by flow.", ["flow"], registry=r)
        self.call_duration = Histogram("agiflow_call_duration_seconds", "Seconds from a call's start to its end.",
                                       ["flow"], buckets=CALL_BUCKETS, registry=r)
        self.step_outcomes = Counter("agiflow_step_outcomes", "Steps run, by flow, step and outcome.",
                                     ["flow", "step", "outcome"], registry=r)
        self.command_duration = Histogram("agiflow_agi_command_duration_seconds",
                                          "Seconds from sending an AGI command to Asterisk's answer.",
                                          ["command"], buckets=COMMAND_BUCKETS, registry=r)
        self.list_checks = Counter("agiflow_list_checks", "Numbers checked against a number list, by list "
                                   "and result (hit, miss, error, invalid_number).", ["list", "result"], registry=r)
        self.refusals = Counter("agiflow_compliance_refusals", "Commands the compliance guard refused, by kind.",
                                ["kind"], registry=r)
        self.webhook_duration = Histogram("agiflow_webhook_duration_seconds", "Seconds a webhook took to answer "
                                          "or fail.", buckets=WEBHOOK_BUCKETS, registry=r)
        self.webhook_failures = Counter("agiflow_webhook_failures", "Webhooks that failed (no 2xx answer, "
                                        "a timeout, a connection error).", registry=r)
        for kind in (*REFUSAL_KINDS, OTHER):
            self.refusals.labels(kind)
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def call_started(self, flow: str) -> None:
        self._child(self.calls_started, flow).inc()
        self._child(self.calls_active, flow).inc()

    def call_ended(self, flow: str, status: str, seconds: float) -> None:
        self._child(self.calls_ended, flow, status).inc()
        self._child(self.calls_active, flow).dec()
        self._child(self.call_duration, flow).observe(seconds)

    def step_finished(self, flow: str, step: str, outcome: str) -> None:
        self._child(self.step_outcomes, flow, step, outcome).inc()

    def command_done(self, command: str, seconds: float) -> None:
        self._child(self.command_duration, command).observe(seconds)

    def list_checked(self, list_name: str, result: str) -> None:
        self._child(self.list_checks, list_name, result).inc()

    def compliance_refused(self, kind: str) -> None:
        self._child(self.refusals, kind if kind in REFUSAL_KINDS else OTHER).inc()

    def webhook_done(self, ok: bool, seconds: float) -> None:
        self.webhook_duration.observe(seconds)
        if not ok:
            self.webhook_failures.inc()


class ServerCollector(Collector):
    """What the server already keeps, read at each scrape."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        state = self.state
        yield _info("agiflow_build", "agiflow's version and Python's.",
                    {"version": __version__, "python": platform.python_version()})
        yield from _flows(state.library)
        yield _gauge("agiflow_cdr_queue_depth", "CDR operations queued and not yet written.", state.store.pending)
        yield _counter("agiflow_cdr_write_errors", "Failed attempts to write a batch of CDRs (each is retried).",
                       state.store.failures)
        yield _counter("agiflow_cdr_operations_written", "CDR operations written to the database.",
                       state.store.written)
        yield _counter("agiflow_connections_refused", "Connections closed at once (server.allow, "
                       "server.max_calls, shutting down).", state.calls.rejected)


def _flows(library: FlowLibrary) -> Iterator[Metric]:
    yield _gauge("agiflow_flows_loaded", "Flows being served.", len(library.current))
    info = GaugeMetricFamily("agiflow_flow_info", "1 for each flow being served, with its version and the "
                             "commit of the flows folder ('' outside Git).", labels=["flow", "version", "commit"])
    for name, version in sorted(library.current.versions().items()):
        info.add_metric([name, version, library.commit or ""], 1)
    yield info
    yield _counter("agiflow_flow_reloads", "Flow loads tried, the first one included.", library.reloads)
    yield _counter("agiflow_flow_reload_errors", "Flow loads that failed and kept the previous flows.",
                   library.reload_errors)
    yield _gauge("agiflow_flows_last_reload_successful", "1 when the last flow load succeeded, else 0.",
                 1 if library.last_reload_ok else 0)
    yield _gauge("agiflow_flows_last_reload_success_timestamp_seconds",
                 "When the flows being served were loaded (Unix time).", library.loaded_at or 0)


def _gauge(name: str, text: str, value: float) -> Metric:
    return GaugeMetricFamily(name, text, value=value)


def _counter(name: str, text: str, value: float) -> Metric:
    return CounterMetricFamily(name, text, value=value)


def _info(name: str, text: str, labels: dict[str, str]) -> Metric:
    family = InfoMetricFamily(name, text)
    family.add_metric([], labels)
    return family


def server_registry(metrics: PrometheusMetrics, state: ServerState) -> CollectorRegistry:
    """``metrics``' registry with the server state and the process's own
    metrics (CPU, memory, open files, start time) added."""
    registry = metrics.registry
    registry.register(ServerCollector(state))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry
