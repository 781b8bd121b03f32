"""``exec``: run any dialplan application, its options as one argument.

Each item of ``args`` is one argument of the application: it is escaped
(``appargs.escape``) so that Asterisk reads it back whole, whatever a
template put in it. In ``options`` the written text is the argument string
as it is, and each value a template inserts is escaped in it. An inserted
value that cannot be escaped (``appargs.inserted_problem``) ends the step
with ``error`` before anything is sent."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from agi.call_guard import DIALS, HIDDEN, RECORDS, app_kinds
from agi.exec_family import RUNS_NAMED_APP
from agi.engine.context import CallContext
from agi.engine.step import StepResult
from agi.protocol import appargs
from agi.steps.base import Node, done
from agi.steps.dialplan_app import inserted, render_argument
from agi.variable_writes import names_written, result_variable_problem, status_write_problem
from agi.vocabulary import NEXT
from agi.yamlschema import VARIABLE_NAME, obj
from agi.engine.templates import is_template, written_text


#: Applications that split an argument on ``&`` into destinations (Dial,
#: RetryDial, Page) or mailboxes (VoiceMail), and those that may run one
#: (Exec...): an inserted ``&`` would add one, so it is refused.
_SPLITS_ON_AMPERSAND = frozenset({"dial", "retrydial", "page", "voicemail"}) | RUNS_NAMED_APP


@dataclass(frozen=True)
class ExecNode(Node):
    type_name = "exec"
    summary = ("Run a dialplan application (Playback, Set, MixMonitor...). Outcomes: next, "
               "or error when Asterisk has no such application.")
    schema = obj({
        "app": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
        "options": {"type": ["string", "number"]},
        "args": {"type": "array", "items": {"type": ["string", "number"]}},
        "result_variable": VARIABLE_NAME,
    }, ("app",))

    app: str
    options: str = ""
    args: tuple[str, ...] = ()
    result_variable: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "ExecNode":
        return cls(config["app"], str(config.get("options", "")),
                   tuple(str(a) for a in config.get("args", ())), config.get("result_variable"))

    def templates(self) -> list[tuple[str, str, bool]]:
        return [("options", self.options, False)] + [(f"args[{i}]", a, False) for i, a in enumerate(self.args)]

    def sets_variables(self) -> tuple[str, ...]:
        return (self.result_variable,) if self.result_variable else ()

    def channel_variables_set(self) -> tuple[str, ...]:
        """The channel variables a ``Set`` or ``MSet`` sets, as written
        (``Set(ROBINSON=clear)``), also one an ``Exec``, ``TryExec``,
        ``ExecIf`` or ``ExecIfTime`` runs (``Exec(Set(ROBINSON=clear))``);
        a name a template builds is not known."""
        written = names_written(self.app, ",".join(self.args) if self.args else self.options)
        return tuple(dict.fromkeys((*written, *names_written(self.app, self.argument_as_written()))))

    def kinds(self) -> frozenset[str]:
        """What the application can do (agi/call_guard.py), judged on the
        options as written; the guard judges them again as sent."""
        if is_template(self.app):  # the schema refuses it; fail closed all the same
            return frozenset({DIALS, RECORDS, HIDDEN})
        return app_kinds(self.app, self.argument_as_written(without_templates=True))

    def argument_as_written(self, without_templates: bool = False) -> str:
        """The argument string EXEC would send before templates render:
        ``args`` escaped and joined, or ``options`` as written; with
        ``without_templates``, only the text written around templates (what
        they give is judged by the guard once rendered)."""
        written: Callable[[str], str] = written_text if without_templates else str
        if self.args:
            return appargs.join([appargs.escape(written(a)) for a in self.args])
        return written(self.options)

    def dials(self) -> bool:
        return bool(self.kinds() & {DIALS, HIDDEN})

    def records(self) -> bool:
        return RECORDS in self.kinds()

    def runs_hidden_code(self) -> bool:
        return HIDDEN in self.kinds()

    def problems(self) -> list[tuple[str, str]]:
        found = [("args", "give options or args, not both")] if self.options and self.args else []
        problem = result_variable_problem(self.result_variable, "RESULT") if self.result_variable else None
        found += [("result_variable", problem)] if problem else []
        return found + [("options" if self.options else "args", problem) for problem in
                        filter(None, map(status_write_problem, self.channel_variables_set()))]

    def arguments(self, ctx: CallContext) -> str:
        """The application's argument string, as EXEC sends it. In an
        application that records, an inserted value may hold no ``/`` and
        not start with ``.`` (``../../etc/asterisk/x`` from a caller ID)."""
        refused = "&" if self.app.lower() in _SPLITS_ON_AMPERSAND else ""
        in_file_name = self.records()
        if self.args:
            return appargs.join([appargs.escape(render_argument(ctx, f"args[{i}]", arg, refused, in_file_name))
                                 for i, arg in enumerate(self.args)])
        check = inserted("options", refused, in_file_name)
        return ctx.render_text(self.options, lambda value: appargs.escape(check(value)))

    async def run(self, ctx: CallContext) -> StepResult:
        options = self.arguments(ctx)
        result = await ctx.channel.exec_app(self.app, options)
        if self.result_variable:
            ctx.vars[self.result_variable] = result
        return done(NEXT, app=self.app, result=result)
