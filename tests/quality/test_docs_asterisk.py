"""The Asterisk-side docs stay true: the agiflow commands the pages quote
exist with the options they use, the guide's dialplan matches the shipped one, the log lines the
troubleshooting page quotes are ones agiflow really writes, plain AGI mode's
options are documented, and the systemd unit drains calls before it is killed."""
from __future__ import annotations

import configparser
import json
import inspect
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from agi.storage.cdr_writer import CdrStore
from agi.cli.main import cli
from agi.config import ServerConfig, load_config
from agi.log_output import log_format
from agi.server.fleet import STOP_GRACE
from agi.stdio.main import parser

from support.dialplan_conf import walk, parse

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDE = DOCS / "guide.md"
TROUBLE = DOCS / "troubleshooting.md"
AGI_MODE = DOCS / "agi-mode.md"
UNIT = ROOT / "contrib" / "agiflow.service"
CONF = ROOT / "dialplan" / "extensions_agiflow.conf"


def fenced(path: Path) -> list[str]:
    """Every line inside ``` fences (any language)."""
    lines, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def inline_code(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return re.findall(r"`([^`\n]+)`", text)


def command_lines(path: Path) -> list[str]:
    found = []
    for line in fenced(path) + inline_code(path):
        for part in re.split(r"&&|;|\|", line.removeprefix("$ ")):
            part = part.strip()
            part = re.sub(r"^\S*/bin/agiflow ", "agiflow ", part)
            if part.startswith("agiflow ") and not part.startswith("agiflow-"):
                found.append(part)
    return found


def resolve(words: list[str]) -> tuple[click.Command, list[str]]:
    """The click command a line runs, and the words after it."""
    command: click.Command = cli
    rest = words[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"no command {' '.join(words[:len(words) - len(rest) + 1])}"
        command, rest = sub, rest[1:]
    return command, rest


#: Words after "agiflow " that name no command: the `application_name` of its
#: database connections, and log lines the pages quote.
NOT_COMMANDS = {"cdr-writer", "overrides", "history", "listening", "(base)"}


def is_synopsis_or_name(line: str) -> bool:
    """A usage line (`agiflow report KIND [--since WHEN]`), a version in a quoted
    output, or one of NOT_COMMANDS: no command line to run."""
    words = line.split()
    return (len(words) > 1 and (words[1] in NOT_COMMANDS or words[1][0].isdigit())) or any(
        word.startswith(("[", "(")) or word.isupper() or "|" in word for word in words[1:])


@pytest.mark.parametrize("page", [*sorted(DOCS.glob("*.md")), ROOT / "README.md"], ids=lambda p: p.name)
def test_every_agiflow_command_in_the_page_exists_with_its_options(page: Path) -> None:
    lines = command_lines(page)
    assert lines or page != GUIDE
    for line in lines:
        if page not in (GUIDE, TROUBLE, AGI_MODE) and is_synopsis_or_name(line):
            continue
        command, rest = resolve(line.split())
        options = {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
        options |= {"-h", "--help"}
        used = {word.split("=")[0] for word in rest if word.startswith("-")}
        assert used <= options, f"{page.name}: `{line}` uses {sorted(used - options)}"


def test_the_guides_dialplan_is_the_shipped_pattern() -> None:
    guide = fenced(GUIDE)
    conf = CONF.read_text(encoding="utf-8")
    after_agi = [line for line in guide if line.startswith(" same => n") and ("GotoIf" in line or "Goto(" in line)]
    assert len(after_agi) >= 3
    for line in after_agi:
        assert line in conf, f"guide.md dialplan line not in extensions_agiflow.conf: {line}"


def test_the_guides_dialplan_takes_the_fallback_when_agiflow_is_down(tmp_path: Path) -> None:
    snippet = [line for line in fenced(GUIDE) if line.startswith(("exten => 912345678", " same => "))]
    conf = tmp_path / "extensions.conf"
    fallback = CONF.read_text(encoding="utf-8").split("[agiflow-fallback]", 1)[1]
    conf.write_text("[agiflow-inbound]\n; the guide's line\n" + "\n".join(snippet)
                    + "\n\n[agiflow-fallback]" + fallback, encoding="utf-8")
    contexts = parse(conf)
    call = walk(contexts, "agiflow-inbound", "912345678", "AGI", {"AGISTATUS": "FAILURE"})
    assert call.ran("Queue") and call.ran("Playback")
    done = walk(contexts, "agiflow-inbound", "912345678", "AGI", {"AGIFLOW_STATUS": "completed"})
    assert not done.ran("Queue")


def test_the_guides_first_call_log_line_is_what_the_server_logs_for_its_flow(tmp_path: Path) -> None:
    """Step 7 quotes the line a call of the guide's hotline flow ends with (key 2, an agent
    answers), as a worker of the server writes it."""
    text = GUIDE.read_text(encoding="utf-8")
    flow = next(block for block in re.findall(r"```yaml\n(.*?)```", text, re.S) if "name: hotline" in block)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "hotline.yaml").write_text(flow, encoding="utf-8")
    (tmp_path / "config.yaml").write_text("flows: flows\ndatabase: agiflow.db\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["simulate", "hotline", "-c", str(tmp_path / "config.yaml"),
                                      "--caller", "+34600111222", "--dtmf", "2", "--queue-status", "ANSWERED",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    cdr = json.loads(result.output)["cdr"]
    quoted = [line for line in fenced(GUIDE) if "call ended:" in line]
    assert len(quoted) == 1
    as_logged = log_format(worker=1) % {"asctime": "2025-03-10 09:30:41,140", "levelname": "INFO",
                                         "name": "agiflow.call", "message": ""}
    assert re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", "2025-03-10 09:30:41,140 ", quoted[0]).startswith(
        as_logged), f"not how a worker logs: {quoted[0]}"
    assert quoted[0].endswith(f"hotline] call ended: {cdr['status']} at {cdr['path']}")


def test_the_guide_makes_each_folder_it_links_prompts_into() -> None:
    """`ln -s` fails when the folder is missing, as Asterisk's `es` sounds folder is without its
    Spanish core sounds, and links nothing when its source is missing: the guide makes every
    folder it links into and copies the shipped prompts before it links them."""
    made: set[str] = set()
    linked, copied = 0, False
    for line in fenced(GUIDE):
        words = line.split("#")[0].split()
        if words[:2] == ["mkdir", "-p"]:
            made.update(word.rstrip("/") for word in words[2:])
        elif words[:3] == ["cp", "-r", "sounds"]:
            copied = words[3].rstrip("/") == "/etc/agiflow"
        elif words[:2] == ["ln", "-s"] and words[-1].startswith("/var/lib/asterisk/"):
            linked += 1
            assert words[-1].rsplit("/", 1)[0] in made, f"guide.md links into a folder it never made: {line}"
            assert copied or not words[2].endswith("/agiflow"), f"the shipped prompts are not copied yet: {line}"
    assert linked >= 2


def test_the_guides_config_writes_only_where_the_systemd_unit_lets_the_server_write() -> None:
    """The unit makes the whole file system read-only but ReadWritePaths (ProtectSystem=strict);
    a journal beside /etc/agiflow/config.yaml would stop the start: `cannot open the CDR journal`."""
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
                 if b.startswith("# config.yaml"))
    config = load_config("/etc/agiflow/config.yaml", block.encode())
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(UNIT, encoding="utf-8")
    writable = [Path(path) for path in unit["Service"]["ReadWritePaths"].split()]
    for written in (config.database, config.journal):
        assert isinstance(written, Path) and any(written.is_relative_to(path) for path in writable), written


_LOG_CALL = re.compile(r"""(?:log|call_log|ctx\.log)\.(?:debug|info|warning|error|exception)\(\s*f?"((?:[^"\\]|\\.)*)\"""", re.S)


def logged_formats() -> list[re.Pattern[str]]:
    """Every message format agiflow logs, as a regex (%s, %d, %r, %.1f... match anything)."""
    patterns = []
    for source in (ROOT / "agi").rglob("*.py"):
        for fmt in _LOG_CALL.findall(source.read_text(encoding="utf-8")):
            parts = re.split(r"%(?:\.\d+)?[sdrf]|\{[^}]*\}", fmt)
            patterns.append(re.compile("^" + ".*?".join(re.escape(p) for p in parts) + "$"))
    return patterns


def test_every_log_line_the_troubleshooting_page_quotes_is_one_agiflow_writes() -> None:
    formats = logged_formats()
    quoted = []
    for line in fenced(TROUBLE):
        match = re.match(r"^(?:DEBUG|INFO|WARNING|ERROR) agiflow\.\w+: (?:\[[^\]]+\] )?(.*)$", line)
        if match:
            quoted.append(match.group(1))
    assert len(quoted) >= 10
    unknown = [message for message in quoted if not any(f.match(message) for f in formats)]
    assert unknown == [], f"troubleshooting.md quotes log lines agiflow never writes: {unknown}"


def test_every_option_of_agiflow_agi_is_documented() -> None:
    text = AGI_MODE.read_text(encoding="utf-8")
    for action in parser()._actions:
        names = action.option_strings or [str(action.metavar)]
        if "--help" in names:
            continue
        assert any(f"`{name}" in text for name in names), f"agi-mode.md does not document {names}"
    assert "AGIFLOW_CONFIG" in text and "/etc/agiflow/config.yaml" in text


def test_the_systemd_unit_drains_calls_before_systemd_would_kill_the_server() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT, encoding="utf-8")
    service = unit["Service"]
    assert service["User"] == "agiflow"
    assert service["ExecStart"].endswith("agiflow serve -c /etc/agiflow/config.yaml")
    assert re.fullmatch(r"\S*kill -HUP \$MAINPID", service["ExecReload"])
    assert service["KillSignal"] == "SIGTERM"
    cdr_flush = inspect.signature(CdrStore.close).parameters["stall_timeout"].default
    assert int(service["TimeoutStopSec"]) > ServerConfig().drain_timeout + cdr_flush
    hardening = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                 "ProtectHome": "yes", "CapabilityBoundingSet": ""}
    assert {key: service.get(key) for key in hardening} == hardening
    assert f"/var/lib/{service['StateDirectory']}" in service["ReadWritePaths"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.parametrize("page", ["guide.md", "troubleshooting.md", "agi-mode.md", "compliance.md"])
def test_the_index_and_the_readme_link_the_asterisk_pages(page: str) -> None:
    assert f"({page})" in (DOCS / "index.md").read_text(encoding="utf-8")
    assert f"(docs/{page})" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", [DOCS / "scale.md", ROOT / "contrib" / "agiflow-srv.zone", CONF],
                         ids=lambda p: p.name)
