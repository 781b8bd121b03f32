"""A small reader of extensions.conf files and a walker that follows one
call through them, for the tests of dialplan/extensions_agiflow.conf.

It reads what that file uses: ``[context]`` headers, ``exten =>`` and
``same =>`` lines with ``n`` or numbered priorities and ``(labels)``,
``include =>``, ``;`` comments. The walker runs Set, Goto, GotoIf (with
``$[...]`` conditions of quoted strings, ``=``, ``!=``, ``&``, ``|`` and
parentheses) and Hangup, and records every other application it passes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Priority:
    number: int
    label: str | None
    app: str
    args: str
    line: int


@dataclass
class Context:
    name: str
    line: int
    comment: bool = False
    extensions: dict[str, list[Priority]] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)


_EXTEN = re.compile(r"^(exten|same)\s*=>?\s*(.*)$")
_PRIORITY = re.compile(r"^(?P<prio>n|\d+)(?:\((?P<label>[^)]+)\))?$")
_APP = re.compile(r"^(?P<app>[A-Za-z]+)(?:\((?P<args>.*)\))?$")


def strip_comment(line: str) -> str:
    """Text before an unescaped ``;``."""
    out = []
    escaped = False
    for char in line:
        if char == ";" and not escaped:
            break
        escaped = char == "\\" and not escaped
        out.append(char)
    return "".join(out).rstrip()


def parse(path: Path) -> dict[str, Context]:
    contexts: dict[str, Context] = {}
    current: Context | None = None
    last_exten: str | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if current is not None and not current.extensions and raw.strip().startswith(";"):
            current.comment = True
        line = strip_comment(raw).strip()
        if not line:
            continue
        header = re.fullmatch(r"\[([^\]]+)\]", line)
        if header:
            current = contexts.setdefault(header.group(1), Context(header.group(1), number))
            continue
        if current is None:
            raise ValueError(f"{path}:{number}: line outside any context: {line}")
        if line.startswith("include"):
            current.includes.append(line.split("=>", 1)[1].strip())
            continue
        match = _EXTEN.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: not an exten/same/include line: {line}")
        last_exten = _add(current, match.group(1), match.group(2), last_exten, number, path)
    return contexts


def _add(context: Context, kind: str, rest: str, last_exten: str | None, number: int, path: Path) -> str:
    if kind == "exten":
        exten, rest = rest.split(",", 1)
        exten = exten.strip()
    elif last_exten is None:
        raise ValueError(f"{path}:{number}: 'same' before any 'exten'")
    else:
        exten = last_exten
    prio_text, app_text = rest.split(",", 1)
    prio = _PRIORITY.match(prio_text.strip())
    app = _APP.match(app_text.strip())
    if not prio or not app or not balanced(app_text.strip()):
        raise ValueError(f"{path}:{number}: cannot read priority or application: {rest}")
    priorities = context.extensions.setdefault(exten, [])
    value = prio.group("prio")
    if value == "n":
        if not priorities:
            raise ValueError(f"{path}:{number}: priority n as the first of {exten}")
        position = priorities[-1].number + 1
    else:
        position = int(value)
    priorities.append(Priority(position, prio.group("label"), app.group("app"), app.group("args") or "", number))
    return exten


def balanced(text: str) -> bool:
    """The application's parentheses close exactly at the end of the line
    (a ``;`` inside the arguments starts a comment and leaves one open)."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0 or (depth == 0 and char == ")" and index != len(text) - 1):
            return False
    return depth == 0


# -- conditions --------------------------------------------------------------------

def substitute(text: str, variables: dict[str, str]) -> str:
    """``${NAME}`` -> its value ('' when unset); functions are not expanded."""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: variables.get(m.group(1), ""), text)


def evaluate(expression: str) -> bool:
    """A ``$[...]`` condition after substitution: strings, = != & | ( )."""
    tokens = re.findall(r'"[^"]*"|!=|[=&|()]|[^\s=&|()!"]+', expression)
    value, rest = _or(tokens)
    if rest:
        raise ValueError(f"cannot read condition {expression!r} at {rest}")
    return bool(value) and value not in ("0", "")


