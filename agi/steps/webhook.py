"""``webhook``: POST the call so far as JSON to a URL (a CRM, a chat
channel, a ticketing system), with a timeout. ``wait: false`` sends it in
the background and goes on at once. Other calls never wait either way."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

from agi.engine.context import CallContext
from agi.engine.templates import is_template
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.services import WebhookResult
from agi.webhooks import url_problem
from agi.yamlschema import obj

OK = "ok"
FAILED = "failed"
_HEADERS = {"type": "object", "propertyNames": {"pattern": "^[A-Za-z0-9-]+$"},
            "additionalProperties": {"type": ["string", "number"]}}
#: Headers agiflow writes from the request it sends (its body's length, one
#: request a connection): a flow's own would frame the request otherwise.
FRAMING_HEADERS = ("content-length", "transfer-encoding", "connection")


@dataclass(frozen=True)
class WebhookNode(Node):
    type_name = "webhook"
    summary = ("HTTP POST of the call's data as JSON, with a timeout; wait: false sends it "
               "in the background. Outcomes: ok, failed.")
    schema = obj({
        "url": {"type": "string", "minLength": 1},
        "data": {"type": "object"},
        "headers": _HEADERS,
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 60},
        "wait": {"type": "boolean"},
    }, ("url",))

    url: str
    data: Mapping[str, Any]
    headers: Mapping[str, Any]
    timeout: float = 5.0
    wait: bool = True

    @classmethod
    def from_config(cls, config: Any) -> "WebhookNode":
        return cls(config["url"], dict(config.get("data") or {}), dict(config.get("headers") or {}),
                   float(config.get("timeout", 5)), bool(config.get("wait", True)))

    def outcomes(self) -> tuple[str, ...]:
        return (OK, FAILED)

    def templates(self) -> list[tuple[str, str, bool]]:
        found = [("url", self.url, False)] + [(f"headers.{k}", v, False) for k, v in self.headers.items()
                                               if isinstance(v, str)]
        return found + list(_text_values(self.data, "data"))

    def problems(self) -> list[tuple[str, str]]:
        problem = None if is_template(self.url) else url_problem(self.url)
        found = [("url", problem)] if problem else []
        return found + [("headers", f"{name} is agiflow's to send: it frames the request from the body it "
                                    "sends, and closes the connection after the answer")
                        for name in self.headers if name.lower() in FRAMING_HEADERS]

    async def run(self, ctx: CallContext) -> StepResult:
        webhooks = ctx.services.webhooks
        if webhooks is None:
            return done("error", error="webhooks are not available here")
        url = ctx.render_text(self.url).strip()
        headers = {name: ctx.render_text(value) for name, value in self.headers.items()}
        payload = call_payload(ctx, _render_all(ctx, self.data))
        problem = url_problem(url)
        if problem:
            ctx.log.warning("webhook not sent: %s", problem)
            return done(FAILED, url=url, wait=self.wait, error=problem)
        if not self.wait:
            webhooks.post_in_background(url, payload, self.timeout, headers, _logger(ctx.log, url))
            return done(OK, url=url, wait=self.wait)
        result = await webhooks.post(url, payload, self.timeout, headers)
        details: dict[str, Any] = {"url": url, "wait": self.wait, "status": result.status}
        if result.error:
            details["error"] = result.error
        if not result.ok:
            ctx.log.warning("webhook to %s failed: %s", url, _why(result))
        return done(OK if result.ok else FAILED, **details)


def call_payload(ctx: CallContext, data: Mapping[str, Any]) -> dict[str, Any]:
    """What a webhook posts: the call, where it has been, its variables and
    CDR values so far, and the step's own ``data``."""
    return {
        "call": ctx.call.as_names(), "flow": ctx.flow.name, "step": ctx.step,
        "time": ctx.now().isoformat(timespec="milliseconds"), "path": list(ctx.path),
        "vars": dict(ctx.vars), "cdr": {**ctx.recorded, "fields": dict(ctx.cdr)}, "data": dict(data),
    }


def _render_all(ctx: CallContext, value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _render_all(ctx, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_all(ctx, v) for v in value]
    return ctx.render(value)


def _text_values(value: Any, where: str) -> list[tuple[str, str, bool]]:
    """Every string inside ``data``, so templates are checked at validation."""
    if isinstance(value, Mapping):
        return [t for k, v in value.items() for t in _text_values(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in _text_values(v, f"{where}[{i}]")]
    return [(where, value, False)] if isinstance(value, str) else []


def _why(result: WebhookResult) -> str:
    return result.error or f"HTTP {result.status}"


def _logger(log: logging.LoggerAdapter[logging.Logger], url: str) -> Any:
    """Logs the result of a background webhook against its call."""
    def done(result: WebhookResult) -> None:
        if result.ok:
            log.info("webhook to %s: HTTP %s", url, result.status)
        else:
            log.warning("webhook to %s failed: %s", url, _why(result))
    return done
