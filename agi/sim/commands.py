"""The AGI commands of the simulated Asterisk, one small handler each.

Each handler takes the session and argv (command words included, as
res_agi.c passes them) and returns the reply lines, or None for "wrong
arguments" (the caller turns that into a 520 answer). Argument checks,
reply formats and the dead-channel flag follow Asterisk 22's res_agi.c.
"""
from __future__ import annotations

import re

from collections.abc import Callable
from typing import TYPE_CHECKING

from agi.sim.apps import run_application

if TYPE_CHECKING:
    from agi.sim.asterisk import SimulatedAsterisk

STATE_UP, STATE_RING = 6, 4
#: GET VARIABLE copies into a 1024-byte buffer.
VARIABLE_CAP = 1023


def scan_int(text: str) -> int | None:
    """sscanf("%d"): leading blanks, a sign, digits; None when no digits."""
    body = text.lstrip(" \t")
    sign = body[:1] if body[:1] in ("+", "-") else ""
    digits = ""
    for char in body[len(sign):]:
        if not ("0" <= char <= "9"):
            break
        digits += char
    return int(sign + digits) if digits else None


def atoi(text: str) -> int:
    value = scan_int(text)
    return 0 if value is None else value


def _cap(value: str) -> str:
    raw = value.encode("utf-8", "surrogateescape")[:VARIABLE_CAP]
    return raw.decode("utf-8", "surrogateescape")


