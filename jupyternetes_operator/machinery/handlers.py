"""Event handlers that turn informer events into work-queue keys.

The queue carries keys, never events: a reconciler re-reads the cache, so handlers
only decide *which* key is affected. :class:`EnqueueObject` enqueues the object's
own key; :class:`EnqueueController` maps a child to its controller owner's key
(ownerReference with ``controller: true`` of a given group and kind), which is how
a change to a Pod wakes the instance that owns it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .store import DeletedFinalStateUnknown, FrozenObject, ObjectKey, key_of


class Enqueuer(Protocol):
    def add(self, key: ObjectKey) -> None: ...


def _state(obj: FrozenObject | DeletedFinalStateUnknown) -> Mapping[str, Any]:
    return obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj


@dataclass(frozen=True)
class EnqueueObject:
    """Enqueue the object's own key on every add, update and delete."""

    queue: Enqueuer
    predicate: Callable[[Mapping[str, Any] | None, Mapping[str, Any]], bool] | None = None
    """Optional filter ``(old, new) -> bool`` for updates (e.g. skip status-only changes)."""

    def on_add(self, obj: FrozenObject) -> None:
        self.queue.add(key_of(obj))

    def on_update(self, old: FrozenObject, new: FrozenObject) -> None:
        if self.predicate is None or self.predicate(old, new):
            self.queue.add(key_of(new))

    def on_delete(self, obj: FrozenObject | DeletedFinalStateUnknown) -> None:
        self.queue.add(key_of(obj))


def controller_of(obj: Mapping[str, Any], api_group: str, kind: str) -> ObjectKey | None:
    """The key of ``obj``'s controller owner of that group and kind (same namespace), if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or ():
        if ref.get("controller") and ref.get("kind") == kind and \
                str(ref.get("apiVersion", "")).rpartition("/")[0] == api_group:
            return ObjectKey((obj.get("metadata") or {}).get("namespace") or "", str(ref["name"]))
    return None


@dataclass(frozen=True)
class EnqueueController:
    """Enqueue the controller owner's key for changes to an owned object (old and new owner)."""

    queue: Enqueuer
    api_group: str
    kind: str

    def _enqueue(self, obj: Mapping[str, Any]) -> None:
        if (key := controller_of(obj, self.api_group, self.kind)) is not None:
            self.queue.add(key)

    def on_add(self, obj: FrozenObject) -> None:
        self._enqueue(obj)

    def on_update(self, old: FrozenObject, new: FrozenObject) -> None:
        self._enqueue(new)
        if controller_of(old, self.api_group, self.kind) != controller_of(new, self.api_group, self.kind):
            self._enqueue(old)

    def on_delete(self, obj: FrozenObject | DeletedFinalStateUnknown) -> None:
        self._enqueue(_state(obj))
