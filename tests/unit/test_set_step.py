"""The ``set`` step: channel variables and CDR fields.

Each test writes a small flow, loads it through the real loader and runs
it with ``agi.simulate.simulate`` against the simulated Asterisk 22.
Assertions are on what Asterisk receives (the exact command lines), on the
path the call takes, and on the CDR rows and variables that come out of it.
"""
from __future__ import annotations

from pathlib import Path

from support.step_runner import STATUS, commands, fields, path, run


def test_set_sends_channel_variables_in_order_and_keeps_cdr_fields(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: tag
        start: tag
        steps:
          tag:
            set:
              variables:
                QUEUE_PRIO: 10
                VIP: true
                BLOCKED: false
                CDR(userfield): "vip {{ call.caller }}"
                GREETING: "hello {{ call.called }}"
              cdr: {vip: true, department: support, tries: 3, who: "{{ call.caller }}"}
            next: after
          after:
            play: [{number: "{{ vars.QUEUE_PRIO }}"}, {digits: "{{ vars.VIP }}"}]
        """, called="900")
    assert commands(result) == [
        'SET VARIABLE "QUEUE_PRIO" "10"',
        'SET VARIABLE "VIP" "1"',
        'SET VARIABLE "BLOCKED" "0"',
        'SET VARIABLE "CDR(userfield)" "vip 600111222"',
        'SET VARIABLE "GREETING" "hello 900"',
        'SAY NUMBER "10" ""',
        'SAY DIGITS "1" ""',
        STATUS.format("completed"),
    ]
    assert result.variables["VIP"] == "1"
    assert result.variables["GREETING"] == "hello 900"
    assert fields(result) == {"vip": True, "department": "support", "tries": 3, "who": "600111222"}


def test_set_values_with_quotes_and_backslashes_reach_asterisk_intact(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: quoting
        start: tag
        steps:
          tag:
            set: {variables: {NOTE: 'say "hi" \\ there', EMPTY: ""}}
        """)
    assert commands(result)[:2] == ['SET VARIABLE "NOTE" "say \\"hi\\" \\\\ there"', 'SET VARIABLE "EMPTY" ""']
    assert result.variables["NOTE"] == 'say "hi" \\ there'
    assert result.variables["EMPTY"] == ""


def test_set_function_names_do_not_become_flow_variables(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: fn
        start: tag
        steps:
          tag:
            set: {variables: {CDR(account): "42"}}
            next: check
          check:
            branch:
              cases:
                - {if: "'CDR(account)' in vars", next: leaked, label: leaked}
              else: fine
          leaked:
            play: leaked
          fine:
            play: fine
        """)
    assert path(result) == ["tag:next", "check:else", "fine:next"]


def test_cdr_fields_carry_into_later_templates(tmp_path: Path) -> None:
    result = run(tmp_path, """\
        version: 1
        name: cdrread
        start: tag
        steps:
          tag:
            set: {cdr: {department: sales}}
            next: say
          say:
            play: "queue-{{ cdr.department }}"
        """)
    assert 'STREAM FILE "queue-sales" ""' in commands(result)
