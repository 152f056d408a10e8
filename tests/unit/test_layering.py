"""The layers stay layered: each package imports only what sits below it.

kube < machinery < reconcile < manager/cli; the spawner (inside JupyterHub) never
reaches the operator's engine; generic machinery knows nothing of Jupyter.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "jupyternetes_operator"

# layer -> top-level modules/packages of jupyternetes_operator it must never import
FORBIDDEN = {
    "kube": {"machinery", "reconcile", "spawner", "manager", "settings", "cli", "api", "testing"},
    "machinery": {"reconcile", "spawner", "manager", "settings", "cli", "api", "testing"},
    "reconcile": {"spawner", "manager", "settings", "cli", "testing"},
    "spawner": {"reconcile", "manager", "settings", "cli", "testing"},
}


def imported_modules(path: Path) -> set[str]:
    """Top-level jupyternetes_operator modules a file imports (absolute or relative)."""
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package_parts[: len(package_parts) - node.level + 1])
                target = [*base, *(node.module.split(".") if node.module else [])]
                names = [target] if node.module else [[*base, alias.name] for alias in node.names]
            else:
                names = [(node.module or "").split(".")]
            for parts in names:
                if parts and parts[0] == "jupyternetes_operator" and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "jupyternetes_operator" and len(parts) > 1:
                    found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules in {layer}/"
    offenders = {str(f.relative_to(PACKAGE)): sorted(imported_modules(f) & FORBIDDEN[layer]) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_sees_relative_imports() -> None:
    # A sanity check of the checker itself on a real module that imports upwards legitimately.
    assert "reconcile" in imported_modules(PACKAGE / "manager.py")
    assert "machinery" in imported_modules(PACKAGE / "reconcile" / "instances.py")
