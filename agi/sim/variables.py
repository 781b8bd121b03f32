"""Channel variables and dialplan functions of the simulated channel.

Covers what flows read and write through AGI: plain variables, the builtins
CONTEXT / EXTEN / PRIORITY / CHANNEL / UNIQUEID / HANGUPCAUSE, and the functions
CALLERID(), CHANNEL() (name, language, uniqueid, linkedid), LEN() and DB(); ``substitute`` expands ``${...}``
the way GET FULL VARIABLE does (nested references included).
"""
from __future__ import annotations

import re

from collections.abc import Mapping


def _known(value: str) -> str:
    return "" if value == "unknown" else value


def _bare_name(name: str) -> str:
    """Asterisk stores ``_X`` / ``__X`` (inherited variables) under ``X``."""
    if name.startswith("__"):
        return name[2:]
    return name[1:] if name.startswith("_") else name


class ChannelVariables:
    """The variables of one channel, seeded from its agi_* environment."""

    def __init__(
        self,
        env: Mapping[str, str],
        initial: Mapping[str, str],
        database: dict[str, str],
    ) -> None:
        self.values: dict[str, str] = {_bare_name(k): v for k, v in initial.items()}
        self.database = database
        self.caller_num = _known(env.get("callerid", "unknown"))
        self.caller_name = _known(env.get("calleridname", "unknown"))
        self.builtins = {
            "CONTEXT": env.get("context", "default"),
            "EXTEN": env.get("extension", "s"),
            "PRIORITY": env.get("priority", "1"),
            "CHANNEL": env.get("channel", ""),
            "UNIQUEID": env.get("uniqueid", ""),
            # the channel's Q.850 cause, as pbx_variables.c prints it: 0 until one is set
            "HANGUPCAUSE": "0",
        }
        self.language = env.get("language", "en")
        #: Other channels of the same Asterisk, by name, with their variables.
        self.others: dict[str, dict[str, str]] = {}
        #: CHANNEL(linkedid): the channel's own uniqueid unless a test sets another.
        self.linkedid = self.builtins["UNIQUEID"]

    def read(self, name: str) -> str | None:
        """GET VARIABLE semantics: a function when the name ends with ``)``,
        else a builtin or channel variable; None when unset or unknown."""
        if name.endswith(")"):
            return self._read_function(name)
        if name in self.builtins:
            return self.builtins[name]
        return self.values.get(name)

    def write(self, name: str, value: str) -> None:
        """SET VARIABLE / Set(): functions CALLERID() and DB() are written
        through; other unknown functions are ignored, as Asterisk does."""
        func, sep, arg = name.partition("(")
        if sep and name.endswith(")"):
            self._write_function(func.upper(), arg[:-1], value)
            return
        self.values[_bare_name(name)] = value

    def substitute(self, text: str) -> str:
        """Expand every ``${...}``; unset names expand to nothing."""
        out: list[str] = []
        i = 0
        while i < len(text):
            start = text.find("${", i)
            if start < 0:
                out.append(text[i:])
                break
            out.append(text[i:start])
            end = _closing_brace(text, start + 2)
            if end < 0:
                out.append(text[start:])
                break
            inner = self.substitute(text[start + 2:end])
            out.append(self.read(inner) or "")
            i = end + 1
        return "".join(out)

    def callerid_all(self) -> str:
        if self.caller_name and self.caller_num:
            return f'"{self.caller_name}" <{self.caller_num}>'
        return self.caller_name or self.caller_num

    def _read_function(self, call: str) -> str | None:
        func, sep, arg = call[:-1].partition("(")
        func, arg = func.upper(), arg.strip()
        if not sep:
            return None
        if func == "CALLERID":
            return {"num": self.caller_num, "number": self.caller_num,
                    "name": self.caller_name, "all": self.callerid_all()}.get(arg.lower())
        if func == "CHANNEL":
            return {"name": self.builtins["CHANNEL"], "language": self.language,
                    "uniqueid": self.builtins["UNIQUEID"], "linkedid": self.linkedid}.get(arg.lower())
        if func == "LEN":
            return str(len(arg))
        if func == "CHANNELS":
            names = sorted([self.builtins["CHANNEL"], *self.others])
            return " ".join(name for name in names if not arg or re.search(arg, name))
        if func == "DB":
            family, _, key = arg.partition("/")
            return self.database.get(f"/{family}/{key}")
        return None

    def _write_function(self, func: str, arg: str, value: str) -> None:
        if func == "CALLERID" and arg.lower() in ("num", "number"):
            self.caller_num = value
        elif func == "CALLERID" and arg.lower() == "name":
            self.caller_name = value
        elif func == "DB":
            family, _, key = arg.partition("/")
            self.database[f"/{family}/{key}"] = value


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` that closes a ``${`` whose body starts at ``start``."""
    depth = 1
    for j in range(start, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1
