"""The informer's cache: the last known state of one resource type, indexed.

What is guaranteed:

- **Read-only objects.** Everything the store hands out was :func:`freeze`-d on the way
  in: dicts are ``MappingProxyType`` views over a private copy, lists are tuples. A
  reader can never corrupt the cache (or another reader's view); to change an object,
  :func:`thaw` it into a plain, independent ``dict`` first (both in :mod:`.frozen`).
- **Indexes are exact.** After every ``add``/``update``/``delete``/``replace`` each index
  holds precisely the keys whose stored object yields that value, and no empty buckets.
  Objects are transformed, keyed, frozen and indexed *before* anything is changed, so an
  error in a transform or an index function leaves the store untouched (``replace``
  included).
- **Missed deletes surface.** :meth:`Store.replace` (used after every LIST, including a
  relist after 410 Gone) returns the changes the LIST implies; a key that vanished while
  the watch was down comes back as ``deleted`` carrying a :class:`DeletedFinalStateUnknown`
  with the last state we saw.

What is not:

- No locks, no threads: the store belongs to one event loop, and each method runs to
  completion without awaiting. Objects handed out stay valid (they are immutable), but
  they are snapshots: the next event may replace them.
- No ordering or freshness promise beyond "the last thing we were told"; the store does no
  I/O and never compares resource versions except in ``replace`` (where an unchanged
  ``resourceVersion`` means "no change").
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from ..kube.owners import controller_ref
from .frozen import FrozenObject, freeze, thaw

__all__ = [
    "Change",
    "ChangeKind",
    "DeletedFinalStateUnknown",
    "FrozenObject",
    "IndexFunc",
    "ObjectKey",
    "Store",
    "Transform",
    "Upsert",
    "drop_managed_fields",
    "freeze",
    "index_by_controller_uid",
    "index_by_label",
    "index_by_namespace",
    "key_of",
    "thaw",
]

IndexFunc: TypeAlias = Callable[[Mapping[str, Any]], Iterable[str]]
"""Maps a (frozen) object to the index values it should be found under."""

Transform: TypeAlias = Callable[[dict[str, Any]], Mapping[str, Any]]
"""Applied to every incoming object before it is frozen. It may be handed the caller's own
dict, so it should return a new object rather than modify its argument."""


# --- keys -----------------------------------------------------------------------------------


class ObjectKey(NamedTuple):
    """Identifies an object in a store; ``namespace`` is ``""`` for cluster-scoped objects."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def parse(cls, text: str) -> ObjectKey:
        """The inverse of ``str()``: ``"ns/name"`` or ``"name"``."""
        namespace, sep, name = text.partition("/")
        if not sep:
            namespace, name = "", namespace
        if not name or "/" in name:
            raise ValueError(f"not an object key: {text!r}")
        return cls(namespace, name)


@dataclass(frozen=True, slots=True)
class DeletedFinalStateUnknown:
    """A delete we did not see: the object was gone from a LIST, ``obj`` is its last known state."""

    key: ObjectKey
    obj: FrozenObject


def key_of(obj: Mapping[str, Any] | DeletedFinalStateUnknown) -> ObjectKey:
    """The store key of a raw object (or of a tombstone)."""
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("object has no metadata.name")
    return ObjectKey(metadata.get("namespace") or "", name)


# --- transforms and index functions ---------------------------------------------------------


def drop_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Removes ``metadata.managedFields`` (server-side-apply bookkeeping, often the bulk of an
    object and never read by a controller). Returns a new top-level dict and metadata dict;
    the argument is not modified."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping) or "managedFields" not in metadata:
        return obj
    return {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}


def index_by_namespace(obj: Mapping[str, Any]) -> builtins.list[str]:
    """Namespace (``""`` for cluster-scoped objects, like the key)."""
    return [(obj.get("metadata") or {}).get("namespace") or ""]


def index_by_controller_uid(obj: Mapping[str, Any]) -> builtins.list[str]:
    """The uid of the owner reference with ``controller: true``; other owners do not count."""
    ref = controller_ref(obj)
    return [ref["uid"]] if ref is not None and ref.get("uid") else []


