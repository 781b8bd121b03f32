"""``config.yaml``: the server's settings, checked with file and line like
flows. Relative paths are relative to the config file's folder.

Every command reads it, so reading it is light: a valid file is checked
without jsonschema (``agi.loading.schema_check.conforms``), and phone
numbers' data and address parsing are loaded only for the keys that need
them. A file with an error is checked by jsonschema, and every error is
reported with its line."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agi.cpus import usable_cpus
from agi.db.location import Database, PostgresUrl, database_files, parse_database
from agi.loading.schema_check import conforms, describe, each_problem
from agi.loading.files import MAX_YAML_FILE_BYTES, FileTooLarge, read_capped
from agi.loading.yamlio import DocumentError, MarkedMap, SourceError, line_of, load_yaml
from agi.protocol.wire import SAFE_COMMAND_LINE
from agi.settings import Fallback, RecordingSettings
from agi.storage.call_measures import DEFAULT_THRESHOLDS, Thresholds
from agi.yamlschema import obj
from agi.zones import ZONE_ERRORS, named_zone

#: ``log_format``: plain text lines, or one JSON object per line (agi/log_json.py).
LOG_FORMATS = ("text", "json")
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9_.+-]+$"}
#: A dialplan priority: a number from 1, or a label (SET PRIORITY refuses 0,
#: and a label with a space or a comma names none).
_PRIORITY = {"anyOf": [{"type": "integer", "minimum": 1},
                       {"type": "string", "pattern": r"^(?:[1-9][0-9]*|[A-Za-z_][A-Za-z0-9_.+-]*)$"}]}
#: The most worker processes ``server.workers`` may ask for.
MAX_WORKERS = 256
#: The longest ``server.max_reply_line``: four times the default; a line
#: from Asterisk is held whole, so each connection may hold this much.
MAX_REPLY_LINE = 262144
#: ``default_region``: two capital letters (which of them are a region, phonenumbers knows).
_REGION_CODE = re.compile(r"^[A-Z]{2}$")
#: The shortest ``server.watch_interval`` other than 0 (1e-9 kept a core 60 % busy).
MIN_WATCH_INTERVAL = 0.05
#: Every key, its default and what it means; docs/configuration.md documents each one.
SCHEMA: dict[str, Any] = obj({
    "server": obj({
        "host": {"type": "string", "minLength": 1},
        "port": {"type": "integer", "minimum": 0, "maximum": 65535},
        "max_calls": {"type": "integer", "minimum": 1},
        "env_timeout": {"type": "number", "exclusiveMinimum": 0},
        "max_command_line": {"type": "integer", "minimum": 256, "maximum": 8191},
        "max_reply_line": {"type": "integer", "minimum": 1024, "maximum": MAX_REPLY_LINE},
        "allow": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "drain_timeout": {"type": "number", "minimum": 0},
        # 0: never; a worker says it is alive every second
        "worker_timeout": {"anyOf": [{"const": 0}, {"type": "number", "minimum": 2}]},
        # 0: SIGHUP only; a shorter interval would only burn CPU listing the folder
        "watch_interval": {"anyOf": [{"const": 0}, {"type": "number", "minimum": MIN_WATCH_INTERVAL}]},
        "workers": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_WORKERS}, {"const": "auto"}]},
        "node": {"type": "string", "pattern": r"^[A-Za-z0-9_.:/-]{1,64}$"},
        "fallback": obj({"context": _NAME, "extension": _NAME,
                         "priority": _PRIORITY}, ("context",)),
        "metrics": obj({"host": {"type": "string", "minLength": 1},
                        "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                        "allow_remote": {"type": "boolean"}}),
    }),
    "flows": {"type": "string", "minLength": 1},
    "sounds": {"type": "string", "minLength": 1},
    "database": {"type": "string", "minLength": 1},
    "database_timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 30},
    "journal": {"type": "string", "minLength": 1},
    "log_level": {"enum": ["DEBUG", "INFO", "WARNING", "ERROR"]},
    "log_format": {"enum": list(LOG_FORMATS)},
    "default_region": {"type": "string", "pattern": _REGION_CODE.pattern},
    "recordings": obj({
        "directory": {"type": "string", "minLength": 1},
        "format": {"enum": ["wav", "gsm", "wav49", "ulaw", "alaw", "sln"]},
    }),
    "reports": obj({
        "timezone": {"type": "string", "minLength": 1},
        "short_abandon": {"type": "number", "minimum": 0},
        "service_level": {"type": "number", "minimum": 0},
    }),
})


class ConfigError(Exception):
    def __init__(self, errors: list[SourceError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


@dataclass(frozen=True)
class MetricsConfig:
    """The HTTP listener of /metrics, /health and /ready (``server.metrics``)."""

    host: str = "127.0.0.1"
    port: int = 9573
    allow_remote: bool = False


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 4573
    max_calls: int = 1000
    env_timeout: float = 5.0
    max_command_line: int = SAFE_COMMAND_LINE
    max_reply_line: int = 65536
    allow: tuple[str, ...] = ()
    drain_timeout: float = 30.0
    #: Seconds a worker may say nothing before its supervisor kills it; 0: never.
    worker_timeout: float = 10.0
    watch_interval: float = 2.0
    fallback: Fallback | None = None
    #: Reactor processes on the port; None: one per CPU this process may use.
    workers: int | None = None
    #: This server's name in the CDR rows it writes; None: the host name.
    node: str | None = None
    #: None: no metrics listener (the default).
    metrics: MetricsConfig | None = None


@dataclass(frozen=True)
class ReportSettings:
    """The ``reports`` section: the reports' time zone (None: the flows'
    when they agree, else UTC) and the thresholds of their measures."""

    timezone: str | None = None
    thresholds: Thresholds = DEFAULT_THRESHOLDS


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    flows: Path = Path("flows")
    sounds: Path = Path("sounds")
    #: A SQLite file (Path) or a PostgreSQL database (PostgresUrl).
    database: Database = Path("agiflow.db")
    #: The longest a call waits for a PostgreSQL lookup or override read.
    database_timeout: float = 0.5
    #: Where CDR operations wait when the database cannot take them.
    journal: Path = Path("agiflow-journal.jsonl")
    log_level: str = "INFO"
    log_format: str = "text"
    default_region: str = "ES"
    recordings: RecordingSettings = field(default_factory=RecordingSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    source: str = "(defaults)"


def node_name(server: ServerConfig) -> str:
    """This server's name in the CDR rows it writes: ``server.node``, else the host name."""
    import socket
    return server.node or socket.gethostname() or "agiflow"


