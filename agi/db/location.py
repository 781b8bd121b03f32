"""The ``database`` setting: a SQLite file or a PostgreSQL URL.

``postgresql://user@host:port/dbname?sslmode=require`` (or ``postgres://``)
names a PostgreSQL database, with libpq's conventions: a password comes from
``PGPASSWORD`` or ``~/.pgpass`` when the URL has none, and every libpq
parameter may be given in the query string. ``sqlite:PATH`` or any other
text names a SQLite file, except a URL of another scheme (``mysql://``),
refused. No driver is imported here: libpq (through ctypes) checks that it
can read a URL, as it will when connecting.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Union
from urllib.parse import urlsplit

#: How a PostgreSQL URL starts.
SCHEMES = ("postgresql://", "postgres://")
#: How a SQLite path may be marked explicitly (``agiflow db copy --from sqlite:agiflow.db``).
SQLITE_PREFIX = "sqlite:"
#: ``scheme://`` at the start of a setting: a URL, never a file name.
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: A ``%`` that starts no percent-encoded character (libpq's error quotes the part holding it).
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@dataclass(frozen=True)
class PostgresUrl:
    """A PostgreSQL database named by a libpq URL. ``str()`` hides the
    password, so that it can be logged and shown."""

    url: str

    def __str__(self) -> str:
        return redacted(self.url)


#: Where the database is: a SQLite file or a PostgreSQL database.
Database = Union[Path, PostgresUrl]


def is_postgres_text(text: str) -> bool:
    return text.strip().lower().startswith(SCHEMES)


def parse_database(text: str | Path | PostgresUrl, base: Path | None = None) -> Database:
    """The database ``text`` names; a relative SQLite path is relative to
    ``base`` (the config file's folder) when given. ValueError for a
    PostgreSQL URL libpq could not read, or for no path at all."""
    if isinstance(text, PostgresUrl):
        return text
    if isinstance(text, Path):
        return base / text if base is not None else text
    value = text.strip()
    if is_postgres_text(value):
        check_url(value)
        return PostgresUrl(value)
    if value.startswith(SQLITE_PREFIX):
        value = value[len(SQLITE_PREFIX):]
        if value.startswith("//"):  # sqlite:///abs/path, as other tools write it
            value = value[2:]
    elif url := _URL.match(value):  # a typo'd or foreign URL would be a local file of that name
        raise ValueError(f"{url.group(1)}:// is not a database agiflow can use; write "
                         "postgresql://user@host:port/dbname, or the path of a SQLite file")
    if not value.strip():  # Path("") is the current folder (or the config's)
        raise ValueError("empty: give the path of a SQLite file or a postgresql:// URL")
    path = Path(value)
    return base / path if base is not None else path


def check_url(url: str) -> None:
    """ValueError naming what is wrong with a PostgreSQL URL. The message
    never quotes the URL: it may hold a password."""
    _check_user_part(url)
    if _STRAY_PERCENT.search(url):  # libpq refuses it quoting the part: a password, shown in the log
        raise ValueError("the PostgreSQL URL holds a '%' that starts no percent-encoded character: write "
                         "'%' as %25 (in a user or password too), or leave the password out of the URL "
                         "(PGPASSWORD or ~/.pgpass)")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError("not a PostgreSQL URL (its host cannot be read); "
                         "write postgresql://user@host:port/dbname") from None
    for host in parts.netloc.rpartition("@")[2].split(","):  # libpq takes several: host1:5432,host2:5433
        if host.startswith("["):  # an IPv6 address, [::1]:5432
            rest = host.rpartition("]")[2]
            if rest and not rest.startswith(":"):  # [::1]x: libpq's error quotes the whole URL
                raise ValueError("not a PostgreSQL URL (its host cannot be read); "
                                 "write postgresql://user@host:port/dbname")
            port = rest[1:]
        else:
            port = host.partition(":")[2]
        if port and not port.isdigit():
            raise ValueError("not a PostgreSQL URL (a port is not a number); write postgresql://user@host:port/dbname")
    if not parts.path.strip("/") and not _names_database(parts.query):
        raise ValueError("the PostgreSQL URL names no database; write postgresql://user@host:port/dbname")
    from agi.db.libpq import unreadable  # libpq through ctypes: no driver imported
    reason = unreadable(url)
    if reason:
        secrets = [parts.password or "", *re.findall(r"(?:^|&)password=([^&]*)", parts.query)]
        for secret in filter(None, secrets):
            reason = reason.replace(secret, "***")
        raise ValueError(f"libpq cannot read the PostgreSQL URL: {reason}")


def _names_database(query: str) -> bool:
    """Whether libpq finds a database for a URL without a path: in its
    query (``dbname=``), a service file (``service=``, PGSERVICE) or PGDATABASE."""
    given = {part.split("=", 1)[0] for part in query.split("&")}
    return bool(given & {"dbname", "service"}) or bool(os.environ.get("PGDATABASE") or os.environ.get("PGSERVICE"))


def _check_user_part(url: str) -> None:
    """ValueError when libpq would read the user and password another way
    than ``urlsplit`` does: libpq ends them at the first ``@`` or ``/``,
    so a password holding ``@``, ``/``, ``?`` or ``#`` as it is would be
    taken for a host (and shown in libpq's errors) or not hidden in logs."""
    rest = url.split("://", 1)[1]
    authority, slash, after = rest.partition("/")
    user_part = authority.split("@", 1)[0] if "@" in authority else ""
    if authority.count("@") > 1 or any(ch in user_part for ch in "?#") or \
            ("@" not in authority and "@" in after.split("?", 1)[0] and slash):
        raise ValueError("the PostgreSQL URL's user or password holds '@', '/', '?' or '#': write them "
                         "percent-encoded (%40, %2F, %3F, %23), or leave the password out of the URL "
                         "(PGPASSWORD or ~/.pgpass)")


def redacted(url: str) -> str:
    """``url`` with its password (in the address or ``password=``) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"://[^/]*@", "://***@", url)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return (f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")
            + (f"#{parts.fragment}" if parts.fragment else ""))


def describe(database: Database) -> str:
    """The database as a user reads it: the path, or the URL without its password."""
    return str(database)


def is_postgres(database: object) -> bool:
    return isinstance(database, PostgresUrl)


def exists(database: Database) -> bool:
    """The SQLite file exists; a PostgreSQL database is taken to exist
    (connecting tells)."""
    return isinstance(database, PostgresUrl) or Path(database).is_file()


#: The files SQLite keeps beside a database FILE (FILE-wal...), by their suffix.
COMPANIONS = {"-wal": "write-ahead log", "-shm": "shared memory file", "-journal": "rollback journal"}


def database_files(path: Path) -> list[Path]:
    """``path`` (resolved, links followed) and the files SQLite keeps beside it."""
    real = Path(os.path.realpath(path))
    return [real, *(real.with_name(real.name + suffix) for suffix in COMPANIONS)]
