"""The documentation keeps up with the code.

Every command and option of the CLI, every step type and each of its options,
and every config key has its section in docs/. Every example flow, config and
SQL query in the docs really loads or runs, and every example test file
passes against the shipped flows. Every link between the pages
resolves. The lists come from the code (click, the node registry, the config
schema), never from this file, so a new command, option, step type or key
fails here until it is documented.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import click
import pytest
import sqlite_utils

from agi.storage.cdr_schema import ensure_schema
from agi.cli.main import cli
from agi.config import SCHEMA, ConfigError, load_config
from agi.loading.loader import load_flows
from agi.loading.yamlio import DocumentError, load_yaml
from agi.flowtest.loader import load_case_files
from agi.flowtest.runner import run_cases
from agi.steps import REGISTRY
from agi.services import Services

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]

FRAGMENT = "# fragment"
CONFIG_EXAMPLE = "# config.yaml"


# -- reading Markdown ---------------------------------------------------------

def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def sections(text: str, level: int) -> dict[str, str]:
    """Heading text -> body, for headings of exactly ``level`` '#'s. A body
    runs to the next heading of the same or a higher level; lines inside
    fenced code blocks are never headings."""
    found: dict[str, str] = {}
    current: str | None = None
    body: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"^(#{1,6})\s+(.*?)\s*$", line)
        if heading and len(heading.group(1)) <= level:
            if current is not None:
                found.setdefault(current, "\n".join(body))
            current = heading.group(2) if len(heading.group(1)) == level else None
            body = []
        elif current is not None:
            body.append(line)
    if current is not None:
        found.setdefault(current, "\n".join(body))
    return found


def without_fences(text: str) -> str:
    return re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M)


def code_words(text: str) -> set[str]:
    """Identifiers inside inline code spans (`...`), fenced blocks excluded."""
    words: set[str] = set()
    for span in re.findall(r"`([^`\n]+)`", without_fences(text)):
        words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span))
    return words


def fenced_blocks(path: Path, language: str) -> Iterator[tuple[int, str]]:
    """(line of the opening fence, body) of every ```<language> block."""
    lines = read(path).splitlines()
    start: int | None = None
    for number, line in enumerate(lines, start=1):
        if start is None and line.strip() == f"```{language}":
            start = number
        elif start is not None and line.strip() == "```":
            yield start, "\n".join(lines[start:number - 1]) + "\n"
            start = None


