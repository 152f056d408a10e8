"""An informer: a reflector feeding a store, and handlers told of every change.

Handlers run synchronously, in event order, after the store already reflects the
change (so a handler that reads the store sees the new state). They should only
enqueue keys; an exception in one is logged and counted, never allowed to stop the
watch or the other handlers. ``wait_synced()`` returns after the first complete
LIST has reached the store and every handler; given error types, it raises instead
when the reflector meets one of them before that (the reflector keeps retrying).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from .clock import Clock, MonotonicClock
from .metrics import InformerMetrics
from .reflector import ListerWatcher, Reflector, ReflectorOptions, ResourceListerWatcher
from .store import (
    ChangeKind,
    DeletedFinalStateUnknown,
    FrozenObject,
    IndexFunc,
    Store,
    Transform,
    drop_managed_fields,
    freeze,
)

if TYPE_CHECKING:
    from ..kube.client import Client, Resource

log = logging.getLogger(__name__)


class EventHandler(Protocol):
    def on_add(self, obj: FrozenObject) -> None: ...

    def on_update(self, old: FrozenObject, new: FrozenObject) -> None: ...

    def on_delete(self, obj: FrozenObject | DeletedFinalStateUnknown) -> None:
        """``obj`` is a tombstone when the delete was only noticed by a relist."""
        ...


@dataclass(frozen=True)
class InformerOptions:
    namespace: str | None = None
    """Watch one namespace; None for all."""
    label_selector: str | None = None
    field_selector: str | None = None
    indexers: Mapping[str, IndexFunc] = field(default_factory=dict)
    transform: Transform | None = drop_managed_fields
    reflector: ReflectorOptions = field(default_factory=ReflectorOptions)


class Informer:
    """Cache of one resource type (in one scope), kept current by its reflector."""

    def __init__(self, name: str, lister_watcher: ListerWatcher, *,
                 indexers: Mapping[str, IndexFunc] | None = None,
                 transform: Transform | None = drop_managed_fields,
                 reflector_options: ReflectorOptions | None = None,
                 metrics: InformerMetrics | None = None, clock: Clock | None = None) -> None:
        self.name = name
        self.store = Store(indexers, transform)
        self._handlers: list[EventHandler] = []
        self._m = (metrics if metrics is not None else InformerMetrics()).informer(name)
        self._synced = anyio.Event()
        self._progress = anyio.Event()  # set (and replaced) at the first sync and at each retried error
        self.last_error: Exception | None = None
        self.reflector = Reflector(name, lister_watcher, self, reflector_options or ReflectorOptions(),
                                   clock or MonotonicClock(), self._m, on_error=self._on_error)

    @classmethod
    def for_resource(cls, client: Client, resource: Resource, options: InformerOptions | None = None, *,
                     name: str | None = None, metrics: InformerMetrics | None = None,
                     clock: Clock | None = None) -> Informer:
        options = options or InformerOptions()
        lw = ResourceListerWatcher(client, resource, options.namespace, options.label_selector,
                                   options.field_selector)
        label = name or (f"{resource.plural}/{options.namespace}" if options.namespace else resource.plural)
        return cls(label, lw, indexers=options.indexers, transform=options.transform,
                   reflector_options=options.reflector, metrics=metrics, clock=clock)

    def add_handler(self, handler: EventHandler) -> None:
        """Register before ``run()``; handlers added later miss the initial LIST."""
        self._handlers.append(handler)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, *, fail_on: tuple[type[Exception], ...] = ()) -> None:
        """Wait for the first sync; raise the reflector's last error if it is one of ``fail_on``."""
        while not self._synced.is_set():
            if fail_on and isinstance(self.last_error, fail_on):
                raise self.last_error
            await self._progress.wait()

    def _on_error(self, exc: Exception) -> None:
        self.last_error = exc
        self._wake()

    def _wake(self) -> None:
        self._progress.set()
        self._progress = anyio.Event()

    async def run(self) -> None:
        try:
            await self.reflector.run()
        finally:
            self.last_error = None  # an error of this run says nothing about the next

    # -- the reflector's sink ------------------------------------------------------------

    def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None:
        for change in self.store.replace(objects, resource_version):
            if change.kind is ChangeKind.ADDED:
                assert not isinstance(change.obj, DeletedFinalStateUnknown)
                self._added(change.obj)
            elif change.kind is ChangeKind.UPDATED:
                assert change.old is not None
                assert not isinstance(change.obj, DeletedFinalStateUnknown)
                self._updated(change.old, change.obj)
            else:
                self._deleted(change.obj)
        self._gauge()
        if not self._synced.is_set():
            self._synced.set()
            self._wake()

    def upsert(self, obj: dict[str, Any]) -> None:
        stored, old = self.store.update(obj)
        if old is None:
            self._added(stored)
        else:
            self._updated(old, stored)
        self._gauge()

    def remove(self, obj: dict[str, Any]) -> None:
        removed = self.store.delete(obj)
        self._deleted(removed if removed is not None else freeze(obj))
        self._gauge()

    def _added(self, obj: FrozenObject) -> None:
        self._dispatch("add", lambda handler: handler.on_add(obj))

    def _updated(self, old: FrozenObject, new: FrozenObject) -> None:
        self._dispatch("update", lambda handler: handler.on_update(old, new))

    def _deleted(self, obj: FrozenObject | DeletedFinalStateUnknown) -> None:
        self._dispatch("delete", lambda handler: handler.on_delete(obj))

    def _gauge(self) -> None:
        self._m.objects(len(self.store))

    def _dispatch(self, event: str, call: Callable[[EventHandler], None]) -> None:
        for handler in self._handlers:
            try:
                call(handler)
            except Exception:
                log.exception("%s: %s handler %r failed", self.name, event, handler)
