"""Percentage splits: which branch a call takes for a given draw, the same
branch for the same caller with ``sticky_by: caller``, and validation of
shares that do not add up. The draw is injected (``Services.chance``)."""
from __future__ import annotations

import json
import textwrap
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from agi.loading.loader import load_flows
from agi.steps.split import SplitNode, sticky_draw
from agi.services import Services
from agi.simulate import SimulationResult, simulate

AT = datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc)

MAPPING = """\
version: 1
name: ab
start: ab
steps:
  ab:
    split: {new: 30, old: 70}
    on: {new: new_menu, old: old_menu}
  new_menu:
    play: new-menu
  old_menu:
    play: old-menu
"""

LISTED = """\
version: 1
name: ab
start: ab
steps:
  ab:
    split:
      branches:
        - {percent: 10, next: new_menu}
        - {percent: 0, next: paused, label: paused}
        - {percent: 90, next: old_menu, label: old}
      sticky_by: caller
  new_menu:
    play: new-menu
  paused:
    play: paused
  old_menu:
    play: old-menu
"""


def load(tmp_path: Path, text: str) -> Any:
    (tmp_path / "flow.yaml").write_text(textwrap.dedent(text))
    return load_flows([tmp_path])


def run(tmp_path: Path, text: str, draw: float, caller: str = "600111222") -> SimulationResult:
    flows, errors = load(tmp_path, text)
    assert errors == []
    return simulate(flows.get("ab"), flows, caller=caller, at=AT, services=Services(chance=lambda: draw))


def path(result: SimulationResult) -> list[str]:
    return [f"{s['step']}:{s['outcome']}" for s in result.steps]


@pytest.mark.parametrize("draw, expected", [
    (0.0, ["ab:new", "new_menu:next"]),
    (0.2999, ["ab:new", "new_menu:next"]),
    (0.30, ["ab:old", "old_menu:next"]),
    (0.9999, ["ab:old", "old_menu:next"]),
])
def test_a_draw_below_the_first_share_takes_the_first_branch_else_the_next(
        tmp_path: Path, draw: float, expected: list[str]) -> None:
    result = run(tmp_path, MAPPING, draw)
    assert path(result) == expected
    assert json.loads(result.steps[0]["details"]) == {"draw": draw, "branch": expected[0][3:], "sticky": False}
    assert [e.command for e in result.exchanges][0].startswith('STREAM FILE "' + expected[1].split("_")[0])


def test_a_branch_of_zero_percent_is_never_taken() -> None:
    node = SplitNode.from_config({"branches": [{"percent": 50, "next": "a"}, {"percent": 0, "next": "b"},
                                               {"percent": 50, "next": "c"}]})
    picked = {node.pick(n / 1000).label for n in range(1000)}
    assert picked == {"a", "c"}
    assert node.pick(0.5).label == "c"


def test_shares_come_out_in_proportion_over_many_draws() -> None:
    node = SplitNode.from_config({"a": 30, "b": 70})
    counts = Counter(node.pick(n / 10_000).label for n in range(10_000))
    assert counts == {"a": 3000, "b": 7000}


def test_sticky_by_caller_gives_a_caller_the_same_branch_whatever_the_random_draw(tmp_path: Path) -> None:
    first = run(tmp_path, LISTED, 0.0, caller="600111222")
    branch = first.steps[0]["outcome"]
    for draw in (0.0, 0.5, 0.99):
        again = run(tmp_path, LISTED, draw, caller="600111222")
        assert again.steps[0]["outcome"] == branch
        assert json.loads(again.steps[0]["details"])["sticky"] is True


def test_sticky_by_caller_draws_from_the_number_however_the_trunk_spells_it(tmp_path: Path) -> None:
    """A caller is their number, as the reports group callers: a trunk that
    sends it national one day and international the next once moved them
    to another branch."""
    draws = set()
    for caller in ("600111222", "+34600111222", "0034600111222", "+34 600 11 12 22"):
        [step] = [s for s in run(tmp_path, LISTED, 0.5, caller=caller).steps if s["step"] == "ab"]
        draws.add(json.loads(step["details"])["draw"])
    assert len(draws) == 1


