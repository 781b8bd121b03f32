"""Time zones by their IANA names, whatever text is given as one."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: What ``ZoneInfo(name)`` raises for a name that is no zone: besides
#: ZoneInfoNotFoundError and ValueError, OSError for a name longer than a
#: file name may be (``Europe/`` and 300 letters) and RecursionError for
#: one of thousands of ``/`` parts (both once a traceback from every
#: command that read such a flow, schedule, config or ``--tz``).
ZONE_ERRORS = (ZoneInfoNotFoundError, ValueError, OSError, RecursionError)

#: Files of the zone folder that ZoneInfo reads but that name no IANA zone:
#: Debian's ``localtime`` links to the machine's own zone, so a flow in it
#: would keep other hours on every machine.
_NOT_ZONES = frozenset({"localtime"})


def named_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; one of ZONE_ERRORS when it names none."""
    if name in _NOT_ZONES:
        raise ZoneInfoNotFoundError(f"No time zone found with key {name}")
    return ZoneInfo(name)
