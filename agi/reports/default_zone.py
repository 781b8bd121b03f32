"""The zone a report is counted in when ``--tz`` names none: the config's
``reports.timezone``, else the flows' ``timezone`` when every flow has the
same one, else UTC. Never the machine's zone: the same command gives the
same figures on every machine (docs/reports.md#choosing-calls)."""
from __future__ import annotations

from pathlib import Path

from agi.loading.files import flow_files, is_schedules_document, read_document
from agi.loading.yamlio import MarkedMap
from agi.zones import ZONE_ERRORS, named_zone

DEFAULT = "UTC"


def default_zone_name(configured: str | None, flows: Path) -> str:
    """``configured`` when set, else the one ``timezone`` of the flows in
    the folder ``flows``, else UTC. A flow without ``timezone`` is in UTC;
    files that cannot be read, schedules files and files without ``steps``
    (notes kept beside the flows) are no flows; a zone
    that does not exist counts as UTC."""
    if configured:
        return configured
    if not flows.is_dir():
        return DEFAULT
    from agi.engine.model import Flow  # only when there are flows to read
    zones = set()
    for file in flow_files([flows]):
        document, errors = read_document(file)
        if errors or not isinstance(document, MarkedMap) or is_schedules_document(document) \
                or "steps" not in document:
            continue
        zone = document.get("timezone", Flow.timezone)
        zones.add(zone if isinstance(zone, str) else DEFAULT)
    if len(zones) != 1:
        return DEFAULT
    name = zones.pop()
    try:
        named_zone(name)
    except ZONE_ERRORS:
        return DEFAULT  # an invalid flow, which the server does not load either
    return name
