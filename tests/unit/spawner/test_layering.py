"""The spawner runs inside JupyterHub: it must not pull in the operator's engine."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import jupyternetes_operator.spawner
from jupyternetes_operator.spawner import JupyternetesSpawner
bad = sorted(m for m in sys.modules if m.startswith(("jupyternetes_operator.reconcile",
             "jupyternetes_operator.manager", "jupyternetes_operator.settings", "jupyternetes_operator.cli",
             "jupyternetes_operator.testing")))
print(",".join(bad))
"""


def test_spawner_imports_no_operator_engine() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_entry_point_names_the_spawner() -> None:
    """pyproject's entry point (what ``spawner_class = "jupyternetes"`` resolves) is importable."""
    import importlib
    import tomllib
    from pathlib import Path

    from jupyterhub.spawner import Spawner

    project = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["jupyterhub.spawners"]["jupyternetes"]
    module, _, attr = target.partition(":")
    assert issubclass(getattr(importlib.import_module(module), attr), Spawner)
