"""``supervise``: a supervisor listens to an agent's call, whispers to the
agent, or barges in, with Asterisk's ChanSpy().

The supervisor is let in by caller ID list and PIN (as ``override``), keys
the agent's extension or code, and agiflow checks the agent is on a call:
one of the agent's channels (``CHANNELS()``) has a ``BRIDGEPEER``. Each
listening stretch is one ``ChanSpy(<agent channel prefix>,bqES[w|B]x(#))``
run: ``b`` only a bridged channel, ``q`` no beep, ``E``/``S`` stop when the
call ends, ``w`` whisper (the agent hears the supervisor), ``B`` barge (both
hear), ``x(#)`` the supervisor leaves with ``#``. Then a key picks the next
mode (4 listen, 5 whisper, 6 barge) or ends; so agiflow knows every mode
used and for how long, for the CDR and the audit log.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from agi.engine.context import CallContext
from agi.engine.patterns import matches_whole
from agi.engine.step import StepResult
from agi.protocol import appargs
from agi.services import OffloadTimeout, SupervisorsUnavailable
from agi.steps.base import Findings, Node
from agi.steps.collect import INVALID, SOUND, TIMEOUT, RetryPolicy, collect, pattern_problems
from agi.steps.dialplan_app import join_arguments, run_app
from agi.steps.supervisor_auth import AUTH_OPTIONS, CHECK_TIMEOUT, Authorisation, authorise
from agi.vocabulary import HANGUP
from agi.yamlschema import obj

DONE = "done"
REFUSED = "refused"
NOT_ON_CALL = "not_on_call"
UNKNOWN_AGENT = "unknown_agent"
#: The modes, ChanSpy's option for each, and the key that picks it (as
#: ChanSpy's own ``d`` option numbers them).
MODES = {"listen": "", "whisper": "w", "barge": "B"}
MODE_KEYS = {"4": "listen", "5": "whisper", "6": "barge"}
#: ChanSpy's options besides the mode (see the module docstring).
SPY_OPTIONS = "bqES"
EXIT_KEY = "#"
#: What an interface may hold: it goes into a regular expression and an argument.
#: The most keys a supervisor types for an agent.
AGENT_DIGITS = 8
_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9_+@./-]+$")
_INTERFACE_SCHEMA = {"type": "string", "pattern": _INTERFACE.pattern}
#: Most ChanSpy runs (stretches between mode changes) in one session.
MAX_STRETCHES = 50


def channel_prefix(interface: str) -> str:
    """What the names of an interface's channels start with: ``PJSIP/201-``,
    ``Local/agent-ana@agents-`` (a Local channel's ``/n`` is not in its names)."""
    if interface.startswith("Local/"):
        interface = "/".join(interface.split("/")[:2])
    return interface + "-"


def channels_expression(interface: str) -> str:
    """``${CHANNELS(^...)}``: the agent's channels (``.`` and ``+`` made literal)."""
    pattern = "^" + re.sub(r"([.+])", r"[\1]", channel_prefix(interface))
    return "${CHANNELS(" + pattern + ")}"


@dataclass(frozen=True)
class SuperviseNode(Node):
    type_name = "supervise"
    summary = ("A supervisor (caller ID list and PIN) listens to an agent's call, whispers to the agent or "
               "barges in with ChanSpy(); keys change the mode. Outcomes: done, refused, not_on_call, "
               "unknown_agent.")
    schema = obj({
        **AUTH_OPTIONS,
        "agent_prompt": SOUND,
        "agents": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": "^[0-9]{1,8}$"},
                   "additionalProperties": _INTERFACE_SCHEMA},
        "extensions": obj({"pattern": {"type": "string", "minLength": 1},
                           "interface": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9]*/.*\{digits\}.*$"}},
                          ("pattern", "interface")),
        "mode": {"enum": list(MODES)},
        "modes": {"type": "array", "items": {"enum": list(MODES)}, "minItems": 1, "uniqueItems": True},
        "mode_prompt": SOUND,
        "not_on_call_prompt": SOUND,
        "unknown_agent_prompt": SOUND,
    }, ("pin_prompt", "agent_prompt"))

    auth: Authorisation
    agent_prompt: str
    agents: Mapping[str, str] = field(default_factory=dict)
    extension_pattern: str | None = None
    extension_interface: str | None = None
    mode: str = "listen"
    modes: tuple[str, ...] = tuple(MODES)
    mode_prompt: str | None = None
    not_on_call_prompt: str | None = None
    unknown_agent_prompt: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "SuperviseNode":
        extensions = config.get("extensions") or {}
        options = {name: config[name] for name in ("mode", "mode_prompt", "not_on_call_prompt",
                                                   "unknown_agent_prompt") if name in config}
        if "modes" in config:
            options["modes"] = tuple(config["modes"])
            if "mode" not in options and cls.mode not in options["modes"]:  # listen is not allowed
                options["mode"] = options["modes"][0]
        return cls(Authorisation.from_config(config), config["agent_prompt"], dict(config.get("agents") or {}),
                   extensions.get("pattern"), extensions.get("interface"), **options)

    def outcomes(self) -> tuple[str, ...]:
        return (DONE, REFUSED, NOT_ON_CALL, UNKNOWN_AGENT)

    def list_references(self) -> tuple[str, ...]:
        return self.auth.lists

    def templates(self) -> list[tuple[str, str, bool]]:
        sounds = (("agent_prompt", self.agent_prompt), ("mode_prompt", self.mode_prompt),
                  ("not_on_call_prompt", self.not_on_call_prompt), ("unknown_agent_prompt", self.unknown_agent_prompt))
        return self.auth.templates() + [(name, text, False) for name, text in sounds if text]

    def prompts(self) -> list[str]:
        sounds = (self.agent_prompt, self.mode_prompt, self.not_on_call_prompt, self.unknown_agent_prompt)
        return self.auth.prompts() + [sound for sound in sounds if sound]

    def problems(self) -> list[tuple[str, str]]:
        found = []
        if not self.agents and not self.extension_pattern:
            found.append(("agents", "give agents, extensions, or both: there is no agent to key"))
        found += pattern_problems("extensions.pattern", self.extension_pattern)
        if self.extension_interface and not _INTERFACE.match(self.extension_interface.replace("{digits}", "0")):
            found.append(("extensions.interface", f"'{self.extension_interface}' names no interface: a "
                          "technology, '/', then letters, digits and _ + @ . / - only"))
        if self.mode not in self.modes:
            found.append(("mode", f"mode {self.mode} is not one of modes ({', '.join(self.modes)})"))
        return found

    async def run(self, ctx: CallContext) -> StepResult:
        found = Findings()
        with found.kept():
            outcome = await self._run(ctx, found)
        return found.result(outcome)

    async def _run(self, ctx: CallContext, found: Findings) -> str:
        supervisor = await authorise(ctx, self.auth, found)
        if supervisor is None:
            return REFUSED
        policy = RetryPolicy(self.auth.timeout, 1, None, 1, self.unknown_agent_prompt)
        interface = await collect(ctx, self.agent_prompt, AGENT_DIGITS, policy, self.interface_of, found)
        if interface in (TIMEOUT, INVALID):
            return UNKNOWN_AGENT
        found.note(agent=interface)
        if not await on_a_call(ctx, interface):
            found.note(refused="the agent is not on a call")
            if self.not_on_call_prompt:
                await ctx.channel.stream(ctx.render_text(self.not_on_call_prompt))
            return NOT_ON_CALL
        started = ctx.clock()
        try:
            await self._spy(ctx, found, interface)
        finally:
            found.note(duration=round(ctx.clock() - started, 3))
            await _audit(ctx, supervisor, interface, found)
        return HANGUP if ctx.channel.hung_up else DONE

    def interface_of(self, keys: str) -> str | None:
        """The interface the keyed digits name, or None: also for more keys
        than AGENT_DIGITS, which no Asterisk answers and the extension
        pattern never sees (a pattern that backtracks would run for as
        long as they were long, holding every call)."""
        if len(keys) > AGENT_DIGITS:
            return None
        if keys in self.agents:
            return self.agents[keys]
        if self.extension_pattern and self.extension_interface and matches_whole(self.extension_pattern, keys):
            interface = self.extension_interface.replace("{digits}", keys)
            return interface if _INTERFACE.match(interface) else None
        return None

    async def _spy(self, ctx: CallContext, found: Findings, interface: str) -> None:
        """ChanSpy stretches until the call ends, the supervisor leaves or hangs up."""
        stretches: list[dict[str, Any]] = found.details.setdefault("stretches", [])
        mode: str | None = self.mode
        while mode is not None and len(stretches) < MAX_STRETCHES:
            options = f"{SPY_OPTIONS}{MODES[mode]}x({EXIT_KEY})"
            ran = await run_app(ctx, "ChanSpy", join_arguments([appargs.escape(channel_prefix(interface)), options]))
            stretches.append({"mode": mode, "seconds": ran.seconds})
            found.note(modes=sorted({s["mode"] for s in stretches}, key=list(MODES).index))
            if ran.hung_up:
                found.note(ended="supervisor hung up")
                return
            if not await on_a_call(ctx, interface):
                found.note(ended="the call ended")
                return
            mode = await self._next_mode(ctx, found)
        found.note(ended="supervisor left")

    async def _next_mode(self, ctx: CallContext, found: Findings) -> str | None:
        """After ``#``: 4, 5 or 6 for the next mode; anything else ends."""
        if not self.mode_prompt:
            return None
        keys = {key: mode for key, mode in MODE_KEYS.items() if mode in self.modes}
        answer = await collect(ctx, self.mode_prompt, 1, RetryPolicy(self.auth.timeout, 0, None, 0, None),
                               keys.get, found)
        return answer if answer in keys.values() else None


