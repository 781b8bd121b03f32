"""``robinson``: check the number about to be dialled against do-not-call
lists, before any dial.

The step fails closed. When a list is missing or cannot be read, when the
number is not a phone number, or when no lists are available at all, the
outcome is ``error``, and a flow that gives ``error`` no target ends there:
nothing after the step runs, so nothing is dialled. Only ``on_error: allow``
lets such a call continue as ``clear``, and the CDR then says ``unchecked``.
The validator rejects flows where ``listed``, ``error`` or ``hangup`` lead
to a step that dials (see ``Node.dials``), and the channel's guard refuses
any call-placing command after ``listed`` or ``error`` (agi/call_guard.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.call_guard import BLOCKING_RESULTS
from agi.engine.context import CallContext
from agi.lists.numbers import normaliser
from agi.engine.step import StepResult
from agi.engine.templates import RenderError
from agi.steps.base import Findings, Node
from agi.steps.list_check import LISTS_SCHEMA, check_lists, count_unusable, list_names
from agi.variable_writes import result_variable_problem
from agi.yamlschema import TEXT, VARIABLE_NAME, obj
from agi.vocabulary import ERROR, HANGUP

CLEAR = "clear"
LISTED = "listed"
#: The CDR value when the check failed but ``on_error: allow`` let the call go on.
UNCHECKED = "unchecked"
BLOCK = "block"
ALLOW = "allow"


@dataclass(frozen=True)
class RobinsonNode(Node):
    type_name = "robinson"
    summary = ("Do-not-call check of the number to dial against one or more lists, before any "
               "dial; fails closed. Outcomes: clear, listed, and error when a list or the number "
               "cannot be checked (an error with no target ends the call).")
    schema = obj({
        "list": LISTS_SCHEMA,
        "number": TEXT,
        "on_error": {"enum": [BLOCK, ALLOW]},
        "variable": VARIABLE_NAME,
    }, ("list",))

    lists: tuple[str, ...]
    number: str = "{{ call.called }}"
    on_error: str = BLOCK
    variable: str = "ROBINSON"

    @classmethod
    def from_config(cls, config: Any) -> "RobinsonNode":
        options = {key: config[key] for key in ("number", "on_error", "variable") if key in config}
        return cls(lists=list_names(config["list"]), **options)

    def list_references(self) -> tuple[str, ...]:
        return self.lists

    def outcomes(self) -> tuple[str, ...]:
        return (CLEAR, LISTED)

    def guarded_outcomes(self) -> tuple[str, ...]:
        return (LISTED, ERROR, HANGUP)

    def templates(self) -> list[tuple[str, str, bool]]:
        return [("number", self.number, False)]

    def sets_variables(self) -> tuple[str, ...]:
        return (self.variable,)

    def problems(self) -> list[tuple[str, str]]:
        problem = result_variable_problem(self.variable)
        return [("variable", problem)] if problem else []

    async def run(self, ctx: CallContext) -> StepResult:
        earlier = ctx.channel.guard.blocked_by  # a hit or a failed check earlier in the call, or None
        ctx.channel.guard.check_started()  # nothing dials until the check says clear
        try:
            raw = ctx.render_text(self.number).strip()
        except RenderError as exc:  # no number to check: blocked whatever on_error says
            return await self._finish(ctx, ERROR, None, {"error": str(exc)}, None, earlier, allow=False)
        try:
            number = normaliser(ctx.services.default_region).number(raw)
        except ValueError as exc:
            count_unusable(ctx.services, self.lists)
            return await self._finish(ctx, ERROR, raw, {"error": str(exc)}, None, earlier)
        try:
            check = await check_lists(ctx.services.lists, self.lists, number)
        except ValueError as exc:
            return await self._finish(ctx, ERROR, raw, {"error": str(exc)}, None, earlier)
        if check.hit is not None:
            return await self._finish(ctx, LISTED, number, check.details(), check.hit.list, earlier)
        if check.failed:
            return await self._finish(ctx, ERROR, number, check.details(), check.failed[0], earlier)
        return await self._finish(ctx, CLEAR, number, check.details(), None, earlier)

    async def _finish(self, ctx: CallContext, outcome: str, number: str | None, details: dict[str, Any],
                      list_name: str | None, earlier: str | None, allow: bool = True) -> StepResult:
        """The result for the CDR, the step's details and the channel:
        ``list_name`` is the list that matched, or the first that could not
        be read. The CDR keeps it even if the caller is gone by then.
        ``number`` is None when its template could not be rendered: then
        ``on_error: allow`` does not apply (there is no number a dial
        could be compared with), and the call stays blocked. A check that
        lets the call through covers ``number`` however the default region
        dials it (``0612345678`` for ``+33612345678`` in France): a dial
        of it is a dial of the number checked.

        After an earlier hit or failed check in the call (``earlier``), the
        step still takes its own outcome, but the variable says the earlier
        result and the CDR keeps the earlier columns: the dialplan, which
        may dial on ``${ROBINSON}``, never reads ``clear`` for a call the
        guard blocks, and the evidence of the hit stays."""
        result = outcome
        if outcome == ERROR:
            allowed = allow and self.on_error == ALLOW
            ctx.log.warning("robinson check failed (%s): %s", "allowed" if allowed else "blocked",
                            details.get("error"))
            if allowed:
                outcome, result = CLEAR, UNCHECKED
        ctx.channel.guard.check_result(result, number or "", normaliser(ctx.services.default_region).number)
        found = Findings()
        found.note(number=number, lists=list(self.lists), result=result, **details)
        standing = result
        if earlier is None:
            found.record(robinson=result, robinson_list=list_name, **({} if number is None else {"dialled": number}))
        else:
            standing = earlier if earlier in BLOCKING_RESULTS else ERROR
            if standing != earlier:  # the earlier check never finished, so never wrote the CDR
                found.record(robinson=ERROR)
            found.note(call_result=standing)
        with found.kept():
            for variable in self._variables_to_set(ctx, standing):
                ctx.vars[variable] = standing
                ctx.channel.guard.result_variables[variable] = standing  # first: the guard lets it through
                await ctx.channel.set_variable(variable, standing)
        return found.result(outcome)

    def _variables_to_set(self, ctx: CallContext, standing: str) -> list[str]:
        """This check's variable and, when the call is blocked, every
        variable an earlier check set to something else: the dialplan may
        dial on any of them, so none may say clear once a check blocked."""
        earlier = ctx.channel.guard.result_variables
        others = [name for name, value in earlier.items() if name != self.variable and value != standing]
        return [self.variable, *(others if standing in BLOCKING_RESULTS else ())]
