"""Owner references as the API server keeps them (pure): which one is an object's controller.

Guaranteed: :func:`controller_ref` is the reference marked ``controller: true`` (the API server
admits at most one per object), or None; any other owner does not count. Not checked here: that
the controller still exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``obj``'s controller owner reference, or None if nothing controls it."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller") is True:
            found: Mapping[str, Any] = ref
            return found
    return None


def controller_uid(obj: Mapping[str, Any]) -> str | None:
    """The uid of ``obj``'s controller, or None if nothing controls it."""
    ref = controller_ref(obj)
    return None if ref is None else str(ref.get("uid"))
