"""Run a flow offline against a scripted caller: the same session code as
the server, over the simulated Asterisk instead of a socket."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

from agi.storage.callbacks import MemoryCallbackRequests
from agi.storage.cdr_memory import MemoryCdr
from agi.engine.model import Flow, FlowSet
from agi.services import Services
from agi.session import SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import DEFAULT_QUEUE_MEMBER, CallerScript, EverySound, make_environment
from agi.sim.transport import SimExchange, SimTransport, run_sync
from agi.webhooks import DryRunWebhooks


@dataclass(frozen=True)
class SimulationResult:
    """What happened: the CDR rows, every exchange, and Asterisk's end state."""

    call: dict[str, Any]
    steps: list[dict[str, Any]]
    exchanges: list[SimExchange]
    variables: dict[str, str]
    continue_at: Any
    #: Callback requests the call left, and webhooks it would have posted.
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": [f"{s['step']}:{s['outcome']}" for s in self.steps],
            "commands": [{"command": e.command, "reply": list(e.lines)} for e in self.exchanges],
            "variables": self.variables, "cdr": self.call, "steps": self.steps,
            "callbacks": self.callbacks, "webhooks": self.webhooks,
        }


def parse_dtmf(text: str | None) -> list[str | None]:
    """``1,#,12#,-`` -> one entry per input prompt; ``-`` or empty = no key."""
    if not text:
        return []
    return [None if entry.strip() in ("", "-") else entry.strip() for entry in text.split(",")]


def simulate(flow: Flow, flows: FlowSet, *, caller: str, called: str = "", at: datetime | None = None,
             dtmf: Sequence[str | None] = (), hangup_after: int | None = None,
             queue_statuses: Sequence[str] = (), dial_statuses: Sequence[str] = (),
             vm_statuses: Sequence[str] = (), queue_wait: float = 0.0, talk_time: float = 0.0,
             app_results: Mapping[str, int] | None = None,
             queue_member: tuple[str, str] | None = DEFAULT_QUEUE_MEMBER, args: Sequence[str] = (),
             on_call: Sequence[str] = (), spy_sessions: Sequence[tuple[float, str]] = (),
             settings: SessionSettings | None = None, services: Services | None = None) -> SimulationResult:
    """Run ``flow`` once as Asterisk would: every prompt exists, the caller
    keys ``dtmf`` entry by entry and hangs up after ``hangup_after``
    answered commands. Queue / Dial / VoiceMail end as the statuses say
    (see ``CallerScript``); the call's clock moves on by the time they take.
    ``queue_member`` (name, interface) answers every answered Queue;
    ``args`` are the AGI() arguments after the URL; ``on_call`` the
    interfaces on a call elsewhere and ``spy_sessions`` how ChanSpy runs end
    (see ``CallerScript``). ``settings`` are the server's (the longest
    command line, the fallback); the defaults without them."""
    moment = (at or datetime.now(timezone.utc)).timestamp()
    script = CallerScript(dtmf=list(dtmf), hangup_during=None if hangup_after is None else hangup_after + 1,
                          queue_statuses=queue_statuses, dial_statuses=dial_statuses,
                          vm_statuses=vm_statuses, queue_wait=queue_wait, talk_time=talk_time,
                          app_results=dict(app_results or {}), queue_member=queue_member,
                          on_call=tuple(on_call), spy_sessions=tuple(spy_sessions),
                          sounds=EverySound())
    env = make_environment(flow.name, args=args, callerid=caller or "unknown", dnid=called or "unknown",
                           uniqueid=f"{int(moment)}.1")
    asterisk = SimulatedAsterisk(env, script)
    transport = SimTransport(asterisk)
    cdr = MemoryCdr()
    seen = tuple(len(items) for items in _collected(services))
    def clock() -> float:  # Queue and Dial move the simulated time on
        return moment + asterisk.elapsed

    run_sync(run_session(transport.environment(), transport, flows, cdr, settings or SessionSettings(), clock,
                         services))
    [call] = cdr.calls.values()
    return SimulationResult(call, cdr.steps, transport.exchanges, dict(asterisk.variables),
                            asterisk.continue_at, *_left_behind(services, seen))


def _collected(services: Services | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The callback requests and webhooks the in-memory services hold."""
    callbacks = services.callbacks if services else None
    webhooks = services.webhooks if services else None
    return (callbacks.rows if isinstance(callbacks, MemoryCallbackRequests) else [],
            webhooks.posts if isinstance(webhooks, DryRunWebhooks) else [])


def _left_behind(services: Services | None, seen: tuple[int, ...]) -> tuple[list[dict[str, Any]], ...]:
    """What this call added to them (services may serve several runs)."""
    return tuple(list(items[count:]) for items, count in zip(_collected(services), seen))
