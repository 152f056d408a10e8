"""One watch stream: newline-delimited JSON events off a long-lived GET.

:func:`split_lines` is the pure core (byte chunks in, complete lines out; a line may
span many chunks and be of any size). :func:`watch` opens the stream with
``allowWatchBookmarks`` and a server-side ``timeoutSeconds``, and guards the wait for
the response and every read with an inactivity timeout: a half-open connection that
delivers nothing — not even the bookmarks the server sends about once a minute —
raises :class:`WatchStalled` instead of freezing the caller forever. An ``ERROR``
event raises the typed error its Status describes (410 Expired →
:class:`~.errors.Gone`). A normal end of the stream (the server's timeout) just
ends the iteration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from .errors import error_from_status
from .jsonwire import loads

if TYPE_CHECKING:
    from .client import Client, Resource

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class WatchStalled(TimeoutError):
    """No byte arrived on the watch for the inactivity timeout."""


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        return str(self.object.get("metadata", {}).get("resourceVersion", ""))


class ChunkSource(Protocol):
    async def readany(self) -> bytes: ...


class LineSplitter:
    """Reassembles newline-terminated lines from arbitrary chunks (pure)."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            piece = chunk[start:end]
            if self._pending:
                self._pending.append(piece)
                piece = b"".join(self._pending)
                self._pending.clear()
            if piece.strip():
                yield piece
            start = end + 1
        if start < len(chunk):
            self._pending.append(chunk[start:])

    @property
    def pending(self) -> bool:
        return any(p.strip() for p in self._pending)


def decode(line: bytes) -> WatchEvent:
    """Parse one event line (nested at most :data:`.jsonwire.MAX_DEPTH` deep); an ERROR event raises its
    typed error."""
    raw = loads(line)
    event = WatchEvent(str(raw.get("type", "")), raw.get("object") or {})
    if event.type == ERROR:
        raise error_from_status(event.object)
    return event


async def events(source: ChunkSource, inactivity_timeout: float,
                 decoder: Callable[[bytes], WatchEvent] = decode) -> AsyncIterator[WatchEvent]:
    """Decoded events from a chunk source until it ends; raises WatchStalled on silence."""
    splitter = LineSplitter()
    while True:
        try:
            with anyio.fail_after(inactivity_timeout):
                chunk = await source.readany()
        except TimeoutError as exc:
            raise WatchStalled(f"no data on the watch for {inactivity_timeout:.0f}s") from exc
        if not chunk:
            return
        for line in splitter.feed(chunk):
            yield decoder(line)


@asynccontextmanager
async def watch(client: Client, resource: Resource, namespace: str | None = None, *,
                resource_version: str | None, timeout_seconds: int, inactivity_timeout: float,
                label_selector: str | None = None, field_selector: str | None = None,
                send_initial_events: bool = False) -> AsyncIterator[AsyncIterator[WatchEvent]]:
    """Open a watch from ``resource_version``; yields the event iterator."""
    params: dict[str, str | int | bool] = {"watch": True, "allowWatchBookmarks": True,
                                           "timeoutSeconds": timeout_seconds}
    if resource_version is not None:
        params["resourceVersion"] = resource_version
    if send_initial_events:
        params["sendInitialEvents"] = True
        params["resourceVersionMatch"] = "NotOlderThan"
    if label_selector:
        params["labelSelector"] = label_selector
    if field_selector:
        params["fieldSelector"] = field_selector
    # The server closes the stream after timeoutSeconds; the client-side total is a backstop.
    async with AsyncExitStack() as stack:
        body: ChunkSource | None = None
        # The wait for the response is guarded like every read: a connection that went half-open
        # (or a pooled one whose peer vanished) answers nothing at all, not even headers.
        with anyio.move_on_after(inactivity_timeout):
            body = await stack.enter_async_context(client.stream(
                resource.path(namespace), params=params, total_timeout=timeout_seconds + inactivity_timeout))
        if body is None:
            raise WatchStalled(f"no answer to the watch request for {inactivity_timeout:.0f}s")
        yield events(body, inactivity_timeout)
