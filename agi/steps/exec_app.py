"""``exec``: run any dialplan application, its options as one argument."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agi.engine.context import CallContext
from agi.steps.base import NEXT, Node, obj

#: Applications that place an outgoing call (see ``Node.dials``).
DIALLING_APPS = frozenset({"dial", "originate"})


@dataclass(frozen=True)
class ExecNode(Node):
    type_name = "exec"
    summary = ("Run a dialplan application (Playback, Set, MixMonitor...). Outcomes: next, "
               "or error when Asterisk has no such application.")
    schema = obj({
        "app": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]*$"},
        "options": {"type": ["string", "number"]},
        "args": {"type": "array", "items": {"type": ["string", "number"]}},
        "result_variable": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
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

    def dials(self) -> bool:
        return self.app.lower() in DIALLING_APPS

    def problems(self) -> list[tuple[str, str]]:
        if self.options and self.args:
            return [("args", "give options or args, not both")]
        return []

    async def run(self, ctx: CallContext) -> str:
        if self.args:
            options = ",".join(ctx.render_text(a) for a in self.args)
        else:
            options = ctx.render_text(self.options)
        result = await ctx.channel.exec_app(self.app, options)
        ctx.note(app=self.app, result=result)
        if self.result_variable:
            ctx.vars[self.result_variable] = result
        return NEXT
