"""``agiflow test`` inputs for contact-center data: the queue member who
answers (``agent``), the caller's earlier calls (``history``) and pending
callback requests, as a flow author writes them in a test file."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from agi.cli.main import cli

QUEUE_FLOW = """\
version: 1
name: desk
timezone: Europe/Madrid
start: queue
steps:
  queue:
    queue: support
    on: {answered: bye, timeout: bye}
  bye:
    hangup:
"""


@pytest.fixture
def flows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "flows"
    (folder / "tests").mkdir(parents=True)
    (folder / "desk.yaml").write_text(QUEUE_FLOW)
    return folder


def agiflow_test(flows: Path, cases: str) -> Result:
    path = flows / "tests" / "desk.tests.yaml"
    path.write_text("version: 1\nflow: desk\ncases:\n" + textwrap.indent(textwrap.dedent(cases), "  "))
    return CliRunner().invoke(cli, ["test", "--flows", str(flows), str(path)])


def test_the_member_a_case_names_is_the_agent_in_the_cdr(flows: Path) -> None:
    result = agiflow_test(flows, """\
        - name: Ana answers
          queue_statuses: [ANSWERED]
          agent: {name: Ana, interface: PJSIP/201}
          expect: {cdr: {agent: Ana, agent_interface: PJSIP/201}, variables: {MEMBERNAME: Ana}}
        - name: an interface alone is the name too
          queue_statuses: [ANSWERED]
          agent: PJSIP/202
          expect: {cdr: {agent: PJSIP/202, agent_interface: PJSIP/202}}
        - name: without it a default member answers
          queue_statuses: [ANSWERED]
          expect: {cdr: {agent: Agent, agent_interface: Local/agent@agents/n}}
        - name: nobody answers a queue that times out
          expect: {cdr: {agent: null}}
        """)
    assert result.exit_code == 0, result.output


MEMORY_FLOW = """\
version: 1
name: memory
timezone: Europe/Madrid
start: memory
steps:
  memory:
    history:
    on: {new: bye, returning: bye, repeat: bye, abandoned_recently: bye}
  bye:
    play: "{{ 'pending' if history.callback_pending else 'none' }}"
"""


def memory_test(flows: Path, cases: str) -> Result:
    (flows / "memory.yaml").write_text(MEMORY_FLOW)
    path = flows / "tests" / "memory.tests.yaml"
    path.write_text("version: 1\nflow: memory\ndefaults:\n  caller: \"+34600111222\"\n"
                    "  at: 2025-03-10T09:30:00\ncases:\n" + textwrap.indent(textwrap.dedent(cases), "  "))
    return CliRunner().invoke(cli, ["test", "--flows", str(flows), str(path)])


def test_earlier_calls_of_a_case_are_what_the_history_step_finds(flows: Path) -> None:
    result = memory_test(flows, """\
        - name: two calls, one in another spelling, make a repeat caller
          history:
            - {at: 2025-03-09T10:00:00, caller: "600111222"}
            - {at: 2025-03-10T09:00:00+01:00, queue_status: ABANDONED}
          expect: {path: [memory:abandoned_recently, bye:next], cdr: {history: abandoned_recently}}
        - name: another number's calls do not count
          history: [{at: 2025-03-09T10:00:00, caller: "+34600999999"}]
          expect: {path: [memory:new, bye:next]}
        - name: a call after the case's moment does not count
          history: [{at: 2025-03-10T10:00:00}]
          expect: {path: [memory:new, bye:next]}
        - name: an unavailable history fails open
          history: unavailable
          expect: {path: [memory:new, bye:next], cdr: {history: error}}
        - name: a pending callback is seen in any spelling
          pending_callbacks: ["600 111 222"]
          expect: {commands_include: ['STREAM FILE "pending" ""']}
        """)
    assert result.exit_code == 0, result.output


def test_a_wrong_earlier_call_is_an_error_of_the_test_file(flows: Path) -> None:
    result = memory_test(flows, """\
        - name: bad moment
          history: [{at: yesterday}]
          pending_callbacks: ["12"]
          expect: {path: [memory:new]}
        - name: no moment
          history: [{queue: support}]
          expect: {path: [memory:new]}
        """)
    assert result.exit_code != 0
    assert "'yesterday' is not a date and time" in result.output
    assert "pending_callbacks" in result.output
    assert "required" in result.output


def test_a_case_gives_the_agi_arguments(flows: Path) -> None:
    (flows / "args.yaml").write_text("version: 1\nname: args\nstart: say\nsteps:\n"
                                     "  say:\n    play: \"q-{{ args[0] if args else 'none' }}\"\n")
    path = flows / "tests" / "args.tests.yaml"
    path.write_text(textwrap.dedent("""\
        version: 1
        flow: args
        cases:
          - name: with an argument
            args: [sales]
            expect: {commands_include: ['STREAM FILE "q-sales" ""']}
          - name: without
            expect: {commands_include: ['STREAM FILE "q-none" ""']}
        """))
    result = CliRunner().invoke(cli, ["test", "--flows", str(flows), str(path)])
    assert result.exit_code == 0, result.output