def test_sticky_by_caller_still_spreads_callers_by_the_percentages() -> None:
    node = SplitNode.from_config({"branches": {"a": 10, "b": 90}, "sticky_by": "caller"})
    counts = Counter(node.pick(sticky_draw("ab/ab", f"+3460{n:07d}")).label for n in range(20_000))
    assert 0.09 < counts["a"] / 20_000 < 0.11


def test_sticky_draws_of_two_split_steps_are_independent() -> None:
    callers = [f"+3460{n:07d}" for n in range(2000)]
    first = [sticky_draw("ab/first", c) < 0.5 for c in callers]
    second = [sticky_draw("ab/second", c) < 0.5 for c in callers]
    same = sum(a == b for a, b in zip(first, second))
    assert 900 < same < 1100


@pytest.mark.parametrize("caller", ["", "anonymous", "Restricted", "sip:anonymous@anonymous.invalid"])
def test_an_anonymous_caller_is_drawn_at_random_even_with_sticky_by(tmp_path: Path, caller: str) -> None:
    """A withheld caller ID is no caller to stick to: hashed, every such
    caller would get one same branch (it once did, for ``anonymous``)."""
    assert path(run(tmp_path, LISTED, 0.05, caller=caller))[0] == "ab:new_menu"
    assert path(run(tmp_path, LISTED, 0.5, caller=caller))[0] == "ab:old"
    [step] = [s for s in run(tmp_path, LISTED, 0.5, caller=caller).steps if s["step"] == "ab"]
    assert json.loads(step["details"])["sticky"] is False


@pytest.mark.parametrize("split, message", [
    ("{new: 30, old: 60}", "percentages must add up to 100, not 90 (30 + 60)"),
    ("{new: 33.3, old: 66.6}", "percentages must add up to 100, not 99.9 (33.3 + 66.6)"),
])
def test_shares_that_do_not_add_up_to_100_are_a_validation_error_on_the_split_line(
        tmp_path: Path, split: str, message: str) -> None:
    _, errors = load(tmp_path, MAPPING.replace("{new: 30, old: 70}", split))
    assert [(e.line, e.message) for e in errors] == [(6, f"step 'ab': split.branches: {message}")]


def test_thirds_written_with_decimals_add_up(tmp_path: Path) -> None:
    _, errors = load(tmp_path, MAPPING.replace("{new: 30, old: 70}", "{new: 33.3, old: 33.3, rest: 33.4}")
                     .replace("on: {new: new_menu, old: old_menu}", "on: {new: new_menu, old: old_menu, rest: old_menu}"))
    assert errors == []


def test_an_outcome_that_is_no_branch_is_refused(tmp_path: Path) -> None:
    _, errors = load(tmp_path, MAPPING.replace("on: {new: new_menu, old: old_menu}",
                                               "on: {new: new_menu, olt: old_menu}"))
    assert any("unknown outcome 'olt'; allowed: new, old, hangup, error" in e.message for e in errors), errors


def test_two_list_entries_leading_to_the_same_step_need_labels(tmp_path: Path) -> None:
    text = LISTED.replace("{percent: 0, next: paused, label: paused}", "{percent: 0, next: new_menu}")
    _, errors = load(tmp_path, text.replace("  paused:\n    play: paused\n", ""))
    assert any("branch 'new_menu' appears twice" in e.message for e in errors), errors


@pytest.mark.parametrize("split", ["{new: 130, old: -30}", "[]", "{branches: {a: 100}, sticky_by: called}"])
def test_impossible_shares_and_options_are_schema_errors(tmp_path: Path, split: str) -> None:
    _, errors = load(tmp_path, MAPPING.replace("{new: 30, old: 70}", split))
    assert errors and all(e.line in (5, 6) for e in errors), errors
