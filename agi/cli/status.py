"""``agiflow status``: ask a running ``agiflow serve`` how it is, through
its /health and /ready pages (``server.metrics``; docs/operations.md)."""
from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

from agi.cli.common import config_option, get_config
from agi.config import Config
from agi.safe_text import terminal_text
from agi.wording import counted, endpoint

#: Exit status when the server cannot be asked (none listening, no server.metrics, a bad answer).
UNREACHABLE = 3
#: The longest --timeout, in seconds.
MAX_TIMEOUT = 3600
#: The longest answer read from a page (agiflow's are a few KB).
MAX_ANSWER = 1 << 20
#: Where a wildcard listen address is reached from this host.
_LOCAL = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class Unreachable(Exception):
    """The server's metrics listener did not answer usefully."""


def _not_nan(_ctx: click.Context, _param: click.Parameter, seconds: float) -> float:
    """--timeout, once it is known not to be NaN (which every range lets through)."""
    if seconds != seconds:
        raise click.BadParameter("nan is not a number of seconds", param_hint="--timeout")
    return seconds


def _http_url(_ctx: click.Context, _param: click.Parameter, url: str | None) -> str | None:
    """``--url``: an http:// or https:// URL with a host and a port from 0 to
    65535 (a typo is not a server that is down, exit 3; port 99999 asked 34463)."""
    if url is None:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        # .port raises ValueError for a port that is no number from 0 to 65535
        fits = (parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and " " not in parts.netloc
                and (parts.port is None or parts.port >= 0))
    except ValueError:
        fits = False
    if not fits:
        raise click.BadParameter(f"{url!r} is no http:// or https:// URL with a host and a port from 0 to 65535, "
                                 "such as http://127.0.0.1:9573", param_hint="'--url'")
    return url


@click.command()
@config_option
@click.option("--url", metavar="URL", default=None, callback=_http_url,
              help="The metrics listener, e.g. http://127.0.0.1:9573 (default: server.metrics of the config).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0, max=MAX_TIMEOUT, min_open=True), default=5.0,
              show_default=True, callback=_not_nan,
              help=f"Seconds to wait for each answer (at most {MAX_TIMEOUT}).")
def status(config_path: str | None, url: str | None, fmt: str, timeout: float) -> None:
    """Ask the running server whether it is ready, and what it is doing.

    Reads /health and /ready: the readiness checks, calls active per flow,
    the CDR backlog, the last reload and every flow's version. Exit 0 when
    ready, 1 when the server answers but is not ready, 2 on a config error,
    3 when it cannot be asked (nothing listening, an answer that is not
    agiflow's, or no server.metrics in the config, or its port 0)."""
    base = (url or _configured_url(get_config(config_path))).rstrip("/")
    try:
        health = _get(f"{base}/health", timeout)
        ready = _get(f"{base}/ready", timeout)
        _check_shape(base, health, ready)
    except Unreachable as exc:
        click.echo(f"agiflow status: {exc}", err=True)
        sys.exit(UNREACHABLE)
    if fmt == "json":
        click.echo(json.dumps({"url": base, "health": health, "ready": ready}, indent=2, sort_keys=True))
    else:
        click.echo(render(base, health, ready), nl=False)
    sys.exit(0 if ready.get("ready") else 1)


def _configured_url(config: Config) -> str:
    metrics = config.server.metrics
    if metrics is None:
        click.echo(f"agiflow status: {config.source} has no server.metrics: the server has no health pages "
                   "to ask (set server.metrics, or give --url)", err=True)
        sys.exit(UNREACHABLE)
    if metrics.port == 0:
        click.echo(f"agiflow status: server.metrics.port is 0 in {config.source}: the server picked a free port "
                   "as it started and logged it ('metrics and health on http://...'); give that address with "
                   "--url", err=True)
        sys.exit(UNREACHABLE)
    host = _LOCAL.get(metrics.host, metrics.host)
    return f"http://{endpoint(host, metrics.port)}"


def _get(url: str, timeout: float) -> dict[str, Any]:
    """The JSON object at ``url``, within ``timeout`` seconds in all: the
    socket's own timeout bounds each read only, so a status line and
    headers sent a byte at a time, or redirects, would hold on for minutes.
    The request runs in a thread that is left behind when it takes longer
    (the command exits then)."""
    found: list[Any] = []

    def fetch() -> None:
        try:
            found.append(_fetch(url, timeout))
        except Exception as exc:  # handed to the caller as it is
            found.append(exc)

    asking = threading.Thread(target=fetch, name="agiflow-status", daemon=True)
    asking.start()
    asking.join(timeout)
    if not found:
        raise Unreachable(f"{url} did not finish its answer within {timeout:g}s")
    if isinstance(found[0], Exception):
        raise found[0]
    page: dict[str, Any] = found[0]
    return page


