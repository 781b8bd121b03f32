"""``agiflow callbacks dial``: hand the oldest pending callback requests to
Asterisk as call files, at most a few at once, never to a number a
do-not-call list now holds.

The do-not-call check fails closed: a list that cannot be read skips the
request (it stays pending) and says so. Each request is claimed in the
database (one more attempt, the time it was dialled) before its call file
is written, so two dialers never call the same request. No click.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from string import Formatter
from typing import Any, Protocol

from agi.dialer import callfiles
from agi.dialer.callfiles import CallFile, CallFileError
from agi.services import ListHit, ListUnavailable
from agi.storage.callbacks import PENDING, CallbackBook
from agi.vocabulary import iso
from agi.wording import counted

class NumberLists(Protocol):
    """The number lists a command reads on its own thread (an answer at once)."""

    def match(self, list_name: str, number: str) -> ListHit | None:
        """As ``agi.services.NumberLists.match``."""


#: What ``--channel`` may name: the number in E.164, its digits, the request id.
CHANNEL_FIELDS = ("number", "digits", "id")


def channel_problem(template: str) -> str | None:
    """Why a ``--channel`` template cannot be used, or None."""
    try:
        fields = [(name, spec, conversion) for _, name, spec, conversion in Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:
        return f"{template!r}: {exc}"
    names = {name for name, _, _ in fields}
    dressed = [name for name, spec, conversion in fields if spec or conversion]
    if dressed:  # a format or a conversion: a traceback, or a channel padded to any width
        return f"{template!r} gives {dressed[0]} a format or a conversion: write each field plain, {{{dressed[0]}}}"
    unknown = sorted(names - set(CHANNEL_FIELDS))
    if unknown:
        return f"{template!r} names {', '.join(unknown)}; it may name {', '.join('{' + f + '}' for f in CHANNEL_FIELDS)}"
    if not names & {"number", "digits"}:
        return f"{template!r} names no number: write {{number}} or {{digits}} where it goes"
    return None


@dataclass(frozen=True)
class DialSettings:
    """The options of one ``agiflow callbacks dial`` run."""

    spool: Path
    channel: str
    context: str = "agiflow-callbacks"
    extension: str = "s"
    wait: int = 45
    callerid: str = ""
    limit: int = 5
    dnc: tuple[str, ...] = ("robinson",)
    queue: str | None = None
    retry_after: timedelta = timedelta(minutes=30)
    max_attempts: int = 3
    dry_run: bool = False


@dataclass
class DialReport:
    """What a run did: a line per request it looked at, and whether any
    request was kept back by a failure (a list or a spool folder)."""

    lines: list[str] = field(default_factory=list)
    written: int = 0
    skipped: int = 0
    failed: bool = False

    def skip(self, request: dict[str, Any], why: str, failure: bool = False) -> None:
        self.lines.append(f"callback {request['id']} {request['number']}: skipped, {why}")
        self.skipped += 1
        self.failed = self.failed or failure


def call_file(request: dict[str, Any], settings: DialSettings) -> CallFile:
    """The call file that calls ``request`` back."""
    number = str(request["number"])
    channel = settings.channel.format(number=number, digits=number.lstrip("+"), id=request["id"])
    variables = {"AGIFLOW_CALLBACK_ID": str(request["id"]), "AGIFLOW_CALLBACK_NUMBER": number}
    if request.get("queue"):
        variables["AGIFLOW_CALLBACK_QUEUE"] = str(request["queue"])
    return CallFile(channel, settings.context, settings.extension, "1", settings.wait, settings.callerid, variables)


def dnc_hit(lists: NumberLists | None, names: tuple[str, ...], number: str) -> tuple[str | None, bool]:
    """Why ``number`` must not be dialled (a hit, or a list that cannot be
    read), and whether that is a failure; (None, False) when every list
    was read and none holds it."""
    if lists is None:
        return "no do-not-call list can be read (no database): not dialled", True
    for name in names:
        try:
            hit = lists.match(name, number)
        except ListUnavailable as exc:
            return f"do-not-call list {name} cannot be read ({exc}): not dialled", True
        except ValueError as exc:
            return f"not a phone number ({exc})", False
        if hit is not None:
            entry = hit.entry + ("*" if hit.prefix else "")
            return f"in do-not-call list {name} ({entry})", False
    return None, False


def without_listed(requests: list[dict[str, Any]], lists: NumberLists | None,
                   names: tuple[str, ...]) -> tuple[list[dict[str, Any]], list[str], bool]:
    """The requests an export hands a dialer: every pending one whose
    number was checked against the ``names`` lists now and is in none
    (others as they are), a line for each left out, and whether one was
    left out because a list could not be read."""
    kept, lines, failed = [], [], False
    for request in requests:
        if request.get("status") == PENDING:
            why, failure = dnc_hit(lists, names, str(request["number"]))
            if why is not None:
                lines.append(f"callback {request['id']} {request['number']}: left out, {why.removesuffix(': not dialled')}")
                failed = failed or failure
                continue
        kept.append(request)
    return kept, lines, failed


def dial_callbacks(book: CallbackBook, lists: NumberLists | None, settings: DialSettings,
                   now: datetime) -> DialReport:
    """Write call files for the oldest due requests, one per number, until
    ``settings.limit`` of agiflow's call files are in the spool."""
    report = DialReport()
    waiting = callfiles.waiting(settings.spool)
    slots = settings.limit - len(waiting)
    if slots <= 0:
        report.lines.append(f"{len(waiting)} callback call files still in {settings.spool} "
                            f"(at most {settings.limit} at once): none written")
        return report
    retry_before = iso((now - settings.retry_after).timestamp()) or ""
    # A number is busy while a call file of it waits in the spool (its
    # request pending or closed meanwhile: Asterisk still dials it), and for
    # --retry-after after its last file, whichever of its pending requests that was.
    busy = book.numbers_of(waiting) | {r["number"] for r in book.requests(PENDING)
                                       if (r.get("dialled_at") or "") > retry_before}
    for request in book.due(settings.max_attempts, retry_before, settings.queue):
        if report.written >= slots:
            break
        if request["id"] in waiting or request["number"] in busy:
            continue
        busy.add(request["number"])
        _dial_one(book, lists, settings, request, now, retry_before, report)
    report.lines.append(_summary(report, settings))
    return report