def answer(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    sim.answered = True
    return ["200 result=0"]


def channel_status(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    state = STATE_UP if sim.answered else STATE_RING
    if len(argv) == 2:
        return [f"200 result={state}"]
    if len(argv) == 3:
        own = argv[2] == sim.vars.builtins["CHANNEL"]
        return [f"200 result={state}" if own else "200 result=-1"]
    return None


def database_del(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) != 4:
        return None
    found = sim.database.pop(f"/{argv[2]}/{argv[3]}", None) is not None
    return [f"200 result={1 if found else 0}"]


def database_deltree(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) not in (3, 4):
        return None
    prefix = f"/{argv[2]}" + (f"/{argv[3]}" if len(argv) == 4 else "")
    doomed = [k for k in sim.database if k == prefix or k.startswith(prefix + "/")]
    for key in doomed:
        del sim.database[key]
    # res_agi.c answers '0' when it deleted something (sic).
    return [f"200 result={0 if doomed else 1}"]


def database_get(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) != 4:
        return None
    value = sim.database.get(f"/{argv[2]}/{argv[3]}")
    return ["200 result=0" if value is None else f"200 result=1 ({value})"]


def database_put(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) != 5:
        return None
    sim.database[f"/{argv[2]}/{argv[3]}"] = argv[4]
    return ["200 result=1"]


def exec_(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) < 2:
        return None
    result = run_application(sim, argv[1], argv[2] if len(argv) > 2 else "")
    return [f"200 result={result}"]


def get_data(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) < 3:
        return None
    most = max(atoi(argv[4]), 1) if len(argv) >= 5 else 1024
    # app.c ast_app_getdata_full: an empty prompt plays nothing, and the keys are awaited all the same
    if (argv[2] and sim.sound_length(argv[2]) is None) or sim.caller_hangs_up_now():
        return ["200 result=-1"]
    if argv[2]:
        sim.played.append(argv[2])
    digits = ""
    for key in sim.next_dtmf().keys or "":
        if key == "#":
            return [f"200 result={digits}"]
        digits += key
        if len(digits) >= most:
            return [f"200 result={digits}"]
    return [f"200 result={digits} (timeout)"]


def get_full_variable(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) not in (4, 5):
        return None
    if len(argv) == 5 and argv[4] != sim.vars.builtins["CHANNEL"]:
        other = sim.vars.others.get(argv[4])
        if other is None:
            return ["200 result=0"]  # res_agi.c: no such channel
        return [f"200 result=1 ({_substitute_simple(argv[3], other)})"]
    return [f"200 result=1 ({sim.vars.substitute(argv[3])})"]


def _substitute_simple(text: str, variables: dict[str, str]) -> str:
    """``${NAME}`` of another channel's variables (no functions)."""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: variables.get(m.group(1), ""), text)


def get_variable(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) != 3:
        return None
    value = sim.vars.read(argv[2])
    return ["200 result=0" if value is None else f"200 result=1 ({_cap(value)})"]


def _playback(sim: SimulatedAsterisk, name: str, offset: int) -> list[str]:
    """STREAM FILE and GET OPTION up to the end of the sound."""
    length = sim.sound_length(name)
    if length is None:
        sim.failed = True
        return [f"200 result=-1 endpos={offset}"]
    if sim.caller_hangs_up_now():
        return [f"200 result=-1 endpos={sim.script.hangup_endpos}"]
    sim.played.append(name)
    return []


def get_option(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) not in (4, 5):
        return None
    failed = _playback(sim, argv[2], 0)
    if failed:
        return failed
    key, entry = sim.listen_for(argv[3])
    length = sim.sound_length(argv[2]) or 0
    if key is None:
        return [f"200 result=0 endpos={length}"]
    endpos = length if entry.endpos is None else entry.endpos
    return [f"200 result={ord(key)} endpos={endpos}"]


def stream_file(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) not in (4, 5):
        return None
    offset = scan_int(argv[4]) if len(argv) == 5 else 0
    if offset is None:
        return None
    failed = _playback(sim, argv[2], offset)
    if failed:
        return failed
    length = sim.sound_length(argv[2]) or 0
    if not argv[3]:
        return [f"200 result=0 endpos={length}"]
    key, entry = sim.listen_for(argv[3])
    if key is None:
        return [f"200 result=0 endpos={length}"]
    endpos = length if entry.endpos is None else entry.endpos
    return [f"200 result={ord(key)} endpos={endpos}"]


def control_stream_file(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if not 5 <= len(argv) <= 9:
        return None
    if sim.sound_length(argv[3]) is None or sim.caller_hangs_up_now():
        return ["200 result=-1"]
    sim.played.append(argv[3])
    key = sim.listen_for(argv[4])[0] if argv[4] else None
    return [f"200 result={ord(key) if key else 0}"]


def hangup(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) > 2:
        return None
    if len(argv) == 2 and argv[1] != sim.vars.builtins["CHANNEL"]:
        return ["200 result=-1"]
    sim.hang_up(by="agi")
    return ["200 result=1"]


def noop(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    return ["200 result=0"]


def record_file(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) < 6 or scan_int(argv[5]) is None:
        return None
    if sim.caller_hangs_up_now():
        return ["200 result=-1 (hangup) endpos=0"]
    sim.recordings.append(f"{argv[2]}.{argv[3]}")
    if argv[4]:
        key, entry = sim.listen_for(argv[4])
        if key is not None:
            return [f"200 result={ord(key)} (dtmf) endpos={entry.endpos or 0}"]
    silence = any(a.startswith("s=") for a in argv[6:9])
    endpos = 0 if silence else max(atoi(argv[5]), 0) * 8
    return [f"200 result=1 (timeout) endpos={endpos}"]


def _say(sim: SimulatedAsterisk, escape: str) -> list[str]:
    if sim.caller_hangs_up_now():
        return ["200 result=-1"]
    key = sim.listen_for(escape)[0] if escape else None
    return [f"200 result={ord(key) if key else 0}"]


def say_number_like(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    """SAY DIGITS / DATE / TIME (4 words) and SAY NUMBER (4 or 5)."""
    arity = (4, 5) if argv[1].lower() == "number" else (4,)
    if len(argv) not in arity or scan_int(argv[2]) is None:
        return None
    return _say(sim, argv[3])


def say_text(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    """SAY ALPHA / PHONETIC."""
    return _say(sim, argv[3]) if len(argv) == 4 else None


def say_datetime(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) < 4 or scan_int(argv[2]) is None:
        return None
    return _say(sim, argv[3])


def one_argument(result: str) -> Callable[[SimulatedAsterisk, list[str]], list[str] | None]:
    """Commands of exactly one argument that the model does not simulate."""
    def handler(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
        return [f"200 result={result}"] if len(argv) == 3 else None
    return handler


def set_location(part: str) -> Callable[[SimulatedAsterisk, list[str]], list[str] | None]:
    """SET CONTEXT / EXTENSION / PRIORITY: where the dialplan goes on."""
    def handler(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
        if len(argv) != 3:
            return None
        sim._goto[part] = argv[2]
        return ["200 result=0"]
    return handler


def set_autohangup(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) != 3:
        return None
    try:
        float(argv[2].split()[0])
    except (ValueError, IndexError):
        return None
    return ["200 result=0"]


def set_callerid(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) > 2:
        text = argv[2]
        name, lt, rest = text.partition("<")
        if lt:
            sim.vars.caller_num = rest.split(">", 1)[0].strip()
            sim.vars.caller_name = name.strip().strip('"')
        elif text.strip() and all(c in "0123456789+*#-() " for c in text.strip()):
            sim.vars.caller_num, sim.vars.caller_name = text.strip(), ""
        else:  # ast_callerid_parse: not a number, so a name alone
            sim.vars.caller_num, sim.vars.caller_name = "", text.strip().strip('"')
    return ["200 result=1"]


def set_music(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    return ["200 result=0"] if len(argv) >= 3 else None


def set_variable(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) != 4:
        return None
    sim.vars.write(argv[2], argv[3])
    return ["200 result=1"]


def verbose(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    return ["200 result=1"] if len(argv) >= 2 else None


def wait_for_digit(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) != 4 or scan_int(argv[3]) is None:
        return None
    if sim.caller_hangs_up_now():
        return ["200 result=-1"]
    keys = sim.next_dtmf().keys
    return [f"200 result={ord(keys[0]) if keys else 0}"]


def gosub(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    if len(argv) not in (4, 5):
        return None
    return ["100 result=0 Trying...", "200 result=0 Gosub complete"]


def zero(sim: SimulatedAsterisk, argv: list[str]) -> list[str] | None:
    return ["200 result=0"]


Handler = Callable[["SimulatedAsterisk", list[str]], "list[str] | None"]

#: (words, handler, runs on a dead channel), in res_agi.c's order.
COMMANDS: list[tuple[tuple[str, ...], Handler, bool]] = [
    (("answer",), answer, False),
    (("asyncagi", "break"), zero, True),
    (("channel", "status"), channel_status, False),
    (("database", "del"), database_del, True),
    (("database", "deltree"), database_deltree, True),
    (("database", "get"), database_get, True),
    (("database", "put"), database_put, True),
    (("exec",), exec_, True),
    (("get", "data"), get_data, False),
    (("get", "full", "variable"), get_full_variable, True),
    (("get", "option"), get_option, False),
    (("get", "variable"), get_variable, True),
    (("hangup",), hangup, False),
    (("noop",), noop, True),
    (("receive", "char"), one_argument("0 (timeout)"), False),
    (("receive", "text"), one_argument("-1"), False),
    (("record", "file"), record_file, False),
    (("say", "alpha"), say_text, False),
    (("say", "digits"), say_number_like, False),
    (("say", "number"), say_number_like, False),
    (("say", "phonetic"), say_text, False),
    (("say", "date"), say_number_like, False),
    (("say", "time"), say_number_like, False),
    (("say", "datetime"), say_datetime, False),
    (("send", "image"), one_argument("0"), False),
    (("send", "text"), one_argument("0"), False),
    (("set", "autohangup"), set_autohangup, False),
    (("set", "callerid"), set_callerid, False),
    (("set", "context"), set_location("context"), False),
    (("set", "extension"), set_location("exten"), False),
    (("set", "music"), set_music, False),
    (("set", "priority"), set_location("priority"), False),
    (("set", "variable"), set_variable, True),
    (("stream", "file"), stream_file, False),
    (("control", "stream", "file"), control_stream_file, False),
    (("tdd", "mode"), one_argument("0"), False),
    (("verbose",), verbose, True),
    (("wait", "for", "digit"), wait_for_digit, False),
    (("gosub",), gosub, False),
    *[((("speech",) + tuple(w.split())), zero, False) for w in (
        "create", "set", "destroy", "load grammar", "unload grammar",
        "activate grammar", "deactivate grammar", "recognize")],
]
