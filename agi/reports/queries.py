"""The SQL of every report, by name, with the filter clause they share.

Only values are ever parameters; the few pieces put into the text (the
grouping expression, the number of placeholders) come from fixed tables in
this module, never from user input. What a call counts as (offered,
answered, abandoned, wait, talk) is agi/storage/call_measures.py; the
outcome of a call, one word, is the first that applies in ``OUTCOME``
(docs/reports.md#definitions).
"""
from __future__ import annotations

from typing import Any

from agi.reports.caller_filter import caller_clause, caller_match
from agi.reports.dialect import SQLITE, Dialect
from agi.loading.versions import VERSION_LENGTH
from agi.reports.model import Filters
from agi.reports.timerange import sql_time
from agi.storage import call_measures as m
from agi.storage.call_measures import count_if

#: The outcome of a call and its words (agi/storage/call_measures.py).
OUTCOME, OUTCOMES = m.OUTCOME, m.OUTCOMES

#: Grouping expressions, one per dimension of agi/reports/aggregate.py.
#: ``{local}`` is the local time of the call's start (agi/reports/localtime.py),
#: so days, weekdays, hours and intervals are counted in the report's time
#: zone; ``{weekday}``, ``{intervalN}`` and ``{offset}`` (the zone's offset
#: then, in seconds) are the dialect's (agi/reports/dialect.py). An interval
#: carries its offset, so the two 02:00 of the night the clocks go back stay
#: two intervals. ``{plain}`` (a unary ``+`` on SQLite) keeps SQLite from
#: walking a whole index in group order and fetching every row from the
#: table in that random order: a scan and a sort are faster.
GROUPS = {
    "flow": "{plain}c.flow",
    "version": "coalesce(c.flow, '-') || '@' || coalesce(c.flow_version, '-')",
    "outcome": OUTCOME,
    "status": "{plain}c.status",
    "queue": "{plain}c.queue",
    "agent": "{plain}c.agent",
    "direction": "coalesce(c.direction, 'inbound')",
    "day": "substr({local}, 1, 10)",
    "weekday": "{weekday}",
    "hour": "substr({local}, 12, 2)",
    "interval15": "{interval15} || ' ' || {offset}",
    "interval30": "{interval30} || ' ' || {offset}",
    "interval60": "{interval60} || ' ' || {offset}",
}
#: Calls of one direction (``--direction``-like selections of aggregate()).
DIRECTIONS = {"inbound": m.INBOUND, "outbound": m.OUTBOUND}
#: The call has ended (a running call is counted by no measure).
FINISHED = m.FINISHED

#: The sums aggregate() gives for every group (agi/storage/call_measures.py).
SUMS = m.SUMS
AGGREGATE = """
SELECT {columns}
FROM {table} c
WHERE {where}{group_by}"""

#: The first and last call: the span local times are worked out for. Two
#: subqueries, so that each min/max is one step down the started_at index.
TIME_SPAN = "SELECT (SELECT min(started_at) FROM calls), (SELECT max(started_at) FROM calls)"


def where(filters: Filters, flow_column: str = "c.flow", dialect: Dialect = SQLITE) -> tuple[str, dict[str, Any]]:
    """The WHERE clause (without ``WHERE``) selecting the calls of
    ``filters`` and its parameters; the caller as agi/reports/caller_filter.py
    says (the query names ``c.caller`` and ``c.caller_e164``)."""
    clauses = ["1 = 1"]
    params: dict[str, Any] = {}
    if filters.since is not None:
        clauses.append("c.started_at >= :since")
        params["since"] = sql_time(filters.since)
    if filters.until is not None:
        clauses.append("c.started_at < :until")
        params["until"] = sql_time(filters.until)
    clauses.append(in_list(flow_column, "flow", filters.flows, params))
    clauses.append(version_prefixes(filters.flow_versions, params))
    if filters.caller:
        clauses.append(caller_clause(caller_match(filters.caller, filters.region), dialect, params))
    return " AND ".join(c for c in clauses if c), params


def in_list(column: str, name: str, values: tuple[str, ...], params: dict[str, Any]) -> str:
    """``column IN (:name0, :name1...)`` with the values as parameters; ''
    when ``values`` is empty (no restriction)."""
    if not values:
        return ""
    keys = [f"{name}{i}" for i in range(len(values))]
    params.update(zip(keys, values))
    return f"{column} IN ({', '.join(':' + k for k in keys)})"


def version_prefixes(versions: tuple[str, ...], params: dict[str, Any]) -> str:
    """Calls whose ``flow_version`` starts with one of ``versions`` (each
    cut to the stored length, so a full Git blob id matches too); '' when
    ``versions`` is empty."""
    if not versions:
        return ""
    tests = []
    for i, version in enumerate(versions):
        params[f"version{i}"] = version.lower()[:VERSION_LENGTH]
        tests.append(f"substr(c.flow_version, 1, length(:version{i})) = :version{i}")
    return f"({' OR '.join(tests)})"


CALL_LOG = f"""
SELECT c.started_at, c.call_id, c.caller, c.caller_name, c.called, c.flow, c.flow_version, c.path,
       {OUTCOME} AS outcome, c.status, c.queue, c.agent, {m.WAIT} AS wait, c.talk_time, c.duration, c.vip,
       c.consent, c.recording, c.hangup_cause, c.error, {{recorded}} AS recorded
FROM calls c
WHERE {{where}}
ORDER BY c.started_at DESC, c.call_id DESC
LIMIT :limit"""

