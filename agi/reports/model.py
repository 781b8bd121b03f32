"""What every report is made of: filters in, columns, rows and charts out.

The query modules build a ``Report``; the renderers in ``agi.reports.render``
turn it into a terminal table, CSV, JSON or an HTML page. Nothing here knows
about click or about the output format.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence, TypeVar

#: How a column's values are written (see docs/reports.md, "Formats").
TEXT, COUNT, SECONDS, PERCENT, TIME, NUMBER = "text", "count", "seconds", "percent", "time", "number"
KINDS = (TEXT, COUNT, SECONDS, PERCENT, TIME, NUMBER)
#: Groupings whose values are times or words of a fixed list (the call's
#: outcome, status or direction): the terminal table never cuts them to fit
#: (docs/reports.md#formats), unlike names.
WHOLE_GROUPS = ("day", "weekday", "hour", "outcome", "status", "direction")


def shrinks(by: str) -> bool:
    """Whether the table may cut the values of grouping ``by`` to fit."""
    return by not in WHOLE_GROUPS


@dataclass(frozen=True)
class Column:
    """One column of a report. ``key`` names it in CSV headers and JSON rows;
    ``title`` heads the terminal table and the HTML page. ``shrink`` marks a
    text column the terminal table may cut to fit the width; ``table=False``
    leaves it out of the terminal table (CSV, JSON and HTML keep it)."""

    key: str
    title: str
    kind: str = TEXT
    shrink: bool = False
    table: bool = True

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.key}: unknown kind {self.kind!r}")


@dataclass(frozen=True)
class Series:
    """One line of a chart over time: a value (or None: no value) per label."""

    name: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Chart:
    """A chart: one value per label. ``horizontal`` bars suit long labels
    (outcomes, menu choices); vertical bars suit a few short ones (hours of
    the day), and a long run of them is drawn as a line. ``series`` makes it
    a line chart of several lines over the labels (``values`` unused);
    ``emphasis`` are the indices of labels the axis shows first (midnights,
    the repeated hour of a DST change). ``unit`` is ``calls``, ``%`` or
    ``seconds`` (written h:mm:ss). A value of None is none (a ratio of no
    calls): no bar or point, never a 0. ``outcomes``: the labels are
    outcomes (or a campaign's results), each bar in its outcome's colour;
    other bars (flows, queues, agents...) have one colour, whatever their name."""

    title: str
    labels: Sequence[str]
    values: Sequence[float | None] = ()
    horizontal: bool = True
    unit: str = "calls"
    series: Sequence[Series] = ()
    emphasis: Sequence[int] = ()
    outcomes: bool = False


#: A chart of names (flows, queues, agents...) draws the groups of this many at most.
MOST_NAMES = 15
R = TypeVar("R")


def largest(title: str, groups: Sequence[R], size: Callable[[R], float], what: str) -> tuple[str, list[R]]:
    """The ``MOST_NAMES`` groups of greatest ``size`` (in their order) and
    the chart's title, saying so when some are left out:
    ``ASR by flow (the 15 of 34 with most offered calls)``."""
    if len(groups) <= MOST_NAMES:
        return title, list(groups)
    kept = set(sorted(range(len(groups)), key=lambda i: -size(groups[i]))[:MOST_NAMES])
    return (f"{title} (the {MOST_NAMES} of {len(groups):,} with most {what})",
            [group for i, group in enumerate(groups) if i in kept])


@dataclass(frozen=True)
class Filters:
    """Which calls a report reads: started in [since, until) (UTC, None for
    open ends), of these flows (empty: all), from this caller (a number
    however written, or a prefix ending in ``*``: agi/reports/caller_filter.py),
    that ran one of these flow versions (each a version or its first hex
    digits; empty: all). ``tz`` is the zone of days, hours and times;
    ``region`` (``default_region``) reads a national caller number."""

    since: datetime | None = None
    until: datetime | None = None
    flows: tuple[str, ...] = ()
    caller: str | None = None
    tz: tzinfo | None = None
    tz_name: str = "UTC"
    flow_versions: tuple[str, ...] = ()
    region: str = "ES"

    def describe(self) -> dict[str, Any]:
        """The filters as plain values for JSON and page headers."""
        return {"since": _iso(self.since), "until": _iso(self.until), "flow": list(self.flows),
                "flow_version": list(self.flow_versions), "caller": self.caller, "timezone": self.tz_name}


class StreamedRows:
    """Rows read from the database each time they are iterated, one batch
    at a time, so that writing a million of them takes no more memory than
    writing ten. Only usable while the report's read transaction is open
    (``agi.reports.open_report``); every pass reads the same rows."""

    def __init__(self, read: Callable[[], Iterator[Mapping[str, Any]]]) -> None:
        self._read = read

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return self._read()


@dataclass(frozen=True)
class Report:
    """The result of one report: its rows (dicts keyed by column key) in
    order, optional totals (a row shown after the others in the table and
    the page, never in CSV), charts for the page, and the options used.
    ``rows`` is a list, or ``StreamedRows`` while the database is open
    (``all_rows`` makes a list of them). ``flag`` names a column whose true
    values mark rows the HTML page highlights, explained by ``flag_note``;
    ``flag_calls`` names the column of a row's calls when a row is more than
    one call, so that the page's note counts calls, not rows."""

    kind: str
    title: str
    columns: Sequence[Column]
    rows: Iterable[Mapping[str, Any]]
    filters: Filters
    generated_at: datetime
    options: Mapping[str, Any] = field(default_factory=dict)
    totals: Mapping[str, Any] | None = None
    charts: Sequence[Chart] = ()
    notes: Sequence[str] = ()
    flag: str | None = None
    flag_note: str = ""
    flag_calls: str | None = None

    def all_rows(self) -> list[Mapping[str, Any]]:
        """The rows as a list (read from the database if they are streamed)."""
        return self.rows if isinstance(self.rows, list) else list(self.rows)

    def materialised(self) -> "Report":
        """The report with its rows in a list, usable once the database is closed."""
        return self if isinstance(self.rows, list) else replace(self, rows=self.all_rows())


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    spec = "milliseconds" if moment.microsecond else "seconds"  # --until 09:30:00.5 is not 09:30:00
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")