async def on_a_call(ctx: CallContext, interface: str) -> bool:
    """Whether one of the interface's channels is bridged to another."""
    reply = await ctx.channel.command("GET FULL VARIABLE", channels_expression(interface))
    names = reply.data.split() if reply.result == "1" and reply.data else []
    for name in names:
        peer = await ctx.channel.command("GET FULL VARIABLE", "${BRIDGEPEER}", name)
        if peer.result == "1" and peer.data:
            return True
    return False


async def _audit(ctx: CallContext, supervisor: str, interface: str, found: Findings) -> None:
    """The session in the supervisors' audit log: the agent, and each
    stretch's mode and whole seconds (the step's details keep them to the
    millisecond)."""
    supervisors = ctx.services.supervisors
    if supervisors is None:
        return
    stretches = found.details.get("stretches", [])
    detail = f"{interface}: " + ", ".join(f"{s['mode']} {int(s['seconds'] + 0.5)}s" for s in stretches)
    try:
        await ctx.services.offload(CHECK_TIMEOUT, supervisors.audit, supervisor, "supervise", "ok",
                                   datetime.fromtimestamp(ctx.clock(), tz=timezone.utc), ctx.call.id, detail)
    except (SupervisorsUnavailable, OffloadTimeout) as exc:
        ctx.log.warning("supervise session of %s not audited: %s", supervisor, exc)
        found.note(audit_error=str(exc))
