"""What a user sees at the terminal: ``agiflow validate``, ``simulate``,
``graph``, ``schema`` and ``--help``, through click's CliRunner.

Each test runs in an empty working folder (no ./config.yaml, no ./flows), so
the shipped flows are always named by path.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator

from agi.cli.main import cli
from agi.loading.loader import load_flows
from agi.loading.yamlio import load_yaml
from agi.steps import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "flows"
SUPPORT = FLOWS / "support.yaml"
#: The shipped flow files (schedules files, with ``schedules:`` instead of ``steps:``, left out).
SHIPPED = sorted(p for p in FLOWS.glob("*.yaml") if "steps" in load_yaml(p.read_text(encoding="utf-8")))
AT = "2025-03-10T10:00:00+01:00"


@pytest.fixture(autouse=True)
def empty_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def agiflow(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def shipped_flow_names() -> list[str]:
    flows, errors = load_flows([FLOWS])
    assert errors == []
    return sorted(flows.flows)


# -- validate ----------------------------------------------------------------

def test_validate_the_shipped_flows_says_ok_and_exits_0() -> None:
    result = agiflow("validate", str(FLOWS))
    assert result.exit_code == 0, result.output
    names = ", ".join(shipped_flow_names())
    assert result.stdout == f"ok: {len(SHIPPED)} flows valid ({names}), 2 schedules valid (campaign_hours, office_hours)\n"
    assert result.stderr == ""


def test_validate_one_shipped_file_by_path() -> None:
    result = agiflow("validate", str(FLOWS / "closed.yaml"))
    assert result.exit_code == 0
    assert result.stdout == "ok: 1 flow valid (closed)\n"


def test_validate_given_a_test_case_file_says_to_run_it_with_agiflow_test() -> None:
    result = agiflow("validate", str(FLOWS / "tests" / "closed.tests.yaml"))
    assert result.exit_code == 1
    assert "closed.tests.yaml:1: a test-case file, not a flow: run it with `agiflow test`\n" in result.stdout


def test_validate_a_broken_file_prints_file_and_line_of_each_error_and_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(textwrap.dedent("""\
        version: 1
        name: broken
        start: menu
        steps:
          menu:
            menu: {prompt: main-menu, choices: {"1": sales}}
            on: {timeout: bye, timout: bye}
          sales:
            play: sales
            nxt: bye
          bye:
            hangup:
        """))
    result = agiflow("validate", str(broken))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines == [
        f"{broken}:7: step 'menu': unknown outcome 'timout'; allowed: 1, timeout, invalid, hangup, error",
        f"{broken}:10: step 'sales': unknown key 'nxt'; allowed: {', '.join(sorted(REGISTRY))}, "
        "on, next, description",
    ]
    assert result.stderr == "2 errors\n"
    assert "ok:" not in result.output


def test_validate_puts_no_escape_sequence_from_a_file_name_on_the_terminal(tmp_path: Path) -> None:
    """A flows folder from someone else's Git repository may hold a file
    whose name is an escape sequence (an OSC title change), or a link to
    one: the name went to the terminal as it was in each FILE:LINE line."""
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "a\x1b]0;owned\x07.yaml").write_text("version: 2\nname: b\nstart: x\nsteps:\n  x:\n    hangup:\n")
    (folder / "c.yaml").symlink_to(tmp_path / "gone\x1b[2J.yaml")
    result = agiflow("validate", str(folder))
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert f"{folder}/a\\x1b]0;owned\\x07.yaml:1: " in result.stdout
    assert "gone\\x1b[2J.yaml" in result.stdout

    (folder / "a\x1b]0;owned\x07.yaml").unlink()
    (folder / "c.yaml").unlink()
    (folder / "d\x1b]0;warned\x07.yaml").write_text(
        "version: 1\nname: d\nstart: x\nsteps:\n  x:\n    play: [\"p\\e]0;prompt\\a\"]\n    next: y\n  y:\n    hangup:\n")
    warned = agiflow("validate", str(folder))  # a warning, from a file name and a flow's text
    assert warned.exit_code == 0, warned.output
    assert "\x1b" not in warned.output and "d\\x1b]0;warned\\x07.yaml:6: warning: " in warned.stdout
    assert "prompt 'p\\x1b]0;prompt\\x07'" in warned.stdout


def test_validate_reports_errors_of_every_file_in_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "a.yaml").write_text("version: 1\nname: a\nstart: x\nsteps:\n  x:\n    play: [\n")
    (folder / "b.yaml").write_text("version: 2\nname: b\nstart: x\nsteps:\n  x:\n    hangup:\n")
    result = agiflow("validate", str(folder))
    assert result.exit_code == 1
    files = [line.split(":", 1)[0] for line in result.stdout.splitlines()]
    assert files == [str(folder / "a.yaml"), str(folder / "b.yaml")]
    assert all(line.split(":")[1].isdigit() for line in result.stdout.splitlines())
    assert result.stderr == "2 errors\n"


def test_validate_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = agiflow("validate", str(empty))
    assert result.exit_code == 1
    assert result.stdout == f"{empty}: no flow files (*.yaml, *.yml) found\n"


def test_validate_without_paths_checks_the_configured_folder(empty_workdir: Path) -> None:
    (empty_workdir / "config.yaml").write_text(f"flows: {FLOWS}\n")
    result = agiflow("validate")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ok: {len(SHIPPED)} flows valid")


def test_validate_names_the_files_of_the_configured_folder_from_the_working_folder_as_the_docs_show(
        empty_workdir: Path) -> None:
    (empty_workdir / "config.yaml").write_text("flows: flows\n")
    (empty_workdir / "flows").mkdir()
    (empty_workdir / "flows" / "a.yaml").write_text("version: 1\nname: a\nstart: x\nsteps:\n  x:\n    hangup:\n"
                                                  "    nxt: x\n")
    result = agiflow("validate")
    assert result.exit_code == 1
    assert result.stdout.startswith("flows/a.yaml:7: step 'x': unknown key 'nxt'"), result.stdout


def test_validate_a_missing_path_is_an_error(tmp_path: Path) -> None:
    result = agiflow("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{tmp_path / 'nope.yaml'}:1: ")


# -- simulate ----------------------------------------------------------------

def test_simulate_prints_the_path_the_commands_and_the_cdr_status() -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "600111222", "--at", AT, "--dtmf", "1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("flow support: completed\n")
    assert "path:" in out
    assert "  >> ANSWER\n  << 200 result=0\n" in out
    assert '  >> GET DATA "agiflow/main-menu" "5000" "3"\n' in out
    assert "  status: completed\n" in out
    assert "  path: answer:next > welcome:next > menu:1 > sales:next > sales_queue:timeout" in out
    assert '  >> SET VARIABLE "AGIFLOW_STATUS" "completed"\n' in out


def test_simulate_puts_no_escape_sequence_from_a_flow_on_the_terminal(tmp_path: Path) -> None:
    """A flow's text (a variable it sets, a prompt) was printed as it was:
    an escape sequence in it reached the terminal in the commands and the
    variables."""
    flow = tmp_path / "e.yaml"
    flow.write_text('version: 1\nname: e\nstart: s\nsteps:\n  s:\n    set: {variables: {X: "a\\e]0;set\\ab"}}\n'
                    '    next: p\n  p:\n    play: ["x\\e]0;play\\a"]\n    next: h\n  h:\n    hangup:\n')
    result = agiflow("simulate", str(flow), "--caller", "600111222")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert '  >> SET VARIABLE "X" "a\\x1b]0;set\\x07b"\n' in result.stdout
    assert "  X = a\\x1b]0;set\\x07b\n" in result.stdout


def test_simulate_support_choice_2_then_an_account_reaches_the_support_queue() -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "+34600111222", "--at", AT,
                     "--dtmf", "2,12345678")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "menu:2 > account:next > tag_account:next > support_queue:next > queue_support:timeout" in out
    assert '  >> SET VARIABLE "ACCOUNT" "12345678"\n' in out
    assert '  >> EXEC "Queue" "support,t,,,300"\n' in out
    assert "  ACCOUNT = 12345678\n" in out
    assert "  status: completed\n" in out


def test_simulate_says_why_a_step_ended_in_error_beside_its_path_line(empty_workdir: Path) -> None:
    """The README's customer_care example before any number list exists: the text
    says why where the path shows 'error'."""
    (empty_workdir / "config.yaml").write_text(f"flows: {FLOWS}\ndatabase: cdr.db\n", encoding="utf-8")
    result = agiflow("simulate", "customer_care", "-c", str(empty_workdir / "config.yaml"), "--caller", "600111222",
                     "--at", "2025-03-10T09:30:00+01:00", "--dtmf", "1,2", "--queue-status", "TIMEOUT")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    screen = next(line for line in lines if line.startswith("    1. screen "))
    assert screen.endswith(f"-> error: cannot read number list 'block': the database {empty_workdir / 'cdr.db'} "
                           "does not exist"), screen
    assert next(line for line in lines if line.startswith("    3. answer ")).endswith("-> next")


def test_simulate_hangup_after_3_commands_is_a_caller_hangup() -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "600111222", "--at", AT,
                     "--dtmf", "1", "--hangup-after", "3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("flow support: caller_hangup\n")
    assert "  status: caller_hangup\n" in out
    assert "sales_queue:hangup" in out


def test_simulate_queue_and_dial_statuses_decide_how_those_steps_end(tmp_path: Path) -> None:
    flow = ROOT / "flows" / "customer_care.yaml"
    config = tmp_path / "config.yaml"
    config.write_text(f"flows: {ROOT / 'flows'}\ndatabase: {tmp_path / 'none.db'}\n")
    timed_out = agiflow("simulate", str(flow), "--caller", "600111222", "--at", AT, "--dtmf", "1,2",
                        "--queue-status", "timeout", "-c", str(config), "--format", "json")
    answered = agiflow("simulate", str(flow), "--caller", "600111222", "--at", AT, "--dtmf", "1,2",
                       "--queue-status", "ANSWERED", "-c", str(config), "--format", "json")
    assert "support_queue:timeout" in json.loads(timed_out.stdout)["path"]
    assert "support_queue:answered" in json.loads(answered.stdout)["path"]
    campaign = agiflow("simulate", str(ROOT / "flows" / "campaign.yaml"), "--caller", "910000000", "--called",
                       "600111222", "--at", AT, "--dial-status", "BUSY", "-c", str(config), "--format", "json")
    assert campaign.exit_code == 0, campaign.output
    # no lists database in a simulation without one: the do-not-call check fails closed
    assert json.loads(campaign.stdout)["path"] == ["dnc:error", "unchecked:next"]
    for name in ("robinson", "do_not_call"):
        assert agiflow("lists", "create", name, "-c", str(config)).exit_code == 0
    busy = agiflow("simulate", str(ROOT / "flows" / "campaign.yaml"), "--caller", "910000000", "--called",
                   "600111222", "--at", AT, "--dial-status", "BUSY", "-c", str(config), "--format", "json")
    assert json.loads(busy.stdout)["path"] == ["dnc:clear", "calling_hours:open", "call_customer:busy", "retry:next"]


def test_simulate_json_has_the_path_commands_and_cdr() -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "600111222", "--at", AT,
                     "--dtmf", "2,12345678", "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["path"][:4] == ["answer:next", "welcome:next", "menu:2", "account:next"]
    assert doc["path"][-1] == "hangup:done"
    assert doc["commands"][0] == {"command": "ANSWER", "reply": ["200 result=0"]}
    assert {"command": 'EXEC "Queue" "support,t,,,300"', "reply": ["200 result=0"]} in doc["commands"]
    assert doc["cdr"]["status"] == "completed"
    assert doc["cdr"]["caller"] == "600111222"
    assert doc["cdr"]["started_at"] == "2025-03-10T09:00:00.000Z"
    assert json.loads(doc["cdr"]["fields"]) == {"account": "12345678", "department": "support"}
    assert doc["variables"]["AGIFLOW_STATUS"] == "completed"


def test_simulate_empty_dtmf_entries_are_timeouts_and_then_keys_are_pressed() -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "600111222", "--at", AT,
                     "--dtmf", ",,9", "--format", "json")
    doc = json.loads(result.stdout)
    sent = [c["command"] for c in doc["commands"]]
    menu = 'GET DATA "agiflow/main-menu" "5000" "3"'
    assert sent[2:8] == [menu, 'STREAM FILE "agiflow/no-input" ""', menu, 'STREAM FILE "agiflow/no-input" ""',
                         menu, 'STREAM FILE "agiflow/invalid-option" ""']
    # A third timeout after the invalid 9 exhausts the two timeout retries.
    assert doc["path"][2:4] == ["menu:timeout", "operator:answer"]
    menu_step = next(s for s in doc["steps"] if s["step"] == "menu")
    assert json.loads(menu_step["details"]) == {"choice": "timeout", "entries": ["9"], "invalid": 1, "timeouts": 3}


def test_simulate_by_flow_name_uses_the_configured_folder(empty_workdir: Path) -> None:
    (empty_workdir / "config.yaml").write_text(f"flows: {FLOWS}\n")
    result = agiflow("simulate", "closed", "--caller", "600111222", "--at", AT)
    assert result.exit_code == 0, result.output
    assert '  >> SAY DIGITS "900123456" ""\n' in result.stdout


def test_simulate_unknown_flow_name_is_a_usage_error() -> None:
    result = agiflow("simulate", "nosuchflow", "--caller", "600111222")
    assert result.exit_code == 2
    assert "no flow named 'nosuchflow'" in result.stderr


@pytest.mark.parametrize("bad", ["yesterday", "2025-13-01T10:00", "10:00 tomorrow"])
def test_simulate_bad_at_is_a_clear_usage_error(bad: str) -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "600111222", "--at", bad)
    assert result.exit_code == 2
    assert "Invalid value for --at" in result.stderr
    assert f"{bad!r} is not an ISO time" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize("dtmf", ["abc", "1,x", "1, 2 3"])
def test_simulate_dtmf_that_is_not_dtmf_keys_is_a_usage_error_naming_the_entry(dtmf: str) -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "600111222", "--dtmf", dtmf)
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Invalid value for '--dtmf'" in result.stderr and "is not DTMF keys" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("option, value", [("--queue-status", "TIMEOUT,ABANDONED"), ("--dial-status", "BUSSY")])
def test_simulate_a_status_asterisk_never_sets_is_a_usage_error(option: str, value: str) -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "600111222", option, value)
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"Invalid value for '{option}'" in result.stderr
    assert f"'{value.split(',')[-1]}' is none of " in result.stderr
    assert result.stdout == ""


def test_simulate_statuses_are_read_in_any_case() -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "600111222", "--dtmf", "1", "--queue-status", "full")
    assert result.exit_code == 0, result.output
    assert "QUEUESTATUS = FULL" in result.stdout


@pytest.mark.parametrize("port", ["-1", "65536", "70000"])
def test_serve_port_outside_0_to_65535_is_a_usage_error(port: str) -> None:
    result = agiflow("serve", "--port", port, "--workers", "1")
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Invalid value for '--port'" in result.stderr


@pytest.mark.parametrize("command", [["simulate", "--caller", "600111222"], ["graph"]])
@pytest.mark.parametrize("which, message", [("missing", "no such flow file"), ("schedules", "holds no flow")])
def test_simulate_or_graph_of_a_file_that_holds_no_flow_is_a_usage_error(
        command: list[str], which: str, message: str) -> None:
    path = str(FLOWS / "schedules.yaml") if which == "schedules" else "nosuch.yaml"
    result = agiflow(command[0], path, *command[1:])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Invalid value for FLOW" in result.stderr and message in result.stderr


def test_simulate_requires_a_caller() -> None:
    result = agiflow("simulate", str(SUPPORT))
    assert result.exit_code == 2
    assert "--caller" in result.stderr


def test_simulate_refuses_a_negative_hangup_after() -> None:
    result = agiflow("simulate", str(SUPPORT), "--caller", "1", "--hangup-after", "-1")
    assert result.exit_code == 2
    assert "--hangup-after" in result.stderr


# -- graph -------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
@pytest.mark.parametrize("flow", SHIPPED, ids=lambda p: p.stem)
def test_graph_shows_every_step_of_the_flow(flow: Path, fmt: str) -> None:
    result = agiflow("graph", str(flow), "--format", fmt)
    assert result.exit_code == 0, result.output
    document = load_yaml(flow.read_text(encoding="utf-8"))
    for name, step in document["steps"].items():
        kind = next(k for k in step if k not in ("on", "next", "description"))
        if fmt == "mermaid":
            assert f'["{name}<br/><i>{kind}</i>"]' in result.stdout
        else:
            assert f'"{name}" [label="{name}\\n({kind})"];' in result.stdout


def test_graph_mermaid_is_the_default_and_labels_outcomes() -> None:
    result = agiflow("graph", str(SUPPORT))
    assert result.stdout.startswith('flowchart TD\n  start(("support")) --> n_answer\n')
    assert '  n_menu -->|"2"| n_account\n' in result.stdout
    assert '  n_menu -->|"timeout"| n_operator\n' in result.stdout


def test_graph_dot_is_a_digraph() -> None:
    result = agiflow("graph", str(SUPPORT), "--format", "dot")
    assert result.stdout.startswith('digraph "support" {\n')
    assert result.stdout.endswith("}\n")
    assert '  "menu" -> "account" [label="2"];\n' in result.stdout


def test_graph_of_an_unknown_format_is_a_usage_error() -> None:
    result = agiflow("graph", str(SUPPORT), "--format", "svg")
    assert result.exit_code == 2


# -- schema ------------------------------------------------------------------

def editor_schema() -> dict:
    result = agiflow("schema")
    assert result.exit_code == 0
    return json.loads(result.stdout)


def as_editor_sees_it(path: Path) -> object:
    """The flow as plain JSON data (strings for DTMF keys and for on/off)."""
    return json.loads(json.dumps(load_yaml(path.read_text(encoding="utf-8"))))


def test_schema_is_valid_json_schema_2020_12() -> None:
    schema = editor_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("flow", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_flow_validates_against_the_schema(flow: Path) -> None:
    validator = Draft202012Validator(editor_schema())
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(as_editor_sees_it(flow))]
    assert errors == []


def test_schema_refuses_an_unknown_step_option(tmp_path: Path) -> None:
    flow = tmp_path / "typo.yaml"
    flow.write_text("version: 1\nname: typo\nstart: m\nsteps:\n"
                    "  m:\n    menu: {prompt: p, choices: {'1': m}, retires: 3}\n")
    validator = Draft202012Validator(editor_schema())
    assert not validator.is_valid(as_editor_sees_it(flow))


# -- help --------------------------------------------------------------------

def command_names() -> list[str]:
    assert isinstance(cli, click.Group)
    return sorted(cli.list_commands(click.Context(cli)))  # lazy commands too, loaded or not


def test_every_expected_command_exists() -> None:
    assert {"serve", "validate", "simulate", "graph", "schema"} <= set(command_names())


@pytest.mark.parametrize("command", [[]] + [[name] for name in command_names()], ids=lambda c: " ".join(c) or "agiflow")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_of_every_command_exits_0(command: list[str], flag: str) -> None:
    result = agiflow(*command, flag)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")
    if command:
        assert (cli.commands[command[0]].help or "").split("\n")[0].strip() in result.stdout


def test_version_is_printed() -> None:
    result = agiflow("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("agiflow, version ")


@pytest.mark.parametrize("command, says", [
    (["db", "copy"], ["supervisor PIN and audit entry"]),  # cli.md: every kind of row it copies
    (["lists", "check"], ["does not exist or cannot be read"]),
    (["status"], ["2 on a config error", "not agiflow's", "port 0"]),
    (["db", "rollups"], ["every minute"]),
])
def test_help_says_what_cli_md_says(command: list[str], says: list[str]) -> None:
    shown = " ".join(CliRunner().invoke(cli, [*command, "--help"]).output.split())
    for text in says:
        assert text in shown, shown


@pytest.mark.parametrize("args, expected", [
    (["report", "summary", "--format", "csv"], "Flow,Calls,"),
    (["callbacks", "export", "--format", "json"], "[]"),
    (["lists", "export", "vip"], "number,note"),
])
def test_output_dash_is_standard_output_for_every_command_that_takes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str) -> None:
    """``-o -`` wrote the report or the export to a file named '-' (lists
    export has always read it as standard output)."""
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["lists", "create", "vip"]).exit_code == 0
    done = CliRunner().invoke(cli, [*args, "-o", "-"])
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith(expected), done.stdout
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("command", [["callbacks", "list"], ["callbacks", "export"], ["supervisors", "audit"]])
def test_the_help_of_since_names_every_form_the_report_options_take(command: list[str]) -> None:
    """docs/cli.md gives these --since the forms of ``agiflow report``; their
    help left out ``now`` (and the audit's ``2w``), which they read."""
    done = CliRunner().invoke(cli, [*command, "--help"])
    text = " ".join(done.output.split())
    assert done.exit_code == 0 and "7d / 24h / 30m / 2w ago, today, yesterday or now" in text, text
