"""Replaying one recorded watch stream through a decode-and-cache path, timed or weighed.

Pure: bytes in, numbers out; nothing here opens a socket or a file. Every path is fed the
same pre-cut chunks and frames lines with the same :class:`LineSplitter`, so the paths
differ only in how a line becomes a cached object:

- ``ours``: :func:`decode` (orjson) and :meth:`Store.update` / :meth:`Store.delete`, with the
  default transform (drops ``managedFields``) and three indexes, as the informer does.
- ``ours-keep-mf``: the same with ``transform=None``, to show how much of the difference the
  dropped ``managedFields`` account for.
- ``kubernetes_asyncio``: ``Watch.unmarshal_event(line, "V1Pod")`` (``json.loads``, then
  ``ApiClient.deserialize`` into model objects), the UTF-8 decode its ``Watch.next`` does
  first, and a plain dict keyed by ``(namespace, name)``.

Not promised: absolute speeds mean little (they move with the machine and its load); only a
ratio measured side by side in one process is reported.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from jupyternetes_operator.kube.watch import BOOKMARK, DELETED, LineSplitter, decode
from jupyternetes_operator.machinery.frozen import forget_shared
from jupyternetes_operator.machinery.store import (
    Store,
    Transform,
    drop_managed_fields,
    index_by_controller_uid,
    index_by_label,
    index_by_namespace,
)

USER_LABEL = "hub.jupyter.org/username"


class Cache(Protocol):
    """One path under test: applies one event line to its cache."""

    def apply(self, line: bytes) -> None: ...
    def __len__(self) -> int: ...


class OurCache:
    def __init__(self, transform: Transform | None = drop_managed_fields) -> None:
        self.store = Store({"namespace": index_by_namespace, "controller": index_by_controller_uid,
                            "user": index_by_label(USER_LABEL)}, transform=transform)

    def apply(self, line: bytes) -> None:
        event = decode(line)
        if event.type == DELETED:
            self.store.delete(event.object)
        elif event.type != BOOKMARK:
            self.store.update(event.object)

    def __len__(self) -> int:
        return len(self.store)


class ClientCache:
    """kubernetes_asyncio's own deserialization; ``watch`` is a ``kubernetes_asyncio.watch.Watch``
    (injected: building one needs a running event loop)."""

    def __init__(self, watch: Any, return_type: str = "V1Pod") -> None:
        self.watch = watch
        self.return_type = return_type
        self.objects: dict[tuple[str, str], Any] = {}

    def apply(self, line: bytes) -> None:
        event = self.watch.unmarshal_event(line.decode("utf8"), self.return_type)
        kind = event["type"]
        if kind == BOOKMARK:
            return
        metadata = event["object"].metadata
        key = (metadata.namespace or "", metadata.name)
        if kind == DELETED:
            self.objects.pop(key, None)
        else:
            self.objects[key] = event["object"]

    def __len__(self) -> int:
        return len(self.objects)


def chunked(stream: bytes, size: int) -> list[bytes]:
    """The stream cut into ``size``-byte chunks, as a socket might hand them out."""
    return [stream[i:i + size] for i in range(0, len(stream), size)]


def replay(chunks: Iterable[bytes], cache: Cache) -> int:
    """Feed every complete line to ``cache``; returns the number of events."""
    splitter = LineSplitter()
    count = 0
    for chunk in chunks:
        for line in splitter.feed(chunk):
            cache.apply(line)
            count += 1
    return count


def timed_replay(chunks: Sequence[bytes], make: Callable[[], Cache],
                 clock: Callable[[], float] = time.perf_counter) -> tuple[int, float]:
    """One replay into a fresh cache: (events, seconds). Garbage from earlier runs is collected
    first, outside the timing; the collector stays on during it (it is part of the real cost)."""
    gc.collect()
    cache = make()
    started = clock()
    events = replay(chunks, cache)
    return events, clock() - started


def retained_bytes(chunks: Sequence[bytes], make: Callable[[], Cache]) -> tuple[int, int]:
    """What the cache keeps after the whole stream: (bytes traced by tracemalloc, objects cached).

    Counts everything the cache holds (objects, keys, indexes), after a full collection, so
    transient garbage is not counted. Run a warm-up replay first: first-use allocations
    (orjson's key cache, lazily built class state) would otherwise be charged to the cache.
    """
    forget_shared()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        cache = make()
        replay(chunks, cache)
        forget_shared()  # freeze's table of shared nodes is bounded and belongs to no cache
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return retained, len(cache)


@dataclass(frozen=True)
class PathResult:
    name: str
    events: int
    seconds: tuple[float, ...]
    retained_bytes: int
    objects: int

    @property
    def best_rate(self) -> float:
        """Events per second of the fastest repetition (the least disturbed by other load)."""
        return self.events / min(self.seconds)

    @property
    def median_rate(self) -> float:
        return self.events / statistics.median(self.seconds)

    @property
    def bytes_per_object(self) -> float:
        return self.retained_bytes / self.objects if self.objects else float("nan")


def measure(chunks: Sequence[bytes], makers: Mapping[str, Callable[[], Cache]], repeat: int,
            step: Callable[[str], None] = lambda _: None) -> dict[str, PathResult]:
    """Warm up every path, time ``repeat`` interleaved rounds (order reversed every other
    round so no path always runs right after another), then weigh each cache once.

    ``step`` is called before each replay with a description (for a progress display).
    """
    names = list(makers)
    for name in names:
        step(f"warm-up {name}")
        replay(chunks, makers[name]())
    seconds: dict[str, list[float]] = {name: [] for name in names}
    events: dict[str, int] = {}
    for round_ in range(repeat):
        for name in names if round_ % 2 == 0 else reversed(names):
            step(f"round {round_ + 1}/{repeat}: {name}")
            events[name], elapsed = timed_replay(chunks, makers[name])
            seconds[name].append(elapsed)
    results = {}
    for name in names:
        step(f"memory {name}")
        retained, objects = retained_bytes(chunks, makers[name])
        results[name] = PathResult(name, events[name], tuple(seconds[name]), retained, objects)
    return results


def event_types(chunks: Iterable[bytes]) -> dict[str, int]:
    """How many events of each type the stream holds."""
    counts: dict[str, int] = {}
    splitter = LineSplitter()
    for chunk in chunks:
        for line in splitter.feed(chunk):
            kind = decode(line).type
            counts[kind] = counts.get(kind, 0) + 1
    return counts
