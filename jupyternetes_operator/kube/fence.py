"""The write fence: a write leaves only while ``allowed(method, path)`` says so, asked before it waits
for a connection and again as its body is written (:class:`FencedBody`); and the writes that passed it
and are not answered yet, which a leader letting go of its Lease waits for."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp
import anyio
from aiohttp.abc import AbstractStreamWriter


class WriteFenced(Exception):
    """A write refused before it left the process: this replica may not act (it is not leading)."""


class Fence:
    """One write's fence: ``check()`` raises :class:`WriteFenced` unless ``allowed(method, path)``."""

    def __init__(self, allowed: Callable[[str, str], bool], method: str, path: str) -> None:
        self._allowed, self._method, self._path = allowed, method, path

    def check(self) -> None:
        if not self._allowed(self._method, self._path):
            raise WriteFenced(f"{self._method} {self._path}: this replica is not the leader")


class FencedBody(aiohttp.BytesPayload):
    """A write's body that asks its :class:`Fence` again as it is written: the last instant before the
    request leaves. aiohttp holds the request's headers back until the body's first bytes and writes
    the body in a task of its own, so a replica frozen (SIGSTOP, a paused VM) after any earlier check,
    even with its connection in hand, would otherwise send the write as it resumes, before anything
    else of it runs. Between the check and the bytes there is no ``await`` that yields."""

    def __init__(self, value: bytes, fence: Fence, content_type: str) -> None:
        super().__init__(value, content_type=content_type)
        self.fence = fence

    async def write(self, writer: AbstractStreamWriter) -> None:
        self.fence.check()
        await super().write(writer)

    async def write_with_length(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        self.fence.check()
        await super().write_with_length(writer, content_length)


def refused(exc: BaseException) -> WriteFenced | None:
    """The fence's refusal behind ``exc`` (aiohttp wraps what a body's write raises), if it is one."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, WriteFenced):
        cause = cause.__cause__
    return cause


class InFlight:
    """How many fenced writes are on their way; :meth:`wait` returns once none is."""

    def __init__(self) -> None:
        self.count = 0
        self._idle: anyio.Event | None = None

    def enter(self) -> None:
        self.count += 1

    def leave(self) -> None:
        self.count -= 1
        if not self.count and self._idle is not None:
            self._idle.set()
            self._idle = None

    async def wait(self) -> None:
        if self.count:
            if self._idle is None:
                self._idle = anyio.Event()
            await self._idle.wait()
