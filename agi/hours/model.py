"""What a schedule is: weekly hours, holidays, dated exceptions and
closures, in one IANA timezone. Frozen data; ``agi.hours.evaluate``
answers "open or not at this moment"."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import holidays as holidays_lib

from agi.services import Override
from agi.vocabulary import COMMON_OUTCOMES, NEXT

OPEN = "open"
CLOSED = "closed"
HOLIDAY = "holiday"
#: The outcome of a closure that names none.
CLOSURE = "closure"
#: Outcomes a closure may not use: they mean something else in a flow.
RESERVED_OUTCOMES = frozenset({OPEN, HOLIDAY, *COMMON_OUTCOMES, NEXT})

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, order=True)
class TimeRange:
    """Local wall-clock hours of one day, in minutes after midnight.

    ``end`` may be 1440 (24:00). When ``end <= start`` the range runs
    overnight and ends the next day; it still belongs to the day it starts.
    """

    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{clock_text(self.start)}-{clock_text(self.end)}"


def clock_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def ranges_text(ranges: tuple[TimeRange, ...]) -> str:
    return ", ".join(map(str, ranges))


@dataclass(frozen=True)
class DateSpan:
    """One date or an inclusive range of dates; ``yearly`` spans (written
    ``MM-DD`` or ``MM-DD..MM-DD``) repeat every year."""

    first: tuple[int, int, int]
    last: tuple[int, int, int]
    yearly: bool = False
    text: str = ""

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        if self.yearly:
            return self.first[1:] <= (day.month, day.day) <= self.last[1:]
        return self.first <= (day.year, day.month, day.day) <= self.last

    def overlaps(self, other: DateSpan) -> bool:
        if self.yearly != other.yearly:
            return False
        return self.first <= other.last and other.first <= self.last

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class SpecialHours:
    """Dated exception: these hours replace the weekly ones on its dates
    (no hours: closed all day, outcome ``closed``)."""

    span: DateSpan
    ranges: tuple[TimeRange, ...]
    name: str = ""
    line: int = 0


@dataclass(frozen=True)
class Closure:
    """Dated closure: closed all day, with its own outcome."""

    span: DateSpan
    outcome: str = CLOSURE
    name: str = ""
    line: int = 0


@dataclass(frozen=True)
class HolidayCalendar:
    """Public holidays of a country (and subdivision) from the ``holidays``
    package, plus extra named days."""

    country: str | None = None
    subdiv: str | None = None
    language: str | None = None
    extra: tuple[tuple[DateSpan, str], ...] = ()
    _table: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def name_of(self, day: date) -> str | None:
        """The holiday's name on ``day``, or None on a working day."""
        for span, name in self.extra:
            if day in span:
                return name
        if self.country is None:
            return None
        found = self.table().get(day)
        return str(found) if found is not None else None

    def table(self) -> Any:
        """The ``holidays`` calendar, made on first use; years fill in as asked."""
        table = self._table.get("holidays")
        if table is None and self.country is not None:
            table = self._table["holidays"] = holidays_lib.country_holidays(
                self.country, subdiv=self.subdiv, language=self.language)
        return table

    def label(self) -> str:
        place = "-".join(filter(None, [self.country, self.subdiv]))
        return place or "extra holidays"


def calendar_problems(country: str, subdiv: str | None, language: str | None) -> list[tuple[str, str]]:
    """(key, message) for each of country, subdiv and language the
    ``holidays`` package does not know."""
    known = holidays_lib.list_supported_countries()
    if country not in known:
        return [("country", f"no public holidays known for country '{country}'; use an ISO 3166 "
                            f"code such as ES, FR, GB, US")]
    found = []
    if subdiv is not None and subdiv not in known[country]:
        found.append(("subdiv", f"{country} has no subdivision '{subdiv}'; known: {', '.join(known[country])}"))
    languages = list(getattr(holidays_lib, country).supported_languages)
    if language is not None and language not in languages:
        found.append(("language", f"holiday names of {country} come in: {', '.join(languages) or 'one language only'}"))
    return found


def default_language(country: str) -> str | None:
    """The language ``holidays`` names a country's holidays in by default,
    so that names never depend on the server's locale."""
    return getattr(holidays_lib, country).default_language  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Schedule:
    """A named schedule. ``weekly`` has seven entries, Monday first."""

    name: str
    timezone: str
    weekly: tuple[tuple[TimeRange, ...], ...]
    holidays: HolidayCalendar | None = None
    exceptions: tuple[SpecialHours, ...] = ()
    closures: tuple[Closure, ...] = ()
    description: str = ""
    source: str = ""
    line: int = 0
    #: Day plans already worked out, by date (pure functions of the date).
    _plans: dict[date, Any] = field(default_factory=dict, compare=False, repr=False)

    def closure_outcomes(self) -> tuple[str, ...]:
        """Each closure outcome once, in the order they are declared."""
        return tuple(dict.fromkeys(c.outcome for c in self.closures if c.outcome != CLOSED))

    def outcomes(self) -> tuple[str, ...]:
        """Every outcome a ``schedule`` step on this schedule can return."""
        return (OPEN, CLOSED, HOLIDAY, *self.closure_outcomes())


@dataclass(frozen=True)
class ScheduleState:
    """The answer for one moment.

    ``next_change`` is the first later moment at which the outcome differs
    (in the schedule's timezone), ``next_outcome`` what it becomes; both
    None when nothing changes within the horizon looked at. ``rule`` says
    which layer decided: override, closure, exception, holiday or weekly.
    """

    outcome: str
    reason: str
    rule: str
    next_change: datetime | None = None
    next_outcome: str | None = None
    override: Override | None = None

    def as_note(self) -> dict[str, Any]:
        """What a ``schedule`` step records in its trace row."""
        note: dict[str, Any] = {"state": self.outcome, "reason": self.reason, "rule": self.rule}
        if self.next_change is not None:
            note["next_change"] = self.next_change.isoformat()
            note["next_state"] = self.next_outcome
        return note
