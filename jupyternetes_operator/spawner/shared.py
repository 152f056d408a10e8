"""One API connection, one instance informer and one template informer per namespace and hub
process, shared by all spawners.

Why: ``poll()`` for 10,000 servers must make no API call. Every spawner of the process
reads the same label-selected cache of instances; ``start()``/``stop()`` wait on it
(woken by the informer's handler, never by sleeping and re-reading). Templates are read
from a cache too, so a burst of spawns does not GET the same template once per spawn
(an edited template still reaches the next spawn: the watch brings it in milliseconds).

Contract:

- :func:`connection` returns the :class:`Connection` for a kubeconfig (``None``: in the
  cluster if running in a pod, else the default kubeconfig), created once per event loop.
- :meth:`Connection.instances` and :meth:`Connection.templates` return the
  :class:`SharedCache` of a namespace, started lazily as an asyncio task on first use; it
  is synced when returned. Its first
  use makes one small LIST itself, so that a missing permission surfaces as a
  ``Forbidden`` error instead of a silent retry loop; so does a right revoked between
  that LIST and the informer's (the informer is stopped, and the next use probes again).
- An instance whose server turns out of date with its template (its ``UpToDate`` condition turns
  False) is logged once, as a warning naming the server and its user (:mod:`.rollout`).
- Everything is keyed by the running event loop (the hub has one; tests have one per test),
  and :func:`close_all` ends the tasks and connections of the current loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from ..api import INSTANCES, TEMPLATES
from ..kube.client import Client, Resource
from ..kube.errors import Forbidden
from ..machinery.informer import Informer, InformerOptions
from ..machinery.store import DeletedFinalStateUnknown, FrozenObject
from .manifests import SELECTOR
from .rollout import became_outdated

log = logging.getLogger(__name__)
Predicate = Callable[[FrozenObject | None], bool]


class SharedCache:
    """The (label-selected) objects of one resource in one namespace, and waiters on individual names."""

    def __init__(self, client: Client, resource: Resource, namespace: str, selector: str | None = None) -> None:
        self.namespace = namespace
        self._client = client
        self._resource = resource
        self._selector = selector
        self.informer = Informer.for_resource(client, resource,
                                              InformerOptions(namespace=namespace, label_selector=selector),
                                              name=f"hub-{resource.plural}/{namespace}")
        self.informer.add_handler(self)
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def start(self, timeout: float) -> None:
        """Start the informer once (probing permissions first) and wait until it has synced."""
        async with self._lock:
            if self._task is None:
                probe: dict[str, str | int | bool] = {"limit": 1}
                if self._selector:
                    probe["labelSelector"] = self._selector
                await self._client.list_page(self._resource, self.namespace, params=probe)
                self._task = asyncio.get_running_loop().create_task(self.informer.run(),
                                                                     name=self.informer.name)
        try:
            async with asyncio.timeout(timeout):
                await self.informer.wait_synced(fail_on=(Forbidden,))
        except Forbidden:
            # The probe passed on the API server's authorizer cache just before a revoked right took
            # effect: stop the retrying informer, so the next call probes again.
            await self.close()
            raise

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def get(self, name: str) -> FrozenObject | None:
        return self.informer.store.get_by_name(self.namespace, name)

    async def wait(self, name: str, predicate: Predicate, timeout: float | None = None) -> FrozenObject | None:
        """Return the object (or None if absent) once ``predicate`` holds for it.

        The check and the registration happen without an await in between, and handlers
        run after the store changed, so no change can slip by unseen.
        """
        async with asyncio.timeout(timeout):
            while True:
                current = self.get(name)
                if predicate(current):
                    return current
                event = asyncio.Event()
                self._waiters.setdefault(name, set()).add(event)
                try:
                    await event.wait()
                finally:
                    waiters = self._waiters.get(name)
                    if waiters is not None:
                        waiters.discard(event)
                        if not waiters:
                            del self._waiters[name]

    # -- informer handler: wake the waiters of the changed name ---------------------------

    def _notify(self, obj: Mapping[str, Any] | DeletedFinalStateUnknown) -> None:
        name = obj.key.name if isinstance(obj, DeletedFinalStateUnknown) else obj["metadata"]["name"]
        for event in self._waiters.get(name, ()):
            event.set()

    def on_add(self, obj: FrozenObject) -> None:
        self._notify(obj)

    def on_update(self, old: FrozenObject, new: FrozenObject) -> None:
        self._notify(new)
        if (note := became_outdated(old, new)) is not None:
            log.warning(note)

    def on_delete(self, obj: FrozenObject | DeletedFinalStateUnknown) -> None:
        self._notify(obj)


class Connection:
    """A client and the shared informers made with it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._caches: dict[tuple[str, str], SharedCache] = {}

    async def _cache(self, resource: Resource, namespace: str, selector: str | None,
                     sync_timeout: float) -> SharedCache:
        shared = self._caches.get((resource.plural, namespace))
        if shared is None:
            shared = self._caches[(resource.plural, namespace)] = SharedCache(self.client, resource, namespace,
                                                                              selector)
        await shared.start(sync_timeout)  # a failed probe leaves it unstarted: the next call probes again
        return shared

    async def instances(self, namespace: str, sync_timeout: float) -> SharedCache:
        """The hub's instances (those with the hub's labels) in ``namespace``."""
        return await self._cache(INSTANCES, namespace, SELECTOR, sync_timeout)

    async def templates(self, namespace: str, sync_timeout: float) -> SharedCache:
        """Every template in ``namespace``."""
        return await self._cache(TEMPLATES, namespace, None, sync_timeout)

    async def close(self) -> None:
        for shared in self._caches.values():
            await shared.close()
        self._caches.clear()
        await self.client.close()


_connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str | None, Connection]] = (
    weakref.WeakKeyDictionary())
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def _new_client(kubeconfig: str | None) -> Client:
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return Client.in_cluster(field_manager="jupyterhub")
    return await Client.from_kubeconfig(kubeconfig, field_manager="jupyterhub")


async def connection(kubeconfig: str | None) -> Connection:
    loop = asyncio.get_running_loop()
    lock = _locks.setdefault(loop, asyncio.Lock())
    async with lock:
        by_config = _connections.setdefault(loop, {})
        found = by_config.get(kubeconfig)
        if found is None:
            found = by_config[kubeconfig] = Connection(await _new_client(kubeconfig))
        return found


async def close_all() -> None:
    """End every shared informer and client of the running loop (tests; hub shutdown)."""
    for conn in _connections.pop(asyncio.get_running_loop(), {}).values():
        await conn.close()
