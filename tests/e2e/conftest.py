"""The end-to-end suite's calls: one private Asterisk 22 and one ``agiflow
serve``, and every scenario's call placed at once (they run side by side,
so the suite takes about as long as its longest call).

Run with ``make e2e``; ``make test`` never selects these tests (pytest.ini
deselects the ``e2e`` mark). Without a built Asterisk they skip, saying
where one was looked for.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from lab import (HERE, RECORDINGS, REPO, AgiflowServer, AsteriskLab, Call, Lab, agiflow_cli, asterisk_binary,
                 asterisk_prefix, cdr_rows, wait_until, write_agiflow_config)

#: Caller script in [lab-caller] of asterisk/extensions.conf -> the flow it calls.
SCENARIOS = {
    "sales": "support",
    "hangup-menu": "support",
    "accept": "customer_care",
    "decline": "customer_care",
    "hangup-consent": "customer_care",
    "listen": "e2e_args",
}
#: The longest scenario takes about 20 s; a loaded machine gets room.
CALLS_TIMEOUT = 90.0


def _start(folder: Path) -> tuple[AgiflowServer, AsteriskLab, Path]:
    binary = asterisk_binary()
    if binary is None:
        pytest.skip(f"no built Asterisk 22 in {asterisk_prefix()} (set AST_PREFIX; docs/e2e.md says how to build it)")
    flows = sorted((REPO / "flows").glob("*.yaml")) + sorted((HERE / "flows").glob("*.yaml"))
    config = write_agiflow_config(folder / "agiflow", flows)
    # customer_care runs its menu only during office hours.
    agiflow_cli(config, "schedule", "override", "office_hours", "open", "--until", "2h", "--reason", "e2e")
    server = AgiflowServer(config)
    asterisk = AsteriskLab(folder / "asterisk", binary, server.wait_listening())
    try:
        asterisk.start()
    except BaseException:
        asterisk.stop()
        server.stop()
        raise
    return server, asterisk, config.parent


def _finished(asterisk: AsteriskLab, database: Path) -> dict[str, Call] | None:
    """Every scenario's call, once each has its LAB-END line and a CDR row
    that is no longer in progress; None before."""
    ends = {end["channel"].split("@", 1)[0].removeprefix("Local/"): end for end in asterisk.lab_ends()}
    rows = cdr_rows(database, "SELECT * FROM calls")
    if set(ends) != set(SCENARIOS) or any(row["status"] == "in_progress" for row in rows):
        return None
    calls = {}
    for script, end in ends.items():
        mine = [row for row in rows if row["channel"] == end["channel"]]
        steps = [s for row in mine for s in cdr_rows(database, "SELECT * FROM call_steps WHERE call = ? ORDER BY seq",
                                                     (row["id"],))]
        calls[script] = Call(script, mine, steps, end)
    return calls


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Asterisk and agiflow, after every scenario's call has ended."""
    folder = tmp_path_factory.mktemp("e2e")
    server, asterisk, agiflow_folder = _start(folder)
    database = agiflow_folder / "cdr.db"
    try:
        for script, flow in SCENARIOS.items():
            asterisk.originate(script, flow)
        calls = wait_until(lambda: _finished(asterisk, database), CALLS_TIMEOUT,
                           f"every scenario's call ended (logs in {folder})")
        yield Lab(asterisk, server, database, agiflow_folder / RECORDINGS, calls)
    finally:
        asterisk.stop()
        server.stop()
