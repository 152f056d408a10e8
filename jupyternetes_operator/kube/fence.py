"""The write fence: a write leaves only while ``allowed(method, path)`` says so, asked before it waits
for a connection and again once it has one; and the writes that passed it and are not answered yet,
which a leader letting go of its Lease waits for."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import aiohttp
import anyio


class WriteFenced(Exception):
    """A write refused before it left the process: this replica may not act (it is not leading)."""


class Fence:
    """One write's fence: ``check()`` raises :class:`WriteFenced` unless ``allowed(method, path)``."""

    def __init__(self, allowed: Callable[[str, str], bool], method: str, path: str) -> None:
        self._allowed, self._method, self._path = allowed, method, path

    def check(self) -> None:
        if not self._allowed(self._method, self._path):
            raise WriteFenced(f"{self._method} {self._path}: this replica is not the leader")


def late_fence() -> aiohttp.TraceConfig:
    """Checks a write's :class:`Fence` again once its connection is in hand: the last await
    before its bytes leave. A replica frozen (SIGSTOP, a paused VM) while it waited for a
    connection or a TLS handshake does not send that write when it resumes as a deposed leader.
    (A connection just made for a fenced write is left to the garbage collector; the replica
    exits on a lost lease anyway.)"""
    async def check(_session: aiohttp.ClientSession, context: SimpleNamespace, _params: object) -> None:
        if isinstance(context.trace_request_ctx, Fence):
            context.trace_request_ctx.check()

    config = aiohttp.TraceConfig()
    config.on_connection_reuseconn.append(check)
    config.on_connection_create_end.append(check)
    config.freeze()
    return config


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