def has_flag(text: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# -- what the code has ----------------------------------------------------------

def cli_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """("agiflow serve", command) for every command and nested subcommand."""
    ctx = click.Context(group, info_name="agiflow")
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        path = prefix + (name,)
        yield "agiflow " + " ".join(path), command
        if isinstance(command, click.Group):
            yield from cli_commands(command, path)


def flags_of(param: click.Parameter) -> list[str]:
    """How a parameter is written on the command line, as the docs should show it."""
    if isinstance(param, click.Argument):
        return [param.human_readable_name]
    names = [*param.opts, *param.secondary_opts]
    longs = [n for n in names if n.startswith("--")]
    return longs or names


def schema_properties(schema: Any) -> Iterator[str]:
    """Every property name in a JSON Schema: nested objects, list items and
    oneOf/anyOf/allOf variants included."""
    if isinstance(schema, list):
        for item in schema:
            yield from schema_properties(item)
        return
    if not isinstance(schema, dict):
        return
    for name, sub in schema.get("properties", {}).items():
        yield name
        yield from schema_properties(sub)
    for key in ("oneOf", "anyOf", "allOf", "items", "additionalProperties"):
        yield from schema_properties(schema.get(key))


def config_keys(schema: dict[str, Any] = SCHEMA, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every config key: server, server.host, ..."""
    for name, sub in schema.get("properties", {}).items():
        path = prefix + name
        yield path
        yield from config_keys(sub, path + ".")


COMMANDS = list(cli_commands())
STEP_TYPES = sorted(REGISTRY)
CONFIG_KEYS = list(config_keys())
YAML_BLOCKS = [(path, line, body) for path in PAGES for line, body in fenced_blocks(path, "yaml")]
SQL_BLOCKS = [(path, line, body) for path in PAGES for line, body in fenced_blocks(path, "sql")]


def block_id(block: tuple[Path, int, str]) -> str:
    return f"{block[0].name}:{block[1]}"


# -- the command line -------------------------------------------------------------

@pytest.mark.parametrize("name, command", COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_command_has_help_and_a_section_in_cli_md(name: str, command: click.Command) -> None:
    assert (command.help or command.short_help or "").strip(), f"{name} has no help text"
    assert name in sections(read(DOCS / "cli.md"), 2), f"docs/cli.md has no '## {name}' section"


@pytest.mark.parametrize("name, command", COMMANDS, ids=[name for name, _ in COMMANDS])
def test_every_option_of_a_command_is_in_its_section(name: str, command: click.Command) -> None:
    section = sections(read(DOCS / "cli.md"), 2).get(name, "")
    missing = [flag for param in command.params for flag in flags_of(param)[:1] if not has_flag(section, flag)]
    assert not missing, f"docs/cli.md '## {name}' does not mention {', '.join(missing)}"


def test_the_top_level_options_are_on_the_cli_page() -> None:
    preamble = read(DOCS / "cli.md").split("\n## ", 1)[0]
    missing = [flags_of(p)[0] for p in cli.params if not has_flag(preamble, flags_of(p)[0])]
    assert not missing, f"docs/cli.md does not mention {', '.join(missing)} before its first section"


# -- step types -----------------------------------------------------------------------

@pytest.mark.parametrize("type_name", STEP_TYPES)
def test_every_step_type_has_a_section_naming_each_of_its_options(type_name: str) -> None:
    section = sections(read(DOCS / "steps.md"), 2).get(type_name)
    assert section is not None, f"docs/steps.md has no '## {type_name}' section"
    documented = code_words(section)
    missing = sorted(set(schema_properties(REGISTRY[type_name].schema)) - documented)
    assert not missing, f"docs/steps.md '## {type_name}' does not mention option(s) {', '.join(missing)} in `code`"


#: Step types whose outcomes do not depend on their options, with the smallest
#: config that builds one.
FIXED_OUTCOMES = {
    "answer": None, "play": "x", "set": {"a": "1"}, "exec": {"app": "NoOp"},
    "queue": {"name": "support"}, "dial": {"destination": "PJSIP/100"},
    "voicemail": {"mailbox": "100"}, "robinson": {"list": "robinson"},
    "lookup": {"list": "vip"}, "history": {}, "webhook": {"url": "http://crm/"},
}


@pytest.mark.parametrize("type_name", sorted(FIXED_OUTCOMES))
def test_the_step_types_table_lists_every_outcome_of_a_step(type_name: str) -> None:
    rows = {m.group(1): m.group(2) for m in
            re.finditer(r"^\| \[(\w+)\]\(#\w+\) \|[^|]*\|([^|]*)\|$", read(DOCS / "steps.md"), re.M)}
    documented = set(re.findall(r"`(\w+)`", rows[type_name]))
    outcomes = set(REGISTRY[type_name].from_config(FIXED_OUTCOMES[type_name]).outcomes())
    assert documented == outcomes, (
        f"docs/steps.md's table of step types, {type_name}: missing {sorted(outcomes - documented)}, "
        f"extra {sorted(documented - outcomes)}")


def test_steps_md_documents_no_step_type_that_does_not_exist() -> None:
    extra = sorted(set(sections(read(DOCS / "steps.md"), 2)) - set(REGISTRY))
    assert not extra, f"docs/steps.md has sections for unknown step types: {', '.join(extra)}"


def test_flows_md_lists_every_step_type_as_a_type_key() -> None:
    text = read(DOCS / "flows.md")
    listed = text.split("exactly one **type key**", 1)[1].split(") and may", 1)[0]
    assert set(re.findall(r"`([a-z_]+)`", listed)) == set(REGISTRY)


# -- configuration ------------------------------------------------------------------

@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_every_config_key_has_a_section_in_configuration_md(key: str) -> None:
    assert key in sections(read(DOCS / "configuration.md"), 3), f"docs/configuration.md has no '### {key}' section"


def test_configuration_md_documents_no_key_that_does_not_exist() -> None:
    extra = sorted(set(sections(read(DOCS / "configuration.md"), 3)) - set(CONFIG_KEYS))
    assert not extra, f"docs/configuration.md has sections for unknown keys: {', '.join(extra)}"


_KEY_LINE = re.compile(r"^(?P<indent>[ ]*)(?P<hash>#(?P<pad>[ ]*))?(?P<key>[A-Za-z_][A-Za-z0-9_]*):(?:[ ]+(?P<value>.*))?$")


def keys_in_config_file(text: str) -> set[str]:
    """Dotted paths of the keys written in a YAML config, commented-out keys
    included (``# fallback: {context: x}`` gives server.fallback and
    server.fallback.context)."""
    found: set[str] = set()
    real: list[tuple[int, str]] = []
    commented: list[tuple[int, str]] = []
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if not match:
            continue
        indent = len(match.group("indent"))
        if match.group("hash") is None:
            commented = []
            while real and real[-1][0] >= indent:
                real.pop()
            parents, stack = real, real
        else:
            indent += max(len(match.group("pad")) - 1, 0)
            while commented and commented[-1][0] >= indent:
                commented.pop()
            parents, stack = [e for e in real if e[0] < indent] + commented, commented
        path = ".".join([key for _, key in parents] + [match.group("key")])
        found.add(path)
        value = (match.group("value") or "").strip()
        if value.startswith("{"):
            try:
                inner = load_yaml(value)
            except DocumentError:
                inner = None
            if isinstance(inner, dict):
                found.update(f"{path}.{name}" for name in inner)
        stack.append((indent, match.group("key")))
    return found


@pytest.mark.parametrize("key", CONFIG_KEYS)
def test_every_config_key_is_in_the_shipped_config_yaml(key: str) -> None:
    assert key in keys_in_config_file(read(ROOT / "config.yaml")), f"config.yaml does not show '{key}' (set or commented)"


def test_the_shipped_config_yaml_loads() -> None:
    load_config(ROOT / "config.yaml")


def _differing_fields(default: Any, shipped: Any, prefix: str = "") -> list[str]:
    if not dataclasses.is_dataclass(default):
        return [prefix] if default != shipped else []
    return [name for field in dataclasses.fields(default) if field.name != "source"
            for name in _differing_fields(getattr(default, field.name), getattr(shipped, field.name),
                                          f"{prefix}.{field.name}".lstrip("."))]


def test_the_shipped_config_yaml_names_every_value_that_is_not_the_default(tmp_path: Path) -> None:
    """Its header says its values are the defaults, except the keys it names."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    (tmp_path / "empty.yaml").write_text("", encoding="utf-8")
    header = read(ROOT / "config.yaml").split("\n\n", 1)[0].split("server:", 1)[0]
    named = set(re.findall(r"except (.*?)(?:,|\.)\s", header.replace("\n#", " "))[0].split("`")[1::2])
    different = _differing_fields(load_config(tmp_path / "empty.yaml"), load_config(tmp_path / "config.yaml"))
    assert set(different) <= named, f"config.yaml sets {sorted(set(different) - named)} to other than the default"


# -- examples -------------------------------------------------------------------------------

def test_the_docs_have_examples_to_check() -> None:
    assert any(_first_code_line(body) == "version: 1" for _, _, body in YAML_BLOCKS)
    assert SQL_BLOCKS


def _first_code_line(body: str) -> str:
    for line in body.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.rstrip()
    return ""


@pytest.mark.parametrize("page, line, body", YAML_BLOCKS, ids=[block_id(b) for b in YAML_BLOCKS])
def test_every_yaml_example_is_a_valid_flow_config_or_a_marked_fragment(
        page: Path, line: int, body: str, tmp_path: Path) -> None:
    where = f"{page.relative_to(ROOT)}:{line}"
    first = body.splitlines()[0].strip() if body.strip() else ""
    if first == FRAGMENT:
        load_yaml(body)  # a fragment is still YAML
        return
    if first == CONFIG_EXAMPLE:
        config = tmp_path / "config.yaml"
        config.write_text(body, encoding="utf-8")
        try:
            load_config(config)
        except ConfigError as exc:
            pytest.fail(f"{where}: config example does not load:\n{exc}")
        return
    assert _first_code_line(body) == "version: 1", (
        f"{where}: a ```yaml block must be a complete flow (version: 1), a config "
        f"(first line '{CONFIG_EXAMPLE}') or marked with the first line '{FRAGMENT}'")
    if "cases" in load_yaml(body):
        _assert_test_file_example_passes(body, page, line, tmp_path)
        return
    _assert_flow_example_loads(body, page, line, tmp_path)


def _assert_flow_example_loads(body: str, page: Path, line: int, tmp_path: Path) -> None:
    """Load the example beside the shipped flows and schedules files, so that
    a `goto` or a `schedule` step naming one of them resolves; a shipped file
    defining the example's flow or one of its schedules is left out. Only the
    example's own errors count. A schedules example (``schedules:`` instead
    of ``steps:``) is checked the same way."""
    document = load_yaml(body)
    example = tmp_path / "example.yaml"
    example.write_text(body, encoding="utf-8")
    for shipped in sorted((ROOT / "flows").glob("*.yaml")):
        try:
            other = load_yaml(read(shipped))
            name, schedules = other.get("name"), set(other.get("schedules") or {})
        except (DocumentError, AttributeError):
            continue
        same_flow = name is not None and name == document.get("name")
        if not same_flow and not schedules & set(document.get("schedules") or {}):
            shutil.copy(shipped, tmp_path / f"shipped-{shipped.name}")
    _, errors = load_flows([tmp_path])
    own = [f"{page.relative_to(ROOT)}:{line + e.line}: {e.message}" for e in errors if Path(e.file).name == example.name]
    assert not own, "flow example does not validate:\n" + "\n".join(own)


def _assert_test_file_example_passes(body: str, page: Path, line: int, tmp_path: Path) -> None:
    """A test-file example (``version: 1`` with ``cases:``) loads against the
    shipped flows and every case in it passes."""
    example = tmp_path / "example.tests.yaml"
    example.write_text(body, encoding="utf-8")
    flows, errors = load_flows([ROOT / "flows"])
    assert errors == []
    cases, problems = load_case_files([example], flows, "ES")
    where = page.relative_to(ROOT)
    assert not problems, "test file example does not load:\n" + "\n".join(
        f"{where}:{line + e.line}: {e.message}" for e in problems)
    results = run_cases(cases, flows, Services())
    failed = [f"{where}:{line + r.case.line}: case '{r.case.name}': {r.error}" for r in results if r.error] + \
             [f"{where}:{line + m.line}: {m.key}: {m.message}" for r in results for m in r.mismatches]
    assert not failed, "test file example fails:\n" + "\n".join(failed)


@pytest.mark.parametrize("page, line, body", SQL_BLOCKS, ids=[block_id(b) for b in SQL_BLOCKS])
def test_every_sql_example_runs_against_the_cdr_schema(page: Path, line: int, body: str, tmp_path: Path) -> None:
    db = sqlite_utils.Database(tmp_path / "cdr.db")
    ensure_schema(db)
    db.execute(body).fetchall()


def test_the_shipped_example_flows_validate() -> None:
    flows, errors = load_flows([ROOT / "flows"])
    assert errors == [] and len(flows) > 0


# -- links and the README ---------------------------------------------------------------------

@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_points_at_an_existing_page_and_heading(page: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", without_fences(read(page))):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md":
            headings = {slug(h) for level in range(1, 7) for h in sections(read(linked), level)}
            if anchor not in headings:
                broken.append(target)
    assert not broken, f"{page.name}: broken links: {', '.join(broken)}"


def test_readme_quick_start_is_make_serve_and_make_test() -> None:
    quick_start = sections(read(ROOT / "README.md"), 2).get("Quick start", "")
    commands = [line.split("#")[0].strip() for block in re.findall(r"```\n(.*?)```", quick_start, re.S)
                for line in block.splitlines() if line.strip()]
    assert commands == ["make serve", "make test"]
    makefile = read(ROOT / "Makefile")
    assert re.search(r"^serve:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_the_readmes_shipped_flows_table_names_every_shipped_flow() -> None:
    """A user who reads the table knows every flow `make serve` loads."""
    table = sections(read(ROOT / "README.md"), 2).get("Shipped flows", "")
    listed = set(re.findall(r"`flows/([\w-]+)\.yaml`", table))
    shipped = {path.stem for path in (ROOT / "flows").glob("*.yaml")}
    assert sorted(shipped - listed) == []


def test_make_serve_takes_the_options_the_readme_gives_it() -> None:
    """The README tells how to serve on another port when 4573 is taken: make passes it on."""
    given = re.search(r"`make serve SERVE_ARGS='([^']+)'`", read(ROOT / "README.md"))
    assert given is not None
    alone = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # under make test
    dry = subprocess.run(["make", "--no-print-directory", "-n", "-o", "setup", "serve", "VENV=venv",
                          f"SERVE_ARGS={given[1]}"], cwd=ROOT, capture_output=True, text=True, check=True, env=alone)
    assert dry.stdout.strip().splitlines() == [f"venv/bin/agiflow serve -c config.yaml {given[1]}"]


def test_ci_runs_the_readme_test_command() -> None:
    lines = [line.strip() for line in read(ROOT / ".ci" / "run").splitlines()]
    assert "make test" in [line for line in lines if not line.startswith("#")]


def test_every_test_the_robustness_page_names_exists() -> None:
    """docs/robustness.md maps each fault to a test: the names must stay true."""
    named = re.findall(r"`((?:\w+/)?test_\w+\.py)::(test_\w+)", read(DOCS / "robustness.md"))
    assert len(named) >= 20
    missing = [f"{file}::{name}" for file, name in named
               if not re.search(rf"^def {name}\(", read(ROOT / "tests" / file), re.MULTILINE)]
    assert missing == []
