"""A database driver's error as the one line agiflow shows: libpq's
messages span several lines, and PostgreSQL quotes the piece of the
statement it failed on (``LINE 1: ...``), which tells an operator nothing.
No driver is imported here: the CLI and the reports use it without
loading psycopg."""
from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line, without the statement the server quotes after it."""
    text = str(exc)
    statement = text.find("\nLINE ")
    text = " ".join((text if statement < 0 else text[:statement]).split())
    return text or type(exc).__name__


def missing_right(exc: BaseException) -> str:
    """What to grant, said after ``exc``'s line, for a PostgreSQL right that
    docs/database.md lists and the role lacks; else nothing."""
    if getattr(exc, "sqlstate", None) == "42501" and "temporary tables" in str(exc):
        return (": grant this role TEMPORARY on the database "
                "(lists import and db copy stage rows in temporary tables)")
    return ""