def index_by_label(label_key: str) -> IndexFunc:
    """An index function keyed by the value of label ``label_key`` (objects without it are
    not indexed; an empty value is a value)."""

    def index(obj: Mapping[str, Any]) -> builtins.list[str]:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        value = labels.get(label_key)
        return [value] if isinstance(value, str) else []

    index.__name__ = index.__qualname__ = f"index_by_label({label_key!r})"
    return index


# --- results --------------------------------------------------------------------------------


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    DELETED = "deleted"


class Change(NamedTuple):
    """One change implied by :meth:`Store.replace`.

    ``old`` is what the store held before (``None`` for ``added``). For ``deleted``, ``obj``
    is a :class:`DeletedFinalStateUnknown` and ``old`` is the same last known state.
    """

    kind: ChangeKind
    key: ObjectKey
    obj: FrozenObject | DeletedFinalStateUnknown
    old: FrozenObject | None


class Upsert(NamedTuple):
    """What :meth:`Store.add` / :meth:`Store.update` did: the stored object and the one it replaced."""

    obj: FrozenObject
    old: FrozenObject | None


class _Prepared(NamedTuple):
    key: ObjectKey
    obj: FrozenObject
    values: dict[str, tuple[str, ...]]  # index name -> values


# --- the store ------------------------------------------------------------------------------


