"""One AGI session from environment to close, independent of the transport:
FastAGI, stdin AGI and the simulator all run calls through ``run_session``.

This is the per-call boundary: the only place that catches any exception,
so that a bug in a flow ends one call with its CDR, never the server.
"""
from __future__ import annotations

import logging
import os
import random
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol

from agi.channel import Channel, ChannelHungUp, CommandTransport
from agi.engine.context import CallContext, CallInfo
from agi.engine.step import STEP_FAILURES
from agi.engine.interpreter import CallResult, StepRecord, run_call
from agi.engine.model import Flow, FlowSet
from agi.lists.numbers import normaliser
from agi.log_json import PREFIX_FIELD
from agi.log_output import WarningBudget, shorten
from agi.metrics import NO_METRICS
from agi.protocol.environment import AgiEnvironment
from agi.protocol.wire import SAFE_COMMAND_LINE
from agi.services import Services
from agi.settings import Fallback
from agi.db.caps import CAPS, TEXT, cap_row, capped_json
from agi.vocabulary import CALLER_HANGUP, FAILED, IN_PROGRESS, INTERRUPTED, UNKNOWN_FLOW, iso

log = logging.getLogger("agiflow.call")

#: Channel variable the dialplan reads after AGI() to tell how the flow ended.
STATUS_VARIABLE = "AGIFLOW_STATUS"
#: Characters of the uniqueid and of the flow name in a call's log prefix.
PREFIX_PART = 100


