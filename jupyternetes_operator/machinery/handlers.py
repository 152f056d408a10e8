"""Event handlers that turn informer events into work-queue keys.

The queue carries keys, never events: a reconciler re-reads the cache, so a handler
only decides *which* keys an event affects. There is one handler,
:class:`EnqueueMapped` (controller-runtime's ``EnqueueRequestsFromMapFunc``): a map
function from an object to keys. The usual maps are here: :func:`own_key` (the object
itself) and :func:`controller_key` (its controller owner of a given group and kind,
which is how a change to a Pod wakes the instance that owns it).

Guaranteed:
- tombstones (:class:`DeletedFinalStateUnknown`) are unwrapped here, once: a map
  function always sees an object, its last known state for a delete;
- an update maps the new object and the old one (an object whose owner or label
  changed wakes both), each key added once per event, the new object's keys first;
- ``when_updated(old, new)`` false skips the update entirely, ``when_added`` false (or false for the
  object) an addition; deletes always map.

Not promised: deduplication across events (the queue does that).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..kube.owners import controller_ref
from .store import DeletedFinalStateUnknown, FrozenObject, ObjectKey, key_of

MapFunc = Callable[[Mapping[str, Any]], Iterable[ObjectKey]]
"""An object (never a tombstone) to the keys it wakes."""
UpdatePredicate = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
"""``(old, new) -> bool``: whether an update wakes anything."""
AddPredicate = bool | Callable[[Mapping[str, Any]], bool]
"""Whether additions wake: always, never, or as a filter on the added object says."""


class Enqueuer(Protocol):
    def add(self, key: ObjectKey) -> None: ...


class DelayingEnqueuer(Enqueuer, Protocol):
    def add_after(self, key: ObjectKey, delay: float) -> None: ...


@dataclass(frozen=True)
class After:
    """An :class:`Enqueuer` that adds each key to ``queue`` after ``delay`` seconds (coalescing a
    burst of events into one pass, as the queue keeps the earliest pending time per key)."""

    queue: DelayingEnqueuer
    delay: float

    def add(self, key: ObjectKey) -> None:
        self.queue.add_after(key, self.delay)


def never(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """An update predicate for watches that care about adds and deletes only."""
    return False


def content_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """An update predicate: anything but ``metadata.resourceVersion`` differs. A cache that keeps a
    slim view of its objects (an informer ``transform``) sees most updates of what it dropped as
    a new version of the same view: those wake nothing."""
    if any(old.get(k) != new.get(k) for k in old.keys() | new.keys() if k != "metadata"):
        return True
    before, after = old.get("metadata") or {}, new.get("metadata") or {}
    return any(before.get(k) != after.get(k) for k in before.keys() | after.keys() if k != "resourceVersion")


@dataclass(frozen=True)
class EnqueueMapped:
    """Add the keys ``map`` gives for each event's object to ``queue``."""

    queue: Enqueuer
    map: MapFunc
    when_updated: UpdatePredicate | None = None
    """Filter for updates (e.g. skip status-only changes); None: every update."""
    when_added: AddPredicate = True
    """Whether additions wake (False: a watch that cares about deletions, and updates if it says so),
    or a filter for them (e.g. skip the operator's own creates coming back)."""

    def _enqueue(self, *objs: Mapping[str, Any]) -> None:
        seen: set[ObjectKey] = set()
        for obj in objs:
            for key in self.map(obj):
                if key not in seen:
                    seen.add(key)
                    self.queue.add(key)

    def on_add(self, obj: FrozenObject) -> None:
        if self.when_added is True or (callable(self.when_added) and self.when_added(obj)):
            self._enqueue(obj)

    def on_update(self, old: FrozenObject, new: FrozenObject) -> None:
        if self.when_updated is None or self.when_updated(old, new):
            self._enqueue(new, old)

    def on_delete(self, obj: FrozenObject | DeletedFinalStateUnknown) -> None:
        self._enqueue(obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj)


def own_key(obj: Mapping[str, Any]) -> tuple[ObjectKey]:
    """Map an object to its own key."""
    return (key_of(obj),)


def controller_of(obj: Mapping[str, Any], api_group: str, kind: str) -> ObjectKey | None:
    """The key of ``obj``'s controller owner of that group and kind (same namespace), if any."""
    ref = controller_ref(obj)
    if ref is None or ref.get("kind") != kind or str(ref.get("apiVersion", "")).rpartition("/")[0] != api_group:
        return None
    return ObjectKey((obj.get("metadata") or {}).get("namespace") or "", str(ref["name"]))


def controller_key(api_group: str, kind: str) -> MapFunc:
    """Map an object to its controller owner of that group and kind (nothing if it has none)."""
    def mapped(obj: Mapping[str, Any]) -> tuple[ObjectKey, ...]:
        key = controller_of(obj, api_group, kind)
        return () if key is None else (key,)
    return mapped
