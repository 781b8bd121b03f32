"""Time zones by their IANA names, whatever text is given as one."""
from __future__ import annotations

from zoneinfo import ZoneInfoNotFoundError

#: What ``ZoneInfo(name)`` raises for a name that is no zone: besides
#: ZoneInfoNotFoundError and ValueError, OSError for a name longer than a
#: file name may be (``Europe/`` and 300 letters) and RecursionError for
#: one of thousands of ``/`` parts (both once a traceback from every
#: command that read such a flow, schedule, config or ``--tz``).
ZONE_ERRORS = (ZoneInfoNotFoundError, ValueError, OSError, RecursionError)
