"""The reference call, hand-written for panoramisk's FastAGI server (asyncio).

Run with the peers' virtualenv (bench/compare.py creates it):
``bench/.peers-venv/bin/python bench/peers/panoramisk_server.py --port P --database FILE``.
It uses the library as its documentation shows: ``Application``, a route
per ``agi_network_script``, ``asyncio.start_server(app.handler, ...)``
and ``request.send_command(...)`` for each command. Like agiflow, it keeps
a CDR row per call and per step in SQLite and logs a line per call
(peer_cdr.py).
"""
from __future__ import annotations

import asyncio
import sys
import time

from panoramisk.fast_agi import Application

from listen import arguments
from peer_cdr import PeerCdr, recording_file, setup_logging

CDR: PeerCdr


async def reference(request) -> None:  # type: ignore[no-untyped-def]
    """answer, recording notice and MixMonitor, menu, CDR field, queue
    priority, Queue, QUESTATUS, hang up, status for the dialplan."""
    env = request.headers
    record = CDR.call(env, "reference")
    await request.send_command("ANSWER")
    record.step("answer", "answer", "next")
    await request.send_command('STREAM FILE "agiflow/welcome" ""')
    recording = recording_file(env, time.time())
    await request.send_command(f'EXEC "MixMonitor" "{recording},b"')
    record.step("welcome", "consent", "notified", notice="agiflow/welcome", recording=recording)
    menu = await request.send_command('GET DATA "agiflow/main-menu" "5000" "1"')
    digit = menu.get("result", ("", ""))[0]
    record.step("menu", "menu", digit or "timeout", keys=[digit])
    queue = "sales" if digit == "1" else "support"
    await request.send_command(f'SET VARIABLE "CDR(department)" "{queue}"')
    record.fields["department"] = queue
    record.step(queue, "set", "next", variables={"CDR(department)": queue})
    await request.send_command('SET VARIABLE "QUEUE_PRIO" "10"')
    record.step("priority", "priority", "next", priority=10)
    for stale in ("QUEUESTATUS", "ABANDONED", "QEHOLDTIME"):  # left by an earlier Queue()
        await request.send_command(f'SET VARIABLE "{stale}" ""')
    await request.send_command(f'EXEC "Queue" "{queue},t,,,300"')
    status = (await request.send_command('GET VARIABLE "QUEUESTATUS"')).get("result", ("", ""))[1]
    if not status:
        await request.send_command('VERBOSE "no QUEUESTATUS" 1')
    record.step("queue", "queue", (status or "").lower() or "error", queue=queue, status=status)
    await request.send_command("HANGUP")
    record.step("hangup", "hangup", "done")
    await request.send_command('SET VARIABLE "AGIFLOW_STATUS" "completed"')
    record.end("completed", priority=10, consent="notified", recording=recording, queue=queue, queue_status=status)


def main() -> None:
    global CDR
    options = arguments()
    setup_logging()
    CDR = PeerCdr(options.database)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    app = Application(loop=loop)
    app.add_route("reference", reference)
    loop.run_until_complete(asyncio.start_server(app.handler, "127.0.0.1", options.port))
    print(f"listening on 127.0.0.1:{options.port}", file=sys.stderr, flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
