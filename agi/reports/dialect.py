"""The SQL of the reports that differs between SQLite and PostgreSQL, in
one place: each query of agi/reports/queries.py names these pieces as
``{name}`` and ``CdrReader.sql`` fills them in for its backend."""
from __future__ import annotations

from dataclasses import dataclass, field

from agi.storage.call_measures import ivr_sums


@dataclass(frozen=True)
class Dialect:
    name: str
    #: Pieces of SQL the queries name: ``{plain}`` before a column keeps
    #: SQLite from walking an index in group order (a no-op elsewhere).
    pieces: dict[str, str] = field(default_factory=dict)
    #: The LIMIT value meaning no limit.
    no_limit: int | None = -1

    def local_time(self, column: str, shift: str) -> str:
        """``column`` (stored UTC text) shifted by ``shift`` (SQL giving
        '+3600 seconds'), as local ``YYYY-MM-DD HH:MM:SS`` text. A time
        written by hand with its UTC offset (``...T10:00:00+01:00``) is the
        moment it names on both backends, as SQLite's ``datetime`` reads it."""
        if self.name == "postgresql":
            return f"to_char(CAST(left({column}, 19) AS timestamp) + CAST({shift} AS interval)" \
                   f" - CASE WHEN right({column}, 1) <> 'Z' AND {column} ~ '[+-][0-9][0-9]:[0-9][0-9]$'" \
                   f" THEN CAST(right({column}, 6) AS interval) ELSE interval '0' END, 'YYYY-MM-DD HH24:MI:SS')"
        return f"datetime({column}, {shift})"

    def offset_seconds(self, shift: str) -> str:
        """The seconds of ``shift`` (SQL giving '+3600 seconds') as an integer."""
        if self.name == "postgresql":
            return f"CAST(extract(epoch FROM CAST({shift} AS interval)) AS integer)"
        return f"CAST({shift} AS integer)"

    def weekday(self, local: str) -> str:
        """The ISO weekday (1 Monday ... 7 Sunday) of ``local`` (local time text)."""
        if self.name == "postgresql":
            return f"CAST(extract(isodow FROM CAST({local} AS timestamp)) AS integer)"
        return f"((CAST(strftime('%w', {local}) AS integer) + 6) % 7 + 1)"

    def interval_start(self, local: str, minutes: int) -> str:
        """``local`` (local time text) cut to the start of its ``minutes``
        interval (15, 30 or 60) within the hour: ``YYYY-MM-DD HH:MM``."""
        if minutes == 60:
            return f"substr({local}, 1, 14) || '00'"
        minute = f"CAST(substr({local}, 15, 2) AS integer) / {int(minutes)} * {int(minutes)}"
        if self.name == "postgresql":
            return f"substr({local}, 1, 14) || lpad(CAST({minute} AS text), 2, '0')"
        return f"substr({local}, 1, 14) || printf('%02d', {minute})"

    def prefix(self, column: str, param: str) -> str:
        """``column`` starts with the text of parameter ``param`` (as ``prefix_pattern`` made it)."""
        if self.name == "postgresql":
            return f"{column} LIKE :{param}"
        return f"{column} GLOB :{param}"

    def prefix_pattern(self, text: str) -> str:
        """The parameter value for ``prefix``: ``text`` matched literally, then anything."""
        if self.name == "postgresql":
            return "".join("\\" + ch if ch in "\\%_" else ch for ch in text) + "%"
        return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text) + "*"


SQLITE = Dialect("sqlite", {
    "plain": "+",
    "ivr_sums": ", ".join(f"{sql} AS {name}" for name, sql in ivr_sums(postgres=False).items()),
}, no_limit=-1)

POSTGRES = Dialect("postgresql", {
    "plain": "",
    "ivr_sums": ", ".join(f"{sql} AS {name}" for name, sql in ivr_sums(postgres=True).items()),
}, no_limit=None)
