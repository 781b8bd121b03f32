"""The reference call, hand-written for pystrix's FastAGI server (a thread
per call, socketserver).

Run with the peers' virtualenv (bench/compare.py creates it):
``bench/.peers-venv/bin/python bench/peers/pystrix_server.py --port P --database FILE``.
It uses the library as its examples do: ``FastAGIServer``, a script handler
per path, and ``agi.execute(Action(...))`` for each command. Like agiflow,
it keeps a CDR row per call and per step in SQLite and logs a line per call
(peer_cdr.py).
"""
from __future__ import annotations

import re
import sys
import time

import pystrix
from pystrix.agi.agi_core import AGIException
from pystrix.agi.core import Answer, Exec, GetData, GetVariable, Hangup, SetVariable, StreamFile, Verbose

from listen import arguments
from peer_cdr import PeerCdr, recording_file, setup_logging

CDR: PeerCdr


def reference(agi, args, kwargs, match, path) -> None:  # type: ignore[no-untyped-def]
    """answer, recording notice and MixMonitor, menu, CDR field, queue
    priority, Queue, QUEUESTATUS, hang up, status for the dialplan."""
    env = agi.get_environment()
    record = CDR.call(env, "reference")
    try:
        agi.execute(Answer())
        record.step("answer", "answer", "next")
        agi.execute(StreamFile("agiflow/welcome"))
        recording = recording_file(env, time.time())
        agi.execute(Exec("MixMonitor", (recording, "b")))
        record.step("welcome", "consent", "notified", notice="agiflow/welcome", recording=recording)
        digits, _timed_out = agi.execute(GetData("agiflow/main-menu", 5000, 1))
        record.step("menu", "menu", digits or "timeout", keys=[digits])
        queue = "sales" if digits == "1" else "support"
        agi.execute(SetVariable("CDR(department)", queue))
        record.fields["department"] = queue
        record.step(queue, "set", "next", variables={"CDR(department)": queue})
        agi.execute(SetVariable("QUEUE_PRIO", 10))
        record.step("priority", "priority", "next", priority=10)
        for stale in ("QUEUESTATUS", "ABANDONED", "QEHOLDTIME"):  # left by an earlier Queue()
            agi.execute(SetVariable(stale, ""))
        agi.execute(Exec("Queue", (queue, "t", "", "", 300)))
        status = agi.execute(GetVariable("QUEUESTATUS"))
        if status is None:
            agi.execute(Verbose("no QUEUESTATUS", 1))
        record.step("queue", "queue", (status or "").lower() or "error", queue=queue, status=status)
        agi.execute(Hangup())
        record.step("hangup", "hangup", "done")
        agi.execute(SetVariable("AGIFLOW_STATUS", "completed"))
        record.end("completed", priority=10, consent="notified", recording=recording, queue=queue,
                   queue_status=status)
    except AGIException:
        record.end("caller_hangup")  # the caller hung up or Asterisk refused a command: end the AGI


def main() -> None:
    global CDR
    options = arguments()
    setup_logging()
    CDR = PeerCdr(options.database)
    server = pystrix.agi.FastAGIServer(interface="127.0.0.1", port=options.port)
    server.register_script_handler(re.compile("reference"), reference)
    print(f"listening on 127.0.0.1:{options.port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
