"""The layers stay layered: each package imports only what sits below it.

kube < machinery < reconcile < manager/cli, and kube < api: the vocabulary the spawner shares
imports nothing but ``kube``; the spawner (inside JupyterHub) never reaches the operator's
engine; the generic layers (kube, machinery) know nothing of the domain: they import neither
``api`` nor the product's ``metrics``, and their source names neither our group, our kinds nor
our package (their imports are relative).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "jupyternetes_operator"

# layer -> top-level modules/packages of jupyternetes_operator it must never import
FORBIDDEN = {
    "kube": {"machinery", "reconcile", "spawner", "manager", "settings", "cli", "api", "metrics", "testing"},
    "machinery": {"reconcile", "spawner", "manager", "settings", "cli", "api", "metrics", "testing"},
    "api": {"machinery", "reconcile", "spawner", "manager", "settings", "cli", "metrics", "testing"},
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
    assert "kube" in imported_modules(PACKAGE / "api" / "names.py")


GENERIC = ("kube", "machinery")
DOMAIN_WORDS = re.compile(r"jupyter", re.IGNORECASE)
"""Our group (jupyternetes.io), kinds (JupyterNotebook*), package, controller and product names all
contain it; so does nothing a generic layer needs."""


def domain_words(text: str) -> list[str]:
    """The lines of ``text`` that name the domain."""
    return [line.strip() for line in text.splitlines() if DOMAIN_WORDS.search(line)]


@pytest.mark.parametrize("layer", GENERIC)
def test_generic_layers_name_nothing_of_the_domain(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules in {layer}/"
    offenders = {str(f.relative_to(PACKAGE)): domain_words(f.read_text()) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_domain_check_would_catch_a_leak() -> None:
    # The check itself, on what used to be there and on what is upstairs now.
    assert domain_words('GROUP = "jupyternetes.io"\n')
    assert domain_words("from jupyternetes_operator.metrics import Metrics")
    assert domain_words('    controller: str = "Jupyternetes.io/operator",')
    assert not domain_words("from .clock import Clock")
    assert domain_words((PACKAGE / "api" / "names.py").read_text())
