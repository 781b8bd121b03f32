"""config.yaml: errors come with file and line; values reach the settings."""
from __future__ import annotations

from pathlib import Path

import pytest

from agi.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_an_unknown_default_region_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "log_level: INFO\ndefault_region: XX\n"))
    [error] = caught.value.errors
    assert (error.line, "unknown region 'XX'" in error.message) == (2, True)


def test_a_known_region_and_the_recording_settings_reach_the_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "default_region: GB\nrecordings: {directory: /srv/rec, format: gsm}\n"))
    assert (config.default_region, config.recordings.directory, config.recordings.format) == ("GB", "/srv/rec", "gsm")


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "flows: my-flows\ndatabase: var/cdr.db\n"))
    assert (config.flows, config.database) == (tmp_path / "my-flows", tmp_path / "var" / "cdr.db")


def test_no_metrics_listener_and_text_logs_unless_configured(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "log_level: INFO\n"))
    assert (config.server.metrics, config.log_format) == (None, "text")


def test_the_metrics_listener_defaults_to_loopback_port_9573(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "server:\n  metrics: {}\nlog_format: json\n"))
    assert config.server.metrics is not None and config.log_format == "json"
    assert (config.server.metrics.host, config.server.metrics.port, config.server.metrics.allow_remote) == (
        "127.0.0.1", 9573, False)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost", "LOCALHOST"])
def test_loopback_metrics_hosts_need_nothing_more(tmp_path: Path, host: str) -> None:
    config = load_config(write(tmp_path, f"server:\n  metrics:\n    host: '{host}'\n    port: 0\n"))
    assert config.server.metrics is not None and config.server.metrics.host == host


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "metrics.example.com"])
def test_a_metrics_host_off_loopback_is_refused_with_its_line_unless_allow_remote(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"server:\n  port: 4573\n  metrics:\n    port: 9573\n    host: '{host}'\n"))
    [error] = caught.value.errors
    assert error.line == 5 and "not a loopback address" in error.message and "allow_remote: true" in error.message
    config = load_config(write(tmp_path, f"server:\n  metrics: {{host: '{host}', allow_remote: true}}\n"))
    assert config.server.metrics is not None and config.server.metrics.allow_remote is True


@pytest.mark.parametrize("text, words", [
    ("server:\n  metrics: {port: 70000}\n", "70000"),
    ("server:\n  metrics: {path: /m}\n", "unknown key 'path'"),
    ("log_format: xml\n", "'xml' is not one of"),
])
def test_bad_metrics_and_log_format_values_are_refused(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert words in str(caught.value)


def test_every_unknown_key_of_the_config_is_reported_at_its_own_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "log_level: INFO\nflow: x\nsound: y\n"))
    assert [(e.line, e.message.split(";")[0]) for e in caught.value.errors] == [
        (2, "unknown key 'flow'"), (3, "unknown key 'sound'")]


@pytest.mark.parametrize("interval", ["1.0e-9", "0.01", "-1", "false"])
def test_a_watch_interval_that_would_only_burn_cpu_is_refused_with_its_line(tmp_path: Path, interval: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"log_level: INFO\nserver:\n  watch_interval: {interval}\n"))
    [error] = caught.value.errors
    assert error.line == 3 and error.message.endswith("is not 0 (SIGHUP only) or at least 0.05 seconds"), error


@pytest.mark.parametrize("interval", ["0", "0.05", "2"])
def test_a_watch_interval_of_0_or_at_least_a_twentieth_of_a_second_is_taken(tmp_path: Path, interval: str) -> None:
    assert load_config(write(tmp_path, f"server:\n  watch_interval: {interval}\n")).server.watch_interval == float(
        interval)


def test_allow_entries_that_are_malformed_or_can_never_match_are_refused_with_their_lines(tmp_path: Path) -> None:
    text = ("server:\n  host: 0.0.0.0\n  allow:\n    - 10.0.0.5\n    - asterisk.example.com\n"
            "    - 2001:db8::/32\n    - 10.0.0.1/24\n    - 10.0.0.0/24\n")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    found = [(e.line, e.message) for e in caught.value.errors]
    assert [line for line, _ in found] == [5, 6, 7]
    assert "'asterisk.example.com' is not an IP address or network" in found[0][1]
    assert "IPv6 entry" in found[1][1] and "can never match" in found[1][1]
    assert "did you mean 10.0.0.0/24" in found[2][1]


def test_ipv4_entries_and_networks_are_accepted_when_listening_on_both_families(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'server: {host: "::", allow: [127.0.0.1, 10.0.0.0/8, "2001:db8::/32"]}\n'))
    assert config.server.allow == ("127.0.0.1", "10.0.0.0/8", "2001:db8::/32")


