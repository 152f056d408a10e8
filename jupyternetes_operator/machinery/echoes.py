"""Echoes: the watch events that only bring back this process's own writes.

A reconciler that writes its object's status meets that write again as an update event, and
every such event would cost one more reconcile that has nothing new to see. :class:`Echoes`
recognises it exactly: the write's reconcile read the object at version ``before`` and the
write produced version ``after``; an update from ``before`` to ``after`` holds that write and
nothing else (the watch gives every version its own event), so it may be dropped.

Guaranteed never to drop news: an update whose old object is any other version (someone wrote in
between, or a relist skipped versions) is not an echo, and each recorded write matches at most
one event. Entries are dropped once matched, when a newer write replaces them, or on ``forget``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .store import ObjectKey, key_of


def _version(obj: Mapping[str, Any]) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return version if isinstance(version, str) else None


class Echoes:
    """``wrote(key, before, after)`` after a write; :meth:`news` as the object's update filter."""

    def __init__(self) -> None:
        self._writes: dict[ObjectKey, tuple[str, str]] = {}

    def wrote(self, key: ObjectKey, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        """Record a write made from ``before`` (the object the write's reconcile read) that the API
        server answered with ``after``."""
        versions = (_version(before), _version(after))
        if versions[0] is not None and versions[1] is not None:
            self._writes[key] = (versions[0], versions[1])

    def is_echo(self, key: ObjectKey, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        """Whether the update ``old`` → ``new`` is exactly the last recorded write for ``key``
        (forgotten once answered yes, and once the update is past that write)."""
        written = self._writes.get(key)
        if written is None:
            return False
        if (_version(old), _version(new)) == written:
            del self._writes[key]
            return True
        if _version(new) == written[1]:  # the write's version, reached from another: not an echo
            del self._writes[key]
        return False

    def news(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        """The update predicate: whether ``old`` → ``new`` is anything but an echo."""
        return not self.is_echo(key_of(new), old, new)

    def forget(self, key: ObjectKey) -> None:
        self._writes.pop(key, None)

    def __len__(self) -> int:
        return len(self._writes)
