from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson
import pytest

from jupyternetes_operator.kube.client import Resource
from jupyternetes_operator.kube.errors import Gone
from jupyternetes_operator.kube.watch import LineSplitter, WatchEvent, WatchStalled, decode, events, watch


def line(kind: str, name: str, rv: str) -> bytes:
    return orjson.dumps({"type": kind, "object": {"metadata": {"name": name, "resourceVersion": rv}}}) + b"\n"


class ChunkStream:
    """A fake HTTP body: hands out the given chunks, then b"" (end), or blocks forever."""

    def __init__(self, chunks: list[bytes], *, hang: bool = False) -> None:
        self.chunks = list(chunks)
        self.hang = hang

    async def readany(self) -> bytes:
        if self.chunks:
            return self.chunks.pop(0)
        if self.hang:
            await anyio.sleep_forever()
        return b""


def test_lines_split_across_chunks_and_joined_within_one() -> None:
    data = line("ADDED", "a", "1") + line("MODIFIED", "b", "2") + line("DELETED", "c", "3")
    splitter = LineSplitter()
    out: list[bytes] = []
    for i in range(0, len(data), 7):  # chunk boundaries fall mid-line
        out.extend(splitter.feed(data[i:i + 7]))
    assert [decode(x).object["metadata"]["name"] for x in out] == ["a", "b", "c"]
    assert not splitter.pending


def test_large_line_in_many_chunks() -> None:
    big = {"type": "ADDED", "object": {"metadata": {"name": "big", "resourceVersion": "9"}, "data": "x" * 300_000}}
    data = orjson.dumps(big) + b"\n"
    splitter = LineSplitter()
    out = [piece for i in range(0, len(data), 4096) for piece in splitter.feed(data[i:i + 4096])]
    assert len(out) == 1
    assert decode(out[0]).object["data"] == "x" * 300_000


def test_blank_lines_are_skipped_and_partial_line_is_pending() -> None:
    splitter = LineSplitter()
    assert list(splitter.feed(b"\n\n" + line("ADDED", "a", "1") + b'{"type":')) != []
    assert splitter.pending


def test_error_event_raises_typed_error() -> None:
    raw = orjson.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                                    "message": "too old resource version: 1 (50)"}})
    with pytest.raises(Gone, match="too old resource version"):
        decode(raw)


async def test_events_until_the_stream_ends() -> None:
    stream = ChunkStream([line("ADDED", "a", "1") + line("BOOKMARK", "", "5")[:10], line("BOOKMARK", "", "5")[10:]])
    got = [e async for e in events(stream, inactivity_timeout=30)]
    assert got == [WatchEvent("ADDED", {"metadata": {"name": "a", "resourceVersion": "1"}}),
                   WatchEvent("BOOKMARK", {"metadata": {"name": "", "resourceVersion": "5"}})]
    assert got[1].resource_version == "5"


async def test_silent_stream_is_cut_by_the_inactivity_timeout() -> None:
    # A half-open connection: one event, then nothing at all. (A 20 ms timeout on a blocked
    # read, not a sleep: the test finishes as soon as the watchdog fires.)
    stream = ChunkStream([line("ADDED", "a", "1")], hang=True)
    seen: list[str] = []

    async def consume() -> None:
        async for event in events(stream, inactivity_timeout=0.02):
            seen.append(event.object["metadata"]["name"])

    with pytest.raises(WatchStalled):
        await consume()
    assert seen == ["a"]


async def test_a_watch_whose_response_never_comes_is_cut_by_the_inactivity_timeout() -> None:
    # A pooled connection whose peer vanished: the request goes out, not even headers come back.
    class Silent:
        @asynccontextmanager
        async def stream(self, path: str, **_: Any) -> Any:
            await anyio.sleep_forever()
            yield ChunkStream([])

    with anyio.fail_after(5), pytest.raises(WatchStalled):
        async with watch(Silent(), Resource("", "v1", "pods"), "ns",  # type: ignore[arg-type]
                         resource_version="1", timeout_seconds=300, inactivity_timeout=0.02):
            pass