def test_ipv4_entries_are_refused_when_listening_on_an_ipv6_address_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, 'server: {host: "::1", allow: ["::1", 127.0.0.1]}\n'))
    [error] = caught.value.errors
    assert "'127.0.0.1' is an IPv4 entry" in error.message and "can never match" in error.message


@pytest.mark.parametrize("priority", ["0", "-3", "'0'", "'a b'", "'next,1'", "1.5"])
def test_a_fallback_priority_asterisk_cannot_go_to_is_refused_with_its_line(tmp_path: Path, priority: str) -> None:
    """SET PRIORITY refuses 0, and a label with a space or a comma names no
    priority: a failed call was then sent nowhere the config said."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"server:\n  fallback:\n    context: agiflow-fallback\n    priority: {priority}\n"))
    [error] = caught.value.errors
    assert error.line == 4 and "server.fallback.priority" in error.message and "a priority from 1" in error.message


@pytest.mark.parametrize(("priority", "sent"), [("1", "1"), ("3", "3"), ("'12'", "12"), ("retry", "retry")])
def test_a_fallback_priority_is_a_number_from_1_or_a_label(tmp_path: Path, priority: str, sent: str) -> None:
    config = load_config(write(tmp_path, f"server:\n  fallback: {{context: agiflow-fallback, priority: {priority}}}\n"))
    assert config.server.fallback is not None and config.server.fallback.priority == sent


@pytest.mark.parametrize("journal", ["var/cdr.db", "./var/../var/cdr.db", "var/cdr.db-wal", "var/link.db"])
def test_a_journal_that_is_the_database_is_refused_with_its_line(tmp_path: Path, journal: str) -> None:
    """The server empties its journal into the database at start: a journal
    named like the database truncated the database, every CDR, to 0 bytes."""
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "link.db").symlink_to("cdr.db")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"database: var/cdr.db\nlog_level: INFO\njournal: {journal}\n"))
    [error] = caught.value.errors
    assert error.line == 3
    assert error.message == (f"journal: {journal} is the database {tmp_path / 'var' / 'cdr.db'} (or a file SQLite "
                             "keeps beside it): the journal is written into the database and emptied, so it needs "
                             "a file of its own, such as agiflow-journal.jsonl")


def test_a_journal_beside_the_database_is_taken(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "database: var/cdr.db\njournal: var/cdr.db.jsonl\n"))
    assert config.journal == tmp_path / "var" / "cdr.db.jsonl"


@pytest.mark.parametrize("length", ["655360", "65536000", "1000000000000"])
def test_a_reply_line_limit_past_256_kib_is_refused_with_its_line(tmp_path: Path, length: str) -> None:
    """An extra zero or three in ``server.max_reply_line`` would let each
    connection hold that much: a value past 262144 bytes is an error."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"log_level: INFO\nserver:\n  max_reply_line: {length}\n"))
    [error] = caught.value.errors
    assert error.line == 3 and "262144" in error.message, error


@pytest.mark.parametrize("length", ["1024", "65536", "262144"])
def test_a_reply_line_limit_from_1_kib_to_256_kib_is_taken(tmp_path: Path, length: str) -> None:
    config = load_config(write(tmp_path, f"server:\n  max_reply_line: {length}\n"))
    assert config.server.max_reply_line == int(length)


@pytest.mark.parametrize("database", ['" "', '"sqlite:"', "sqlite://", "'sqlite:  '"])
def test_a_database_that_names_no_file_is_refused_with_its_line(tmp_path: Path, database: str) -> None:
    """A blank database once quietly became agiflow.db, and 'sqlite:' the
    config's folder ('the database ... is a directory' at each command)."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"log_level: INFO\ndatabase: {database}\n"))
    [error] = caught.value.errors
    assert (error.line, error.message) == (
        2, "database: empty: give the path of a SQLite file or a postgresql:// URL")


@pytest.mark.parametrize("region", ["es", "E", "ESP", "'1'"])
def test_a_default_region_that_is_no_code_is_one_error_saying_what_a_code_is(tmp_path: Path, region: str) -> None:
    """'es' was two errors for one value: the schema's pattern
    ('does not match ^[A-Z]{2}$') and 'unknown region'."""
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f"log_level: INFO\ndefault_region: {region}\n"))
    [error] = caught.value.errors
    assert error.line == 2
    assert error.message == (f"default_region: {region.strip(chr(39))!r} is not an ISO 3166 code in capitals, "
                             "such as ES, GB, US")
