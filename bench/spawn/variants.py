"""The benchmark's variants by name (what each does: :mod:`.cluster`), and where each runs."""

from __future__ import annotations

BARE, JUPYTERNETES, SPAWNER, KUBESPAWNER, WRITES = "bare", "jupyternetes", "spawner", "kubespawner", "writes"
VARIANTS = (BARE, JUPYTERNETES, SPAWNER, KUBESPAWNER, WRITES)
OPERATED = (JUPYTERNETES, SPAWNER)
"""Variants whose spawns the operator does."""
PREFIX = {BARE: "b", JUPYTERNETES: "j", SPAWNER: "s", KUBESPAWNER: "k", WRITES: "w"}


def namespace_of(variant: str) -> str:
    return f"bench-{variant}"
