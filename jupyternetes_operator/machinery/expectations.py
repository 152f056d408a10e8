"""Expectations: what this process wrote to an object, until its cache shows that write.

A reconcile reads the cache, and the cache may still hold the object as it was before
this process's own last write to it. client-go's controllers keep "expectations" for this
(ReplicaSet's creations in flight); here it is one value per key: what was written and the
``resourceVersion`` the write produced. :meth:`Expectations.seen` answers the written value
while the cache is behind, so a reconcile never repeats or undoes its own last write, and
forgets it as soon as the cache has caught up (that version, or an object ``caught_up``
accepts: a later write by someone else that already shows it); :meth:`Expectations.observed`
forgets it as the cache takes that version in, whether or not a reconcile follows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Expectations(Generic[K, V]):
    """``wrote(key, version, value)`` after a write; ``seen(key, cached, current)`` before using ``current``
    (what the cache shows of it); ``forget(key)`` once the object is gone."""

    def __init__(self, caught_up: Callable[[V, V], bool] = lambda written, current: written == current) -> None:
        self._caught_up = caught_up
        self._written: dict[K, tuple[str, V]] = {}

    def wrote(self, key: K, resource_version: str, value: V) -> None:
        self._written[key] = (resource_version, value)

    def seen(self, key: K, cached: Mapping[str, Any], current: V) -> V:
        """``current`` (read from ``cached``) once the cache shows our last write; until then, that write."""
        written = self._written.get(key)
        if written is None:
            return current
        version, value = written
        if (cached.get("metadata") or {}).get("resourceVersion") == version or self._caught_up(value, current):
            del self._written[key]
            return current
        return value

    def observed(self, key: K, cached: Mapping[str, Any]) -> None:
        """The cache now holds ``cached``: a write of that version is no longer remembered. Call it
        from the object's update handler, so a write whose event wakes nothing is not kept for good."""
        written = self._written.get(key)
        if written is not None and written[0] == (cached.get("metadata") or {}).get("resourceVersion"):
            del self._written[key]

    def forget(self, key: K) -> None:
        self._written.pop(key, None)

    def __len__(self) -> int:
        return len(self._written)