def worker_count(server: ServerConfig, cpus: int | None = None) -> int:
    """``server.workers``, or one per usable CPU when it is ``auto``."""
    if server.workers is not None:
        return server.workers
    return max(1, min(MAX_WORKERS, cpus if cpus is not None else usable_cpus()))


def load_config(path: str | Path | None, text: bytes | None = None) -> Config:
    """Read ``path`` (None: built-in defaults, paths relative to the
    current folder), or take ``text`` as its contents. Raises ConfigError
    listing every problem."""
    if path is None:
        return Config()
    file = str(path)
    document = _read_document(file, text)
    errors = _schema_errors(file, document)
    region = document.get("default_region")
    if isinstance(region, str) and _REGION_CODE.match(region) and region != Config.default_region \
            and not _known_region(region):  # one that is no code at all is the schema's error
        errors.append(SourceError(file, line_of(document, ["default_region"]),
                                  f"default_region: unknown region '{region}'; use an ISO 3166 code such as ES, GB, US"))
    base = Path(path).resolve().parent
    database: Database = Path("agiflow.db")
    try:
        raw = document.get("database", "agiflow.db")
        # "" and a value that is no text are the schema's errors; a blank one is parse_database's
        database = parse_database(raw if isinstance(raw, str) and raw else "agiflow.db", base)
    except ValueError as exc:
        errors.append(SourceError(file, line_of(document, ["database"]), f"database: {exc}"))
    errors += _allow_errors(file, document)
    errors += _journal_problems(document, file, base, database)
    errors += _metrics_problems(document, file)
    errors += _report_zone_problems(document, file)
    if errors:
        raise ConfigError(sorted(errors))
    server = dict(document.get("server") or {})
    fallback = server.pop("fallback", None)
    metrics = server.pop("metrics", None)
    return Config(
        server=ServerConfig(**{**server, "allow": tuple(server.get("allow", ())),
                               "fallback": _fallback(fallback),
                               "workers": None if server.get("workers", "auto") == "auto" else server["workers"],
                               "metrics": None if metrics is None else MetricsConfig(**metrics)}),
        flows=base / document.get("flows", "flows"),
        sounds=base / document.get("sounds", "sounds"),
        database=database,
        database_timeout=float(document.get("database_timeout", 0.5)),
        journal=base / document.get("journal", "agiflow-journal.jsonl"),
        log_level=document.get("log_level", "INFO"),
        log_format=document.get("log_format", "text"),
        default_region=document.get("default_region", "ES"),
        recordings=RecordingSettings(**dict(document.get("recordings") or {})),
        reports=_report_settings(document.get("reports") or {}),
        source=file,
    )


def _schema_errors(file: str, document: MarkedMap) -> list[SourceError]:
    if conforms(SCHEMA, document):
        return []
    from jsonschema import Draft202012Validator
    return [SourceError(file, line_of(document, where), message)
            for e in Draft202012Validator(SCHEMA).iter_errors(document)
            for where, message in each_problem(e, list(e.absolute_path), _describe)]


def _known_region(region: str) -> bool:
    import phonenumbers
    return region in phonenumbers.SUPPORTED_REGIONS


#: What a value of these keys must be, in words (their schemas' own messages say less).
_EXPECTED = {
    ("default_region",): "an ISO 3166 code in capitals, such as ES, GB, US",
    ("server", "workers"): f"a whole number from 1 to {MAX_WORKERS}, or auto (one per CPU)",
    ("server", "node"): "1 to 64 letters, digits, '.', '_', ':', '/' or '-'",
    ("server", "watch_interval"): f"0 (SIGHUP only) or at least {MIN_WATCH_INTERVAL} seconds",
    ("server", "worker_timeout"): "0 (never) or at least 2 seconds",
    ("server", "fallback", "priority"): "a priority from 1 or a priority label (letters, digits, '_', '.', '+', '-')",
}


