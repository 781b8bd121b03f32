"""A flow author sees every mistake at once, each with its file and line."""
from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agi.engine.model import Step
from agi.loading import graph
from agi.loading.loader import load_flows
from agi.steps import REGISTRY
from agi.steps.goto import GotoNode
from agi.steps.hangup import HangupNode

GOOD = """\
version: 1
name: demo
start: menu
steps:
  menu:
    menu: {prompt: main-menu, choices: {"1": sales, 2: support}}
    on: {timeout: bye, invalid: bye}
  sales:
    play: sales
    next: bye
  support:
    play: support
    next: bye
  bye:
    hangup:
"""


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def errors_of(*paths: Path) -> list[str]:
    flows, errors = load_flows(paths)
    assert not flows.flows or not errors
    return [str(e) for e in errors]


def test_a_good_flow_loads_with_dtmf_keys_as_strings(tmp_path: Path) -> None:
    flows, errors = load_flows([write(tmp_path, GOOD)])
    assert errors == []
    menu = flows.get("demo").steps["menu"]
    assert menu.transitions == {"1": "sales", "2": "support", "timeout": "bye", "invalid": "bye"}


def test_misspelt_outcome_names_the_allowed_ones_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("on: {timeout: bye", "on: {timout: bye"))
    assert errors_of(path) == [
        f"{path}:7: step 'menu': unknown outcome 'timout'; allowed: 1, 2, timeout, invalid, hangup, error"
    ]


def test_duplicate_key_is_an_error_not_silently_the_last(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "  bye:\n    hangup:\n")
    assert errors_of(path) == [f"{path}:16: duplicate key 'bye' (first at line 14)"]


def test_yaml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("play: sales", "play: [sales"))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:10: invalid YAML")


def test_yaml_nested_deeper_than_the_parser_reads_reports_the_line(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(GOOD + "x-deep: " + "[" * 5000 + "]" * 5000 + "\n")
    assert errors_of(path) == [f"{path}:{GOOD.count(chr(10)) + 1}: invalid YAML: nested too deeply"]


def test_a_number_of_more_digits_than_int_reads_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("play: sales", "play: " + "1" * 5000))
    assert errors_of(path) == [f"{path}:9: number with too many digits"]


def test_aliases_that_stand_for_a_billion_values_are_refused_at_once_with_their_line(tmp_path: Path) -> None:
    laughs = "".join(f"        a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]\n" for n in range(1, 9))
    path = write(tmp_path, GOOD.replace("  bye:\n", "  hook:\n    webhook:\n      url: http://127.0.0.1:9/x\n"
                                        "      data:\n        a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
                                        + laughs + "    next: bye\n  bye:\n"))
    started = time.process_time()
    assert errors_of(path) == [f"{path}:22: aliases repeat more than 10000 values; "
                               "write the values out or use fewer aliases"]
    assert time.process_time() - started < 2


def test_aliases_and_merge_keys_that_repeat_a_few_values_still_load(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("menu: {prompt: main-menu,", "menu: &menu {prompt: main-menu,")
                 .replace("play: support\n    next: bye", "play: support\n    next: again")
                 .replace("  sales:\n", "  again:\n    menu: {<<: *menu, timeout: 3}\n"
                                        "    on: *on\n  sales:\n")
                 .replace("    on: {timeout: bye, invalid: bye}", "    on: &on {timeout: bye, invalid: bye}"))
    flows, errors = load_flows([path])
    assert [str(e) for e in errors] == []
    assert flows.get("demo").steps["again"].transitions == {"1": "sales", "2": "support", "timeout": "bye",
                                                            "invalid": "bye"}


def test_a_key_written_over_one_a_merge_key_brings_replaces_it_and_a_key_written_twice_is_still_an_error(
        tmp_path: Path) -> None:
    text = (GOOD.replace("menu: {prompt: main-menu,", "menu: &menu {prompt: main-menu,")
            .replace("play: support\n    next: bye", "play: support\n    next: again")
            .replace("  sales:\n", "  again:\n    menu: {<<: *menu, prompt: other-menu}\n"
                                   "    on: {timeout: bye, invalid: bye}\n  sales:\n"))
    flows, errors = load_flows([write(tmp_path, text)])
    assert [str(e) for e in errors] == []
    assert flows.get("demo").steps["again"].node.prompt == "other-menu"
    twice = write(tmp_path, text.replace("prompt: other-menu}", "prompt: other-menu, prompt: third}"), "twice.yaml")
    assert errors_of(twice) == [f"{twice}:9: duplicate key 'prompt' (first at line 9)"]


