"""The reference call, hand-written for pystrix's FastAGI server (a thread
per call, socketserver).

Run with the peers' virtualenv (bench/compare.py creates it):
``bench/.peers-venv/bin/python bench/peers/pystrix_server.py --port P``.
It uses the library as its examples do: ``FastAGIServer``, a script handler
per path, and ``agi.execute(Action(...))`` for each command.
"""
from __future__ import annotations

import re
import sys

import pystrix
from pystrix.agi.agi_core import AGIException
from pystrix.agi.core import Answer, Exec, GetData, GetVariable, Hangup, SetVariable, StreamFile, Verbose

from listen import port_from_arguments


def reference(agi, args, kwargs, match, path) -> None:  # type: ignore[no-untyped-def]
    """answer, play, menu, queue priority, CDR field, MixMonitor, Queue,
    QUEUESTATUS, hang up, status for the dialplan."""
    try:
        uniqueid = agi.get_environment().get("agi_uniqueid", "")
        agi.execute(Answer())
        agi.execute(StreamFile("agiflow/welcome"))
        digits, _timed_out = agi.execute(GetData("agiflow/main-menu", 5000, 1))
        queue = "sales" if digits == "1" else "support"
        agi.execute(SetVariable("CDR(department)", queue))
        agi.execute(SetVariable("QUEUE_PRIO", 10))
        agi.execute(Exec("MixMonitor", (f"{uniqueid}.wav", "b")))
        for stale in ("QUEUESTATUS", "ABANDONED", "QEHOLDTIME"):  # left by an earlier Queue()
            agi.execute(SetVariable(stale, ""))
        agi.execute(Exec("Queue", (queue, "t", "", "", 300)))
        if agi.execute(GetVariable("QUEUESTATUS")) is None:
            agi.execute(Verbose("no QUEUESTATUS", 1))
        agi.execute(Hangup())
        agi.execute(SetVariable("AGIFLOW_STATUS", "completed"))
    except AGIException:
        pass  # the caller hung up or Asterisk refused a command: end the AGI


def main() -> None:
    port = port_from_arguments()
    server = pystrix.agi.FastAGIServer(interface="127.0.0.1", port=port)
    server.register_script_handler(re.compile("reference"), reference)
    print(f"listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
