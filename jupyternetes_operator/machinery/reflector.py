"""The reflector: keeps a sink equal to the server's state with LIST then WATCH.

Guarantees (client-go's reflector semantics):

- The first sync LISTs at ``resourceVersion=0`` (any version the server's cache has)
  and hands the whole result to ``sink.replace`` — or, with ``watch_list``, streams
  the initial state with ``sendInitialEvents`` and replaces only at the
  ``k8s.io/initial-events-end`` bookmark (falling back to LIST for good when the
  server refuses). Synthetic initial ADDED events never advance the version.
- It then WATCHes from the listed version with bookmarks and a random
  ``timeoutSeconds`` in [min, max], so many informers do not reconnect at once; a
  normal end of the stream re-watches from the last version without a LIST.
- 410 Gone from a watch means the version was compacted: it relists at the last
  version it saw (unpaginated, so the watch cache answers at its current version;
  after a backoff if the watch had delivered nothing since the last LIST); if the
  server cannot serve that version either, it escalates to a consistent (quorum)
  LIST. Objects gone from the new LIST reach the sink as deletes (tombstones), so
  no delete is missed while the watch was down.
- A silent connection is cut by the inactivity timeout; every other error waits a
  jittered exponential backoff (from the injected clock), and at least the
  server's Retry-After when it sent one, and retries. Each such error is handed to
  ``on_error`` first (client-go's watch error handler), so a waiter can give up on it.

Not promised: ordering across different resources; the sink sees events of one
resource in server order.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp

from ..kube.errors import ApiError, BadRequest, Forbidden, Gone, Invalid, ServerError
from ..kube.watch import ADDED, BOOKMARK, DELETED, INITIAL_EVENTS_END, MODIFIED, WatchEvent, WatchStalled, watch
from .backoff import Backoff
from .clock import Clock, MonotonicClock
from .metrics import InformerSeries

if TYPE_CHECKING:
    from ..kube.client import Client, Resource

log = logging.getLogger(__name__)


class ListerWatcher(Protocol):
    """What the reflector needs from the API (one resource, one scope, fixed selectors)."""

    async def list(self, resource_version: str | None) -> tuple[list[dict[str, Any]], str]:
        """All objects and the list's resourceVersion (paginated underneath)."""
        ...

    def watch(self, resource_version: str | None, *, timeout_seconds: int, inactivity_timeout: float,
              send_initial_events: bool = False) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]]: ...


class Sink(Protocol):
    """Where the reflector delivers state (the informer: store + handlers)."""

    def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None: ...

    def upsert(self, obj: dict[str, Any]) -> None: ...

    def remove(self, obj: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ResourceListerWatcher:
    """A ListerWatcher over the client for one resource type (and optional namespace/selectors)."""

    client: Client
    resource: Resource
    namespace: str | None = None
    label_selector: str | None = None
    field_selector: str | None = None
    page_size: int = 500

    async def list(self, resource_version: str | None) -> tuple[list[dict[str, Any]], str]:
        # A paginated LIST at a version other than "0" or "" is answered from etcd at exactly that
        # version, which a restarted API server's watch cache may be unable to watch from (410 again,
        # forever). Unpaginated, the watch cache answers it at its own, newer version (client-go's rule).
        paginate = resource_version in (None, "", "0")
        result = await self.client.list(self.resource, self.namespace, label_selector=self.label_selector,
                                        field_selector=self.field_selector, resource_version=resource_version,
                                        limit=self.page_size if paginate else 0)
        return result["items"], str(result["metadata"]["resourceVersion"])

    def watch(self, resource_version: str | None, *, timeout_seconds: int, inactivity_timeout: float,
              send_initial_events: bool = False) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]]:
        return watch(self.client, self.resource, self.namespace, resource_version=resource_version,
                     timeout_seconds=timeout_seconds, inactivity_timeout=inactivity_timeout,
                     label_selector=self.label_selector, field_selector=self.field_selector,
                     send_initial_events=send_initial_events)


@dataclass(frozen=True)
class ReflectorOptions:
    min_watch_timeout: int = 300
    """Lower bound of the random server-side watch timeout (client-go: 5 min)."""
    max_watch_timeout: int = 600
    """Upper bound (client-go: twice 5 min)."""
    inactivity_timeout: float = 150.0
    """Cut a watch that delivered nothing for this long; bookmarks arrive about every minute."""
    watch_list: bool = False
    """Stream the initial state (sendInitialEvents) instead of LIST, where the server supports it."""


class _Relist(Exception):
    """Internal: the watch needs a fresh LIST (reason in args[0])."""


def _version_unavailable(exc: ApiError) -> bool:
    """The LIST asked for a version the server no longer (or does not yet) have."""
    return isinstance(exc, Gone) or (
        isinstance(exc, ServerError) and any(c.reason == "ResourceVersionTooLarge" for c in exc.causes))


