"""The import direction between layers: the engine sits below the step
types, the loading pipeline above them, and modules that only need shared
schema pieces or number normalising take them from their neutral homes
(agi.yamlschema, agi.lists.numbers), not from a step type."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, type-only imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def modules_in(*places: str) -> list[Path]:
    paths: list[Path] = []
    for place in places:
        target = ROOT / place
        paths.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return paths


def offending(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)} imports {module}" for path in paths for module in sorted(imported_modules(path))
            if any(module == f or module.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("place", ["agi/config.py", "agi/flowtest"])
def test_config_and_flow_tests_take_schema_pieces_from_yamlschema_not_from_step_types(place: str) -> None:
    assert offending(modules_in(place), ("agi.steps",)) == []
