"""The reference call, hand-written for panoramisk's FastAGI server (asyncio).

Run with the peers' virtualenv (bench/compare.py creates it):
``bench/.peers-venv/bin/python bench/peers/panoramisk_server.py --port P``.
It uses the library as its documentation shows: ``Application``, a route
per ``agi_network_script``, ``asyncio.start_server(app.handler, ...)``
and ``request.send_command(...)`` for each command.
"""
from __future__ import annotations

import asyncio
import sys

from panoramisk.fast_agi import Application

from listen import port_from_arguments


async def reference(request) -> None:  # type: ignore[no-untyped-def]
    """answer, play, menu, queue priority, CDR field, MixMonitor, Queue,
    QUEUESTATUS, hang up, status for the dialplan."""
    uniqueid = request.headers.get("agi_uniqueid", "")
    await request.send_command("ANSWER")
    await request.send_command('STREAM FILE "agiflow/welcome" ""')
    menu = await request.send_command('GET DATA "agiflow/main-menu" "5000" "1"')
    queue = "sales" if menu.get("result", ("", ""))[0] == "1" else "support"
    await request.send_command(f'SET VARIABLE "CDR(department)" "{queue}"')
    await request.send_command('SET VARIABLE "QUEUE_PRIO" "10"')
    await request.send_command(f'EXEC "MixMonitor" "{uniqueid}.wav,b"')
    for stale in ("QUEUESTATUS", "ABANDONED", "QEHOLDTIME"):  # left by an earlier Queue()
        await request.send_command(f'SET VARIABLE "{stale}" ""')
    await request.send_command(f'EXEC "Queue" "{queue},t,,,300"')
    status = await request.send_command('GET VARIABLE "QUEUESTATUS"')
    if not status.get("result", ("", ""))[1]:
        await request.send_command('VERBOSE "no QUEUESTATUS" 1')
    await request.send_command("HANGUP")
    await request.send_command('SET VARIABLE "AGIFLOW_STATUS" "completed"')


def main() -> None:
    port = port_from_arguments()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = Application(loop=loop)
    app.add_route("reference", reference)
    loop.run_until_complete(asyncio.start_server(app.handler, "127.0.0.1", port))
    print(f"listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
