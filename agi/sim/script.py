"""What the simulated caller does and what the simulated Asterisk has.

``CallerScript`` holds the caller's key presses, the moment they hang up,
the outcome of Queue/Dial/VoiceMail and the sound files that exist. ``make_environment``
builds the agi_* block Asterisk would send, with the transcripts' defaults.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from agi.steps.dial import DIAL_STATUSES
from agi.steps.dialplan_app import KEY_EXIT_STATUS
from agi.steps.queue import ANSWERED_STATUS, STATUS_OUTCOMES
from agi.steps.voicemail import VM_OUTCOMES

#: What a script may say each Queue(), Dial() and VoiceMail() run ends with:
#: the statuses Asterisk 22 sets, and ANSWERED for a member who answered
#: (Asterisk then sets no QUEUESTATUS, nor for a caller who hangs up waiting:
#: that is a hangup, never a status) and EXITWITHKEY for a caller who left
#: with a key (no QUEUESTATUS either; for Dial(), DIALSTATUS=CANCEL with the
#: caller on the line).
SCRIPTED_STATUSES: Mapping[str, tuple[str, ...]] = {
    "queue": (ANSWERED_STATUS, *STATUS_OUTCOMES, "UNKNOWN", KEY_EXIT_STATUS),
    "dial": (*DIAL_STATUSES, KEY_EXIT_STATUS),
    "voicemail": tuple(VM_OUTCOMES),
}

#: Lengths in samples (8 kHz) of the sounds a stock Asterisk 22 has, as the
#: transcripts report them (``endpos``). silence/N is N seconds long.
DEFAULT_SOUNDS: Mapping[str, int] = {
    "beep": 3404,
    "demo-congrats": 19680,
    **{f"silence/{n}": 8000 * n for n in range(1, 11)},
}

#: The agi_* keys in the order res_agi.c writes them (launch_netscript then
#: setup_env), without the ``agi_`` prefix; ``arg_N`` lines follow.
ENV_ORDER = (
    "network", "network_script", "request", "channel", "language", "type",
    "uniqueid", "version", "callerid", "calleridname", "callingpres",
    "callingani2", "callington", "callingtns", "dnid", "rdnis", "context",
    "extension", "priority", "enhanced", "accountcode", "threadid",
)

_ENV_DEFAULTS = {
    "network": "yes",
    "network_script": "",
    "request": "",
    "channel": "Local/s@caller-00000000;1",
    "language": "en",
    "type": "Local",
    "uniqueid": "1795385106.0",
    "version": "22.11.0-rc1",
    "callerid": "unknown",
    "calleridname": "unknown",
    "callingpres": "67",
    "callingani2": "0",
    "callington": "0",
    "callingtns": "0",
    "dnid": "unknown",
    "rdnis": "unknown",
    "context": "default",
    "extension": "s",
    "priority": "1",
    "enhanced": "0.0",
    "accountcode": "",
    "threadid": "139975520564928",
}


#: The queue member who answers a simulated Queue(): MEMBERNAME, MEMBERINTERFACE.
DEFAULT_QUEUE_MEMBER = ("Agent", "Local/agent@agents/n")


class EverySound(Mapping[str, int]):
    """A sound table in which every name exists, all of one length: for
    offline runs of flows whose prompts are not installed here."""

    def __init__(self, length: int = 16000) -> None:
        self.length = length

    def __getitem__(self, name: str) -> int:
        return self.length

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@dataclass(frozen=True)
class DtmfEntry:
    """What the caller keys during one input command.

    ``keys`` is a string of DTMF keys (``"12#"``) or None for no key at all
    (the command times out); ``endpos`` overrides the sample position a
    STREAM FILE / GET OPTION interrupted by the key reports (default: the
    sound's length, as in dtmf.agi).
    """

    keys: str | None = None
    endpos: int | None = None

    def __post_init__(self) -> None:
        if self.keys is not None and not all(k in "0123456789*#ABCD" for k in self.keys):
            raise ValueError(f"not DTMF keys: {self.keys!r}")


def _entry(value: DtmfEntry | str | None) -> DtmfEntry:
    if isinstance(value, DtmfEntry):
        return value
    return DtmfEntry(value or None)


@dataclass(frozen=True)
class CallerScript:
    """The caller's side of one call, and the outcomes the dialplan gives.

    ``dtmf``: one entry per input command that listens (GET DATA, GET
    OPTION, WAIT FOR DIGIT, RECORD FILE, and STREAM FILE / SAY * when their
    escape digits are not empty); once used up, every entry is None.
    ``hangup_during``: the caller hangs up during the K-th command received
    (1-based; 0 = before the first one), with the Q.850 cause
    ``hangup_cause`` (HANGUPCAUSE; 16, normal clearing). ``hangup_endpos``: where the
    playback interrupted by that hangup stopped. ``queue_statuses`` /
    ``dial_statuses``: QUEUESTATUS / DIALSTATUS for successive Queue / Dial
    runs (then TIMEOUT / ANSWER); besides Asterisk's values, ``ANSWERED``
    says a queue member answered. A caller who hangs up during Queue / Dial
    abandons / cancels it, unless the run's status is ``ANSWERED`` /
    ``ANSWER``: then they hung up after talking. ``vm_statuses``: VMSTATUS
    for successive VoiceMail runs (then SUCCESS). ``queue_wait`` /
    ``talk_time``: seconds each Queue run waits and each answered Queue or
    Dial talks (the simulated clock moves on by them). ``queue_entry_vars``:
    queues.conf ``setqueueentryvar`` (QEHOLDTIME is set on answer).
    ``queue_member``: (MEMBERNAME, MEMBERINTERFACE) of the member who answers
    a Queue run, as with ``setinterfacevar = yes``; None leaves them unset.
    ``on_call``: interfaces (``PJSIP/201``) on a call elsewhere in this
    Asterisk: each has a channel, bridged, for CHANNELS() and ChanSpy.
    ``spy_sessions``: how successive ChanSpy runs end, (seconds, ``key``: the
    spy pressed the exit key / ``agent``: the spied-on call ended /
    ``hangup``: the spy hung up); once used up, at once with ``agent``.
    ``app_results``: applications (any case) that answer this result instead
    of running, e.g. ``{"MixMonitor": -2}`` for a module that is not loaded.
    ``sounds``: sound name -> length.
    """

    dtmf: Sequence[DtmfEntry | str | None] = ()
    hangup_during: int | None = None
    hangup_cause: int = 16
    hangup_endpos: int = 0
    queue_statuses: Sequence[str] = ()
    dial_statuses: Sequence[str] = ()
    vm_statuses: Sequence[str] = ()
    queue_wait: float = 0.0
    talk_time: float = 0.0
    queue_entry_vars: bool = True
    queue_member: tuple[str, str] | None = DEFAULT_QUEUE_MEMBER
    on_call: Sequence[str] = ()
    spy_sessions: Sequence[tuple[float, str]] = ()
    app_results: Mapping[str, int] = field(default_factory=dict)
    sounds: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SOUNDS))

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtmf", tuple(_entry(e) for e in self.dtmf))
        object.__setattr__(self, "queue_statuses", tuple(self.queue_statuses))
        object.__setattr__(self, "dial_statuses", tuple(self.dial_statuses))
        object.__setattr__(self, "vm_statuses", tuple(self.vm_statuses))
        object.__setattr__(self, "app_results", {k.lower(): v for k, v in self.app_results.items()})
        if self.queue_wait < 0 or self.talk_time < 0:
            raise ValueError("queue_wait and talk_time are seconds, never negative")
        if not 1 <= self.hangup_cause <= 127:
            raise ValueError("hangup_cause is a Q.850 cause, 1 to 127")
        if self.hangup_during is not None and self.hangup_during < 0:
            raise ValueError("hangup_during counts commands from 1 (0: before the first)")


def normalise_environment(env: Mapping[str, str]) -> dict[str, str]:
    """Keys without their ``agi_`` prefix; unknown keys are refused."""
    values: dict[str, str] = {}
    for key, value in env.items():
        name = key[4:] if key.startswith("agi_") else key
        is_arg = name.startswith("arg_") and name[4:].isascii() and name[4:].isdigit()
        if name not in _ENV_DEFAULTS and not is_arg:
            allowed = ", ".join(f"agi_{k}" for k in ENV_ORDER)
            raise ValueError(f"unknown environment key {key!r}; allowed: {allowed}, agi_arg_N")
        if "\n" in value:
            raise ValueError(f"environment value of {key!r} contains a line break")
        values[name] = value
    return values


def environment_lines(env: Mapping[str, str], script: str | None = None) -> list[str]:
    """The environment block as Asterisk writes it, ending with the empty line.

    ``script`` fills agi_network_script (and agi_request) when ``env`` names
    none. agi_network_script is left out when empty, as Asterisk does.
    """
    values = {**_ENV_DEFAULTS, **normalise_environment(env)}
    if not values["network_script"] and script:
        values["network_script"] = script
    if not values["request"]:
        path = values["network_script"]
        values["request"] = "agi://127.0.0.1:4573" + (f"/{path}" if path else "")
    lines = [
        f"agi_{key}: {values[key]}" for key in ENV_ORDER
        if key != "network_script" or values[key]
    ]
    args = sorted((int(k[4:]), v) for k, v in values.items() if k.startswith("arg_"))
    lines += [f"agi_arg_{n}: {v}" for n, v in args]
    return lines + [""]


def make_environment(
    script: str | None = None, *, args: Sequence[str] = (), **values: str
) -> dict[str, str]:
    """An agi_* environment with the transcripts' defaults.

    ``make_environment("support?lang=es", callerid="+34600111222",
    args=["a", ""])``; other keys by their name without ``agi_``.
    """
    env = {f"agi_{k}": v for k, v in _ENV_DEFAULTS.items() if k not in ("network_script", "request")}
    if script is not None:
        env["agi_network_script"] = script
    env.update({f"agi_{k}": v for k, v in normalise_environment(values).items()})
    env.update({f"agi_arg_{n}": v for n, v in enumerate(args, start=1)})
    return env
