"""``history``: caller memory. Look up the caller's earlier calls in a
window and branch on them: ``new``, ``returning``, ``repeat`` (at least N
earlier calls) or ``abandoned_recently`` (the last call was abandoned a
short while ago). What it found is ``history.*`` for the steps after it.

The caller ID is normalised to E.164 with ``default_region`` and matched
against every spelling Asterisk may have stored for it (agi.phone.spellings).
The lookup is one statement over an index, run off the reactor and bounded
by ``timeout``; when it fails the step fails open to ``new`` (or gives
``error`` with ``on_error: error``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from agi import phone
from agi.engine.context import NO_HISTORY, CallContext
from agi.engine.step import StepResult
from agi.lists.numbers import normaliser
from agi.services import ABANDONED, CallHistorySummary, HistoryQuery, HistoryUnavailable
from agi.steps.base import Node, done
from agi.vocabulary import ERROR, iso
from agi.yamlschema import TEXT, obj

NEW = "new"
RETURNING = "returning"
REPEAT = "repeat"
ABANDONED_RECENTLY = "abandoned_recently"
#: ``30m``, ``12h``, ``7d``, ``2w``, or whole seconds.
DURATION = {"oneOf": [{"type": "integer", "minimum": 1},
                      {"type": "string", "pattern": r"^[1-9][0-9]*[smhdw]$"}]}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_WINDOW = 366 * 86400


def seconds_of(duration: int | str) -> int:
    """A DURATION option in seconds: ``90`` -> 90, ``1h`` -> 3600."""
    if isinstance(duration, int):
        return duration
    match = re.fullmatch(r"([1-9][0-9]*)([smhdw])", duration)
    if match is None:
        raise ValueError(f"not a duration: {duration!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class HistoryNode(Node):
    type_name = "history"
    summary = ("Caller memory: the caller's earlier calls in a window (count, first and last call, "
               "last outcome, queue and agent, abandoned, callback pending), as history.* for later "
               "steps. Outcomes: new, returning, repeat, abandoned_recently.")
    schema = {"oneOf": [{"type": "null"}, obj({
        "number": TEXT,
        "window": DURATION,
        "repeat": {"type": "integer", "minimum": 1, "maximum": 1000},
        "recent": DURATION,
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 5},
        "on_error": {"enum": [NEW, ERROR]},
    })]}

    number: str = "{{ call.caller }}"
    window: int = 7 * 86400
    repeat: int = 2
    recent: int = 3600
    timeout: float = 0.5
    on_error: str = NEW

    @classmethod
    def from_config(cls, config: Any) -> "HistoryNode":
        config = config or {}
        options: dict[str, Any] = {key: config[key] for key in ("number", "repeat", "timeout", "on_error")
                                   if key in config}
        options.update({key: seconds_of(config[key]) for key in ("window", "recent") if key in config})
        if "window" not in options and "recent" in options:  # seven days, or recent when that is longer
            options["window"] = max(cls.window, options["recent"])
        if "recent" not in options:  # the default hour, or the whole window when that is shorter
            options["recent"] = min(cls.recent, options.get("window", cls.window))
        return cls(**options)

    def outcomes(self) -> tuple[str, ...]:
        return (NEW, RETURNING, REPEAT, ABANDONED_RECENTLY)

    def templates(self) -> list[tuple[str, str, bool]]:
        return [("number", self.number, False)]

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if self.recent > MAX_WINDOW:
            found.append(("recent", "recent is longer than 366 days"))
        if self.window > MAX_WINDOW and self.window != self.recent:  # equal: the window defaults to recent
            found.append(("window", "the window is longer than 366 days"))
        if self.recent > self.window:
            found.append(("recent", "recent is longer than the window: only calls in the window are read"))
        return found

    async def run(self, ctx: CallContext) -> StepResult:
        raw = ctx.render_text(self.number).strip()
        region = ctx.services.default_region
        ctx.history = dict(NO_HISTORY, outcome=NEW)
        if phone.is_anonymous(raw):
            return done(NEW, record={"history": NEW}, number=raw, anonymous=True)
        try:
            number = normaliser(region).number(raw)
        except ValueError as exc:
            return done(NEW, record={"history": NEW}, number=raw, invalid_number=str(exc))
        now = datetime.fromtimestamp(ctx.clock(), tz=timezone.utc)
        query = HistoryQuery(phone.spellings(number, region), now - timedelta(seconds=self.window), now,
                             ctx.call.id, self.timeout)
        try:
            summary = await self._lookup(ctx, query)
        except HistoryUnavailable as exc:
            return self._failed(ctx, number, str(exc))
        outcome = self._outcome(summary, now)
        ctx.history = summary.as_names(outcome, number)
        names = ctx.history
        return done(outcome, record={"history": outcome}, number=number, window=self.window,
                    calls=summary.calls, first_call=names["first_call"], last_call=names["last_call"],
                    last_outcome=names["last_outcome"] or None, last_queue=names["last_queue"] or None,
                    last_agent=names["last_agent"] or None, callback_pending=summary.callback_pending)

    async def _lookup(self, ctx: CallContext, query: HistoryQuery) -> CallHistorySummary:
        if ctx.services.history is None:
            raise HistoryUnavailable("earlier calls are not available here (no database)")
        return await ctx.services.history.lookup(query)

    def _failed(self, ctx: CallContext, number: str, error: str) -> StepResult:
        """Fail open: the caller is taken as new, unless ``on_error: error``."""
        ctx.log.warning("history of %s not read (%s); going on as %s", number, error, self.on_error)
        ctx.history = dict(NO_HISTORY, outcome=self.on_error, number=number)
        return done(self.on_error, record={"history": ERROR}, number=number, error=error)

    def _outcome(self, summary: CallHistorySummary, now: datetime) -> str:
        last = summary.last
        if last is not None and last.outcome == ABANDONED and \
                last.started_at >= (iso((now - timedelta(seconds=self.recent)).timestamp()) or ""):
            return ABANDONED_RECENTLY
        if summary.calls >= self.repeat:
            return REPEAT
        return RETURNING if summary.calls else NEW
