"""``voicemail``: let the caller leave a message with ``VoiceMail()`` and go
on by ``VMSTATUS``.

app_voicemail.c (Asterisk 22) sets VMSTATUS to SUCCESS when the message is
saved (also when the caller hangs up to end it), USEREXIT when the caller
leaves with ``*`` or ``0``, and FAILED otherwise (no such mailbox, mailbox
full, a hangup during the greeting). The step blanks VMSTATUS first, since
not every path sets it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.steps.base import Node, done
from agi.protocol import appargs
from agi.steps.dialplan_app import (BadArgument, StatusOutcomes, clear_variables, join_arguments, read_status,
                                    render_argument, render_options, run_app, written_blank, written_options_problems)
from agi.yamlschema import DIGITS_TEXT, digits_text, obj

SUCCESS = "success"
USER_EXIT = "user_exit"
FAILED = "failed"
#: VMSTATUS -> outcome.
VM_OUTCOMES = {"SUCCESS": SUCCESS, "USEREXIT": USER_EXIT, "FAILED": FAILED}
VMSTATUS = StatusOutcomes("VMSTATUS", VM_OUTCOMES, kept="SUCCESS")


@dataclass(frozen=True)
class VoicemailNode(Node):
    type_name = "voicemail"
    summary = ("Leave a message in a mailbox with VoiceMail(mailbox@context,options). Outcomes: success, "
               "user_exit, failed.")
    schema = {"oneOf": [DIGITS_TEXT, obj({"mailbox": DIGITS_TEXT, "options": {"type": "string"}}, ("mailbox",))]}

    mailbox: str
    options: str = ""

    @classmethod
    def from_config(cls, config: Any) -> "VoicemailNode":
        if not isinstance(config, dict):
            return cls(digits_text(config))
        return cls(digits_text(config["mailbox"]), config.get("options", ""))

    def outcomes(self) -> tuple[str, ...]:
        return (SUCCESS, USER_EXIT, FAILED)

    def problems(self) -> list[tuple[str, str]]:
        return written_blank("mailbox", self.mailbox, "mailbox") + written_options_problems(self.options)

    def templates(self) -> list[tuple[str, str, bool]]:
        return [(option, text, False) for option, text in (("mailbox", self.mailbox), ("options", self.options))
                if text]

    async def run(self, ctx: CallContext) -> StepResult:
        mailbox = render_argument(ctx, "mailbox", self.mailbox, refused="&").strip()
        if not mailbox:
            raise BadArgument("the mailbox is empty")
        options = join_arguments([appargs.escape(mailbox), render_options(ctx, "options", self.options)])
        await clear_variables(ctx, (VMSTATUS.variable,))
        ran = await run_app(ctx, "VoiceMail", options)
        status = await read_status(ctx, VMSTATUS.variable)
        outcome, error = VMSTATUS.outcome(status, ran, f"VoiceMail({mailbox})")
        return done(outcome, mailbox=mailbox, result=ran.result, status=status, **error)
