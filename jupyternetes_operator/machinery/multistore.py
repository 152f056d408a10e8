"""One read view over several informer stores (one per watched namespace).

An operator that watches a fixed set of namespaces runs one informer per namespace
(so it needs no cluster-wide RBAC); reconcilers read through this view as if there
were a single cache. Reads go to the store of the object's namespace, or to the
all-namespaces store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .store import FrozenObject, ObjectKey, Store


class ReadStore(Protocol):
    """The read side of a cache, as reconcilers use it."""

    def get(self, key: ObjectKey) -> FrozenObject | None: ...

    def get_by_name(self, namespace: str, name: str) -> FrozenObject | None: ...

    def by_index(self, index_name: str, value: str) -> list[FrozenObject]: ...

    def list(self) -> list[FrozenObject]: ...


class CompositeStore:
    def __init__(self, stores: Mapping[str | None, Store]) -> None:
        """``stores`` by namespace; the key None is a store over all namespaces."""
        self._stores = dict(stores)

    def _for(self, namespace: str) -> Store | None:
        return self._stores.get(namespace) or self._stores.get(None)

    def get(self, key: ObjectKey) -> FrozenObject | None:
        store = self._for(key.namespace)
        return None if store is None else store.get(key)

    def get_by_name(self, namespace: str, name: str) -> FrozenObject | None:
        return self.get(ObjectKey(namespace, name))

    def by_index(self, index_name: str, value: str) -> list[FrozenObject]:
        return [obj for store in self._stores.values() for obj in store.by_index(index_name, value)]

    def list(self) -> list[FrozenObject]:
        return [obj for store in self._stores.values() for obj in store.list()]
