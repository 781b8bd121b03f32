"""Which channel variables a write sets, as Asterisk reads the name: for
the rule that only a do-not-call check sets the variable the dialplan
dials on (``ROBINSON``), at validation (the names written in a flow) and
in the call's guard (the commands as sent). Pure: no I/O.

- ``SET VARIABLE "NAME" ...`` and ``Set(NAME=...)`` set ``NAME`` without up
  to two leading ``_`` (the inheritance marks: ``__ROBINSON`` sets
  ``ROBINSON``); ``MSet(A=1,B=2)`` sets each;
- a name that is a function sets what the function writes: ``GLOBAL(NAME)``
  (the global, read on a channel without NAME), ``MASTER_CHANNEL(NAME)``
  (the master of a call is the channel itself, ahead of the legs it dials),
  ``EXPORT(channel,NAME)`` (the channel named may be this one),
  ``LOCAL(NAME)`` (while a subroutine runs), ``PUSH(NAME)`` and
  ``UNSHIFT(NAME)`` (NAME itself when it is empty), ``ARRAY(A,B,...)``
  (each of them); other functions (``CDR(...)``, ``HASH(...)``) set no
  channel variable of that name;
- ``Read``, ``ReadExten``, ``ReceiveMF`` and ``ReceiveSF`` set the variable
  their first argument names to the keys they read (empty for none);
- ``Exec``, ``TryExec``, ``ExecIf`` and ``ExecIfTime`` set what the
  application written in their argument sets.
"""
from __future__ import annotations

import re

from agi.exec_family import RUNS_NAMED_APP, named_apps
from agi.protocol import appargs

#: A dialplan function written as the name of a variable to set.
_FUNCTION = re.compile(r"([A-Za-z_]+)\((.*)\)", re.DOTALL)
#: The functions that write a variable their argument names, and which of
#: their arguments name it (all, when none are given).
_WRITES_NAMED: dict[str, tuple[int, ...]] = {"GLOBAL": (), "MASTER_CHANNEL": (), "LOCAL": (), "EXPORT": (1,),
                                             "PUSH": (0,), "UNSHIFT": (0,), "ARRAY": ()}
#: Those that take their whole argument as the name.
_WHOLE_ARGUMENT = frozenset({"GLOBAL", "MASTER_CHANNEL", "LOCAL"})
#: Applications that set the variable their first argument names to what they read.
_READS_INTO = frozenset({"read", "readexten", "receivemf", "receivesf"})
#: How deep functions inside functions, and applications inside Exec, are followed.
_MAX_DEPTH = 8


def read_as(name: str, depth: int = 0) -> frozenset[str]:
    """The variables ``${...}`` reads after a write of ``name``."""
    name = name.strip()
    found = _FUNCTION.fullmatch(name)
    if found is None:
        return frozenset({name[2:] if name.startswith("__") else name[1:] if name.startswith("_") else name})
    function = found.group(1).upper()
    if function not in _WRITES_NAMED or depth >= _MAX_DEPTH:
        return frozenset()
    fields = [found.group(2)] if function in _WHOLE_ARGUMENT else appargs.split(found.group(2))
    positions = _WRITES_NAMED[function] or range(len(fields))
    return frozenset().union(*(read_as(fields[i], depth + 1) for i in positions if i < len(fields)))


def names_written(app: str, argument: str, depth: int = 0) -> tuple[str, ...]:
    """The names (as the application reads them) that ``app`` with
    ``argument`` sets by Set, MSet or the applications that read keys into
    a variable (``Read(NAME,...)``). Set reads its argument whole, up to
    the first ``=``; MSet splits it as Dial does (escapes and quotes
    removed), then each pair at its first ``=`` outside brackets. Both
    readings, and each comma-separated part as written, count."""
    name = app.strip().lower()
    if name in ("set", "mset"):
        written = [f.split("=", 1)[0] for f in (argument, *argument.split(",")) if "=" in f]
        read = [pair[0] for pair in (appargs.split_raw(f, "=", 2) for f in appargs.split(argument)) if len(pair) > 1]
        return tuple(dict.fromkeys(n.strip() for n in (*written, *read)))
    if name in _READS_INTO:
        first = (appargs.split(argument) or [""])[0].strip()
        return (first,) if first else ()
    if name not in RUNS_NAMED_APP or depth > _MAX_DEPTH:
        return ()
    return tuple(variable for inner, inner_argument in named_apps(name, argument)
                 for variable in names_written(inner, inner_argument, depth + 1))


#: Variables Asterisk sets for the dialplan to read after the application
#: (or the AGI itself) that sets them.
ASTERISK_SETS = {"AGISTATUS": "AGI", "DIALSTATUS": "Dial", "QUEUESTATUS": "Queue", "VMSTATUS": "VoiceMail",
                 "MIXMONITOR_FILENAME": "MixMonitor"}
#: agiflow's own names: AGIFLOW_STATUS, and those the shipped dialplan gives
#: a flow and reads back (AGIFLOW_ENTRY, AGIFLOW_QUEUE, AGIFLOW_CALLBACK_...).
OWN_PREFIX = "AGIFLOW_"
STATUS_VARIABLE = "AGIFLOW_STATUS"
#: The name the message suggests, per step type (a do-not-call check's default).
_EXAMPLE = "ROBINSON"


def _why_not(name: str) -> str | None:
    if name == STATUS_VARIABLE:
        return "agiflow sets it as the call leaves, for the dialplan to read how the call ended"
    if name.startswith(OWN_PREFIX):
        return f"names that start with {OWN_PREFIX} are agiflow's own"
    if name in ASTERISK_SETS:
        return f"Asterisk sets it ({ASTERISK_SETS[name]}) for the dialplan to read"
    return None


def result_variable_problem(name: str, example: str = _EXAMPLE, *, status_only: bool = False) -> str | None:
    """Why a step may not put its result in the variable ``name`` (as
    written: ``__AGIFLOW_STATUS`` is AGIFLOW_STATUS), or None.
    ``status_only``: only AGIFLOW_STATUS is refused (a ``set`` step may
    clear DIALSTATUS or pick the dialplan's fallback queue)."""
    for read in sorted(read_as(name)):
        key = read.upper()
        why = _why_not(key) if not status_only or key == STATUS_VARIABLE else None
        if why:
            return f"the result cannot go in '{name}': {why}; choose a name of the flow's own, such as {example}"
    return None


def status_write_problem(name: str) -> str | None:
    """Why a flow may not set the channel variable ``name`` itself (``set``,
    ``exec`` of Set): only AGIFLOW_STATUS, agiflow's own report; or None."""
    if STATUS_VARIABLE in {read.upper() for read in read_as(name)}:
        what = STATUS_VARIABLE if name.strip().upper() == STATUS_VARIABLE else f"'{name}' sets {STATUS_VARIABLE}, which"
        return f"{what} is agiflow's own: it sets it as the call leaves, for the dialplan to read how the call " \
               f"ended; a flow cannot set it"
    return None