class CdrSink(Protocol):
    def call_started(self, row: dict[str, Any]) -> None: ...
    def step_finished(self, call: str, step: dict[str, Any]) -> None: ...
    def call_ended(self, call: str, values: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class SessionSettings:
    max_line: int = SAFE_COMMAND_LINE
    fallback: Fallback | None = None
    #: The CDR's ``node`` and ``worker``: the server process running the call (None: not a server).
    node: str | None = None
    worker: int | None = None
    #: Ask Asterisk for the call's linkedid first, for the JSON log lines.
    linkedid: bool = False


class CallLogAdapter(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every log line of a call with its uniqueid and flow (each
    cut at PREFIX_PART characters), and hands its fields (uniqueid,
    linkedid, flow and that prefix) to each record, for the JSON format
    (agi/log_json.py). Both come from the network, so they are never part
    of the format string: a ``%`` in them is printed as it is. A call logs
    at most WARNINGS_PER_KIND warnings; the rest are counted in
    ``warnings.suppressed``."""

    def __init__(self, logger: logging.Logger, extra: Mapping[str, object] | None = None) -> None:
        super().__init__(logger, extra)
        values = extra or {}
        self.prefix = f"[{shorten(str(values.get('uniqueid')), PREFIX_PART)} {shorten(str(values.get('flow')), PREFIX_PART)}] "
        self._escaped = self.prefix.replace("%", "%%")
        self.warnings = WarningBudget()

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        if level == logging.WARNING and not self.warnings.take():
            return
        kwargs["extra"] = fields = {**(self.extra or {}), PREFIX_FIELD: self.prefix}
        self.logger.log(level, f"{self._escaped if args else self.prefix}{msg}", *args, **kwargs)
        if level == logging.WARNING and self.warnings.last:
            self.logger.log(level, "%sfurther warnings of this call are not logged", self.prefix, extra=fields)


def call_info(env: AgiEnvironment) -> CallInfo:
    return CallInfo(id=env.uniqueid, caller=env.caller, caller_name=env.caller_name,
                    called=env.called, channel=env.get("channel"), language=env.get("language"),
                    context=env.get("context"), extension=env.get("extension"),
                    args=tuple(env.args), params=env.query)


#: Its own generator (seeded from os.urandom): unique keys need no system
#: call per call, and flows' random draws stay apart from the keys'.
_keys = random.Random()
_random_bits = _keys.getrandbits
if hasattr(os, "register_at_fork"):  # a forked child would repeat its parent's keys
    os.register_at_fork(after_in_child=_keys.seed)


def call_key(started: float) -> str:
    """The CDR row's key: 48 bits of milliseconds then 80 random bits, in hex
    (as UUIDv7). Keys that grow with time put every new row at the end of
    each index, so inserts stay fast however large the database grows."""
    return f"{int(started * 1000) & 0xFFFFFFFFFFFF:012x}{_random_bits(80):020x}"


#: The smallest cap of a step row's names (flow, step, type, outcome).
_STEP_NAME_CAP = min(CAPS.get(column, TEXT) for column in ("flow", "step", "type", "outcome"))


def step_row(record: StepRecord) -> dict[str, Any]:
    """The call_steps row of a step, each text cut at its cap (agi.db.caps)."""
    flow, step, kind, outcome = record.flow, record.step, record.type, record.outcome
    row = {"seq": record.seq, "flow": flow, "step": step, "type": kind, "outcome": outcome,
           "started_at": iso(record.started_at), "duration_ms": record.duration_ms,
           "details": capped_json(record.details)}
    cap = _STEP_NAME_CAP
    if type(outcome) is str and len(flow) <= cap and len(step) <= cap and len(kind) <= cap and len(outcome) <= cap:
        return row  # nearly always: cap_row would copy it unchanged
    return cap_row(row)


async def run_session(env: AgiEnvironment, transport: CommandTransport, flows: FlowSet, cdr: CdrSink,
                      settings: SessionSettings, clock: Callable[[], float],
                      services: Services | None = None) -> str:
    """Run the flow Asterisk asked for and record the call; returns the
    call's final status. The caller closes the connection afterwards."""
    started = clock()
    key = call_key(started)
    info = call_info(env)
    flow = flows.get(env.flow_name)
    call_fields: dict[str, Any] = {"uniqueid": shorten(info.id or "-", PREFIX_PART), "linkedid": None,
                                   "flow": shorten(env.flow_name or "-", PREFIX_PART)}
    call_log = CallLogAdapter(log, call_fields)
    region = services.default_region if services else Services.default_region
    cdr.call_started(_start_row(key, env, info, flow, started, settings, region))
    channel = Channel(transport, settings.max_line, clock, call_log, services.metrics if services else NO_METRICS)
    if settings.linkedid:
        call_fields["linkedid"] = await _linkedid(channel)
    trace: list[StepRecord] = []
    fields: dict[str, Any] = {}
    recorded: dict[str, Any] = {}
    status: str
    error: str | None

    def step_done(record: StepRecord) -> None:
        trace.append(record)
        cdr.step_finished(key, step_row(record))

    if flow is None:
        call_log.error("no flow named %r (script %r); ending the AGI so the dialplan continues",
                       env.flow_name, env.script)
        status, error = UNKNOWN_FLOW, f"no flow named {env.flow_name!r}"
    else:
        ctx = CallContext(channel, info, flow, clock, call_log, services, started)
        fields, recorded = ctx.cdr, ctx.recorded
        try:
            result = await run_call(flows, ctx, step_done)
            status, error = result.status, result.error
        except Exception as exc:
            if getattr(transport, "abort_reason", None) is None:  # else the server cut the call where it waited
                call_log.exception("flow crashed; sending the call to the fallback")
            status, error = FAILED, f"internal error: {exc!r}"
    abort_reason = getattr(transport, "abort_reason", None)
    if abort_reason:
        status, error = INTERRUPTED, abort_reason
    if status == CALLER_HANGUP and not channel.caller_cause_read:
        # also after a step read a cause (16: the member hung up first): the
        # caller hung up later, with a cause of their own
        recorded = {**recorded, **await _caller_hangup_cause(channel)}
    await _tell_dialplan(channel, status, settings.fallback, call_log)
    summary = CallResult(status, trace, error)
    values = _end_values(summary, fields, {**recorded, **channel.guard.cdr_values()}, started, clock(),
                         channel.answered_at)
    cdr.call_ended(key, values)
    suppressed = f" ({call_log.warnings.suppressed} more warnings not logged)" if call_log.warnings.suppressed else ""
    call_log.info("call ended: %s%s%s", status, f" at {values['path']}" if trace else "", suppressed)
    return status


def _start_row(key: str, env: AgiEnvironment, info: CallInfo, flow: Flow | None, started: float,
               settings: SessionSettings, region: str) -> dict[str, Any]:
    """The CDR row as the call begins: it exists even if the server dies,
    and says which server process (``node``, ``worker``) ran it if it does.
    Its text comes from the network: each value is cut at its cap."""
    return cap_row({"id": key, "call_id": info.id, "flow": flow.name if flow else None,
                    "flow_version": (flow.version or None) if flow else None, "requested_flow": env.script,
                    "caller": info.caller, "caller_name": info.caller_name, "called": info.called,
                    "channel": info.channel, "context": info.context, "extension": info.extension,
                    "args": capped_json(list(info.args)), "started_at": iso(started), "status": IN_PROGRESS,
                    "node": settings.node, "worker": settings.worker,
                    "direction": flow.direction if flow else None, "caller_e164": _e164(info.caller, region)})


def _e164(caller: str | None, region: str) -> str | None:
    """The caller's number in E.164, read as ``region`` (``default_region``)
    dials it: how the reports tell one caller from another (``+34600…``,
    ``0034600…`` and ``600…`` are one). None when it is no phone number."""
    if not caller:
        return None
    try:
        return normaliser(region).number(caller)
    except ValueError:
        return None


def _end_values(summary: CallResult, fields: dict[str, Any], recorded: dict[str, Any], started: float,
                ended: float, answered: float | None) -> dict[str, Any]:
    """What the CDR row gets when the call ends, each text cut at its cap."""
    return cap_row({**recorded,
                    "ended_at": iso(ended), "duration": round(ended - started, 3), "answered_at": iso(answered),
                    "status": summary.status, "error": summary.error, "outcome": summary.outcome or None,
                    "last_step": summary.last_step or None, "path": summary.path(), "steps": len(summary.trace),
                    "fields": capped_json(fields)})


async def _linkedid(channel: Channel) -> str | None:
    """The call's linkedid (``CHANNEL(linkedid)``, cut at PREFIX_PART
    characters); None when Asterisk does not say. Never raises: a flow
    runs without it."""
    try:
        linkedid = await channel.get_variable("CHANNEL(linkedid)")
    except STEP_FAILURES:
        return None
    return None if linkedid is None else shorten(linkedid, PREFIX_PART)


async def _caller_hangup_cause(channel: Channel) -> dict[str, str]:
    """The CDR's ``hangup_cause`` of a caller who hung up: one GET VARIABLE
    HANGUPCAUSE, which Asterisk answers on the dead channel. Empty when
    Asterisk gives none or the connection is gone; never raises."""
    try:
        cause = await channel.hangup_cause()
    except STEP_FAILURES:
        return {}
    return {"hangup_cause": cause} if cause else {}


async def _tell_dialplan(channel: Channel, status: str, fallback: Fallback | None,
                         call_log: logging.LoggerAdapter[logging.Logger]) -> None:
    """Set AGIFLOW_STATUS (Asterisk allows it on a dead channel too, for the
    ``h`` extension) and, while the channel lives, send a failed call to
    the configured fallback, unless a do-not-call check of the call blocked
    dialling: the fallback may place a call (a queue, an operator), so the
    dialplan's next priority decides (the campaign context hangs up).
    Never raises."""
    try:
        await channel.set_variable(STATUS_VARIABLE, status)
        if fallback is not None and status in (FAILED, UNKNOWN_FLOW) and not channel.hung_up:
            if channel.guard.blocked_by is not None:
                call_log.warning("not sent to the fallback context: a do-not-call check of this call blocked "
                                 "dialling (%s)", channel.guard.blocked_by)
                return
            await channel.continue_at(fallback.context, fallback.extension, fallback.priority)
    except ChannelHungUp:
        pass
    except STEP_FAILURES as exc:  # Asterisk refused a command: its answer says why, no traceback
        call_log.warning("could not hand the call back to the dialplan: %s", exc)
    except Exception:
        call_log.exception("could not hand the call back to the dialplan")