def _describe(error: Any) -> str:
    expected = _EXPECTED.get(tuple(error.absolute_path))
    if expected is None:
        return describe(error)
    return f"{'.'.join(map(str, error.absolute_path))}: {error.instance!r} is not {expected}"


def _allow_errors(file: str, document: MarkedMap) -> list[SourceError]:
    """An allow entry that is not an address or network, or that no peer
    of the configured ``server.host`` can match, is an error."""
    server = document.get("server")
    if not isinstance(server, dict) or not isinstance(server.get("allow"), list):
        return []
    entries = server["allow"]
    if not entries:
        return []
    from agi.allowlist import check_entries
    if not all(isinstance(entry, str) for entry in entries):
        return []  # the schema has said so
    host = server["host"] if isinstance(server.get("host"), str) else ServerConfig.host
    return [SourceError(file, line_of(document, ["server", "allow", index]), f"server.allow: {message}")
            for index, message in check_entries(entries, host)]


def _read_document(file: str, text: bytes | None = None) -> MarkedMap:
    """The config file (or ``text``, its contents) as a mapping; ConfigError
    when it cannot be read, is not UTF-8 YAML, or is not a mapping (a list,
    a text, a number)."""
    try:
        raw = read_capped(file, MAX_YAML_FILE_BYTES) if text is None else text
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileNotFoundError) and os.path.islink(file):
            reason = f"a symbolic link to {os.path.realpath(file)}, which does not exist"
        raise ConfigError([SourceError(file, 1, f"cannot read config: {reason}")]) from None
    except FileTooLarge as exc:
        raise ConfigError([SourceError(file, 1, f"cannot read config: {exc}; a config is a short YAML "
                                                "text file")]) from None
    try:
        document = load_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError([SourceError(file, line, f"cannot read config: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
                                                   "a config is a YAML text file")]) from None
    except DocumentError as exc:
        raise ConfigError([SourceError(file, exc.line, exc.message)]) from None
    if document is None:
        return MarkedMap()
    if not isinstance(document, MarkedMap):
        kind = "a list" if isinstance(document, list) else f"a single value ({type(document).__name__})"
        raise ConfigError([SourceError(file, getattr(document, "line", 1) or 1,
                                       f"a config file must be a mapping of settings (database: ..., flows: ...), "
                                       f"not {kind}")])
    return document


def _fallback(raw: dict[str, Any] | None) -> Fallback | None:
    if not raw:
        return None
    return Fallback(raw["context"], str(raw.get("extension", "s")), str(raw.get("priority", "1")))


def _report_settings(raw: dict[str, Any]) -> ReportSettings:
    # + 0.0: a -0.0 in the file is 0 (it would be shown as -0)
    return ReportSettings(raw.get("timezone"), Thresholds(float(raw.get("short_abandon", 5.0)) + 0.0,
                                                          float(raw.get("service_level", 20.0)) + 0.0))


def _report_zone_problems(document: MarkedMap, file: str) -> list[SourceError]:
    """``reports.timezone`` must name an IANA zone."""
    reports = document.get("reports")
    name = reports.get("timezone") if isinstance(reports, dict) else None
    if not isinstance(name, str) or not name:
        return []
    try:
        named_zone(name)
    except ZONE_ERRORS:
        return [SourceError(file, line_of(document, ["reports", "timezone"]),
                            f"reports.timezone: unknown time zone {name!r}; use an IANA name such as "
                            "Europe/Madrid or UTC")]
    return []


def _journal_problems(document: MarkedMap, file: str, base: Path, database: Database) -> list[SourceError]:
    """The journal is written into the database at start, then emptied: as
    the database's own file (or one SQLite keeps beside it), it truncated
    the database, every CDR, to 0 bytes."""
    journal = document.get("journal")
    if not isinstance(journal, str) or not journal or isinstance(database, PostgresUrl):
        return []
    if Path(os.path.realpath(base / journal)) not in database_files(database):
        return []
    return [SourceError(file, line_of(document, ["journal"]),
                        f"journal: {journal} is the database {database} (or a file SQLite keeps beside it): the "
                        "journal is written into the database and emptied, so it needs a file of its own, such as "
                        "agiflow-journal.jsonl")]


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    import ipaddress
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _metrics_problems(document: MarkedMap, file: str) -> list[SourceError]:
    """A metrics listener off loopback needs ``allow_remote: true``: /metrics
    and /health tell anyone who can reach them about the calls."""
    server = document.get("server")
    metrics = server.get("metrics") if isinstance(server, dict) else None
    if not isinstance(metrics, dict):
        return []
    host = metrics.get("host", MetricsConfig.host)
    if not isinstance(host, str) or is_loopback(host) or metrics.get("allow_remote") is True:
        return []
    return [SourceError(file, line_of(document, ["server", "metrics", "host"]),
                        f"server.metrics.host: {host} is not a loopback address; the metrics and health "
                        f"endpoints would be reachable from the network: set allow_remote: true to allow it")]
