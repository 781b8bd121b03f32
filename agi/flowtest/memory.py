"""In-memory services for one test case: number lists written in the case,
schedule overrides, and callback requests and webhooks collected instead of
stored or sent. Nothing here reads the database or the network, so a test
case gives the same result on every machine."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

import phonenumbers

from agi.services import ListHit, ListUnavailable, Override, WebhookResult

#: A list given as ``unavailable`` in a case: reading it fails, as a
#: missing or corrupt list does on a server.
UNAVAILABLE = "unavailable"
PREFIX_MARK = "*"


def normalise_number(text: str, region: str) -> str:
    """``600 111 222`` (region ES) -> ``+34600111222``; ValueError when the
    text is not a possible phone number."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {text!r} ({exc})") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"not a possible phone number: {text!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_prefix(text: str, region: str) -> str:
    """A number prefix in E.164 form: ``+34900``, ``0034900`` and, in region
    ES, ``900`` all give ``+34900``; the national trunk prefix (``0`` in GB)
    is dropped."""
    digits = "".join(ch for ch in text if ch.isdigit())
    if text.strip().startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    trunk = metadata.national_prefix if metadata is not None else None
    if trunk and digits.startswith(trunk):
        digits = digits[len(trunk):]
    return f"+{phonenumbers.country_code_for_region(region)}{digits}"


@dataclass(frozen=True)
class _Entries:
    exact: Mapping[str, str]  # normalised number -> entry as written
    prefixes: Sequence[tuple[str, str]]  # (normalised prefix, entry), longest first


class MemoryLists:
    """``NumberLists`` over the lists a case names: exact numbers, and
    prefixes written with a trailing ``*`` (``+34900*``). A list the case
    does not name, or names as ``unavailable``, raises ListUnavailable."""

    def __init__(self, lists: Mapping[str, Sequence[str] | str], region: str) -> None:
        self.region = region
        self._lists: dict[str, _Entries | None] = {
            name: None if entries == UNAVAILABLE else self._index(entries) for name, entries in lists.items()}

    def _index(self, entries: Sequence[str] | str) -> _Entries:
        exact: dict[str, str] = {}
        prefixes: list[tuple[str, str]] = []
        for entry in entries:
            if entry.endswith(PREFIX_MARK):
                prefixes.append((normalise_prefix(entry[:-1], self.region), entry))
            else:
                exact[normalise_number(entry, self.region)] = entry
        return _Entries(exact, sorted(prefixes, key=lambda p: -len(p[0])))

    def match(self, list_name: str, number: str) -> ListHit | None:
        if list_name not in self._lists:
            raise ListUnavailable(f"list '{list_name}' is not given in this test case")
        entries = self._lists[list_name]
        if entries is None:
            raise ListUnavailable(f"list '{list_name}' is unavailable in this test case")
        normalised = normalise_number(number, self.region)
        if normalised in entries.exact:
            return ListHit(list_name, entries.exact[normalised])
        for prefix, entry in entries.prefixes:
            if normalised.startswith(prefix):
                return ListHit(list_name, entry, prefix=True)
        return None


class MemoryOverrides:
    """``ScheduleOverrides`` from the case: each named schedule forced open
    or closed until ``until`` (no ``until``: for the whole case)."""

    def __init__(self, overrides: Sequence[Override]) -> None:
        self._overrides = {o.schedule: o for o in overrides}

    def active(self, schedule: str, at: datetime) -> Override | None:
        override = self._overrides.get(schedule)
        return override if override is not None and at < override.until else None


@dataclass
class CollectedCallbacks:
    """``CallbackRequests`` that keeps each request for the case to check."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def request(self, row: Mapping[str, Any]) -> None:
        self.rows.append(dict(row))


@dataclass
class CollectedWebhooks:
    """``Webhooks`` that sends nothing: it keeps each POST and answers with
    the HTTP status the case gives (or a timeout)."""

    response: int | str = 200
    posts: list[dict[str, Any]] = field(default_factory=list)

    async def post(self, url: str, payload: Mapping[str, Any], timeout: float,
                   headers: Mapping[str, str]) -> WebhookResult:
        self.posts.append({"url": url, "payload": dict(payload), "headers": dict(headers)})
        return self._result(timeout)

    def _result(self, timeout: float) -> WebhookResult:
        if not isinstance(self.response, int):
            return WebhookResult(ok=False, error=f"no answer within {timeout:g} s")
        return WebhookResult(ok=200 <= self.response < 300, status=self.response)

    def post_in_background(self, url: str, payload: Mapping[str, Any], timeout: float,
                           headers: Mapping[str, str], done: Callable[[WebhookResult], None]) -> None:
        """The same POST, its result given to ``done`` at once."""
        self.posts.append({"url": url, "payload": dict(payload), "headers": dict(headers)})
        done(self._result(timeout))


def fixed_chance(values: Sequence[float]) -> Callable[[], float]:
    """``Services.chance`` giving ``values`` in turn, then the last one again."""
    remaining = list(values)

    def chance() -> float:
        return remaining.pop(0) if len(remaining) > 1 else remaining[0]
    return chance
