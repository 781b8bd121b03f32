"""``queue``: put the caller in an Asterisk queue with ``Queue()`` and go on
by how they left it.

What Asterisk 22's app_queue.c leaves behind, and how the step reads it:

- The caller left without an answer (timeout, leaveempty...) or could not
  join (full, joinempty, joinunavail): ``QUEUESTATUS`` says which.
- A member answered: Queue() does not touch ``QUEUESTATUS`` and returns -1
  once the conversation ends. The caller is still on the line if the member
  hung up first (or ``QUEUESTATUS=CONTINUE`` with the ``c`` option), and
  gone if the caller hung up first.
- The caller hung up while waiting: no ``QUEUESTATUS`` either, but
  ``ABANDONED=TRUE`` (record_abandoned()).
- The caller left with a key (a one-key extension of the queue's
  ``context`` in queues.conf; queue_log's ``EXITWITHKEY``): no
  ``QUEUESTATUS``, Queue() returns 0 and the caller is still on the line,
  moved to that extension, where the dialplan goes on after the flow.

So the step blanks those variables first (an earlier queue may have left
them), and after the EXEC reads ``QUEUESTATUS``, then ``ABANDONED`` only
when there is no status and the caller is gone.

With ``setinterfacevar = yes`` (queues.conf) Queue() also leaves the member
who answered on the caller's channel: ``MEMBERNAME`` and ``MEMBERINTERFACE``
(the interface, ready to Dial again), which the step records as the agent.
They are blanked too when an earlier step of the call recorded an agent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.call_guard import HIDDEN, RECORDS, app_kinds
from agi.engine.context import CallContext
from agi.engine.templates import written_text
from agi.engine.step import StepResult
from agi.steps.base import Findings, Node
from agi.steps.collect import SOUND
from agi.steps.missed_calls import CALLBACK_SCHEMA, MissedCallback, close_callbacks, store_missed
from agi.steps.whisper import WHISPER_SCHEMA, Whisper
from agi.protocol import appargs
from agi.steps.dialplan_app import (
    KEY_EXIT,
    KEY_EXIT_STATUS,
    AppRun,
    BadArgument,
    clear_variables,
    join_arguments,
    read_hangup_cause,
    read_status,
    read_variable,
    render_argument,
    render_options,
    run_app,
    seconds,
    written_blank, written_options_problems,
)
from agi.yamlschema import DIGITS_TEXT, TEXT, digits_text, obj
from agi.vocabulary import ERROR, HANGUP

ANSWERED = "answered"
#: QUEUESTATUS values (Asterisk 22) and the outcome each one gives.
STATUS_OUTCOMES = {status: status.lower() for status in (
    "TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL", "CONTINUE", "WITHDRAW")}
#: The CDR's queue_status for the cases Asterisk leaves without a status
#: (and KEY_EXIT_STATUS, EXITWITHKEY as queue_log names it).
ANSWERED_STATUS = "ANSWERED"
ABANDONED_STATUS = "ABANDONED"
#: Variables Queue() may set that an earlier queue must not leave behind.
QUEUE_VARIABLES = ("QUEUESTATUS", "ABANDONED", "QEHOLDTIME")
#: What Queue() leaves of the member who answered (setinterfacevar): blanked
#: too once an earlier step of the call recorded an agent, who may have left them.
MEMBER_VARIABLES = ("MEMBERNAME", "MEMBERINTERFACE")


@dataclass(frozen=True)
class QueueNode(Node):
    type_name = "queue"
    summary = ("Queue the caller with Queue(): timeout, options, announcement, position. Outcomes: "
               "answered, timeout, full, joinempty, leaveempty, joinunavail, leaveunavail, continue, "
               "withdraw, exitwithkey.")
    schema = {"oneOf": [DIGITS_TEXT, obj({
        "name": DIGITS_TEXT,
        "options": {"type": "string"},
        "url": TEXT,
        "announce": SOUND,
        "timeout": {"type": "integer", "minimum": 1, "maximum": 86400},
        "gosub": TEXT,
        "rule": TEXT,
        "position": {"type": "integer", "minimum": 1, "maximum": 10000},
        "callback": CALLBACK_SCHEMA,
        "whisper": WHISPER_SCHEMA,
    }, ("name",))]}

    name: str
    options: str = ""
    url: str = ""
    announce: str = ""
    timeout: int | None = None
    gosub: str = ""
    rule: str = ""
    position: int | None = None
    callback: MissedCallback | None = None
    whisper: Whisper | None = None

    @classmethod
    def from_config(cls, config: Any) -> "QueueNode":
        if not isinstance(config, dict):
            return cls(digits_text(config))
        return cls(digits_text(config["name"]), config.get("options", ""), config.get("url", ""),
                   config.get("announce", ""), config.get("timeout"), config.get("gosub", ""),
                   config.get("rule", ""), config.get("position"), MissedCallback.from_config(config.get("callback")),
                   Whisper.from_config(config.get("whisper")))

    def outcomes(self) -> tuple[str, ...]:
        return (ANSWERED, *STATUS_OUTCOMES.values(), KEY_EXIT)

    def problems(self) -> list[tuple[str, str]]:
        return written_blank("name", self.name, "queue name") + written_options_problems(self.options) + \
            (self.whisper.problems() if self.whisper else [])

    def templates(self) -> list[tuple[str, str, bool]]:
        texts = (("name", self.name), ("options", self.options), ("url", self.url),
                 ("announce", self.announce), ("gosub", self.gosub), ("rule", self.rule))
        return [(option, text, False) for option, text in texts if text] + \
            (self.callback.templates() if self.callback else []) + (self.whisper.templates() if self.whisper else [])

    def prompts(self) -> list[str]:
        return ([self.announce] if self.announce else []) + (self.whisper.prompts() if self.whisper else [])

    def dials(self) -> bool:
        """Queue() rings the queue's members."""
        return True

    def records(self) -> bool:
        """Options ``x``, ``X``, ``w`` or ``W`` let a party record the call with a key."""
        return RECORDS in app_kinds("Queue", "," + written_text(self.options))

    def runs_hidden_code(self) -> bool:
        """``gosub`` and options such as ``b(sub)`` run dialplan on a member's channel."""
        return bool(self.gosub) or HIDDEN in app_kinds("Queue", "," + written_text(self.options))  # its second argument

    def arguments(self, ctx: CallContext, whispers: list[str] | None = None) -> tuple[str, str]:
        """The queue name and Queue()'s argument string: queuename, options,
        URL, announceoverride (``announce`` then the ``whispers``, joined
        with ``&``), timeout, AGI (unused), gosub, rule, position."""
        queue = render_argument(ctx, "queue name", self.name).strip()
        if not queue:
            raise BadArgument("the queue name is empty")
        url, announce, rule = (appargs.escape(render_argument(ctx, option, text)) for option, text in
                               (("url", self.url), ("announce", self.announce), ("rule", self.rule)))
        # Queue() cuts gosub at its first comma into the context and the
        # subroutine's arguments, which Gosub splits again: an inserted value
        # may hold none of the characters those parsers read.
        gosub = appargs.escape(render_argument(ctx, "gosub", self.gosub, "".join(sorted(appargs.SYNTAX))))
        announce = "&".join(filter(None, [announce, *(whispers or [])]))  # whisper names need no escaping
        return queue, join_arguments([appargs.escape(queue), render_options(ctx, "options", self.options), url,
                                      announce, _number(self.timeout), "", gosub, rule, _number(self.position)])

    async def run(self, ctx: CallContext) -> StepResult:
        whispers = self.whisper.sounds(ctx) if self.whisper else []
        queue, options = self.arguments(ctx, whispers)
        await clear_variables(ctx, QUEUE_VARIABLES + (MEMBER_VARIABLES if ctx.recorded.get("agent") else ()))
        ran = await run_app(ctx, "Queue", options)
        status = await read_status(ctx, "QUEUESTATUS")
        found = Findings()
        found.record(queue=queue)
        found.note(queue=queue, result=ran.result, **({"whisper": whispers} if self.whisper else {}))
        with found.kept():
            outcome = await self._outcome(ctx, found, queue, status, ran)
            self._callbacks(ctx, found, queue)
        return found.result(outcome)

    def _callbacks(self, ctx: CallContext, found: Findings, queue: str) -> None:
        """Answered: the caller's pending callback requests are closed. Left
        unanswered by an exit ``callback.when`` names: a request is made."""
        status = found.columns.get("queue_status") or ""
        if status == ANSWERED_STATUS:
            found.note(**close_callbacks(ctx, found.columns.get("talk_time")))
        elif self.callback is not None and status.lower() in self.callback.when:
            store_missed(ctx, found, self.callback, queue, status.lower())

    async def _outcome(self, ctx: CallContext, found: Findings, queue: str, status: str, ran: AppRun) -> str:
        if status == "UNKNOWN" or (status and status not in STATUS_OUTCOMES):
            found.record(queue_status=status)
            found.note(status=status, error=f"Queue({queue}) ended with QUEUESTATUS={status}: "
                       + ("no such queue in queues.conf" if status == "UNKNOWN" else "a status agiflow does not know"))
            return ERROR
        if not status and ctx.channel.connection_lost:
            return _unknown(found, queue)
        if status in ("", "CONTINUE"):
            if not status and ran.hung_up and await read_variable(ctx, "ABANDONED"):
                return _left(found, ABANDONED_STATUS, HANGUP, ran)
            # An answered Queue() returns -1, or 0 for a caller the member
            # transferred, whose hangup Asterisk says by the next reply.
            if not status and ran.result == 0 and not (ran.hung_up or ctx.channel.hung_up):
                return _left(found, KEY_EXIT_STATUS, KEY_EXIT, ran)
            return await _answered(ctx, found, status or ANSWERED_STATUS, ran)
        return _left(found, status, HANGUP if ran.hung_up else STATUS_OUTCOMES[status], ran)


