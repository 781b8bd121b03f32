"""The ``priority`` step: QUEUE_PRIO for the next Queue(), the VIP mark and
priority in the CDR, and a dedicated queue for a later ``queue`` step."""
from __future__ import annotations

from pathlib import Path

from agi.loading.loader import load_flows
from support.step_runner import cdr, commands, details, path, run

VIP_FLOW = """\
version: 1
name: vip
start: vip
steps:
  vip:
    priority: {value: 10, vip: true, queue: vip_support}
    next: queue
  queue:
    queue: {name: "{{ vars.queue | default('support') }}", timeout: 60}
"""


def test_vip_caller_gets_queue_prio_before_queueing_and_is_marked_in_the_cdr(tmp_path: Path) -> None:
    result = run(tmp_path, VIP_FLOW)
    sent = commands(result)
    assert sent[0] == 'SET VARIABLE "QUEUE_PRIO" "10"'
    assert 'EXEC "Queue" "vip_support,,,,60"' in sent
    assert path(result)[0] == "vip:next"
    assert result.variables["QUEUE_PRIO"] == "10"
    assert cdr(result, "vip", "priority", "queue") == (1, 10, "vip_support")
    assert details(result, "vip") == {"priority": 10, "vip": True, "queue": "vip_support"}


def test_priority_without_vip_leaves_the_vip_column_empty(tmp_path: Path) -> None:
    result = run(tmp_path, VIP_FLOW.replace("{value: 10, vip: true, queue: vip_support}", "{value: 3}"))
    assert cdr(result, "vip", "priority", "queue") == (None, 3, "support")


def test_priority_value_may_be_a_template(tmp_path: Path) -> None:
    flow = VIP_FLOW.replace("{value: 10, vip: true, queue: vip_support}",
                            "{value: \"{{ 20 if call.caller.startswith('6') else 0 }}\"}")
    result = run(tmp_path, flow, caller="600111222")
    assert commands(result)[0] == 'SET VARIABLE "QUEUE_PRIO" "20"'
    assert cdr(result, "priority") == (20,)


def test_a_template_that_is_not_a_number_fails_the_step(tmp_path: Path) -> None:
    flow = VIP_FLOW.replace("{value: 10, vip: true, queue: vip_support}", '{value: "{{ call.caller_name }}x"}')
    result = run(tmp_path, flow)
    assert path(result) == ["vip:error"]
    assert "not an integer" in result.call["error"]
    assert not any(c.startswith('SET VARIABLE "QUEUE_PRIO"') for c in commands(result))


def test_a_plain_value_that_is_not_a_number_is_refused_by_validation(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(VIP_FLOW.replace("{value: 10, vip: true, queue: vip_support}",
                                                        "{value: high}"))
    _, errors = load_flows([tmp_path])
    assert any("priority.value" in str(e) and "neither an integer nor a template" in str(e) for e in errors)
