"""``log_format: json``: one JSON object per line, for log shippers.

Every line has ``time`` (ISO 8601 UTC, milliseconds), ``level``, ``logger``
and ``message``; a traceback is in ``exception``. The lines of a call also
have ``uniqueid`` and ``linkedid`` (Asterisk's, to line up with its CDR,
CEL and SIP captures; ``null`` when Asterisk did not give it) and ``flow``
(the flow Asterisk asked for), and their
message lacks the ``[uniqueid flow]`` prefix of the text format. A message
with newlines is still one line: JSON escapes them; like a text line, it
is cut at ``MAX_MESSAGE`` characters. A worker of ``agiflow serve --workers``
adds ``worker``, its number.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from agi.log_output import MAX_MESSAGE, shorten
from agi.vocabulary import iso

#: Record attributes a call's log adapter sets (agi/session.py), copied to the line when present.
CALL_FIELDS = ("uniqueid", "linkedid", "flow")
#: The record attribute holding the text prefix of a call's lines, left out of ``message``.
PREFIX_FIELD = "call_prefix"


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON. As with the text format
    (agi.log_output.BoundedFormatter), the message is cut at ``max_message``
    characters, and a record whose arguments do not fit its format string
    is still written, with its arguments after it."""

    def __init__(self, max_message: int = MAX_MESSAGE, worker: int | None = None) -> None:
        super().__init__()
        self.max_message = max_message
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            message = f"{record.msg} {record.args!r}"
        prefix = getattr(record, PREFIX_FIELD, None)
        if prefix and message.startswith(prefix):
            message = message[len(prefix):]
        line: dict[str, Any] = {"time": iso(record.created), "level": record.levelname, "logger": record.name}
        if self.worker is not None:
            line["worker"] = self.worker
        if hasattr(record, CALL_FIELDS[0]):  # a call's line: every field, null when unknown
            for name in CALL_FIELDS:
                line[name] = getattr(record, name, None)
        line["message"] = shorten(message, self.max_message)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)