def _or(tokens: list[str]) -> tuple[str, list[str]]:
    left, tokens = _and(tokens)
    while tokens and tokens[0] == "|":
        right, tokens = _and(tokens[1:])
        left = "1" if _true(left) or _true(right) else "0"
    return left, tokens


def _and(tokens: list[str]) -> tuple[str, list[str]]:
    left, tokens = _compare(tokens)
    while tokens and tokens[0] == "&":
        right, tokens = _compare(tokens[1:])
        left = "1" if _true(left) and _true(right) else "0"
    return left, tokens


def _compare(tokens: list[str]) -> tuple[str, list[str]]:
    left, tokens = _atom(tokens)
    if tokens and tokens[0] in ("=", "!="):
        op = tokens[0]
        right, tokens = _atom(tokens[1:])
        equal = left == right
        return ("1" if equal == (op == "=") else "0"), tokens
    return left, tokens


def _atom(tokens: list[str]) -> tuple[str, list[str]]:
    if not tokens:
        raise ValueError("condition ends early")
    if tokens[0] == "(":
        value, rest = _or(tokens[1:])
        if not rest or rest[0] != ")":
            raise ValueError("missing )")
        return value, rest[1:]
    token = tokens[0]
    return (token[1:-1] if token.startswith('"') else token), tokens[1:]


def _true(value: str) -> bool:
    return value not in ("", "0")


# -- following a call ---------------------------------------------------------------

@dataclass
class Walk:
    """Applications a call ran, in order, and where it stopped."""

    apps: list[tuple[str, str]] = field(default_factory=list)
    hung_up: bool = False

    def names(self) -> list[str]:
        return [app for app, _ in self.apps]

    def ran(self, *apps: str) -> bool:
        return any(name in apps for name in self.names())


def find(contexts: dict[str, Context], context: str, exten: str, target: str) -> tuple[str, str, int]:
    """(context, exten, index) of a Goto target: ``label``, ``prio``,
    ``exten,prio`` or ``context,exten,prio`` (prio may be a label)."""
    parts = [p.strip() for p in target.split(",")]
    if len(parts) == 3:
        context, exten, prio = parts
    elif len(parts) == 2:
        exten, prio = parts
    else:
        prio = parts[0]
    priorities = contexts[context].extensions[exten]
    for index, priority in enumerate(priorities):
        if priority.label == prio or str(priority.number) == prio:
            return context, exten, index
    raise KeyError(f"no priority {prio} in {context},{exten}")


def walk(contexts: dict[str, Context], context: str, exten: str, after_app: str,
         variables: dict[str, str], max_steps: int = 100) -> Walk:
    """Follow the call from the priority after the first ``after_app`` of
    ``context,exten``, with ``variables`` as the channel's."""
    priorities = contexts[context].extensions[exten]
    index = next(i for i, p in enumerate(priorities) if p.app == after_app) + 1
    result = Walk()
    for _ in range(max_steps):
        priorities = contexts[context].extensions[exten]
        if index >= len(priorities):
            return result  # fell off the end: Asterisk hangs up
        priority = priorities[index]
        args = priority.args
        if priority.app == "Hangup":
            result.hung_up = True
            result.apps.append(("Hangup", args))
            return result
        if priority.app == "Set":
            name, _, value = args.partition("=")
            variables[name] = substitute(value, variables)
        if priority.app in ("Goto", "GotoIf"):
            target = args if priority.app == "Goto" else _branch(args, variables)
            if target is not None:
                context, exten, index = find(contexts, context, exten, target)
                continue
        else:
            result.apps.append((priority.app, substitute(args, variables)))
        index += 1
    raise AssertionError(f"more than {max_steps} priorities: a dialplan loop")


def _branch(args: str, variables: dict[str, str]) -> str | None:
    """The target GotoIf(cond?yes:no) takes, or None to go on."""
    condition, _, targets = args.rpartition("?")
    yes, _, no = targets.partition(":")
    expression = condition.strip()
    if expression.startswith("$[") and expression.endswith("]"):
        expression = expression[2:-1]
    chosen = yes if evaluate(substitute(expression, variables)) else no
    return chosen.strip() or None
