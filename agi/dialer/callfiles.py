"""Asterisk call files: what ``pbx_spool`` reads from its outgoing spool
folder to place a call, and how to put one there safely.

Asterisk may read a file the moment it appears in the spool, so a call
file is written in full elsewhere on the same file system (the spool's
parent's ``tmp`` folder, as Asterisk's own ``/var/spool/asterisk/tmp``)
and then renamed into the spool: the rename is atomic, Asterisk never sees
half a file. No Twisted, no click.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

#: The names agiflow gives its call files: ``agiflow-callback-<request id>.call``.
PREFIX = "agiflow-callback-"
_OURS = re.compile(rf"^{re.escape(PREFIX)}(\d+)\.call$")
#: Characters that would end a line of a call file, or hide one.
_LINE_BREAKERS = re.compile(r"[\r\n\x00]")


#: pbx_spool reads ``#`` at the start of a value, or after a space or a
#: tab, as the start of a comment, and has no escape for it.
_COMMENT = re.compile(r"(?:^|[ \t])#")
#: pbx_spool reads a line into 1,024 bytes and skips a longer one: at most
#: this many bytes before the line's newline.
MAX_LINE_BYTES = 1022


def line_break(value: str) -> bool:
    """Whether ``value`` would end a line of a call file (or hide one)."""
    return bool(_LINE_BREAKERS.search(value))


def unreadable(value: str) -> str | None:
    """Why Asterisk would not read ``value`` in a call file as it is
    written, or None. A ``;`` is fine: ``line`` escapes it."""
    if line_break(value):
        return "contains a line break, which a call file cannot hold"
    if _COMMENT.search(value):
        return "has a '#' at its start or after a space, where Asterisk reads a call file's comment"
    return None


def line(key: str, value: str) -> str:
    """``Key: value`` as Asterisk's pbx_spool reads it back: ``;`` (the
    start of a comment there) escaped as ``\\;``. CallFileError for a value
    it would not read as written (unreadable), or a line it would skip."""
    problem = unreadable(value)
    if problem:
        raise CallFileError(f"{key} {value!r} {problem}")
    text = f"{key}: {value.replace(';', chr(92) + ';')}"
    if len(text.encode()) > MAX_LINE_BYTES:
        raise CallFileError(f"{key} makes a line of {len(text.encode())} bytes; Asterisk skips a call file line "
                            f"over {MAX_LINE_BYTES}")
    return text


class CallFileError(Exception):
    """A call file that cannot be made or written (a value with a line
    break, a spool folder that cannot be written)."""


@dataclass(frozen=True)
class CallFile:
    """One call: Asterisk dials ``channel`` and, once answered, runs the
    dialplan at ``context``, ``extension``, ``priority`` with ``variables``."""

    channel: str
    context: str
    extension: str = "s"
    priority: str = "1"
    wait: int = 45
    callerid: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)

    def text(self, comment: str = "") -> str:
        """The file's lines: ``MaxRetries: 0`` (agiflow counts attempts
        itself) and ``Archive: no``. CallFileError for a value Asterisk
        would not read as written (``line``)."""
        lines = [("Channel", self.channel), ("CallerID", self.callerid), ("WaitTime", str(self.wait)),
                 ("MaxRetries", "0"), ("Context", self.context), ("Extension", self.extension),
                 ("Priority", self.priority)]
        lines += [("Setvar", f"{name}={value}") for name, value in self.variables.items()]
        lines.append(("Archive", "no"))
        out = [f"# {comment}"] if comment else []
        for key, value in lines:
            written = line(key, value)
            if value:
                out.append(written)
        return "\n".join(out) + "\n"


def name_for(request_id: int) -> str:
    return f"{PREFIX}{request_id}.call"


def waiting(spool: Path) -> set[int]:
    """The request ids of agiflow's call files still in ``spool`` (Asterisk
    removes a file once its call is over)."""
    try:
        names = os.listdir(spool)
    except OSError as exc:
        raise CallFileError(f"cannot read the spool folder {spool}: {_reason(exc, spool)}") from None
    return {int(match.group(1)) for name in names if (match := _OURS.match(name))}


def staging_folder(spool: Path) -> Path:
    """Where a call file is written before it is renamed into ``spool``."""
    return spool.resolve().parent / "tmp"


def write(spool: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``staging_folder(spool)`` (made if missing), then
    rename it to ``spool/name``; the path in the spool."""
    staging = staging_folder(spool)
    target = spool / name
    try:
        staging.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".agiflow-", suffix=".call", dir=staging)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o644)
            os.rename(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CallFileError(f"cannot write {target}: {_reason(exc, target)}") from None
    return target


def _reason(exc: OSError, about: Path) -> str:
    """Why, naming the file only when it is not ``about`` (the staging
    folder), without Python's errno: ``No such file or directory``."""
    if not exc.strerror:
        return str(exc)
    if exc.filename is not None and str(exc.filename) != str(about):
        return f"{exc.filename}: {exc.strerror}"
    return exc.strerror