def _dial_one(book: CallbackBook, lists: NumberLists | None, settings: DialSettings, request: dict[str, Any],
              now: datetime, retry_before: str, report: DialReport) -> None:
    why, failure = dnc_hit(lists, settings.dnc, request["number"])
    if why is not None:
        report.skip(request, why, failure)
        return
    try:
        text = call_file(request, settings).text(f"agiflow callback request {request['id']} ({request['number']})")
    except CallFileError as exc:
        report.skip(request, str(exc))
        return
    name = callfiles.name_for(request["id"])
    arrived = request.get("arrived_at") or request["requested_at"]
    attempt = (request.get("attempts") or 0) + 1
    if settings.dry_run:
        report.lines.append(f"callback {request['id']} {request['number']} (arrived {arrived}, attempt {attempt}): "
                            f"would write {name}")
        report.written += 1
        return
    claimed_at = iso(now.timestamp()) or ""
    if not book.claim(request["id"], claimed_at, retry_before):
        report.skip(request, "taken by another dialer or closed meanwhile")
        return
    try:
        callfiles.write(settings.spool, name, text)
    except CallFileError as exc:  # nothing reached the spool: no call, the attempt is given back
        book.release(request["id"], claimed_at, request.get("dialled_at"))
        report.skip(request, str(exc), True)
        return
    report.lines.append(f"callback {request['id']} {request['number']} (arrived {arrived}, attempt {attempt}): {name}")
    report.written += 1


def _summary(report: DialReport, settings: DialSettings) -> str:
    verb = "would be written" if settings.dry_run else "written"
    return (f"{counted(report.written, 'call file')} {verb} to {settings.spool}, "
            f"{counted(report.skipped, 'request')} skipped")
