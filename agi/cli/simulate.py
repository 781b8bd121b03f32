"""``agiflow simulate``."""
from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo
from typing import Any

import click

from agi.cli.common import config_option, find_flow, get_database
from agi.cli.database import Need
from agi.hours import moments
from agi.safe_text import escaped_text
from agi.services_from_config import simulation_services, simulation_settings
from agi.sim.script import SCRIPTED_STATUSES, DtmfEntry
from agi.simulate import SimulationResult, parse_dtmf, simulate as run_simulation


def _parse_time(value: str | None, zone: str) -> datetime | None:
    """``--at`` as an aware datetime; without an offset, in the flow's ``zone``."""
    if value is None:
        return None
    try:
        return moments.parse(value, ZoneInfo(zone))
    except moments.MomentError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None


def _statuses(value: str | None, kind: str, option: str) -> list[str]:
    """The statuses of --queue-status or --dial-status, each one Asterisk sets."""
    statuses = [part.strip().upper() for part in (value or "").split(",") if part.strip()]
    known = SCRIPTED_STATUSES[kind]
    for status in statuses:
        if status not in known:
            raise click.BadParameter(f"{status!r} is none of {', '.join(known)}", param_hint=option)
    return statuses


@click.command()
@click.argument("flow")
@click.option("--caller", required=True, help="Caller ID number of the simulated caller.")
@click.option("--called", default="", help="Number the caller dialled (DNID).")
@click.option("--at", "at", default=None,
              help="Time of the call, ISO 8601 (default now; without an offset, in the flow's timezone).")
@click.option("--dtmf", default=None, callback=lambda _ctx, _param, text: _dtmf(text),
              help="What the caller keys at each input prompt, comma separated: 1,#,12#,- "
                   "(- or empty: no key, a timeout).")
@click.option("--hangup-after", type=click.IntRange(min=0), default=None,
              help="The caller hangs up after K commands were answered.")
@click.option("--queue-status", "queue_status", default=None,
              help="QUEUESTATUS of each Queue() in turn, comma separated: ANSWERED,TIMEOUT (default TIMEOUT).")
@click.option("--dial-status", "dial_status", default=None,
              help="DIALSTATUS of each Dial() in turn, comma separated: BUSY,ANSWER (default ANSWER).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@config_option
def simulate(flow: str, caller: str, called: str, at: str | None, dtmf: list[str | None],
             hangup_after: int | None, queue_status: str | None, dial_status: str | None,
             fmt: str, config_path: str | None) -> None:
    """Run FLOW offline against a scripted caller.

    FLOW is a flow name from the configured folder or a flow file. Prints the
    path taken, every AGI command that would be sent with Asterisk's reply,
    the variables set and the CDR row.
    """
    config, _ = get_database(config_path, Need.OPTIONAL)  # lists and overrides are read from it
    found, flows = find_flow(flow, config_path)
    result = run_simulation(found, flows, caller=caller, called=called, at=_parse_time(at, found.timezone),
                            dtmf=dtmf, hangup_after=hangup_after,
                            queue_statuses=_statuses(queue_status, "queue", "'--queue-status'"),
                            dial_statuses=_statuses(dial_status, "dial", "'--dial-status'"),
                            settings=simulation_settings(config), services=simulation_services(config))
    if fmt == "json":
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True, default=str))
    else:
        click.echo(render_text(found.name, result), nl=False)


def _dtmf(text: str | None) -> list[str | None]:
    """--dtmf as one entry per prompt; keys other than DTMF's are a usage error."""
    entries = parse_dtmf(text)
    for entry in entries:
        try:
            DtmfEntry(entry)
        except ValueError:
            raise click.BadParameter(f"{entry!r} is not DTMF keys (0-9, *, #, A-D), in {text!r}",
                                     param_hint="'--dtmf'") from None
    return entries


def render_text(name: str, result: SimulationResult) -> str:
    call = result.call
    lines = [f"flow {name}: {call['status']}" + (f" ({call['error']})" if call.get("error") else ""), "", "path:"]
    for step in result.steps:
        lines.append(f"  {step['seq']:>3}. {step['step']:<20} {step['type']:<8} -> {step['outcome']}"
                     + _why(step))
    lines += ["", "commands:"]
    for exchange in result.exchanges:
        lines.append(f"  >> {exchange.command}")
        lines.extend(f"  << {line}" for line in exchange.lines)
    lines += ["", "variables:"] + [f"  {k} = {v}" for k, v in sorted(result.variables.items())]
    if result.continue_at:
        lines += ["", "dialplan continues at: " + ",".join(map(str, result.continue_at))]
    lines += ["", "cdr:"] + [f"  {k}: {v}" for k, v in call.items() if v not in (None, "")]
    lines += _left_behind(result)
    return "\n".join(map(escaped_text, lines)) + "\n"  # a flow's text may hold an escape sequence


def _why(step: dict[str, Any]) -> str:
    """The error a step recorded in its details (a number list missing, a database
    down...), beside its outcome: what the server's log would say."""
    details = step.get("details")
    try:
        error = json.loads(details).get("error") if isinstance(details, str) else None
    except (ValueError, AttributeError):
        return ""
    if not isinstance(error, str) or not error:
        return ""
    return f": {error}" if step["outcome"] == "error" else f" ({error})"


def _left_behind(result: SimulationResult) -> list[str]:
    """Callback requests that would be stored, webhooks that would be posted."""
    lines = []
    if result.callbacks:
        lines += ["", "callback requests (not stored):"]
        lines += ["  " + ", ".join(f"{k}={v}" for k, v in row.items() if v is not None) for row in result.callbacks]
    if result.webhooks:
        lines += ["", "webhooks (not sent):"]
        for post in result.webhooks:
            mode = "" if post["wait"] else " (background)"
            lines.append(f"  POST {post['url']}{mode} timeout {post['timeout']:g}s" +
                         (f" -- {post['error']}" if post.get("error") else ""))
            lines.append(f"    {json.dumps(post['payload'], sort_keys=True, ensure_ascii=False)}")
    return lines