@dataclass
class Reflector:
    name: str
    lister_watcher: ListerWatcher
    sink: Sink
    options: ReflectorOptions = field(default_factory=ReflectorOptions)
    clock: Clock = field(default_factory=MonotonicClock)
    metrics: InformerSeries = field(default_factory=InformerSeries)
    rng: random.Random = field(default_factory=random.Random)
    backoff: Backoff | None = None
    on_error: Callable[[Exception], None] | None = None
    last_sync_resource_version: str = ""
    resource_version: str = ""
    _version_unavailable: bool = False
    _watch_list: bool = False

    def __post_init__(self) -> None:
        if self.backoff is None:
            self.backoff = Backoff(rng=self.rng)
        self._watch_list = self.options.watch_list

    def relist_resource_version(self) -> str:
        """client-go's rule: consistent after an unavailable version, "0" the first time, else the last sync."""
        if self._version_unavailable:
            return ""
        return self.last_sync_resource_version or "0"

    async def run(self) -> None:
        """LIST/WATCH forever (until cancelled). Run again after a cancel, it resumes
        watching from the last version it saw (and relists only if that is gone)."""
        need_list, reason = not self.resource_version, "initial"
        assert self.backoff is not None
        while True:
            try:
                if need_list:
                    stream = await self._sync(reason)
                    need_list = False
                    if stream is not None:  # a watch-list stream continues as the watch
                        await self._consume(stream)
                        reason = "closed"
                        continue
                await self._watch()
                reason = "closed"
                self.metrics.watch_restarted(reason)
            except _Relist as relist:
                need_list, reason = True, str(relist.args[0])
                if self.resource_version == self.last_sync_resource_version:
                    # Gone before a single event since the last LIST: never relist in a tight loop.
                    await self.clock.sleep(self.backoff.next_delay(self.clock.now()))
            except (ApiError, aiohttp.ClientError, OSError, WatchStalled) as exc:
                reason = "stalled" if isinstance(exc, WatchStalled) else "error"
                if (need_list and isinstance(exc, ApiError) and _version_unavailable(exc)
                        and not self._version_unavailable):
                    # The version we asked to LIST at is gone: escalate to a consistent LIST now.
                    self._version_unavailable = True
                    continue
                delay = self.backoff.next_delay(self.clock.now())
                if isinstance(exc, ApiError) and exc.retry_after:
                    delay = max(delay, exc.retry_after)  # the server said when (429 with Retry-After)
                log.warning("%s: %s; retrying in %.1fs", self.name, exc, delay,
                            extra={"resource": self.name, "error": type(exc).__name__})
                if self.on_error is not None:
                    self.on_error(exc)
                self.metrics.watch_restarted(reason)
                await self.clock.sleep(delay)

    async def _sync(self, reason: str) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]] | None:
        """Bring the sink up to date; returns an open watch-list stream to keep consuming, if any."""
        self.metrics.relisted(reason)
        if self._watch_list:
            return await self._sync_by_watch_list()
        objects, version = await self.lister_watcher.list(self.relist_resource_version())
        self._synced(objects, version)
        return None

    def _synced(self, objects: list[dict[str, Any]], version: str) -> None:
        self.sink.replace(objects, version)
        self.last_sync_resource_version = self.resource_version = version
        self._version_unavailable = False
        self.metrics.synced()

    async def _sync_by_watch_list(self) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]] | None:
        cm = self.lister_watcher.watch(self.last_sync_resource_version if not self._version_unavailable else "",
                                       timeout_seconds=self._watch_timeout(),
                                       inactivity_timeout=self.options.inactivity_timeout, send_initial_events=True)
        try:
            stream = await cm.__aenter__()
        except (BadRequest, Invalid, Forbidden) as exc:
            log.info("%s: the server refused a streaming list (%s); using LIST", self.name, exc)
            self._watch_list = False
            return await self._sync("fallback")
        try:
            initial: list[dict[str, Any]] = []
            async for event in stream:
                if event.type == BOOKMARK:
                    annotations: Mapping[str, str] = event.object.get("metadata", {}).get("annotations") or {}
                    if annotations.get(INITIAL_EVENTS_END) == "true":
                        self._synced(initial, event.resource_version)
                        return _Continue(cm, stream)
                elif event.type == ADDED:
                    initial.append(event.object)  # synthetic: its version must not become ours
            raise _Relist("initial-events-incomplete")
        except BaseException:
            await cm.__aexit__(None, None, None)
            raise

    def _watch_timeout(self) -> int:
        return self.rng.randint(self.options.min_watch_timeout, self.options.max_watch_timeout)

    async def _watch(self) -> None:
        cm = self.lister_watcher.watch(self.resource_version, timeout_seconds=self._watch_timeout(),
                                       inactivity_timeout=self.options.inactivity_timeout)
        async with cm as stream:
            await self._handle(stream)

    async def _consume(self, cm: AbstractAsyncContextManager[AsyncIterator[WatchEvent]]) -> None:
        async with cm as stream:
            await self._handle(stream)

    async def _handle(self, stream: AsyncIterator[WatchEvent]) -> None:
        try:
            async for event in stream:
                self._apply(event)
                assert self.backoff is not None
                self.backoff.reset()
        except Gone as exc:
            raise _Relist("gone") from exc

    def _apply(self, event: WatchEvent) -> None:
        if event.type in (ADDED, MODIFIED):
            self.sink.upsert(event.object)
        elif event.type == DELETED:
            self.sink.remove(event.object)
        elif event.type != BOOKMARK:
            log.warning("%s: ignoring watch event of unknown type %r", self.name, event.type)
            return
        self.metrics.event(event.type)
        if version := event.resource_version:
            self.resource_version = version


class _Continue(AbstractAsyncContextManager[AsyncIterator[WatchEvent]]):
    """An already-entered watch context handed on from the streaming list to the watch loop."""

    def __init__(self, cm: AbstractAsyncContextManager[AsyncIterator[WatchEvent]],
                 stream: AsyncIterator[WatchEvent]) -> None:
        self._cm = cm
        self._stream = stream

    async def __aenter__(self) -> AsyncIterator[WatchEvent]:
        return self._stream

    async def __aexit__(self, *exc: Any) -> bool | None:
        return await self._cm.__aexit__(*exc)
