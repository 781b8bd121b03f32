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
from bisect import bisect_left
from typing import Any, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily,
                                    Metric)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


class Histogram:
    """Observations in cumulative ``le`` buckets, kept as plain numbers."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one: above every bound
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, float]]:
        """(le, cumulative count) pairs, ``+Inf`` last."""
        found, total = [], 0
        for bound, count in zip((*map(floatToGoString, self.bounds), "+Inf"), self.counts):
            total += count
            found.append((bound, float(total)))
        return found


class PrometheusMetrics(Collector):
    """The server's ``Metrics``, exported from ``registry``.

    Each event adds to a plain dict: no lock, no label check, a microsecond
    or less. The events and the scrapes both run on the reactor thread, so
    a scrape sees whole events; ``collect`` turns the dicts into Prometheus
    families."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.calls_started: dict[str, int] = {}
        self.calls_ended: dict[tuple[str, str], int] = {}
        self.calls_active: dict[str, int] = {}
        self.call_duration: dict[str, Histogram] = {}
        self.step_outcomes: dict[tuple[str, str, str], int] = {}
        self.command_duration: dict[str, Histogram] = {}
        self.list_checks: dict[tuple[str, str], int] = {}
        self.refusals: dict[str, int] = {kind: 0 for kind in (*REFUSAL_KINDS, OTHER)}
        self.webhook_duration = Histogram(WEBHOOK_BUCKETS)
        self.webhook_failures = 0
        self.registry.register(self)

    def call_started(self, flow: str) -> None:
        self.calls_started[flow] = self.calls_started.get(flow, 0) + 1
        self.calls_active[flow] = self.calls_active.get(flow, 0) + 1

    def call_ended(self, flow: str, status: str, seconds: float) -> None:
        key = (flow, status)
        self.calls_ended[key] = self.calls_ended.get(key, 0) + 1
        self.calls_active[flow] = self.calls_active.get(flow, 0) - 1
        histogram = self.call_duration.get(flow)
        if histogram is None:
            histogram = self.call_duration[flow] = Histogram(CALL_BUCKETS)
        histogram.observe(seconds)

    def step_finished(self, flow: str, step: str, outcome: str) -> None:
        key = (flow, step, outcome)
        self.step_outcomes[key] = self.step_outcomes.get(key, 0) + 1

    def command_done(self, command: str, seconds: float) -> None:
        histogram = self.command_duration.get(command)
        if histogram is None:
            histogram = self.command_duration[command] = Histogram(COMMAND_BUCKETS)
        histogram.observe(seconds)

    def list_checked(self, list_name: str, result: str) -> None:
        key = (list_name, result)
        self.list_checks[key] = self.list_checks.get(key, 0) + 1

    def compliance_refused(self, kind: str) -> None:
        kind = kind if kind in REFUSAL_KINDS else OTHER
        self.refusals[kind] += 1

    def webhook_done(self, ok: bool, seconds: float) -> None:
        self.webhook_duration.observe(seconds)
        if not ok:
            self.webhook_failures += 1

    def collect(self) -> Iterable[Metric]:
        yield _labelled(CounterMetricFamily("agiflow_calls_started", "Calls started, by the flow they began in "
                                            "('(unknown)': no flow by the requested name).", labels=["flow"]),
                        self.calls_started)
        yield _labelled(CounterMetricFamily("agiflow_calls_ended", "Calls ended, by flow and status.",
                                            labels=["flow", "status"]), self.calls_ended)
        yield _labelled(GaugeMetricFamily("agiflow_calls_active", "Calls running now, by flow.", labels=["flow"]),
                        self.calls_active)
        yield _histograms(HistogramMetricFamily("agiflow_call_duration_seconds", "Seconds from a call's start to "
                                                "its end.", labels=["flow"]), self.call_duration)
        yield _labelled(CounterMetricFamily("agiflow_step_outcomes", "Steps run, by flow, step and outcome.",
                                            labels=["flow", "step", "outcome"]), self.step_outcomes)
        yield _histograms(HistogramMetricFamily("agiflow_agi_command_duration_seconds", "Seconds from sending an "
                                                "AGI command to Asterisk's answer.", labels=["command"]),
                          self.command_duration)
        yield _labelled(CounterMetricFamily("agiflow_list_checks", "Numbers checked against a number list, by "
                                            "list and result (hit, miss, error, invalid_number).",
                                            labels=["list", "result"]), self.list_checks)
        yield _labelled(CounterMetricFamily("agiflow_compliance_refusals", "Commands the compliance guard "
                                            "refused, by kind.", labels=["kind"]), self.refusals)
        yield _histograms(HistogramMetricFamily("agiflow_webhook_duration_seconds", "Seconds a webhook took to "
                                                "answer or fail."), {(): self.webhook_duration})
        yield _counter("agiflow_webhook_failures", "Webhooks that failed (no 2xx answer, a timeout, a connection "
                       "error).", self.webhook_failures)


def _labelled(family: CounterMetricFamily | GaugeMetricFamily, values: Mapping[Any, float]) -> Metric:
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


def _histograms(family: HistogramMetricFamily, values: Mapping[Any, Histogram]) -> Metric:
    for key, histogram in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], histogram.buckets(), histogram.sum)
    return family


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
