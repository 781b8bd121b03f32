"""contrib/ stays true to the server: the Grafana dashboard and the
Prometheus alert rules name only metrics (and labels) the server exports,
and docs/operations.md lists every metric it exports, no more."""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Iterator

from types import SimpleNamespace

import pytest
import yaml
from prometheus_client import CollectorRegistry, ProcessCollector

from agi.loading.library import FlowLibrary
from agi.server.health import ServerState
from agi.server.prometheus import PrometheusMetrics, ServerCollector, server_registry
from agi.storage.cdr_writer import CdrStore

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "contrib" / "grafana" / "agiflow-dashboard.json"
ALERTS = ROOT / "contrib" / "prometheus" / "agiflow-alerts.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
#: Series Prometheus adds itself, and labels it adds to every series.
PROMETHEUS_OWN: dict[str, set[str]] = {"up": set()}
TARGET_LABELS = {"job", "instance"}


def _state(folder: Path) -> ServerState:
    """A server state over the shipped flows and a CDR store never opened."""
    library = FlowLibrary(ROOT / "flows")
    assert library.reload() == []
    return ServerState(library, CdrStore(folder / "cdr.db"), SimpleNamespace(accepting=True, rejected=0))


def families() -> dict[str, tuple[str, set[str]]]:
    """Every metric family of the server's registry (server_registry, as
    served), by name: its type and the names of its labels (each event
    happens once, so that every labelled metric has a series)."""
    metrics = PrometheusMetrics(CollectorRegistry())
    with tempfile.TemporaryDirectory() as folder:
        server_registry(metrics, _state(Path(folder)))
    _every_event(metrics)
    found = {}
    for family in metrics.registry.collect():
        labels = {label for sample in family.samples for label in sample.labels} - {"le"}
        if family.type == "info":  # the text format serves it as a gauge named NAME_info
            found[family.name + "_info"] = ("gauge", labels)
        else:
            found[family.name] = (family.type, labels)
    return found


def _every_event(metrics: PrometheusMetrics) -> None:
    metrics.call_started("support")
    metrics.call_ended("support", "completed", 1.0)
    metrics.step_finished("support", "menu", "1")
    metrics.command_done("ANSWER", 0.01)
    metrics.list_checked("robinson", "hit")
    metrics.webhook_done(True, 0.1)


def exported() -> dict[str, set[str]]:
    """Every series name the server exports, with its label names."""
    metrics = PrometheusMetrics(CollectorRegistry())
    with tempfile.TemporaryDirectory() as folder:
        metrics.registry.register(ServerCollector(_state(Path(folder))))
    ProcessCollector(registry=metrics.registry)
    _every_event(metrics)
    found: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


EXPORTED = exported()


def expressions() -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every dashboard query and alert rule."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield f"dashboard panel {panel['title']!r}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if "query" in variable and variable["type"] == "query":
            yield f"dashboard variable {variable['name']}", variable["query"]
    for annotation in dashboard["annotations"]["list"]:
        yield f"dashboard annotation {annotation['name']}", annotation["expr"]
    for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            yield f"alert {rule['alert']}", rule["expr"]


EXPRESSIONS = list(expressions())
_SELECTOR = re.compile(r"\b((?:agiflow|process)_\w+|up)\b(?:\{([^}]*)\})?")


def named(expr: str) -> Iterator[tuple[str, set[str]]]:
    """Each metric an expression names, with the labels its selector matches on."""
    for name, selector in _SELECTOR.findall(expr):
        yield name, set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector or ""))


def test_the_dashboard_and_the_alert_rules_have_queries_to_check() -> None:
    wheres = {where.split(" ", 2)[0] for where, _ in EXPRESSIONS}
    assert wheres == {"dashboard", "alert"} and len(EXPRESSIONS) > 30


@pytest.mark.parametrize("where, expr", EXPRESSIONS, ids=[where for where, _ in EXPRESSIONS])
def test_every_metric_and_label_a_query_names_exists(where: str, expr: str) -> None:
    names = list(named(expr))
    assert names, f"{where}: names no metric"
    for name, labels in names:
        known = EXPORTED.get(name, PROMETHEUS_OWN.get(name))
        assert known is not None, f"{where}: no metric {name}"
        assert labels <= known | TARGET_LABELS, f"{where}: {name} has no label {', '.join(labels - known)}"


def test_the_alert_rules_cover_what_the_operators_page_promises() -> None:
    rules = {rule["alert"]: rule for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
             for rule in group["rules"]}
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("critical", "warning") and rule["annotations"]["summary"]
    covered = " ".join(rule["expr"] for rule in rules.values())
    for metric in ("up", "agiflow_calls_ended_total", "agiflow_cdr_queue_depth", "agiflow_cdr_write_errors_total",
                   "agiflow_compliance_refusals_total", "agiflow_flow_reload_errors_total"):
        assert re.search(rf"\b{metric}\b", covered), metric


def test_operations_md_lists_every_metric_the_server_exports_and_no_other() -> None:
    page = OPERATIONS.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(agiflow_\w+)`", page, re.M))
    ours = {name for name in EXPORTED if name.startswith("agiflow_")}
    bases = {re.sub(r"_(bucket|count|sum)$", "", name) for name in ours if name.endswith(("_bucket", "_count", "_sum"))}
    expected = {name for name in ours if not name.endswith(("_bucket", "_count", "_sum"))} | bases
    assert documented == expected



def test_operations_md_gives_each_metric_its_type_and_labels_and_names_every_process_metric() -> None:
    page = OPERATIONS.read_text(encoding="utf-8")
    served = families()
    rows = re.findall(r"^\| `(agiflow_\w+)` \| (\w+) \|([^|]*)\|", page, re.M)
    documented = {}
    for name, kind, labels in rows:
        family = name.removesuffix("_total") if kind == "counter" else name
        documented[family] = (kind, set(re.findall(r"`(\w+)`", labels)))
    assert documented == {name: found for name, found in served.items() if name.startswith("agiflow_")}
    process = page.split("The process's own metrics are exported", 1)[1].split("\n\n", 1)[0]
    named = {name.removesuffix("_total") for name in re.findall(r"`(\w+)`", process)}
    assert named == {name for name in served if not name.startswith("agiflow_")}
