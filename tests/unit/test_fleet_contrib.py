"""The shipped pieces of a fleet fit together: every ``hagi://`` host of the
dialplan has SRV records in contrib/agiflow-srv.zone, each SRV target has an
address there, the records read as RFC 2782 says, and the systemd unit gives
a supervisor time to stop its workers itself."""
from __future__ import annotations

import configparser
import re
from pathlib import Path

from support.dialplan_conf import parse

from agi.config import ServerConfig
from agi.server.fleet import STOP_GRACE

REPO = Path(__file__).resolve().parents[2]
ZONE = REPO / "contrib" / "agiflow-srv.zone"
CONTEXTS = parse(REPO / "dialplan" / "extensions_agiflow.conf")
_RECORD = re.compile(r"^(?P<name>\S+)\s+(?P<ttl>\d+)\s+IN\s+(?P<type>SRV|A)\s+(?P<data>.+)$")


def records() -> list[tuple[str, str, list[str]]]:
    """(owner name, type, data fields) of every record, names made absolute."""
    origin = ""
    found = []
    for raw in ZONE.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("$ORIGIN"):
            origin = line.split()[1]
        elif (match := _RECORD.match(line)) is not None:
            name = match["name"] if match["name"].endswith(".") else f"{match['name']}.{origin}"
            found.append((name, match["type"], match["data"].split()))
    return found


def hagi_hosts() -> set[str]:
    return {re.match(r"hagi://([^/:]+)/", p.args)[1]  # type: ignore[index]
            for context in CONTEXTS.values() for prios in context.extensions.values()
            for p in prios if p.app == "AGI" and p.args.startswith("hagi://")}


def test_the_fleet_context_reaches_agiflow_through_hagi_without_a_port() -> None:
    agi = [p.args for prios in CONTEXTS["agiflow-fleet"].extensions.values() for p in prios if p.app == "AGI"]
    assert agi and all(re.match(r"hagi://[a-z0-9.-]+/[a-z_]+$", args) for args in agi), agi


def test_every_hagi_host_has_srv_records_whose_targets_have_addresses() -> None:
    zone = records()
    addresses = {name for name, kind, _ in zone if kind == "A"}
    assert hagi_hosts() == {"agiflow.example.com"}
    for host in hagi_hosts():
        srv = [data for name, kind, data in zone if kind == "SRV" and name == f"_agi._tcp.{host}."]
        assert len(srv) >= 2, f"_agi._tcp.{host} needs a record per agiflow server"
        for priority, weight, port, target in srv:
            assert 0 <= int(priority) <= 65535 and 0 <= int(weight) <= 65535 and int(port) == 4573
            assert target in addresses, f"no address for {target}"
        assert len({target for *_, target in srv}) == len(srv)


def test_systemd_waits_longer_than_the_supervisor_waits_for_its_workers() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(REPO / "contrib" / "agiflow.service", encoding="utf-8")
    service = unit["Service"]
    assert service["KillMode"] == "mixed", "SIGTERM must reach the supervisor alone, which passes it on"
    assert int(service["TimeoutStopSec"]) > ServerConfig().drain_timeout + STOP_GRACE
