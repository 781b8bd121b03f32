"""Names of recording files: one folder per day, and a file name that says
when, who called, what they called and which call it was:

    <directory>/2025/03/10/20250310-093000_600111222_911234567_1741597200.42.wav

Caller and called number keep only digits, ``+`` and letters (``anonymous``
/ ``unknown`` when empty); the call id keeps digits, letters and inner dots.
Nothing taken from the call can add a ``/`` or start a name with a dot, so a
file never lands outside its day's folder. Pure functions: no I/O.
"""
from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Collection
from datetime import datetime
from functools import lru_cache

from agi.protocol import appargs
from agi.settings import RecordingSettings

_NUMBER_JUNK = re.compile(r"[^0-9A-Za-z+]")
_CALL_ID_JUNK = re.compile(r"[^0-9A-Za-z.]")
_FORMAT = re.compile(r"^[a-z0-9]+$")
#: Longest number / call id kept in a name (a caller ID can be any text).
MAX_PART = 32
#: The extension Asterisk writes a format to, where it is not the format's
#: name: file.c writes wav49 (GSM in a WAV file) to ``<name>.WAV``, and
#: MixMonitor given ``.WAV`` picks wav49 (plain ``.wav`` is format wav).
WRITTEN_AS = {"wav49": "WAV"}


def recording_path(settings: RecordingSettings, at: datetime, caller: str, called: str, call_id: str) -> str:
    """The full path MixMonitor records the call to, as Asterisk writes it."""
    day = f"{at.year:04d}{at.month:02d}{at.day:02d}"  # strftime's %Y%m%d, without its cost
    name = "_".join((f"{day}-{at.hour:02d}{at.minute:02d}{at.second:02d}", _number(caller, "anonymous"),
                     _number(called, "unknown"), _call_id(call_id)))
    return posixpath.join(settings.directory.rstrip("/") or "/", f"{day[:4]}/{day[4:6]}/{day[6:]}",
                          f"{name}.{WRITTEN_AS.get(settings.format, settings.format)}")


def unused_path(path: str, taken: Collection[str]) -> str:
    """``path``, or when the call already recorded to it (a recording
    resumed within the second it is named from: MixMonitor would truncate
    the file), the same with ``-2``, ``-3``... before the extension."""
    if path not in taken:
        return path
    stem, extension = posixpath.splitext(path)
    return next(f"{stem}-{n}{extension}" for n in itertools.count(2) if f"{stem}-{n}{extension}" not in taken)


@lru_cache(maxsize=64)  # the same settings for every call
def settings_problem(settings: RecordingSettings) -> str | None:
    """Why MixMonitor could not be given a path under these settings, if so:
    the folder must be absolute and hold no line break or NUL (any other
    character is escaped in MixMonitor's argument), and the format must be
    a file extension."""
    if not settings.directory.startswith("/"):
        return f"recordings.directory {settings.directory!r} is not an absolute path"
    problem = appargs.line_problem(settings.directory)
    if problem:
        return f"recordings.directory {settings.directory!r} {problem}"
    if not _FORMAT.match(settings.format):
        return f"recordings.format {settings.format!r} is not a file extension"
    return None


def _number(value: str, empty: str) -> str:
    return _NUMBER_JUNK.sub("", value)[:MAX_PART] or empty


def _call_id(value: str) -> str:
    return _CALL_ID_JUNK.sub("", value)[:MAX_PART].strip(".") or "unknown"
