"""Modules that only need shared schema pieces or number normalising take
them from their neutral homes (agi.yamlschema, agi.lists.numbers), never
from a step type. The layer order itself: test_architecture.py."""
from __future__ import annotations

import ast
from pathlib import Path


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


#: What moved out of step modules to a neutral home.
SHARED = {"obj", "TEXT", "SECONDS", "COUNT", "DTMF_KEY", "dtmf", "STEP_NAME", "FLOW_NAME", "normaliser"}


def test_shared_schema_pieces_and_the_normaliser_are_never_taken_from_a_step_module() -> None:
    taken = []
    for path in modules_in("agi"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agi.steps"):
                taken += [f"{path.relative_to(ROOT)}: {alias.name} from {node.module}"
                          for alias in node.names if alias.name in SHARED]
    assert taken == []
