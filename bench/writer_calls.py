"""What the CDR writer does for one reference call, counted.

Makes one call of ``bench/reference.yaml`` in process (as ``inprocess.py``
does) and keeps the CDR operations it queues: the ``calls`` insert, a row
per step and the update at the end. Then writes N copies of them (each
with its own key) through the writer's own transactions
(``agi.storage.cdr_writer._commit``: ``apply_batch`` in ``BEGIN IMMEDIATE``
... ``COMMIT``), ``--per-batch`` calls a transaction, into a new SQLite
database made by the server's migrations, and prints the writer thread's
CPU per call. With ``--callgrind`` it counts instructions per call under
valgrind instead (N calls minus 200, over N - 200): a count that does not
move with the machine's other work, to compare versions, indexes or
triggers. ``--split`` puts each call's update in the transaction after its
insert (a call longer than a batch, as real calls are; otherwise the
writer merges them into one insert). ``--sql`` runs a statement on the new
database first, e.g. ``--sql "DROP TRIGGER call_steps_rollup_insert"``.

    PYTHONPATH=. python bench/writer_calls.py [--calls 5000] [--per-batch 55] [--split] [--sql S]...
    PYTHONPATH=. python bench/writer_calls.py --callgrind [--calls 2200] [...]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twisted.internet import task

from bench import callgrind

from agi.config import ServerConfig
from agi.db.sqlite_files import WRITER_PRAGMAS
from agi.loading.library import FlowLibrary
from agi.server.factory import FastAGIFactory
from agi.storage import cdr_writer
from agi.storage.migrations import upgrade

HERE = Path(__file__).resolve().parent
Operation = tuple[str, Any]


class Recorder:
    """A CDR sink that keeps the operations the writer would be given."""

    def __init__(self) -> None:
        self.operations: list[Operation] = []

    def call_started(self, row: dict[str, Any]) -> None:
        self.operations.append(("insert_call", row))

    def step_finished(self, call: str, step: dict[str, Any]) -> None:
        self.operations.append(("insert_step", (call, step)))

    def call_ended(self, call: str, values: dict[str, Any]) -> None:
        self.operations.append(("update_call", (call, values)))


def reference_operations(folder: Path) -> list[Operation]:
    """The CDR operations of one reference call (the menu answered with 2)."""
    from bench.inprocess import one_call, record_call
    (folder / "flows").mkdir()
    shutil.copy(HERE / "reference.yaml", folder / "flows")
    library = FlowLibrary(folder / "flows")
    library.reload()
    recorder = Recorder()
    factory = FastAGIFactory(library, recorder, ServerConfig(), task.Clock())
    environment, replies = record_call(factory, "reference")
    recorder.operations.clear()
    one_call(factory, environment, replies, 1)
    return recorder.operations


def copies(operations: list[Operation], calls: int) -> list[Operation]:
    """``calls`` copies of one call's operations, each with a key of its own."""
    out: list[Operation] = []
    for n in range(calls):
        key = f"{n:032x}"
        for op, arg in operations:
            out.append((op, {**arg, "id": key}) if op == "insert_call" else (op, (key, arg[1])))
    return out


def batches(operations: list[Operation], per_call: int, per_batch: int, split: bool) -> list[list[Operation]]:
    size = per_call * per_batch
    plain = [operations[i:i + size] for i in range(0, len(operations), size)]
    if not split:
        return plain
    out, carried = [], []
    for batch in plain:  # each update one transaction after its insert
        out.append(carried + [o for o in batch if o[0] != "update_call"])
        carried = [o for o in batch if o[0] == "update_call"]
    return out + [carried]


def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="agiflow-writer-calls-"))
    try:
        operations = reference_operations(folder)
        database = folder / "cdr.db"
        upgrade(str(database))
        conn = cdr_writer.connect(str(database))
        for statement in (*WRITER_PRAGMAS, *args.sql):
            conn.execute(statement)
        todo = batches(copies(operations, args.calls), len(operations), args.per_batch, args.split)
        used = time.thread_time()
        for batch in todo:
            cdr_writer._commit(conn, batch)
        used = time.thread_time() - used
        conn.close()
        print(f"{args.calls} reference calls ({len(operations)} CDR operations each), {args.per_batch} a "
              f"transaction{', updates a transaction later' if args.split else ''}: "
              f"{used / args.calls * 1e6:.1f} µs a call")
    finally:
        shutil.rmtree(folder)


def callgrind_arguments(args: argparse.Namespace) -> Callable[[int], list[str]]:
    """This script's arguments for ``calls`` calls, as ``args`` asked."""
    return lambda calls: ["--calls", str(calls), "--per-batch", str(args.per_batch),
                          *(["--split"] if args.split else []),
                          *(part for statement in args.sql for part in ("--sql", statement))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=None, help="calls written (default 5000; callgrind 2200)")
    parser.add_argument("--per-batch", type=int, default=55, help="calls a transaction (default 55: the "
                        "writer's 500 operations)")
    parser.add_argument("--split", action="store_true", help="each call's update in the next transaction")
    parser.add_argument("--sql", action="append", default=[], help="a statement to run on the new database first")
    parser.add_argument("--callgrind", action="store_true", help="count instructions per call under valgrind")
    parser.add_argument("--quick", action="store_true", help="1000 calls, for make bench")
    args = parser.parse_args()
    if not args.callgrind:
        args.calls = args.calls or (1000 if args.quick else 5000)
        run(args)
        return
    args.calls = args.calls or 2200
    base = 200
    counted = callgrind.per_call(__file__, callgrind_arguments(args), args.calls, base)
    print(f"writer: {counted / 1e3:.1f} k instructions a reference call (callgrind, {args.calls} calls minus {base})")


if __name__ == "__main__":
    main()
