"""What a contact center counts of each call, as SQL over one ``calls`` row
aliased ``c``: one definition, read by every report (agi/reports) and by
the rollups kept as calls end. docs/reports.md#definitions says the same
in words; the statuses come from the queue and dial steps (docs/cdr.md).

Every expression is valid on SQLite and on PostgreSQL. The thresholds
(short abandon, service level) are named parameters: ``:short_abandon``
and ``:service_level``, in seconds (``Thresholds.params``).

``QUEUED``, ``RANG_TARGET``, ``WAITED``, ``CONNECTED`` and ``GAVE_UP`` say
what happened to a call whatever its direction; the call outcome of the
reports is made of them, so that an inbound call's outcome is ``answered``
exactly when it counts in ``ANSWERED``, and ``abandoned`` exactly when it
counts in ``ABANDONED``.
"""
from __future__ import annotations

from dataclasses import dataclass

#: The call came in (a flow without ``direction``, or an unknown flow, is inbound).
INBOUND = "coalesce(c.direction, 'inbound') = 'inbound'"
#: The call was placed by a campaign or callback flow.
OUTBOUND = "c.direction = 'outbound'"
#: The call still runs: no measure counts it.
FINISHED = "c.status <> 'in_progress'"

#: Queue() exits that never put the caller in the queue (``UNKNOWN``: no such queue).
NOT_QUEUED = "('FULL', 'JOINEMPTY', 'JOINUNAVAIL', 'UNKNOWN')"
#: Dial() statuses for which the target rang (``EXITWITHKEY``: the caller
#: left it with a key, on the line; ``CANCEL``: the caller hung up).
RANG = "('ANSWER', 'NOANSWER', 'CANCEL', 'EXITWITHKEY')"

#: The call entered a queue.
QUEUED = f"(c.queue IS NOT NULL AND coalesce(c.queue_status, '') NOT IN {NOT_QUEUED})"
#: A dial target rang.
RANG_TARGET = f"(coalesce(c.dial_status, '') IN {RANG})"
#: The caller waited for someone: in a queue, or while a dial target rang.
WAITED = f"({QUEUED} OR {RANG_TARGET})"
#: Reached an agent (queue) or the dialled target (dial).
CONNECTED = "(coalesce(c.queue_status, '') = 'ANSWERED' OR coalesce(c.dial_status, '') = 'ANSWER')"
#: The caller hung up while waiting in the queue or while the target rang
#: (not one who left with a key: ``EXITWITHKEY``).
GAVE_UP = f"((coalesce(c.queue_status, '') = 'ABANDONED' AND {QUEUED}) OR coalesce(c.dial_status, '') = 'CANCEL')"

#: Offered: a finished inbound call that entered a queue or rang a dial target.
OFFERED = f"({INBOUND} AND {FINISHED} AND {WAITED})"
#: Answered: offered and connected.
ANSWERED = f"({OFFERED} AND {CONNECTED})"
#: Abandoned: offered, not answered, and the caller hung up while waiting in
#: the queue or while the target rang. A queue timeout, full or join-empty
#: exit followed by a hangup elsewhere is not an abandon.
ABANDONED = f"({OFFERED} AND NOT {CONNECTED} AND {GAVE_UP})"
#: Wait: in the queue (``queue_wait``) for a call that entered it, else
#: while the target rang (``ring_time``). A queue that never took the caller
#: in (``FULL``...) writes the few milliseconds ``Queue()`` took as
#: ``queue_wait``: that is no wait, and the ring of a dial after it is.
WAIT = f"(CASE WHEN {QUEUED} THEN c.queue_wait ELSE c.ring_time END)"
#: Talk: from answer to the end of the bridge, for answered calls.
TALK = f"(CASE WHEN {ANSWERED} THEN c.talk_time END)"
#: Abandoned within ``:short_abandon`` seconds of waiting (an unknown wait counts as 0).
SHORT_ABANDON = f"({ABANDONED} AND coalesce({WAIT}, 0) <= :short_abandon)"
#: Answered within ``:service_level`` seconds of waiting (an unknown wait is not within).
WITHIN_SERVICE_LEVEL = f"({ANSWERED} AND {WAIT} <= :service_level)"