def test_the_fleet_pages_promise_no_spread_by_srv_weight(path: Path) -> None:
    """Asterisk 22's main/srv.c compares each target's own weight, not the
    running sum, with the random number: among equal priorities with equal
    weights it always takes the first record of the answer. The pages said
    the calls were shared by weight, half and half, whatever the resolver."""
    text = " ".join(path.read_text(encoding="utf-8").replace(";", " ").split())
    for claim in ("chosen by weight", "by their weights", "equal weight: half", "priority/weight order"):
        assert claim not in text
    assert "rotat" in text, "the spread comes from a resolver that rotates the records"


def test_the_guides_stop_timeout_advice_leaves_room_for_the_supervisor() -> None:
    """With workers (the default), the supervisor kills a worker STOP_GRACE seconds after
    server.drain_timeout: the margin the guide gives for TimeoutStopSec, and the unit's
    own value, cover it."""
    advice = re.findall(r"drain_timeout: (\d+) .*TimeoutStopSec.* above this \+ (\d+)", GUIDE.read_text(encoding="utf-8"))
    assert len(advice) == 1
    drain, margin = (int(n) for n in advice[0])
    assert margin >= STOP_GRACE, f"guide.md: TimeoutStopSec above drain_timeout + {margin}: the supervisor waits {STOP_GRACE}"
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(UNIT, encoding="utf-8")
    assert int(unit["Service"]["TimeoutStopSec"]) > drain + STOP_GRACE