def _fetch(url: str, timeout: float) -> dict[str, Any]:
    """The JSON object at ``url`` (a 503 from /ready is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            body = _body(answer, url, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 503:
            raise Unreachable(f"{url}: HTTP {exc.code}") from None
        body = _body(exc, url, timeout)
    except http.client.HTTPException:  # something answered, but not HTTP (the FastAGI port, say)
        raise Unreachable(f"{url} did not answer HTTP: is it agiflow's metrics listener?") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"cannot reach {url}: {reason}") from None
    try:
        found = json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the reader recurses
        raise Unreachable(f"{url} did not answer JSON: is it agiflow's metrics listener?") from None
    if not isinstance(found, dict):
        raise Unreachable(f"{url} did not answer a JSON object")
    return found


def _no_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are no JSON, and agiflow sends neither."""
    raise ValueError(f"{name} is not JSON")


def _body(answer: Any, url: str, timeout: float) -> bytes:
    """The answer's body: at most MAX_ANSWER bytes, read within ``timeout``
    seconds in all (each read waits at most ``timeout`` on its own, so an
    answer sent a byte at a time, or without end, would hold on forever)."""
    deadline = time.monotonic() + timeout
    body = b""
    while chunk := answer.read1(65536) if hasattr(answer, "read1") else answer.read(65536):
        body += chunk
        if len(body) > MAX_ANSWER:
            raise Unreachable(f"{url} answered more than {MAX_ANSWER} bytes: is it agiflow's metrics listener?")
        if time.monotonic() > deadline:
            raise Unreachable(f"{url} did not finish its answer within {timeout:g}s")
    return body


def _check_shape(url: str, health: dict[str, Any], ready: dict[str, Any]) -> None:
    """Raise Unreachable unless the two pages have the shape of agiflow's
    (docs/operations.md#health-and-readiness), so that render can trust them."""
    checks = ready.get("checks")
    active = health.get("calls_active", {})
    flows = health.get("flows", {})
    reloads = health.get("reloads", {})
    fits = (health.get("status") == "ok" and isinstance(ready.get("ready"), bool) and isinstance(checks, dict)
            and all(isinstance(check, dict) for check in checks.values())
            and isinstance(active, dict) and all(type(n) is int for n in active.values())
            and isinstance(flows, dict) and all(isinstance(version, str) for version in flows.values())
            and _number(health.get("uptime_seconds", 0))
            and isinstance(reloads, dict) and all(type(reloads.get(n, 0)) is int for n in ("total", "errors")))
    if not fits:
        raise Unreachable(f"{url} answered JSON that is not agiflow's /health and /ready: "
                          "is it agiflow's metrics listener?")


def _number(value: Any) -> bool:
    """An int or a finite float, not a bool (JSON numbers too big for a
    float are read as infinite)."""
    return type(value) in (int, float) and abs(value) != float("inf")


def render(url: str, health: dict[str, Any], ready: dict[str, Any]) -> str:
    """The terminal text of ``agiflow status``."""
    lines = [f"agiflow {health.get('version', '?')} at {url} (pid {health.get('pid', '?')}, "
             f"up {_span(health.get('uptime_seconds'))}): {'ready' if ready.get('ready') else 'NOT READY'}"]
    checks = ready.get("checks") or {}
    width = max((len(name) for name in checks), default=0)
    for name, check in checks.items():
        lines.append(f"  {name:<{width}}  {'ok  ' if check.get('ok') else 'FAIL'}  {check.get('detail', '')}")
    active: dict[str, int] = health.get("calls_active") or {}
    reloads = health.get("reloads") or {}
    lines += [f"calls active: {sum(active.values())}",
              f"CDR backlog: {health.get('cdr_backlog', '?')} operations",
              f"last reload: {reloads.get('last_at') or '-'}, "
              f"{'successful' if reloads.get('last_successful', True) else 'FAILED (previous flows kept)'} "
              f"({counted(reloads.get('total', 0), 'load')}, {reloads.get('errors', 0)} failed)",
              f"flows commit: {health.get('flows_commit') or '- (not in Git)'}"]
    versions: dict[str, str] = health.get("flows") or {}
    rows = [(name, versions.get(name, "-"), str(active.get(name, 0))) for name in sorted(set(versions) | set(active))]
    widths = [max([len(title), *(len(row[i]) for row in rows)]) for i, title in enumerate(("flow", "version", "active"))]
    for row in [("flow", "version", "active"), *rows]:
        lines.append(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}".rstrip())
    # the pages are whatever answers at the URL: no escape sequence reaches the terminal
    return "".join(terminal_text(line) + "\n" for line in lines)


def _span(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h {minutes:02d}m" if days else f"{hours}h {minutes:02d}m {secs:02d}s"
