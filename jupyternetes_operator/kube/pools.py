"""The client's connections to one API server: requests on a capped pool, watches on their own.

Contract: at most ``connections`` requests are in flight on the shared pool (one more waits for a free
connection, and the wait counts in its latency); each idle pooled connection holds asyncio's 256 KB
TLS read buffer for the transport's keep-alive (15 s), so the cap bounds that memory after a burst.
Watches hold a connection each for their whole life, from a pool without a cap: a watch never waits
behind requests, nor a request behind watches. A reserved path prefix (:meth:`Pools.reserve`) has a
pool of its own. TLS and the pools come from kubernetes_asyncio (its sessions around them are unused).
"""

from __future__ import annotations

import aiohttp

from .library import import_lean

import_lean()  # before the import below: kubernetes_asyncio without its generated API
from kubernetes_asyncio.client import Configuration  # noqa: E402
from kubernetes_asyncio.client.rest import RESTClientObject  # noqa: E402


class Pools:
    def __init__(self, configuration: Configuration, connections: int | None = None) -> None:
        """``connections``: the shared pool's cap (None: the configuration's ``connection_pool_maxsize``,
        kubernetes_asyncio's 100)."""
        if connections is not None and connections < 1:
            raise ValueError("connections must be at least 1")
        self._configuration = configuration
        self._all: list[tuple[aiohttp.ClientSession, RESTClientObject]] = []
        self.requests = self._pool(connections)
        self.watches = self._pool(0)  # aiohttp's "no limit"
        self._reserved: tuple[tuple[str, aiohttp.ClientSession], ...] = ()

    def _pool(self, connections: int | None) -> aiohttp.ClientSession:
        rest = RESTClientObject(self._configuration, maxsize=connections)
        session = aiohttp.ClientSession(connector=rest.pool_manager.connector, connector_owner=False,
                                        read_bufsize=2**21)
        self._all.append((session, rest))
        return session

    def reserve(self, prefix: str, connections: int = 1) -> None:
        """Give requests whose path starts with ``prefix`` a pool of their own: they never wait behind
        the shared pool's (the leader's Lease renewals behind a burst of reconciles). Once per prefix."""
        if all(prefix != reserved for reserved, _ in self._reserved):
            self._reserved += ((prefix, self._pool(connections)),)

    def for_request(self, path: str) -> aiohttp.ClientSession:
        for prefix, session in self._reserved:
            if path.startswith(prefix):
                return session
        return self.requests

    async def close(self) -> None:
        for session, rest in self._all:
            await session.close()
            await rest.close()
