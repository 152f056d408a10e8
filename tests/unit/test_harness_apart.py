"""The wheel ships the product and the harness users' own tests use, not the fault runs: nothing in
``jupyternetes_operator`` imports the repository's ``faults``, ``bench`` or ``tests``, nor a library
only they need (hypothesis, in the ``dev`` extra)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "jupyternetes_operator"
OUTSIDE = frozenset({"faults", "bench", "tests", "hypothesis"})


def top_level_imports(path: Path) -> set[str]:
    """The top-level names of a module's absolute imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_the_package_imports_nothing_that_stays_in_the_repository() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert files
    offenders = {str(f.relative_to(PACKAGE)): sorted(top_level_imports(f) & OUTSIDE) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_sees_absolute_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import hypothesis.strategies\nfrom faults.run import FaultRun\nfrom . import x\n")
    assert top_level_imports(module) == {"hypothesis", "faults"}
