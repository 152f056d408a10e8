"""Echoes: the watch events that only bring back this process's own writes.

A reconciler that writes its object's status meets that write again as an update event, and
every such event would cost one more reconcile that has nothing new to see. :class:`Echoes`
recognises it: the write's reconcile read the object at version ``before``. Once the API server
has answered with version ``after``, an update from ``before`` to ``after`` holds that write and
nothing else (the watch gives every version its own event), so it may be dropped. Until then (the
event can come back first, as a loaded API server answers late) an update from ``before`` that
changes the status to exactly the status sent is the write's: a write to the main resource leaves
a status subresource's stanza as it was, so one update cannot carry both.

:class:`Creations` does the same for the children a reconciler creates: the informer's addition of
an object at exactly the version its create answered is that create coming back, and the reconcile
that made it already saw that object in the answer.

Guaranteed never to drop news: an update whose old object is any other version (someone wrote in
between, or a relist skipped versions), or that leaves the status alone, or makes it anything but
what was sent, is not an echo; each recorded write matches at most one event. Entries are dropped
once matched, when a newer write replaces them, or on ``forget``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from .frozen import freeze
from .store import ObjectKey, key_of


def _version(obj: Mapping[str, Any]) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return version if isinstance(version, str) else None


class _Write(NamedTuple):
    before: str
    after: str | None
    """None until the API server answered."""
    status: Mapping[str, Any] | None
    """The status sent (frozen, as cached objects are), when :meth:`Echoes.expect` recorded it."""


class Echoes:
    """``expect(key, before, status)`` as a status write is sent, ``wrote(key, before, after)`` once it
    is answered; :meth:`news` as the object's update filter."""

    def __init__(self) -> None:
        self._writes: dict[ObjectKey, _Write] = {}

    def expect(self, key: ObjectKey, before: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """Record a write of ``status`` made from ``before`` (the object the write's reconcile read),
        as it is sent."""
        if (version := _version(before)) is not None:
            self._writes[key] = _Write(version, None, freeze(dict(status)))
        else:
            self._writes.pop(key, None)

    def wrote(self, key: ObjectKey, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        """Record a write made from ``before`` that the API server answered with ``after``."""
        versions = (_version(before), _version(after))
        if versions[0] is not None and versions[1] is not None:
            self._writes[key] = _Write(versions[0], versions[1], None)

    def is_echo(self, key: ObjectKey, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        """Whether the update ``old`` → ``new`` is exactly the last recorded write for ``key``
        (forgotten once answered yes, and once the update is past that write)."""
        write = self._writes.get(key)
        if write is None:
            return False
        if _version(old) == write.before and (
                _version(new) == write.after if write.after is not None
                else new.get("status") == write.status != old.get("status")):
            del self._writes[key]
            return True
        if write.after is not None and _version(new) == write.after:  # reached from another version: news
            del self._writes[key]
        return False

    def news(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        """The update predicate: whether ``old`` → ``new`` is anything but an echo."""
        return not self.is_echo(key_of(new), old, new)

    def forget(self, key: ObjectKey) -> None:
        self._writes.pop(key, None)

    def __len__(self) -> int:
        return len(self._writes)


class Creations:
    """``created(obj, cached)`` with a create's answer (``cached``: what the informer already holds under
    that name); :meth:`news` as the informer's addition filter. An addition is dropped only at the
    version the create answered, once; any other is news. At most ``size`` creates are remembered
    (the oldest dropped: one more reconcile, never a lost one)."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._versions: dict[tuple[Any, ObjectKey], str] = {}

    def created(self, obj: Mapping[str, Any], cached: Mapping[str, Any] | None) -> None:
        """Record a create's answer, unless the informer already holds an object of that name (its
        addition, or one before it, has been seen: nothing would consume the entry)."""
        if cached is None and (version := _version(obj)) is not None:
            self._versions[(obj.get("kind"), key_of(obj))] = version
            if len(self._versions) > self._size:
                del self._versions[next(iter(self._versions))]

    def news(self, obj: Mapping[str, Any]) -> bool:
        """The addition predicate: whether ``obj`` is anything but a recorded create coming back."""
        version = self._versions.pop((obj.get("kind"), key_of(obj)), None)
        return version is None or version != _version(obj)

    def __len__(self) -> int:
        return len(self._versions)
