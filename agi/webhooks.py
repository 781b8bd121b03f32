"""Webhooks without the network: the JSON body and URL rules every sender
shares, and the dry-run sender simulations use. The senders that post are
in agi/server/webhooks.py (``agiflow serve``) and agi/server/stdio_driver.py
(``agiflow-agi``)."""
from __future__ import annotations

import base64
import json
from typing import Any, Callable, Mapping
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from agi import __version__
from agi.services import WebhookResult

USER_AGENT = f"agiflow/{__version__}"
#: What stays as written in a URL's path, query and fragment: the reserved
#: characters and ``%`` (escapes already written are not escaped again).
_KEEP = "!#$%&'()*+,/:;=?@[]~"


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be posted to, or None."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
        wire_url(url)
    except ValueError as exc:  # UnicodeError too: a host name IDNA cannot write
        return f"invalid URL {url!r}: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"invalid URL {url!r}: use http://host/... or https://host/..."
    return None


def wire_url(url: str) -> str:
    """``url`` as sent, in ASCII: an international host name in IDNA
    (``xn--``), spaces and other characters in the path, query and fragment
    percent-encoded as UTF-8. Raises ValueError when the host cannot be so
    written."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if not netloc.isascii():
        userinfo, at, hostport = netloc.rpartition("@")
        host, colon, port = hostport.partition(":")  # a bracketed IPv6 host is ASCII
        netloc = quote(userinfo, safe=":%") + at + host.encode("idna").decode("ascii") + colon + port
    return urlunsplit((parts.scheme, netloc, quote(parts.path, safe=_KEEP), quote(parts.query, safe=_KEEP),
                       quote(parts.fragment, safe=_KEEP)))


def basic_auth(url: str, headers: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """``url`` without the ``user:password@`` it may hold, and ``headers``
    with that user and password as an ``Authorization: Basic`` header
    (unless one is given): HTTP sends them so, not in the request line.
    ``%`` escapes in them are decoded, as UTF-8."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, dict(headers)
    user, _, password = userinfo.partition(":")
    given = dict(headers)
    if not any(name.lower() == "authorization" for name in given):
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode("utf-8")).decode("ascii")
        given["Authorization"] = f"Basic {token}"
    return urlunsplit(parts._replace(netloc=hostport)), given


def encode(payload: Mapping[str, Any]) -> bytes:
    """The request body: UTF-8 JSON; dates and other objects as text."""
    return json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")


def request_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The flow's headers over the defaults (JSON, our User-Agent)."""
    defaults = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    given = {name.lower() for name in headers}
    return {**{k: v for k, v in defaults.items() if k.lower() not in given}, **headers}


class DryRunWebhooks:
    """Records what would be posted and answers ok: ``agiflow simulate``
    and ``agiflow test`` never reach the network."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []

    async def post(self, url: str, payload: Mapping[str, Any], timeout: float,
                   headers: Mapping[str, str]) -> WebhookResult:
        return self._record(url, payload, timeout, headers, wait=True)

    def post_in_background(self, url: str, payload: Mapping[str, Any], timeout: float,
                           headers: Mapping[str, str], done: Callable[[WebhookResult], None]) -> None:
        done(self._record(url, payload, timeout, headers, wait=False))

    def _record(self, url: str, payload: Mapping[str, Any], timeout: float, headers: Mapping[str, str],
                wait: bool) -> WebhookResult:
        problem = url_problem(url)
        self.posts.append({"url": url, "headers": request_headers(headers), "timeout": timeout,
                           "wait": wait, "payload": json.loads(encode(payload)),
                           "sent": False, **({"error": problem} if problem else {})})
        return WebhookResult(ok=problem is None, error=problem)