#: Callers are told apart by ``caller_e164`` (agi/reports/callers.py
#: normalises ``caller`` for rows without it); the inbound calls only.
#: The key of a caller's calls: ``caller_e164`` where the row has it (every
#: spelling of a number at once), else ``caller`` as written (a row written
#: before the column existed, or no phone number).
CALLER_KEY = ("nullif(c.caller_e164, '') AS caller_e164, "
              "CASE WHEN coalesce(c.caller_e164, '') = '' THEN c.caller END AS caller")
#: Every call in time order (its start, then its call id), for ``fcr``
#: (walked once): only the columns the walk reads, ``{outcome}`` being
#: ``OUTCOME`` where the report groups by it, else NULL (it costs a third
#: of the read).
FCR_CALLS = f"""
SELECT {CALLER_KEY}, c.started_at, c.flow, {{outcome}},
       CASE WHEN {m.ANSWERED} THEN 1 ELSE 0 END
FROM calls c
WHERE {{where}} AND {m.INBOUND}
ORDER BY c.started_at, c.call_id"""
FCR_GROUPS = ("flow", "outcome", "day")

#: Per caller key: attempts, answered calls, waits, talk, and the last call
#: (the latest start, then the greatest call id) as ``started_at``,
#: ``call_id``, outcome and flow joined by ``:sep``, a character that sorts
#: before any of a call id's, so that max() picks it in one pass.
TRACKING = f"""
SELECT {CALLER_KEY}, count(*) AS calls,
       {count_if(m.ANSWERED)} AS answered, min(c.started_at) AS first_at,
       max(c.started_at || :sep || c.call_id || :sep || {OUTCOME} || :sep || coalesce(c.flow, '')) AS last_call,
       {m.sum_ms(m.WAIT)} AS wait_ms, max({m.WAIT}) AS max_wait_s, {m.sum_ms(m.TALK)} AS talk_ms
FROM calls c
WHERE {{where}} AND {m.INBOUND}
GROUP BY 1, 2"""
#: What separates the parts of ``TRACKING``'s ``last_call``.
TRACKING_SEP = "\x01"
#: The caller keys of the callers who called before the period.
CALLED_BEFORE = f"""
SELECT DISTINCT {CALLER_KEY}
FROM calls c
WHERE {{where}} AND c.started_at < :before AND {m.INBOUND}"""

_IVR_KEYS = ", ".join(f"{sql} AS {name}" for name, sql in m.IVR_KEYS.items())
#: Menu steps per flow, menu and choice (agi/storage/call_measures.py), from
#: the steps, where ``{ivr_sums}`` are the dialect's...
IVR = f"""
SELECT {_IVR_KEYS}, {{ivr_sums}}
FROM calls c JOIN call_steps s ON s.call = c.id
WHERE {{where}} AND s.type = 'menu'
GROUP BY 1, 2, 3"""
#: ... and from the rollups (agi/storage/rollups.py), pending quarter hours left out.
IVR_ROLLED = f"""
SELECT c.flow, c.menu, c.choice, {", ".join(f"sum(c.{name}) AS {name}" for name in m.ivr_sums(False))}
FROM ivr_rollups c
WHERE {{where}}{{not_pending}}
GROUP BY 1, 2, 3"""

RECORDED = m.RECORDED
_COMPLIANCE_GROUP = f"GROUP BY {', '.join(str(i + 1) for i in range(len(m.COMPLIANCE_KEYS)))}"
#: Calls per compliance key (agi/storage/call_measures.py), from the calls...
COMPLIANCE = (f"SELECT {', '.join(f'{sql} AS {name}' for name, sql in m.COMPLIANCE_KEYS.items())}, "
              f"count(*) AS calls\nFROM calls c\nWHERE {{where}}\n{_COMPLIANCE_GROUP}")
#: ... and from the rollups (agi/storage/rollups.py), pending quarter hours left out.
COMPLIANCE_ROLLED = (f"SELECT {', '.join(f'c.{name}' for name in m.COMPLIANCE_KEYS)}, sum(c.calls) AS calls\n"
                     f"FROM compliance_rollups c\nWHERE {{where}}{{not_pending}}\n{_COMPLIANCE_GROUP}")

#: Callback requests (the ``callbacks`` table) as calls-like rows, so that
#: ``where`` selects them: ``started_at`` is when the request was made, and
#: ``flow_version`` and ``caller_e164`` those of the call that made it.
CALLBACK_REQUESTS = """
SELECT c.queue, c.source, c.flow, c.started_at AS requested_at, c.status, c.done_at, c.attempts
FROM (SELECT b.queue, b.source, b.flow, b.caller, b.requested_at AS started_at, b.status, b.done_at, b.attempts,
             (SELECT min(f.flow_version) FROM calls f WHERE f.call_id = b.call_id) AS flow_version,
             (SELECT min(f.caller_e164) FROM calls f WHERE f.call_id = b.call_id) AS caller_e164
      FROM callbacks b) c
WHERE {where}"""

#: The outbound legs that have ended, per group: what became of each
#: (agi/storage/call_measures.py: ``CAMPAIGN_SUMS``).
CAMPAIGN = f"""
SELECT {{group}} AS key, {', '.join(f'{sql} AS {name}' for name, sql in m.CAMPAIGN_SUMS.items())}
FROM calls c
WHERE {{where}} AND {m.CAMPAIGN_LEG}
GROUP BY 1"""
#: ... and from the campaign rollups (agi/storage/rollups.py), pending quarter hours left out.
CAMPAIGN_ROLLED = f"""
SELECT {{group}} AS key, {', '.join(f'sum(c.{name}) AS {name}' for name in m.CAMPAIGN_SUMS)}
FROM campaign_rollups c
WHERE {{where}}{{not_pending}}
GROUP BY 1"""
