"""docs/architecture.md is true of the code: every package and module it
names exists, every one of agi/ has a layer, no layer imports a higher one,
packages import each other without cycles, Twisted stays in agi/server and
click in agi/cli. The layers are read from the page, never repeated here."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AGI = ROOT / "agi"
PAGE = ROOT / "docs" / "architecture.md"

#: Imports that break a rule today, each with why and until when; an entry
#: that no longer matches an import fails, so that it is removed.


@dataclass(frozen=True)
class Import:
    path: str  # the importing file, relative to the repository
    line: int
    target: str  # the dotted module imported
    type_only: bool  # under ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.target}" + (" (type checking only)" if self.type_only else "")


def _module_exists(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def _imports_of(path: Path) -> list[Import]:
    relative = path.relative_to(ROOT).as_posix()
    found: list[Import] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
                for inner in child.body:
                    note(inner, True)
                for inner in child.orelse:
                    note(inner, type_only)
            else:
                note(child, type_only)

    def note(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(relative, node.lineno, alias.name, type_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            submodules = [name for name in names if _module_exists(name)]  # from agi import phone
            found.extend(Import(relative, node.lineno, name, type_only) for name in submodules or [node.module])
        visit(node, type_only)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


IMPORTS = [imp for path in sorted(AGI.rglob("*.py")) for imp in _imports_of(path)]


def unit(dotted: str) -> str:
    """The package or top-level module of agi a module belongs to:
    ``agi.engine`` for agi.engine.model, ``agi`` for the package itself."""
    return ".".join(dotted.split(".")[:2])


def unit_of_path(path: str) -> str:
    dotted = path.removesuffix("/").removesuffix(".py").replace("/", ".")
    return "agi" if dotted == "agi.__init__" else unit(dotted)


def own_imports() -> list[tuple[Import, str, str]]:
    """(import, importing unit, imported unit) of every import between two units of agi."""
    pairs = [(imp, unit_of_path(imp.path), unit(imp.target)) for imp in IMPORTS
             if imp.target == "agi" or imp.target.startswith("agi.")]
    return [(imp, source, target) for imp, source, target in pairs if source != target]


def layers() -> dict[str, int]:
    """Unit -> layer, from the page's layer table."""
    section = PAGE.read_text(encoding="utf-8").split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    found: dict[str, int] = {}
    for number, cell in re.findall(r"^\| (\d+) \| ([^|]+) \|", section, re.M):
        for path in re.findall(r"`(agi/[^`]*)`", cell):
            assert unit_of_path(path) not in found, f"{path} is in two layers"
            found[unit_of_path(path)] = int(number)
    return found


def violations(found: list[Import]) -> list[str]:
    return [str(imp) for imp in found]


def test_every_package_and_module_the_page_names_exists() -> None:
    named = set(re.findall(r"`(agi/[\w./]*)`", PAGE.read_text(encoding="utf-8")))
    assert len(named) > 30
    assert sorted(path for path in named if not (ROOT / path).exists()) == []


def test_every_package_and_module_of_agi_has_a_layer() -> None:
    units = {unit_of_path(path.relative_to(ROOT).as_posix()) for path in AGI.iterdir()
             if path.suffix == ".py" or (path / "__init__.py").is_file()}
    assert units == set(layers())


def test_no_layer_imports_a_higher_one() -> None:
    layer = layers()
    upward = [imp for imp, source, target in own_imports()
              if not imp.type_only and layer[target] > layer[source]]
    assert violations(upward) == []


def test_the_engine_names_no_step_type_even_for_type_checking() -> None:
    into_steps = [imp for imp, source, target in own_imports() if source == "agi.engine" and target == "agi.steps"]
    assert violations(into_steps) == []


def test_packages_import_each_other_without_cycles() -> None:
    graph: dict[str, set[str]] = {}
    for imp, source, target in own_imports():
        if not imp.type_only:
            graph.setdefault(source, set()).add(target)
    cycles = []
    for start in sorted(graph):
        stack = [(start, [start])]
        seen: set[str] = set()
        while stack:
            node, path = stack.pop()
            for nxt in sorted(graph.get(node, ())):
                if nxt == start:
                    cycles.append(" -> ".join([*path, start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    assert cycles == []


def test_twisted_is_imported_only_under_agi_server_and_click_only_under_agi_cli() -> None:
    misplaced = [imp for imp in IMPORTS
                 if (imp.target.split(".")[0] == "twisted" and not imp.path.startswith("agi/server/"))
                 or (imp.target.split(".")[0] == "click" and not imp.path.startswith("agi/cli/"))]
    assert [str(imp) for imp in misplaced] == []



def test_a_plain_agi_process_does_not_import_twisted_to_start_a_call() -> None:
    code = "import sys, agi.stdio.main; print(sorted(m for m in sys.modules if m.startswith('twisted')))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