@dataclass(frozen=True)
class Thresholds:
    """The seconds the measures are counted with: an abandon within
    ``short_abandon`` is short; an answer within ``service_level`` is in
    the service level (the ``reports:`` section of config.yaml)."""

    short_abandon: float = 5.0
    service_level: float = 20.0

    def params(self) -> dict[str, float]:
        """The SQL parameters ``:short_abandon`` and ``:service_level``."""
        return {"short_abandon": self.short_abandon, "service_level": self.service_level}


#: Five seconds for a short abandon, twenty for the service level.
DEFAULT_THRESHOLDS = Thresholds()


def count_if(condition: str) -> str:
    """How many rows meet ``condition``, on either backend."""
    return f"sum(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def sum_if(condition: str, value: str) -> str:
    """The sum of ``value`` over the rows that meet ``condition`` (NULLs skipped)."""
    return f"sum(CASE WHEN {condition} THEN {value} END)"


def sum_ms(value: str, condition: str | None = None) -> str:
    """The sum of ``value`` seconds in whole milliseconds (over the rows
    that meet ``condition``; NULLs skipped): integers add up exactly, in
    any order and on either backend, so sums of sums equal the sum."""
    ms = f"CAST(round(({value}) * 1000) AS BIGINT)"
    return f"sum(CASE WHEN {condition} THEN {ms} END)" if condition else f"sum({ms})"


#: Each per-call measure as a count or a sum, named as the reports and the
#: rollups name them (``_ms``: seconds, summed in milliseconds). Ratios
#: (ASR, ACD, ASA, service level, abandonment rate, AHT) are made from
#: these sums, never averaged over groups.
MEASURES = {
    "offered": count_if(OFFERED),
    "answered": count_if(ANSWERED),
    "abandoned": count_if(ABANDONED),
    "short_abandoned": count_if(SHORT_ABANDON),
    "answered_in_sl": count_if(WITHIN_SERVICE_LEVEL),
    "wait_answered_ms": sum_ms(WAIT, ANSWERED),
    "waits_answered": count_if(f"{ANSWERED} AND {WAIT} IS NOT NULL"),
    "talk_ms": sum_ms(TALK),
    "talked": f"count({TALK})",
}

#: A list stopped the leg: a do-not-call hit, a list that could not be read
#: (fail closed), or a ``lookup`` step's block.
LISTED = "(coalesce(c.robinson, '') IN ('listed', 'error') OR c.blocked IS NOT NULL)"
#: A campaign leg kept from dialling by a list: never dialled, and listed.
BLOCKED_BY_LIST = f"(c.dial_status IS NULL AND {LISTED})"
#: Kept from dialling by the hours: never dialled, not listed, and a
#: ``schedule`` step said anything but open (so the rollups count again a
#: call whose schedule step is written or deleted: agi/storage/rollups.py).
BLOCKED_BY_HOURS = (f"(c.dial_status IS NULL AND NOT {LISTED} AND EXISTS ("
                    "SELECT 1 FROM call_steps s WHERE s.call = c.id AND s.type = 'schedule' "
                    "AND s.outcome NOT IN ('open', 'error', 'hangup')))")
#: The dialled party answered.
DIAL_ANSWERED = "coalesce(c.dial_status, '') = 'ANSWER'"
#: The legs the campaign report counts: outbound calls that have ended.
CAMPAIGN_LEG = f"{OUTBOUND} AND {FINISHED}"
#: What the campaign report sums over its legs (docs/reports.md#campaign-outbound-legs),
#: read from the calls and kept in the campaign rollups alike; talk in whole
#: milliseconds, so sums of sums equal the sum.
CAMPAIGN_SUMS = {
    "attempts": "count(*)",
    "blocked_list": count_if(BLOCKED_BY_LIST),
    "blocked_hours": count_if(BLOCKED_BY_HOURS),
    "dialled": "count(c.dial_status)",
    "answered": count_if(DIAL_ANSWERED),
    "busy": count_if("c.dial_status = 'BUSY'"),
    "no_answer": count_if("c.dial_status = 'NOANSWER'"),
    "failed": count_if("c.dial_status IS NOT NULL AND c.dial_status NOT IN ('ANSWER', 'BUSY', 'NOANSWER')"),
    "talk_ms": sum_ms("c.talk_time", DIAL_ANSWERED),
    "talked": f"count(CASE WHEN {DIAL_ANSWERED} THEN c.talk_time END)",
}
#: The step types some rollup's sums depend on: writing or deleting such a
#: step makes its call's quarter hour pending (menus: ``ivr_rollups``;
#: schedules: ``BLOCKED_BY_HOURS``).
ROLLED_STEP_TYPES = ("menu", "schedule")

