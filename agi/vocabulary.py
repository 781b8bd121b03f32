"""The words a call is recorded in: the outcomes every step shares, the
call statuses, the CDR columns, and how values are written into them.

One definition each, read by the engine, the steps, the session, the CDR
writers, the reports and ``agiflow test``. Imports nothing from agi, so any
layer may use it (docs/architecture.md).
"""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

# -- outcomes -------------------------------------------------------------------

#: The caller hung up during the step (any step may end so).
HANGUP = "hangup"
#: The step failed: a bad reply, a template that cannot render, an unusable service.
ERROR = "error"
#: Outcomes every step may have besides its own.
COMMON_OUTCOMES = (HANGUP, ERROR)
#: The outcome of a step that simply finished; ``next:`` names its target.
NEXT = "next"

# -- call statuses (calls.status; AGIFLOW_STATUS for the dialplan) ---------------

#: The call is running (or the server died before it ended).
IN_PROGRESS = "in_progress"
#: The flow ran to its end.
COMPLETED = "completed"
#: The caller hung up during the flow.
CALLER_HANGUP = "caller_hangup"
#: The flow failed: a step ended in ``error``, a loop, a bad transfer, a crash.
FAILED = "error"
#: Asterisk asked for a flow that does not exist.
UNKNOWN_FLOW = "unknown_flow"
#: The server cut the call (drain timeout, bad input) or stopped before it ended.
INTERRUPTED = "interrupted"
#: Every status a calls row may have.
STATUSES = (IN_PROGRESS, COMPLETED, CALLER_HANGUP, FAILED, UNKNOWN_FLOW, INTERRUPTED)
#: How a flow that ran can end: what a flow test may expect.
FLOW_END_STATUSES = (CALLER_HANGUP, COMPLETED, FAILED)

# -- directions (Flow.direction; calls.direction) ----------------------------------

#: A call that came in: the reports' offered, answered and abandoned count these.
INBOUND = "inbound"
#: A call agiflow's flows placed (a campaign leg, a callback): the campaign report's.
OUTBOUND = "outbound"
DIRECTIONS = (INBOUND, OUTBOUND)

# -- CDR columns (docs/cdr.md), in table order ----------------------------------

#: calls columns the session fills as the call starts and ends.
SESSION_COLUMNS: dict[str, type] = {
    "id": str, "call_id": str, "flow": str, "flow_version": str, "requested_flow": str, "caller": str,
    "caller_name": str, "called": str, "channel": str, "context": str, "extension": str,
    "args": str, "started_at": str, "answered_at": str, "ended_at": str, "duration": float,
    "status": str, "outcome": str, "last_step": str, "path": str, "steps": int,
    "fields": str, "error": str,
    # from the channel's compliance guard (agi/call_guard.py)
    "recording_commands": int, "refused_commands": str,
    # the server process that ran the call: server.node, and its worker's number
    "node": str, "worker": int,
    # the flow's direction (inbound, outbound); the caller in E.164 (default_region)
    "direction": str, "caller_e164": str,
}
#: calls columns steps fill with ``CallContext.record``.
STEP_FILLED_COLUMNS: dict[str, type] = {
    "vip": int, "priority": int, "consent": str, "recording": str, "queue": str,
    "queue_status": str, "queue_wait": float, "talk_time": float, "dialled": str,
    "dial_status": str, "robinson": str, "robinson_list": str, "blocked": str, "callback": str,
    "agent": str, "agent_interface": str, "history": str, "supervisor": str,
    "consent_key": str, "consent_at": str, "ring_time": float, "hangup_cause": str,
}
#: The calls table: a row per call.
CALL_COLUMNS: dict[str, type] = {**SESSION_COLUMNS, **STEP_FILLED_COLUMNS}
#: The names steps may set with ``CallContext.record``.
RECORD_COLUMNS = frozenset(STEP_FILLED_COLUMNS)
#: The call_steps table: a row per step a call went through.
STEP_COLUMNS: dict[str, type] = {
    "id": int, "call": str, "seq": int, "flow": str, "step": str, "type": str,
    "outcome": str, "started_at": str, "duration_ms": float, "details": str,
}
#: The columns a step row is inserted with: the call's key first, no row id.
STEP_FIELDS = ("call", *(column for column in STEP_COLUMNS if column not in ("id", "call")))

# -- values -----------------------------------------------------------------------

#: The last second iso() formatted, and its text: calls ask for the same
#: second many times, and formatting it is most of the cost.
_iso_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def iso(ts: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC timestamp (millisecond precision)."""
    global _iso_second
    if ts is None:
        return None
    fraction, whole = math.modf(ts)  # as datetime.fromtimestamp rounds, to the microsecond
    seconds, micros = divmod(int(whole) * 1_000_000 + round(fraction * 1_000_000), 1_000_000)
    cached = _iso_second
    if cached[0] != seconds:
        cached = _iso_second = (seconds, datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{cached[1]}.{micros // 1000:03d}Z"


#: One encoder for every CDR value: ``json.dumps`` with these options would
#: build a new encoder for each call (most of its cost for a small dict).
_JSON = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False)
#: json's C encoder with _JSON's options, made once: ``_JSON.encode`` makes
#: one for every dict or list, which is most of the cost of a small one.
#: Without a circular-reference check: CDR values are plain trees.
_C_ENCODER = json.encoder.c_make_encoder and json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, str, json.encoder.encode_basestring, None, ": ", ", ", True, False, True)


def as_json(value: Any) -> str:
    """``value`` as JSON text, keys sorted, anything else as its ``str``."""
    if not value and isinstance(value, (dict, list, tuple)):
        return "{}" if isinstance(value, dict) else "[]"
    if _C_ENCODER and isinstance(value, (dict, list)):
        return "".join(_C_ENCODER(value, 0))
    return _JSON.encode(value)
