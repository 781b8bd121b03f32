"""The applications that run the application written in their argument
(``Exec``, ``TryExec``, ``ExecIf``, ``ExecIfTime``) and what they run, as
Asterisk reads their argument: for the guard (agi/call_guard.py) and the
variables a command writes (agi/variable_writes.py). Pure: no I/O."""
from __future__ import annotations

from agi.protocol import appargs

#: Applications that run the application written in their argument:
#: ``Exec(MixMonitor(x.wav))``, ``TryExec(...)``, ``ExecIf(expr?app(args):app(args))``,
#: ``ExecIfTime(times,days,mdays,months?app(args))``. The application named
#: there is judged too: Exec of MixMonitor records, Exec of Dial dials.
RUNS_NAMED_APP = frozenset({"exec", "tryexec", "execif", "execiftime"})
#: How deep applications that run applications are followed.
MAX_NESTING = 8


def named_apps(name: str, argument: str) -> list[tuple[str, str]]:
    """The applications (name, argument) that Exec, TryExec, ExecIf or
    ExecIfTime ``name`` would run, as app_exec.c and pbx_builtins.c read
    ``argument``: the text before the first ``(`` is the name, up to the
    last ``)`` the argument. ExecIfTime's comes after its first ``?``;
    ExecIf's two branches after its first ``?`` outside brackets and
    quotes, split at such a ``:``, both judged, or, with no ``?`` or a
    comma before the first, the older ``ExecIf(expr,app,args)``."""
    if name == "execif":
        comma, question = argument.find(","), argument.find("?")
        if question < 0 or 0 <= comma < question:
            fields = appargs.split(argument, 3)
            return [(fields[1].strip(), fields[2] if len(fields) > 2 else "")] if len(fields) > 1 else []
        remainder = appargs.split_raw(argument, "?", 2)[1:]
        branches = appargs.split_raw(remainder[0], ":", 2) if remainder else []
    elif name == "execiftime":
        branches = [argument.partition("?")[2]] if "?" in argument else []
    else:
        branches = [argument]
    named = []
    for branch in branches:
        app, _, rest = branch.partition("(")
        app = app.replace("\\", "").strip()
        if app:
            named.append((app, rest[:rest.rfind(")")] if ")" in rest else rest))
    return named