class Store:
    """Objects by :class:`ObjectKey`, plus named indexes. See the module docstring for the contract.

    ``transform`` defaults to :func:`drop_managed_fields`; pass ``None`` to keep objects whole.
    """

    def __init__(
        self,
        indexers: Mapping[str, IndexFunc] | None = None,
        transform: Transform | None = drop_managed_fields,
    ) -> None:
        self._indexers: dict[str, IndexFunc] = dict(indexers or {})
        self._transform = transform
        self._items: dict[ObjectKey, FrozenObject] = {}
        # index name -> value -> keys (a dict used as an insertion-ordered set)
        self._indices: dict[str, dict[str, dict[ObjectKey, None]]] = {n: {} for n in self._indexers}
        # index name -> key -> the values that key is filed under (so removal never re-runs
        # an index function on the old object)
        self._filed: dict[str, dict[ObjectKey, tuple[str, ...]]] = {n: {} for n in self._indexers}
        self._synced = False
        self._last_sync_rv: str | None = None

    # writes

    def add(self, obj: Mapping[str, Any]) -> Upsert:
        """Insert or replace ``obj`` (same as :meth:`update`)."""
        return self._apply(self._prepare(obj))

    def update(self, obj: Mapping[str, Any]) -> Upsert:
        """Insert or replace ``obj`` (same as :meth:`add`)."""
        return self._apply(self._prepare(obj))

    def delete(self, obj_or_key: Mapping[str, Any] | DeletedFinalStateUnknown | ObjectKey) -> FrozenObject | None:
        """Remove by key (or by an object's / tombstone's key); returns what was removed."""
        key = obj_or_key if isinstance(obj_or_key, ObjectKey) else key_of(obj_or_key)
        old = self._items.pop(key, None)
        if old is not None:
            for name in self._indexers:
                self._unfile(name, key, self._filed[name].pop(key, ()))
        return old

    def replace(self, objects: Iterable[Mapping[str, Any]], resource_version: str) -> builtins.list[Change]:
        """Make the store equal to ``objects`` (a complete LIST at ``resource_version``).

        Returns the implied changes: ``added``/``updated`` in the order of ``objects``, then
        ``deleted`` (with tombstones) in sorted key order. An object whose
        ``resourceVersion`` is unchanged is kept as it is and yields no change (objects
        without a resourceVersion are compared by content).
        """
        prepared = [self._prepare(o) for o in objects]
        changes: builtins.list[Change] = []
        seen: set[ObjectKey] = set()
        for p in prepared:
            seen.add(p.key)
            old = self._items.get(p.key)
            if old is None:
                self._apply(p)
                changes.append(Change(ChangeKind.ADDED, p.key, p.obj, None))
            elif not _unchanged(old, p.obj):
                self._apply(p)
                changes.append(Change(ChangeKind.UPDATED, p.key, p.obj, old))
        for key in sorted(k for k in self._items if k not in seen):
            last = self.delete(key)
            assert last is not None
            changes.append(Change(ChangeKind.DELETED, key, DeletedFinalStateUnknown(key, last), last))
        self._last_sync_rv = resource_version
        self._synced = True
        return changes

    # reads

    def get(self, key: ObjectKey) -> FrozenObject | None:
        return self._items.get(key)

    def get_by_name(self, namespace: str, name: str) -> FrozenObject | None:
        return self._items.get(ObjectKey(namespace, name))

    def list(self) -> builtins.list[FrozenObject]:
        """Every object, in the order their keys were first stored."""
        return builtins.list(self._items.values())

    def keys(self) -> builtins.list[ObjectKey]:
        return builtins.list(self._items)

    def by_index(self, index_name: str, value: str) -> builtins.list[FrozenObject]:
        """Objects filed under ``value`` in index ``index_name`` (``KeyError`` if no such index)."""
        items = self._items
        return [items[k] for k in self._bucket(index_name, value)]

    def index_keys(self, index_name: str, value: str) -> builtins.list[ObjectKey]:
        """Keys filed under ``value`` in index ``index_name`` (``KeyError`` if no such index)."""
        return builtins.list(self._bucket(index_name, value))

    def index_values(self, index_name: str) -> builtins.list[str]:
        """Every value index ``index_name`` currently has a (non-empty) bucket for."""
        return builtins.list(self._indices[index_name])

    @property
    def has_synced(self) -> bool:
        """False until the first :meth:`replace` (the initial LIST) has been applied."""
        return self._synced

    @property
    def last_sync_resource_version(self) -> str | None:
        """The ``resource_version`` given to the last :meth:`replace`, or ``None`` before it."""
        return self._last_sync_rv

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, ObjectKey):
            return item in self._items
        if isinstance(item, Mapping | DeletedFinalStateUnknown):
            try:
                return key_of(item) in self._items
            except ValueError:
                return False
        return False

    # internals

    def _prepare(self, obj: Mapping[str, Any]) -> _Prepared:
        if self._transform is not None:
            obj = self._transform(obj if type(obj) is dict else thaw(obj))
        frozen = freeze(obj)
        key = key_of(frozen)
        values = {name: tuple(dict.fromkeys(fn(frozen))) for name, fn in self._indexers.items()}
        return _Prepared(key, frozen, values)

    def _apply(self, p: _Prepared) -> Upsert:
        old = self._items.get(p.key)
        self._items[p.key] = p.obj
        for name, new_values in p.values.items():
            filed = self._filed[name]
            old_values = filed.get(p.key, ())
            if old_values == new_values:
                continue
            self._unfile(name, p.key, old_values)
            index = self._indices[name]
            for value in new_values:
                index.setdefault(value, {})[p.key] = None
            if new_values:
                filed[p.key] = new_values
            else:
                filed.pop(p.key, None)
        return Upsert(p.obj, old)

    def _unfile(self, name: str, key: ObjectKey, values: tuple[str, ...]) -> None:
        index = self._indices[name]
        for value in values:
            bucket = index.get(value)
            if bucket is not None:
                bucket.pop(key, None)
                if not bucket:
                    del index[value]

    def _bucket(self, index_name: str, value: str) -> dict[ObjectKey, None]:
        index = self._indices.get(index_name)
        if index is None:
            raise KeyError(f"no index named {index_name!r}")
        return index.get(value, {})


def _unchanged(old: FrozenObject, new: FrozenObject) -> bool:
    old_rv = (old.get("metadata") or {}).get("resourceVersion")
    new_rv = (new.get("metadata") or {}).get("resourceVersion")
    if old_rv or new_rv:
        return bool(old_rv == new_rv)
    return old == new
