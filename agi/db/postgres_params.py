"""What agiflow sends PostgreSQL besides its statements, without its driver:
the libpq parameters it adds to a URL, and its statements' parameters
translated from SQLite's (``?``, ``:name``) to the driver's. Shared by
psycopg (agi/db/postgres.py) and the report's own libpq client
(agi/db/libpq.py), which starts without importing psycopg."""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

#: libpq parameters agiflow sets unless the URL sets them (docs/database.md).
DEFAULTS = {
    "connect_timeout": "3",
    "application_name": "agiflow",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}


def _translate(sql: str, positional: Callable[[], str], named: Callable[[str], str], percent: str) -> str:
    """``sql`` with each ``?`` replaced by ``positional()``, each ``:name``
    by ``named(name)`` and each ``%`` by ``percent``; quoted text and
    ``::`` casts left alone (but their ``%``)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":
            end = sql.find(ch, i + 1)
            end = n - 1 if end < 0 else end
            out.append(sql[i:end + 1].replace("%", percent))
            i = end + 1
        elif ch == "%":
            out.append(percent)
            i += 1
        elif ch == "?":
            out.append(positional())
            i += 1
        elif ch == ":" and i + 1 < n and sql[i + 1] == ":":
            out.append("::")
            i += 2
        elif ch == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_"):
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(named(sql[i + 1:j]))
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def pyformat(sql: str) -> str:
    """``sql`` written with SQLite's parameters (``?``, ``:name``) in
    psycopg's (``%s``, ``%(name)s``); ``%`` doubled, quoted text and
    ``::`` casts left alone."""
    return _translate(sql, lambda: "%s", lambda name: f"%({name})s", "%%")


@lru_cache(maxsize=1024)
def numbered(sql: str) -> tuple[str, tuple[int | str, ...]]:
    """``sql`` written with SQLite's parameters in libpq's (``$1``, ``$2``...),
    and what each number takes: the position of a ``?`` among the ``?``
    (0, 1...) or the name of a ``:name`` (a name used twice is one number)."""
    keys: list[int | str] = []
    count = 0

    def positional() -> str:
        nonlocal count
        keys.append(count)
        count += 1
        return f"${len(keys)}"

    def named(name: str) -> str:
        if name not in keys:
            keys.append(name)
        return f"${keys.index(name) + 1}"
    return _translate(sql, positional, named, "%"), tuple(keys)
