"""``agiflow validate`` reports every name, attribute, filter and test a
template uses that calls do not provide, with file:line, as it reports
syntax errors: the call never finds out at run time."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from agi.cli.main import cli
from agi.engine.context import _NAMES, CallInfo, sample_names
from agi.engine.model import Flow
from agi.flowtest.memory import MemoryLists
from agi.loading.loader import load_flows
from agi.services import Services
from support.step_runner import run

HEAD = """\
version: 1
name: {name}
params: {{queue: support}}
start: first
steps:
"""


def flow_file(folder: Path, steps: str, name: str = "demo") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(HEAD.format(name=name) + textwrap.indent(textwrap.dedent(steps), "  "), encoding="utf-8")
    return path


def errors_of(folder: Path) -> list[str]:
    _, errors = load_flows([folder])
    return [str(error) for error in errors]


@pytest.mark.parametrize(("template", "message"), [
    ("{{ caler.number }}", "unknown name 'caler' (did you mean 'call'?)"),
    ("{{ call.nmuber }}", "unknown attribute 'nmuber' of call; call has: args, called, caller"),
    ("{{ call.callr }}", "unknown attribute 'callr' of call (did you mean 'caller'?)"),
    ("{{ call['nmuber'] }}", "unknown attribute 'nmuber' of call"),
    ("{{ call.caller.startwith('+34') }}", "unknown attribute 'startwith' of call.caller (did you mean 'startswith'?)"),
    ("{{ call.args.first }}", "unknown attribute 'first' of call.args"),
    ("{{ flow.nmae }}", "unknown attribute 'nmae' of flow (did you mean 'name'?)"),
    ("{{ now.hoour }}", "unknown attribute 'hoour' of now (did you mean 'hour'?)"),
    ("{{ now.hour.nope }}", "unknown attribute 'nope' of now.hour"),
    ("{{ args.nope }}", "unknown attribute 'nope' of args"),
    ("{{ params.queue.uper() }}", "unknown attribute 'uper' of params.queue (did you mean 'upper'?)"),
    ("{{ call.__class__ }}", "attributes starting with '_' cannot be read"),
    ("{{ call.caller | uper }}", "No filter named 'uper'"),
    ("{{ call.caller | uper if call.caller else '' }}", "unknown filter 'uper'"),
    ("{{ 'x' if call.caller is nosuch else '' }}", "unknown test 'nosuch'"),
    ("{{ lipsum(2) }}", "unknown name 'lipsum'"),
    ("{{ nosuchfunction(call.caller) }}", "unknown name 'nosuchfunction'"),
])
def test_validate_reports_an_unknown_name_or_attribute_with_file_and_line(tmp_path: Path, template: str,
                                                                            message: str) -> None:
    flow_file(tmp_path, f"""\
        first:
          answer:
          next: greet
        greet:
          play: [{{digits: "{template}"}}]
        """)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    [line] = [line for line in result.stdout.splitlines() if "greet" in line]
    assert line.startswith(f"{tmp_path / 'demo.yaml'}:10: step 'greet': play.[0]: ")
    assert message in line


def test_a_condition_is_checked_like_a_template(tmp_path: Path) -> None:
    flow_file(tmp_path, """\
        first:
          branch:
            cases: [{if: "caler.startswith('+34')", next: bye}]
            else: bye
        bye:
          hangup:
        """)
    assert errors_of(tmp_path) == [f"{tmp_path / 'demo.yaml'}:7: step 'first': branch.cases[0].if: unknown name "
                                   "'caler' (did you mean 'call'?); templates read: args, call, cdr, flow, history, now, "
                                   "params, vars"]


def test_a_variable_no_step_sets_is_an_error_and_a_close_name_is_suggested(tmp_path: Path) -> None:
    flow_file(tmp_path, """\
        first:
          input: {prompt: enter-account, variable: ACCOUNT, max_digits: 8}
          next: say
        say:
          play: [{digits: "{{ vars.ACCONT }}"}]
          next: tag
        tag:
          set: {cdr: {account: "{{ cdr.acount }}"}}
        """)
    file = tmp_path / "demo.yaml"
    assert errors_of(tmp_path) == [
        f"{file}:10: step 'say': play.[0]: vars.ACCONT: no step of the loaded flows sets variable 'ACCONT' "
        "(did you mean 'ACCOUNT'?); set: ACCOUNT",
        f"{file}:13: step 'tag': set.cdr.account: cdr.acount: no step of the loaded flows sets CDR field 'acount' "
        "(did you mean 'account'?); set: account",
    ]


@pytest.mark.parametrize("read", [
    "{{ vars.LATER | default('') }}", "{{ vars.LATER | d('-') }}",
    "{% if vars.LATER is defined %}{{ vars.LATER }}{% endif %}",
    "{% if 'LATER' in vars %}{{ vars.LATER }}{% endif %}", "{{ vars.get('LATER', '') }}",
    "{{ vars['LATER'] if 'LATER' in vars else '' }}", "{{ vars | length }}", "{{ vars.items() | list }}",
    "{{ cdr.get('later') or 'none' }}",
])
def test_a_guarded_read_of_a_variable_no_step_sets_is_valid(tmp_path: Path, read: str) -> None:
    flow_file(tmp_path, f"""\
        first:
          play: [{{digits: "{read}"}}]
        """)
    assert errors_of(tmp_path) == []


def test_a_variable_set_in_another_flow_of_the_set_is_known_there(tmp_path: Path) -> None:
    flow_file(tmp_path, """\
        first:
          input: {prompt: enter-account, variable: ACCOUNT, max_digits: 8}
          next: away
        away:
          goto: second
        """, name="front")
    flow_file(tmp_path, """\
        first:
          play: [{digits: "{{ vars.ACCOUNT }}"}]
        """, name="second")
    assert errors_of(tmp_path) == []
    assert any("no step of the loaded flows sets variable 'ACCOUNT'" in e for e in errors_of(tmp_path / "second.yaml"))


@pytest.mark.parametrize(("setter", "read"), [
    ("set: {variables: {TEAM: sales}}", "TEAM"),
    ("input: {prompt: p, variable: DIGITS, max_digits: 4}", "DIGITS"),
    ('menu: {prompt: p, choices: {"1": then}, variable: CHOICE}', "CHOICE"),
    ('menu: {prompt: p, choices: {"1": then}, direct_dial: {pattern: "^2..$", variable: EXT}}', "EXT"),
    ('menu: {prompt: p, choices: {"1": then}, direct_dial: {pattern: "^2..$"}}', "DIALED"),
    ("exec: {app: Playback, options: beep, result_variable: RESULT}", "RESULT"),
    ("lookup: {list: vip}", "LOOKUP"),
    ("lookup: {list: vip}", "LOOKUP_NOTE"),
    ("lookup: {list: vip, variable: VIP}", "VIP_NOTE"),
    ("robinson: {list: robinson, number: '600111222', on_error: allow}", "ROBINSON"),
    ("priority: {value: 5}", "QUEUE_PRIO"),
    ("priority: {value: 5, queue: sales}", "queue"),
])
def test_each_step_that_sets_a_variable_makes_it_known(tmp_path: Path, setter: str, read: str) -> None:
    outcomes = {"lookup": "{found: then, missing: then, anonymous: then}", "robinson": "{clear: then, listed: then}",
                "menu": "{direct: then}" if "direct_dial" in setter else "{timeout: then}"}
    kind = setter.split(":", 1)[0]
    on = f"on: {outcomes[kind]}" if kind in outcomes else "next: then"
    flow_file(tmp_path, f"""\
        first:
          {setter}
          {on}
        then:
          play: [{{digits: "{{{{ vars.{read} }}}}"}}]
        """)
    assert errors_of(tmp_path) == []


def test_a_variable_a_step_sets_is_one_it_declares(tmp_path: Path) -> None:
    """What steps really put in ``vars`` during a call is what they declare
    to the validator (``Node.sets_variables``)."""
    result = run(tmp_path, """\
        version: 1
        name: everything
        start: ask
        steps:
          ask:
            menu: {prompt: p, choices: {"1": digits}, variable: CHOICE, direct_dial: {pattern: "^2", variable: EXT}}
            on: {direct: digits}
          digits:
            input: {prompt: p, variable: ACCOUNT, max_digits: 4}
            next: vip
          vip:
            lookup: {list: vip}
            on: {found: dnc, missing: dnc, anonymous: dnc}
          dnc:
            robinson: {list: vip, on_error: allow}
            on: {clear: prio, listed: prio}
          prio:
            priority: {value: 5, queue: sales}
            next: app
          app:
            exec: {app: Playback, options: beep, result_variable: RESULT}
            next: tag
          tag:
            set: {variables: {TAG: x, "CDR(x)": y}, cdr: {all: "{{ vars | tojson }}"}}
        """, caller="+34600111222", dtmf=["21", "1234"],
        services=Services(lists=MemoryLists({"vip": ["+34600111222"]}, "ES")))
    flows, _ = load_flows([tmp_path])
    declared = {name for step in flows.flows["everything"].steps.values() for name in step.node.sets_variables()}
    written = set(json.loads(json.loads(result.call["fields"])["all"]))
    assert written == {"CHOICE", "EXT", "ACCOUNT", "LOOKUP", "LOOKUP_NOTE", "ROBINSON", "QUEUE_PRIO", "queue",
                       "RESULT", "TAG"}
    assert written <= declared


def test_a_params_key_without_a_default_is_a_warning_not_an_error(tmp_path: Path) -> None:
    flow_file(tmp_path, """\
        first:
          play: [{digits: "{{ params.queue }}{{ params.token }}{{ params.scheme | default('http') }}"}]
        """)
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / 'demo.yaml'}:7: warning: step 'first': play.[0]: params.token has no default in " \
           "the flow's params; a call whose AGI URL does not give ?token= ends the step with error" in result.stdout
    assert "params.queue" not in result.stdout and "params.scheme" not in result.stdout
    assert result.stdout.splitlines()[-1].endswith(", 1 warning")


def test_the_validator_checks_templates_against_the_names_calls_have() -> None:
    flow = Flow(name="x", start="a", steps={}, params={"p": "1"})
    samples = sample_names(flow, ["V"], ["c"])
    assert samples.keys() == _NAMES.keys()
    assert samples["call"].keys() == CallInfo(id="1").as_names().keys()
    assert (samples["vars"], samples["cdr"], samples["params"]) == ({"V": ""}, {"c": ""}, {"p": "1"})
