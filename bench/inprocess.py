"""The cost of one call inside the server, without sockets or a reactor.

Runs calls of a flow (default ``bench/reference.yaml``) through the real
``FastAGIFactory``, ``FastAGIProtocol``, session, steps and ``CdrStore``
writer thread, on an in-memory transport that replays the replies the
simulated Asterisk 22 gave to a first call, with the server's logging
(batched lines, here to /dev/null). Prints the reactor thread's and
the CDR writer's CPU per call. Wall-clock CPU on a shared machine moves by
tens of percent from one minute to the next; ``--callgrind`` instead counts
the instructions per call under valgrind (the count of N calls minus the
count of 50, over N - 50), which does not depend on the machine's other work
and so compares two versions of the code to the percent. The writer
batches by time, so its share moves with valgrind's pace: compare the
reactor side with ``--no-cdr``.

    PYTHONPATH=. python bench/inprocess.py [--calls 2000] [--flow FILE] [--no-cdr] [--metrics]
                                           [--log-level INFO] [--profile out.prof]
    PYTHONPATH=. python bench/inprocess.py --callgrind [--calls 300] [...]
    PYTHONPATH=. python bench/inprocess.py --quick
"""
from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twisted.internet import task

from bench import callgrind
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from agi.storage.cdr_writer import CdrStore
from agi.cli.common import setup_logging
from agi.config import ServerConfig
from agi.loading.library import FlowLibrary
from agi.metered import MeteredCdr
from agi.server.factory import FastAGIFactory
from agi.server.prometheus import PrometheusMetrics
from agi.server.protocol import FastAGIProtocol
from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment

HERE = Path(__file__).resolve().parent
PEER = IPv4Address("TCP", "127.0.0.1", 40000)


class NoCdr:
    """Keeps nothing: ``--no-cdr`` leaves the CDR work out of the count."""

    def call_started(self, row: dict[str, Any]) -> None:
        pass

    def step_finished(self, call: str, step: dict[str, Any]) -> None:
        pass

    def call_ended(self, call: str, values: dict[str, Any]) -> None:
        pass


def connect(factory: FastAGIFactory) -> tuple[FastAGIProtocol, StringTransport]:
    """A new connection of the server to an in-memory transport."""
    proto = factory.buildProtocol(None)
    transport = StringTransport(peerAddress=PEER)
    proto.makeConnection(transport)
    return proto, transport


def record_call(factory: FastAGIFactory, flow: str) -> tuple[str, list[bytes]]:
    """One call answered by the simulator; its environment and every reply."""
    env = make_environment(flow, uniqueid="1795385106.NUMBER", callerid="6NUMBER",
                           calleridname="Load caller NUMBER", dnid="912345678")
    sim = SimulatedAsterisk(env, CallerScript(dtmf=["2"], sounds=EverySound(8000)))
    proto, transport = connect(factory)
    environment = "".join(f"{line}\n" for line in sim.env_lines())
    proto.dataReceived(environment.encode())
    replies = []
    while not transport.disconnecting:
        command = transport.value().decode().rstrip("\n")
        transport.clear()
        replies.append("".join(f"{line}\n" for line in sim.handle(command)).encode())
        proto.dataReceived(replies[-1])
    proto.connectionLost()
    return environment, replies


def one_call(factory: FastAGIFactory, environment: str, replies: list[bytes], n: int) -> None:
    proto, transport = connect(factory)
    proto.dataReceived(environment.replace("NUMBER", f"{n:08d}").encode())
    for reply in replies:
        proto.dataReceived(reply)
    if not transport.disconnecting:
        raise RuntimeError(f"call {n} did not end as the recorded one did")
    proto.connectionLost()


def run(args: argparse.Namespace) -> None:
    devnull = open(os.devnull, "w")  # kept open for the run: the log handler writes to its descriptor
    setup_logging(args.log_level, batched=True, stream=devnull)  # as agiflow serve does
    folder = Path(tempfile.mkdtemp(prefix="agiflow-inprocess-"))
    try:
        (folder / "flows").mkdir()
        shutil.copy(args.flow, folder / "flows")
        library = FlowLibrary(folder / "flows")
        errors = library.reload()
        if errors:
            raise SystemExit("\n".join(map(str, errors)))
        store = CdrStore(folder / "cdr.db")
        store.open()
        store.start()
        cdr: Any = NoCdr() if args.no_cdr else store
        metrics = PrometheusMetrics() if args.metrics else None
        if metrics is not None:  # as agiflow serve does with server.metrics
            cdr = MeteredCdr(cdr, metrics)
        factory = FastAGIFactory(library, cdr, ServerConfig(), task.Clock(), metrics=metrics)
        environment, replies = record_call(factory, args.flow.stem)
        for n in range(args.warm):
            one_call(factory, environment, replies, n)
        time.sleep(0.2)
        gc.collect()
        gc.freeze()  # as the server does after starting
        profile = None
        if args.profile:
            import cProfile
            profile = cProfile.Profile(time.thread_time)
            profile.enable()
        process, thread = time.process_time(), time.thread_time()
        for n in range(100000, 100000 + args.calls):
            one_call(factory, environment, replies, n)
        thread = time.thread_time() - thread
        store.close()
        process = time.process_time() - process
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        print(f"{args.calls} calls of {args.flow.stem} ({len(replies)} commands): reactor thread "
              f"{thread / args.calls * 1e6:.0f} µs a call, CDR writer {(process - thread) / args.calls * 1e6:.0f} µs")
    finally:
        shutil.rmtree(folder)


def callgrind_arguments(args: argparse.Namespace) -> Callable[[int], list[str]]:
    """This script's arguments for ``calls`` calls, as ``args`` asked."""
    return lambda calls: ["--calls", str(calls), "--warm", "20", "--flow", str(args.flow), "--log-level",
                          args.log_level, *(["--no-cdr"] if args.no_cdr else []),
                          *(["--metrics"] if args.metrics else [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=None, help="calls measured (default 2000; callgrind 300)")
    parser.add_argument("--warm", type=int, default=300, help="calls made before measuring (default 300)")
    parser.add_argument("--flow", type=Path, default=HERE / "reference.yaml", help="the flow file")
    parser.add_argument("--no-cdr", action="store_true", help="keep no CDRs (measure what they cost)")
    parser.add_argument("--metrics", action="store_true", help="count calls, steps and commands as "
                        "server.metrics does (measure what it costs)")
    parser.add_argument("--log-level", default="INFO", help="INFO logs a line per call (default)")
    parser.add_argument("--profile", default=None, help="write a cProfile of the measured calls to this file")
    parser.add_argument("--callgrind", action="store_true", help="count instructions per call under valgrind")
    parser.add_argument("--quick", action="store_true", help="300 calls after 50, for make bench")
    args = parser.parse_args()
    if args.quick:
        args.calls, args.warm = args.calls or 300, 50
    if not args.callgrind:
        args.calls = args.calls or 2000
        run(args)
        return
    args.calls = args.calls or 300
    base = 50
    counted = callgrind.per_call(__file__, callgrind_arguments(args), args.calls, base)
    print(f"{args.flow.stem}: {counted / 1e6:.3f} M instructions a call "
          f"(callgrind, {args.calls} calls minus {base})")


if __name__ == "__main__":
    main()