def _unknown(found: Findings, queue: str) -> str:
    """The connection to Asterisk closed before Queue() ended (the server's
    drain timeout cut the call, Asterisk restarted): how the caller left is
    unknown. Not answered as far as agiflow knows: no status, no agent, no
    callback request closed or made (on Asterisk 22.11 a caller so cut
    waited on in the queue and timed out)."""
    found.note(status=None, error=f"the connection to Asterisk closed before Queue({queue}) ended")
    return HANGUP


def _left(found: Findings, status: str, outcome: str, ran: AppRun) -> str:
    """The caller left the queue unanswered: the wait is the EXEC's time."""
    found.record(queue_status=status, queue_wait=ran.seconds)
    found.note(status=status, wait=ran.seconds)
    return outcome


async def _answered(ctx: CallContext, found: Findings, status: str, ran: AppRun) -> str:
    """A member answered. QEHOLDTIME (queues.conf ``setqueueentryvar =
    yes``) is the wait; the rest of the EXEC's time is the talk time."""
    hold = seconds(await read_variable(ctx, "QEHOLDTIME"))
    talk = None if hold is None else round(max(0.0, ran.seconds - hold), 3)
    # CONTINUE is answered too (the member hung up first, option c): the
    # CDR says ANSWERED for both, the step's details keep Asterisk's word.
    found.record(queue_status=ANSWERED_STATUS, queue_wait=hold, talk_time=talk)
    found.note(status=status, wait=hold, talk_time=talk)
    interface = await read_variable(ctx, "MEMBERINTERFACE")
    name = await read_variable(ctx, "MEMBERNAME") if interface else None
    found.record(agent=name or interface, agent_interface=interface)
    found.note(agent=name or interface, agent_interface=interface)
    cause = await read_hangup_cause(ctx)
    found.record(**cause)
    found.note(**cause)
    return STATUS_OUTCOMES.get(status, ANSWERED)


def _number(value: int | None) -> str:
    return "" if value is None else str(value)