#: The call reached a queue step or a dial step, whatever came of it.
REACHED = "(c.queue IS NOT NULL OR c.dial_status IS NOT NULL)"

#: The outcome of a call, in order of precedence. For an inbound call that
#: has ended, ``answered`` is exactly ANSWERED and ``abandoned`` exactly
#: ABANDONED.
OUTCOMES = ("in_progress", "answered", "abandoned", "interrupted", "failed", "callback",
            "not_answered", "blocked", "do_not_call", "ivr_hangup", "self_service")
OUTCOME = f"""CASE
  WHEN c.status = 'in_progress' THEN 'in_progress'
  WHEN {WAITED} AND {CONNECTED} THEN 'answered'
  WHEN {WAITED} AND {GAVE_UP} THEN 'abandoned'
  WHEN c.status = 'interrupted' THEN 'interrupted'
  WHEN c.status IN ('error', 'unknown_flow') THEN 'failed'
  WHEN c.callback IS NOT NULL THEN 'callback'
  WHEN {REACHED} THEN 'not_answered'
  WHEN c.blocked IS NOT NULL THEN 'blocked'
  WHEN c.robinson = 'listed' THEN 'do_not_call'
  WHEN c.status = 'caller_hangup' THEN 'ivr_hangup'
  ELSE 'self_service'
END"""

#: The sums of every group of calls: the measures, and what the call
#: overview needs. Each re-aggregates: counts and sums add, ``max_`` takes
#: the largest, ``first_at`` the smallest and ``last_at`` the largest.
SUMS = {
    **MEASURES,
    "calls": "count(*)",
    "hung_up": count_if("c.status = 'caller_hangup'"),
    "failed": count_if("c.status IN ('error', 'unknown_flow', 'interrupted')"),
    "duration_ms": sum_ms("c.duration"),
    "timed": "count(c.duration)",
    "max_duration_s": "max(c.duration)",
    "first_at": "min(c.started_at)",
    "last_at": "max(c.started_at)",
}
#: The sums that are no counts or totals: how a sum of sums takes them.
LARGEST, SMALLEST = ("max_duration_s", "last_at"), ("first_at",)

#: A call in which agiflow sent a recording command; rows written before
#: ``recording_commands`` existed count by their recording file.
RECORDED = ("CASE WHEN c.recording_commands IS NULL THEN (CASE WHEN c.recording IS NOT NULL THEN 1 ELSE 0 END) "
            "WHEN c.recording_commands > 0 THEN 1 ELSE 0 END")
#: What the compliance report tells calls apart by (docs/reports.md#compliance).
COMPLIANCE_KEYS = {
    "robinson": "c.robinson",
    "robinson_list": "c.robinson_list",
    "consent": "c.consent",
    "recorded": RECORDED,
    "blocked": "c.blocked",
    "refused_dial": "CASE WHEN c.refused_commands LIKE '%(do-not-call)%' THEN 1 ELSE 0 END",
    "refused_recording": "CASE WHEN c.refused_commands LIKE '%(no consent)%' THEN 1 ELSE 0 END",
}
#: The compliance keys that are numbers (0 or 1).
COMPLIANCE_FLAGS = ("recorded", "refused_dial", "refused_recording")


def menu_detail(key: str, postgres: bool) -> str:
    """A number the menu step writes in ``call_steps.details`` (JSON) of a
    step row ``s``, 0 when absent: ``timeouts`` or ``invalid``."""
    if postgres:
        return f"coalesce(CAST(CAST(s.details AS jsonb) ->> '{key}' AS integer), 0)"
    return f"coalesce(json_extract(s.details, '$.{key}'), 0)"


#: What the ivr report counts of each menu step row ``s`` (docs/reports.md#ivr-menu-choices):
#: its flow, menu and outcome, and per backend the sums.
IVR_KEYS = {"flow": "s.flow", "menu": "s.step", "choice": "s.outcome"}


def ivr_sums(postgres: bool) -> dict[str, str]:
    timeouts, invalid = menu_detail("timeouts", postgres), menu_detail("invalid", postgres)
    return {"times": "count(*)", "timeouts": f"sum({timeouts})", "invalid": f"sum({invalid})",
            "retried": count_if(f"{timeouts} > 0 OR {invalid} > 0")}
