"""Plan: what to do about each rendered child, given what the cache holds (pure).

Children are only ever created, never rewritten: a running notebook server must not
be disturbed by a template edit, and an object we did not create is never touched.

- missing → create;
- present and controlled by this instance → keep;
- a retained PVC (no controller, marked retained) → adopt (relabel to this instance);
- anything else with that name (another owner, or no owner and not retained) →
  conflict: the instance fails with a reason instead of overwriting someone's object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..api import LABEL_INSTANCE, LABEL_RETAINED
from .render import Child, Rendered

Lookup = Callable[[Child], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Conflict:
    child: Child
    message: str


@dataclass(frozen=True)
class Plan:
    create: tuple[Child, ...]
    adopt: tuple[Child, ...]
    conflicts: tuple[Conflict, ...]
    observed: tuple[tuple[Child, Mapping[str, Any] | None], ...]
    """Every rendered child with what the cache holds for it (None: missing)."""


def _controller_uid(obj: Mapping[str, Any]) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def plan(rendered: Rendered, instance_name: str, instance_uid: str, lookup: Lookup) -> Plan:
    create: list[Child] = []
    adopt: list[Child] = []
    conflicts: list[Conflict] = []
    observed: list[tuple[Child, Mapping[str, Any] | None]] = []
    for child in rendered.children:
        current = lookup(child)
        observed.append((child, current))
        if current is None:
            create.append(child)
            continue
        controller = _controller_uid(current)
        labels = (current.get("metadata") or {}).get("labels") or {}
        if controller == instance_uid:
            continue
        if child.retain and controller is None and labels.get(LABEL_RETAINED) == "true":
            if labels.get(LABEL_INSTANCE) != instance_name:
                adopt.append(child)
            continue
        owner = "another controller" if controller else "no controller and is not a retained claim"
        conflicts.append(Conflict(child, f"{child.kind} {child.name!r} already exists and has {owner}; "
                                         "it will not be overwritten"))
    return Plan(tuple(create), tuple(adopt), tuple(conflicts), tuple(observed))
