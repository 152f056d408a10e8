"""The shape stays measurable: no module of the product, the fault tooling or the benchmarks over 400 lines.

Function complexity is bounded by ruff (C901, ``max-complexity`` in ``pyproject.toml``); this bounds
the modules, so a concept that grows gets a module of its own instead of a longer one.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("jupyternetes_operator", "faults", "bench")
MAX_LINES = 400


def lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_no_module_is_over_the_limit() -> None:
    modules = sorted(p for top in CHECKED for p in (ROOT / top).rglob("*.py"))
    assert len(modules) > 50, "the walk found too few modules"
    oversized = {str(p.relative_to(ROOT)): lines(p) for p in modules if lines(p) > MAX_LINES}
    assert oversized == {}


def test_complexity_is_enforced() -> None:
    config = (ROOT / "pyproject.toml").read_text()
    assert '"C901"' in config
    assert "max-complexity = 12" in config
