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