def test_a_flow_file_that_is_not_utf8_is_reported_at_the_line_of_its_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_bytes(GOOD.replace("play: support", "play: caf\xe9").encode("latin-1"))
    assert errors_of(path) == [f"{path}:12: cannot read flow file: not UTF-8 text (byte 0xe9 on this line); "
                               "save it as UTF-8"]


def test_a_flow_file_over_its_size_cap_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(GOOD + "#" + "x" * (256 * 1024 - len(GOOD) - 2) + "\n")
    assert errors_of(path) == []
    path.write_text(GOOD + "#" + "x" * (256 * 1024 - len(GOOD) - 1) + "\n")
    assert errors_of(path) == [f"{path}:1: flow file larger than 262144 bytes; split it into several flows (goto)"]


def _broken_link(path: Path) -> None:
    path.symlink_to(path.parent / "gone.yaml")


def _link_loop(path: Path) -> None:
    path.symlink_to(path.name)


def _device(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _kernel_log(path: Path) -> None:
    """A link to /proc/kmsg: a regular file to stat, whose reading waits
    for the next kernel message (once every later reload waited for ever)."""
    path.symlink_to("/proc/kmsg")


#: /proc/kmsg can be opened by root only (CAP_SYSLOG).
KMSG_READABLE = os.access("/proc/kmsg", os.R_OK)


@pytest.mark.parametrize(("make", "error"), [
    (_broken_link, "a symbolic link to {folder}/gone.yaml, which cannot be read"),
    (_link_loop, "a symbolic link to second.yaml, which cannot be read"),
    (os.mkfifo, "cannot read flow file: not a file but a named pipe"),
    (_device, "cannot read flow file: not a file but a device"),
    pytest.param(_kernel_log, "cannot read flow file: reading it would wait for more data (it is no file on a disk)",
                 marks=pytest.mark.skipif(not KMSG_READABLE, reason="/proc/kmsg needs root")),
], ids=["broken-link", "link-to-itself", "named-pipe", "device", "waits-for-data"])
def test_a_flow_file_that_is_no_file_is_reported_never_left_out_or_waited_on(
        tmp_path: Path, make: Callable[[Path], None], error: str) -> None:
    """Once such a file was left out without a word (a reload dropped its
    flow, and its calls ended unknown_flow), a named pipe given by name was
    waited on for ever, and a link to itself was a traceback."""
    write(tmp_path, GOOD)
    second = tmp_path / "second.yaml"
    make(second)
    (tmp_path / ".#second.yaml").symlink_to("root@host.4242:1733500000")  # an editor's lock: no flow
    started = time.monotonic()
    assert errors_of(tmp_path) == [f"{second}:1: {error.format(folder=tmp_path)}"]
    assert errors_of(second) == [f"{second}:1: {error.format(folder=tmp_path)}"]
    assert time.monotonic() - started < 1


def test_a_flow_file_that_cannot_be_read_is_named_once_with_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flow file the server's user may not read said `cannot read flow
    file: [Errno 13] Permission denied: 'flows/x.yaml'`: its name twice, and
    Python's errno (root reads any file, so the refusal is made here)."""
    from agi.loading import files

    path = write(tmp_path, GOOD)

    def refused(file: object, *args: object, **kwargs: object) -> bytes:
        raise PermissionError(13, "Permission denied", str(file))
    monkeypatch.setattr(files, "read_capped", refused)
    assert errors_of(path) == [f"{path}:1: cannot read flow file: Permission denied"]


CI_JOB = """\
name: validate
on: [push]
jobs:
  flows: {runs-on: ubuntu-latest, steps: [{run: agiflow validate}]}
"""


def test_hidden_files_and_folders_beside_the_flows_are_no_flows(tmp_path: Path) -> None:
    """A flows folder kept in Git holds its tools' settings: a CI job
    (.gitlab-ci.yml, .github/workflows/*.yml), .pre-commit-config.yaml.
    They were read as flows: validate failed and the server refused to
    start. A folder that is itself hidden is read when it is the one given."""
    folder = tmp_path / ".agiflow" / "flows"
    folder.mkdir(parents=True)
    write(folder, GOOD)
    write(folder, CI_JOB, ".gitlab-ci.yml")
    write(folder, "repos: []\n", ".pre-commit-config.yaml")
    (folder / ".github" / "workflows").mkdir(parents=True)
    write(folder / ".github" / "workflows", CI_JOB, "validate.yml")
    flows, errors = load_flows([folder])
    assert [str(e) for e in errors] == [] and sorted(flows.flows) == ["demo"]
    assert errors_of(folder / ".gitlab-ci.yml"), "a file given by name is read whatever its name"


def test_every_unknown_key_is_reported_at_its_own_line_not_only_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("version: 1\n", "version: 1\nowner: ana\nauthor: ana\n"))
    assert [e.split("; allowed")[0] for e in errors_of(path)] == [f"{path}:2: unknown key 'owner'",
                                                                 f"{path}:3: unknown key 'author'"]
    path = write(tmp_path, GOOD.replace("    next: bye\n  support", "    nxt: bye\n    desc: x\n  support"))
    assert [e.split("; allowed")[0] for e in errors_of(path)] == [
        f"{path}:10: step 'sales': unknown key 'nxt'", f"{path}:11: step 'sales': unknown key 'desc'"]


def test_an_unknown_top_level_key_does_not_hide_the_errors_of_the_steps(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("version: 1\n", "version: 1\nowner: ana\n")
                 .replace("    next: bye\n  support", "    nxt: bye\n  support"))
    assert [e.split("; allowed")[0] for e in errors_of(path)] == [
        f"{path}:2: unknown key 'owner'", f"{path}:11: step 'sales': unknown key 'nxt'"]


def test_unknown_step_key_lists_the_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    next: bye\n  support", "    nxt: bye\n  support"))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:10: step 'sales': unknown key 'nxt'; allowed: answer, branch")
    assert error.endswith("on, next, description")


def test_unknown_option_of_a_step_type_points_at_that_option(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('menu: {prompt: main-menu,', 'menu: {prompt: main-menu, retires: 3,'))
    [error] = errors_of(path)
    assert error.startswith(f"{path}:6: step 'menu': menu: unknown key 'retires'; allowed: choices, direct_dial")


def test_wrong_option_type_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("{prompt: main-menu,", "{prompt: main-menu, timeout: soon,"))
    assert errors_of(path) == [f"{path}:6: step 'menu': menu: timeout: 'soon' is not of type 'number'"]


def test_target_that_does_not_exist(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("play: support\n    next: bye", "play: support\n    next: byee"))
    assert errors_of(path) == [f"{path}:13: step 'support': outcome 'next' leads to unknown step 'byee'"]


def test_unreachable_step(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "  orphan:\n    play: x\n")
    assert errors_of(path) == [f"{path}:16: step 'orphan' is never reached from start step 'demo'"
                               .replace("'demo'", "'menu'")]


def test_loop_with_no_way_out(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        version: 1
        name: loop
        start: a
        steps:
          a:
            play: x
            next: b
          b:
            play: y
            next: a
        """)
    assert errors_of(path) == [
        f"{path}:5: step 'a' is in a loop with no way out: no path from it ends the flow",
        f"{path}:8: step 'b' is in a loop with no way out: no path from it ends the flow",
    ]


def test_menu_that_retries_itself_but_can_end_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        version: 1
        name: retry
        start: m
        steps:
          m:
            menu: {prompt: p, choices: {"1": m}}
            on: {invalid: m}
        """)
    assert errors_of(path) == []


def test_yaml_on_and_yes_are_not_booleans(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("play: sales", "play: yes"))
    flows, errors = load_flows([path])
    assert errors == []
    assert flows.get("demo").steps["sales"].node.items[0].value == "yes"


PREFIXES = """\
version: 1
name: prefixes
params: {prefix: 0034, code: 012, at: 12:30, big: 1_000, hexy: 0x1F, n: 3, f: 1.5}
start: tag
steps:
  tag:
    set:
      variables: {PREFIX: 0034, DIAL: "{{ params.prefix }}600111222"}
      cdr: {prefix: 0034, opens: 12:30, n: 3}
    next: bye
  bye:
    hangup: {cause: 017}
"""


def test_yaml_numbers_with_a_leading_zero_or_a_colon_are_text_as_written(tmp_path: Path) -> None:
    """YAML 1.1 read 0034 as octal (28) and 12:30 as base 60 (750): a
    dialling prefix became another number. They are text as written; a
    step option that wants a number refuses them with their line."""
    path = write(tmp_path, PREFIXES)
    assert errors_of(path) == [f"{path}:12: step 'bye': hangup: cause: '017' is not of type 'integer'"]
    flows, errors = load_flows([write(tmp_path, PREFIXES.replace("cause: 017", "cause: 17"))])
    assert errors == []
    flow = flows.get("prefixes")
    assert flow.params == {"prefix": "0034", "code": "012", "at": "12:30", "big": "1_000", "hexy": "0x1F",
                           "n": "3", "f": "1.5"}
    node = flow.steps["tag"].node
    assert dict(node.variables)["PREFIX"] == "0034"
    assert dict(node.cdr) == {"prefix": "0034", "opens": "12:30", "n": 3}


def test_step_without_type_and_with_two_types(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    play: sales\n", "    play: sales\n    answer:\n")
                 .replace("  support:\n    play: support\n", "  support:\n"))
    errors = errors_of(path)
    assert f"{path}:8: step 'sales': more than one step type (play, answer); one of: {', '.join(sorted(REGISTRY))}" in errors
    assert any(e.startswith(f"{path}:12: step 'support': no step type") for e in errors)


def test_next_on_a_step_that_ends_the_flow(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("  bye:\n    hangup:\n", "  bye:\n    hangup:\n    next: menu\n"))
    assert errors_of(path) == [f"{path}:16: step 'bye': 'next' is not allowed: a hangup step ends the flow"]


def test_bad_template_and_condition_fail_validation(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        version: 1
        name: tpl
        start: b
        steps:
          b:
            branch:
              cases:
                - {if: "call.caller ==", next: p}
          p:
            play: "{{ call.caller "
        """)
    errors = errors_of(path)
    assert len(errors) == 2
    assert errors[0].startswith(f"{path}:6: step 'b': branch.cases[0].if: template error")
    assert errors[1].startswith(f"{path}:10: step 'p': play.[0]: template error")


def test_unknown_timezone_and_missing_required_keys(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("name: demo", "name: demo\ntimezone: Europe/Madird"))
    assert errors_of(path) == [
        f"{path}:3: unknown timezone 'Europe/Madird' (use an IANA name such as Europe/Madrid)"]
    path = write(tmp_path, "version: 1\nname: x\nsteps: {a: {answer: }}\n", "missing.yaml")
    assert errors_of(path) == [f"{path}:1: 'start' is required"]


def test_goto_to_unknown_flow_and_duplicate_flow_names(tmp_path: Path) -> None:
    first = write(tmp_path, GOOD.replace("  bye:\n    hangup:\n", "  bye:\n    goto: nowhere\n"), "a.yaml")
    second = write(tmp_path, GOOD, "b.yaml")
    errors = errors_of(first, second)
    assert f"{second}:1: flow name 'demo' is also used by {first}" in errors
    assert f"{first}:15: step 'bye': goto to unknown flow 'nowhere'" in errors


def test_every_error_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    one = write(tmp_path, GOOD.replace("on: {timeout: bye", "on: {timout: bye"), "one.yaml")
    two = write(tmp_path, GOOD.replace("name: demo", "name: other").replace("next: byee", "")
                .replace("play: sales\n    next: bye", "play: sales\n    next: nope"), "two.yaml")
    errors = errors_of(one, two)
    assert len(errors) == 2 and errors[0].startswith(str(one)) and errors[1].startswith(str(two))


@pytest.mark.parametrize("flow_file", sorted(Path(__file__).resolve().parents[2].joinpath("flows").glob("*.yaml")))
def test_every_shipped_flow_validates(flow_file: Path) -> None:
    flows, errors = load_flows([flow_file.parent])
    assert errors == []


def test_next_on_a_step_with_its_own_outcomes_names_them(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    on: {timeout: bye, invalid: bye}\n", "    next: bye\n"))
    assert errors_of(path) == [f"{path}:7: step 'menu': 'next' is not allowed: a menu step has no 'next' outcome; "
                               f"allowed: 1, 2, timeout, invalid, hangup, error"]


def test_a_bad_key_of_a_mapping_is_reported_at_its_own_line(tmp_path: Path) -> None:
    """A step name, menu key or other mapping key that is refused points at
    itself, not at the line of the mapping that holds it (``steps:``)."""
    path = write(tmp_path, GOOD.replace('choices: {"1": sales, 2: support}', 'choices: {"1": sales,\n      "#": support}'))
    assert f"{path}:7: step 'menu': menu: choices: '#' does not match '^[0-9*]{{1,10}}$'" in errors_of(path)
    path = write(tmp_path, GOOD.replace("  support:\n", "  support:\n    play: x\n  \"5\":\n"))
    assert errors_of(path) == [f"{path}:13: steps: '5' does not match '^[A-Za-z_][A-Za-z0-9_-]*$'"]


@pytest.mark.parametrize("step", [
    "branch: {cases: [{if: 'true', next: sales, label: next}], else: support}",
    "split: [{percent: 50, next: sales, label: next}, {percent: 50, next: support}]",
])
def test_next_beside_a_case_or_branch_labelled_next_is_a_target_given_twice(tmp_path: Path, step: str) -> None:
    text = GOOD.replace("menu: {prompt: main-menu, choices: {\"1\": sales, 2: support}}", step) \
               .replace("    on: {timeout: bye, invalid: bye}\n", "    next: support\n")
    path = write(tmp_path, text)
    assert f"{path}:7: step 'menu': outcome 'next' is given a target twice" in errors_of(path)


@pytest.mark.parametrize("value, message", [
    ("{cause: 128}", "hangup: cause: 128 is greater than the maximum of 127"),
    ("{cause: busy}", "hangup: cause: 'busy' is not of type 'integer'"),
    ("{cauze: 17}", "hangup: unknown key 'cauze'; allowed: cause"),
])
def test_an_option_of_one_of_several_forms_is_judged_in_the_form_it_is_written(
        tmp_path: Path, value: str, message: str) -> None:
    path = write(tmp_path, GOOD.replace("    hangup:\n", f"    hangup: {value}\n"))
    assert errors_of(path) == [f"{path}:15: step 'bye': {message}"]


@pytest.mark.parametrize("step, value, message", [
    ("sales", "play: {digits: '12'}", "play: {'digits': '12'} is not of type 'string' or 'array'"),
    ("sales", "queue: [sales]", "queue: ['sales'] is not of type 'string' or 'integer' or 'object'"),
    ("sales", "dial: [PJSIP/100]", "dial: ['PJSIP/100'] is not of type 'string' or 'object'"),
    ("sales", "answer: false", "answer: False is not of type 'null' or 'object', nor true"),
    ("sales", "answer: 'yes'", "answer: 'yes' is not of type 'null' or 'object', nor true"),
])
def test_a_value_of_no_form_names_every_form_it_may_take(tmp_path: Path, step: str, value: str, message: str) -> None:
    """A value that is none of the forms an option takes (play: one sound
    or a list; queue: a name or options) says so; naming the first form
    alone read as if it were the only one."""
    path = write(tmp_path, GOOD.replace("    play: sales\n", f"    {value}\n"))
    assert errors_of(path) == [f"{path}:9: step '{step}': {message}"]


@pytest.mark.parametrize("value, messages", [
    ("queue: {name: sales, timeout: -1, position: 0}",
     ["queue: position: 0 is less than the minimum of 1", "queue: timeout: -1 is less than the minimum of 1"]),
    ("dial: {destination: PJSIP/100, timeout: abc, callerid: {nm: x}}",
     ["dial: callerid: unknown key 'nm'; allowed: name, number", "dial: timeout: 'abc' is not of type 'integer'"]),
    ("voicemail: {mailbox: 100@sales, options: 5, bogus: 1}",
     ["voicemail: options: 5 is not of type 'string'",
      "voicemail: unknown key 'bogus'; allowed: mailbox, options"]),
    ("play: [{digits: '1', number: 4}, {sound: x, digits: '2'}]",
     ["play: [0]: digits and number cannot be written together: an item is one of sound, digits, number",
      "play: [1]: sound and digits cannot be written together: an item is one of sound, digits, number"]),
    ("play: [{digits: []}, {number: x, bogus: 1}]",
     ["play: [0].digits: [] is not of type 'string', 'integer'",
      "play: [1]: unknown key 'bogus'; allowed: number"]),
])
def test_an_option_of_several_forms_reports_every_mistake_of_the_form_it_is_written_in(
        tmp_path: Path, value: str, messages: list[str]) -> None:
    """A step written in its long form (queue, dial, voicemail, play items...)
    reports all its mistakes at once, as a step of one form does; only the
    first was reported, so each needed another run of validate, and
    {digits: []} said "unknown key 'digits'; allowed: sound"."""
    path = write(tmp_path, GOOD.replace("    play: sales\n", f"    {value}\n"))
    assert sorted(errors_of(path)) == sorted(f"{path}:9: step 'sales': {m}" for m in messages)


@pytest.mark.parametrize("value, message", [
    ("dial: ' '", "dial.destination: the destination is empty"),
    ("dial: {destination: '  '}", "dial.destination: the destination is empty"),
    ("queue: ' '", "queue.name: the queue name is empty"),
    ("voicemail: {mailbox: ' '}", "voicemail.mailbox: the mailbox is empty"),
])
def test_a_destination_queue_or_mailbox_written_blank_fails_validation(
        tmp_path: Path, value: str, message: str) -> None:
    """Only spaces, written without a template, end every call there with
    error ("the mailbox is empty"); validate says so with the line."""
    path = write(tmp_path, GOOD.replace("    play: sales\n", f"    {value}\n"))
    assert f"{path}:9: step 'sales': {message}" in errors_of(path)


@pytest.mark.parametrize("value, option, expected", [
    ("queue: 400", "name", "400"),
    ("queue: {name: 400}", "name", "400"),
    ("voicemail: 100", "mailbox", "100"),
    ("voicemail: {mailbox: 100}", "mailbox", "100"),
    ("callback: {confirm: c, enter: e, queue: 400}", "queue", "400"),
])
def test_a_queue_or_mailbox_written_as_a_yaml_number_is_its_text(
        tmp_path: Path, value: str, option: str, expected: str) -> None:
    """Queues and mailboxes are often all digits (queue 400, mailbox 100):
    written unquoted they are the same text, as DTMF keys and play's digits
    are; they were refused as "is not of type 'string'"."""
    text = GOOD.replace("    play: sales\n", f"    {value}\n").replace("    next: bye\n", "    on: {}\n", 1)
    flows, errors = load_flows([write(tmp_path, text)])
    assert errors == []
    assert getattr(flows.get("demo").steps["sales"].node, option) == expected


@pytest.mark.parametrize("value, message", [
    ("dial: {destination: PJSIP/100, callerid: +34911234567}",
     "dial: callerid: 34911234567 is not of type 'string' or 'object'"),
    ("lookup: {list: vip, number: +34600111222}", "lookup: number: 34600111222 is not of type 'string'"),
    ("queue: -400", "queue: -400 is less than the minimum of 0"),
])
def test_a_phone_number_written_as_a_yaml_number_is_still_refused(tmp_path: Path, value: str, message: str) -> None:
    """YAML reads +34911234567 as the number 34911234567: taken as text it
    would present or look up another number, so it must be quoted."""
    text = GOOD.replace("    play: sales\n", f"    {value}\n").replace("    next: bye\n", "    on: {}\n", 1)
    assert errors_of(write(tmp_path, text)) == [f"{tmp_path / 'flow.yaml'}:9: step 'sales': {message}"]


RING = """\
version: 1
name: {name}
start: hop
steps:
  hop:
    goto: {other}
"""


def test_flows_that_only_goto_one_another_never_end_and_fail_validation(tmp_path: Path) -> None:
    first = write(tmp_path, RING.format(name="first", other="second"), "first.yaml")
    second = write(tmp_path, RING.format(name="second", other="{flow: first}"), "second.yaml")
    message = ("flow '{}' never ends: every path from its start step 'hop' goes by goto into flows that only lead "
               "back; such a call ends as error after 10 transfers")
    assert errors_of(first, second) == [f"{first}:3: {message.format('first')}", f"{second}:3: {message.format('second')}"]


def test_flows_that_goto_one_another_pass_when_one_can_end(tmp_path: Path) -> None:
    first = write(tmp_path, RING.format(name="first", other="second"), "first.yaml")
    second = write(tmp_path, """\
        version: 1
        name: second
        start: menu
        steps:
          menu:
            menu: {prompt: p, choices: {"1": back}}
          back:
            goto: first
        """, "second.yaml")
    assert errors_of(first, second) == []


LABELS = """\
version: 1
name: labels
start: route
steps:
  route:
    branch:
      cases:
        - {if: "call.caller == '1'", next: a, label: vip}
        - {if: "call.caller == '2'", next: b, label: vip}
        - {if: "call.caller == '3'", next: b, label: else}
        - {if: "call.caller == '4'", next: b, label: hangup}
      else: a
  a:
    play: hello-world
  b:
    split: {error: 50, other: 50}
    on: {error: a, other: a}
"""


def test_a_label_that_takes_another_outcomes_name_is_an_error_with_its_line(tmp_path: Path) -> None:
    """A second case labelled like the first (or like else) was silently
    sent to the other's step, and a branch or split labelled hangup counted
    the call as caller_hangup though no one hung up."""
    path = write(tmp_path, LABELS)
    assert errors_of(path) == [
        f"{path}:6: step 'route': branch: label 'else' is taken: it names two outcomes of the step; "
        "give it another label",
        f"{path}:6: step 'route': branch: label 'hangup' is taken: every step may end with hangup "
        "(the caller hung up); give it another label",
        f"{path}:6: step 'route': branch: label 'vip' is taken: it names two outcomes of the step; "
        "give it another label",
        f"{path}:16: step 'b': split: label 'error' is taken: every step may end with error (the step failed); "
        "give it another label",
    ]


def test_a_menu_choice_longer_than_max_digits_is_an_error_with_its_line(tmp_path: Path) -> None:
    """GET DATA returns after max_digits keys: a longer choice could never be
    keyed, and its callers would hear the invalid prompt instead."""
    path = write(tmp_path, GOOD.replace('choices: {"1": sales, 2: support}',
                                        'choices: {"1": sales, "22": support}, max_digits: 1'))
    assert errors_of(path) == [
        f"{path}:6: step 'menu': menu.max_digits: choice '22' has 2 keys but max_digits is 1: it can never be keyed"]
    assert errors_of(write(tmp_path, GOOD.replace('choices: {"1": sales, 2: support}',
                                                  'choices: {"1": sales, "22": support}, max_digits: 2'))) == []


def test_a_chain_of_as_many_steps_as_a_flow_file_holds_loads_in_linear_time(tmp_path: Path) -> None:
    """Each step leads to the next, the last ends the flow: the check for
    loops with no way out once looked at every step again for each one it
    found to end (85 s for the 7,000 steps a file holds, 40 s for these),
    and a server holds every call while it loads its flows."""
    count = 4000
    steps = "".join(f"  s{n}:\n    answer:\n    next: s{n + 1}\n" for n in range(count))
    path = write(tmp_path, f"version: 1\nname: chain\nstart: s0\nsteps:\n{steps}  s{count}:\n    hangup:\n")
    started = time.process_time()
    flows, errors = load_flows([path])
    assert errors == [] and len(flows.get("chain").steps) == count + 1
    assert time.process_time() - started < 10


def test_flows_that_goto_one_another_in_a_long_chain_are_checked_in_linear_time() -> None:
    """Flow n transfers to flow n + 1, the last ends the call: the check
    for flows that never end once looked at every flow again for each one
    it found to end (30 s for these 5,000 flows)."""
    count = 5000
    names = [f"f{n:04}" for n in range(count)]
    flows = {name: {"go": Step("go", GotoNode(names[n + 1]) if n + 1 < count else HangupNode(), {})}
             for n, name in enumerate(names)}
    flows["ring"] = {"go": Step("go", GotoNode("ring"), {})}
    started = time.process_time()
    assert graph.endless_flows(flows, dict.fromkeys(flows, "go")) == ["ring"]
    assert time.process_time() - started < 2


@pytest.mark.parametrize("character", ["\x00", "\x07", "\x1b", "\x7f", "\ufffe"])
def test_a_control_character_is_reported_at_its_line_in_one_line(tmp_path: Path, character: str) -> None:
    """YAML refuses control characters; the error once said line 1 (the
    file's first line, wherever the character was), and took two lines (PyYAML's position in "<unicode string>")."""
    path = write(tmp_path, GOOD.replace("play: support", f"play: sup{character}port"))
    assert errors_of(path) == [f"{path}:12: invalid YAML: unacceptable character #x{ord(character):04x}: "
                               "special characters are not allowed"]


@pytest.mark.parametrize("text", ["(" * 3000 + "1" + ")" * 3000, "[" * 3000 + "1" + "]" * 3000, "not " * 5000 + "1",
                                  "1" + " + 1" * 30000, "call" + ".x" * 30000, "1" + " | string" * 10000,
                                  "call.caller" + " + call.caller" * 200, "call" + ".x" * 200],
                         ids=["parentheses", "lists", "not", "sums", "attributes", "filters",
                              "sums-past-pythons-parser", "attributes-past-pythons-parser"])
def test_a_template_or_condition_nested_deeper_than_jinja_reads_is_an_error_with_its_line(
        tmp_path: Path, text: str) -> None:
    """Jinja parses and compiles expressions recursively, and the Python it
    makes of 200 terms nests deeper than Python's parser takes: such a
    template was a RecursionError or SyntaxError traceback out of `agiflow
    validate`, and a failed reload of the whole folder in a server."""
    path = write(tmp_path, f"""\
        version: 1
        name: tpl
        start: b
        steps:
          b:
            branch:
              cases:
                - {{if: "{text}", next: p}}
          p:
            play: "{{{{ {text} }}}}"
        """)
    assert errors_of(path) == [f"{path}:6: step 'b': branch.cases[0].if: template error: nested too deeply",
                               f"{path}:10: step 'p': play.[0]: template error: nested too deeply"]


#: Names ZoneInfo does not answer with ZoneInfoNotFoundError: one longer than
#: a file name may be (OSError) and one of thousands of parts (RecursionError).
ZONES_PAST_WHAT_ZONEINFO_READS = ["Europe/" + "x" * 300, "A/" * 3000 + "B"]


def test_localtime_is_no_timezone_though_the_machine_has_a_file_of_that_name(tmp_path: Path) -> None:
    """Debian's /usr/share/zoneinfo/localtime links to the machine's zone: a
    flow in ``timezone: localtime`` validated, and its hours moved with the
    machine it ran on (UTC in CI, Madrid on the server)."""
    path = write(tmp_path, GOOD.replace("name: demo", "name: demo\ntimezone: localtime"))
    assert errors_of(path) == [f"{path}:3: unknown timezone 'localtime' (use an IANA name such as Europe/Madrid)"]


@pytest.mark.parametrize("zone", ZONES_PAST_WHAT_ZONEINFO_READS, ids=["long", "many-parts"])
def test_a_timezone_no_file_can_be_named_after_is_an_unknown_timezone(tmp_path: Path, zone: str) -> None:
    """Once an OSError or RecursionError traceback from every command."""
    path = write(tmp_path, GOOD.replace("name: demo", f"name: demo\ntimezone: {zone}"))
    assert errors_of(path) == [f"{path}:3: unknown timezone '{zone}' (use an IANA name such as Europe/Madrid)"]


@pytest.mark.parametrize(("pattern", "error"), [
    ("^a{4294967294}$", "invalid regular expression: its counts stand for more than 10000 items written out "
                        "(a{n} is n copies of a); no entry of keys is that long"),
    ("^((1{200}){200}){200}$", "invalid regular expression: its counts stand for more than 10000 items written "
                               "out (a{n} is n copies of a); no entry of keys is that long"),
    ("^(?<x>1{99999}){99999}$", "invalid regular expression: its counts stand for more than 10000 items written "
                                "out (a{n} is n copies of a); no entry of keys is that long"),
    ("(" * 1000 + "1" + ")" * 1000, "invalid regular expression: nested too deeply"),
], ids=["one-count", "nested-counts", "regex-syntax", "nested-groups"])
def test_a_key_pattern_the_regex_module_cannot_compile_in_bounds_is_an_error_with_its_line(
        tmp_path: Path, pattern: str, error: str) -> None:
    """The regex module writes ``a{n}`` out as n copies when it compiles a
    pattern: ``a{4294967294}`` took 7 GB of memory in 20 s, three nested
    counts of 200 took 10 s, while a reloading server held every call; and
    1,000 nested groups were a RecursionError traceback out of `agiflow
    validate`. The counts a pattern of keys needs are small."""
    path = write(tmp_path, GOOD.replace("menu: {prompt: main-menu,", "menu: {prompt: main-menu, max_digits: 3, "
                                        f"direct_dial: {{pattern: '{pattern}'}},"))
    started = time.monotonic()
    assert errors_of(path) == [f"{path}:6: step 'menu': menu.direct_dial.pattern: {error}"]
    assert time.monotonic() - started < 1


def test_a_key_pattern_with_the_counts_a_number_plan_needs_loads(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("menu: {prompt: main-menu,", "menu: {prompt: main-menu, max_digits: 20, "
                                        "direct_dial: {pattern: '^(00|\\+)?([0-9]{2}){1,3}[0-9]{6,12}$|^[2-4][0-9]{2}$'},"))
    assert errors_of(path) == []
