"""The client's connection pools, against a local server that counts the requests it holds at once:
requests share at most ``connections``, watches have their own, a reserved prefix its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
from aiohttp import web

from jupyternetes_operator.kube.client import Client, Configuration
from jupyternetes_operator.machinery.leaselock import LeaseLock
from tests.unit.localapi import local_client

HELD = 0.2
"""Seconds the server holds each ordinary request."""


class Server:
    """Answers every request after :data:`HELD` seconds (a watch: streams until released) and
    records the most ordinary requests it held at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.release = anyio.Event()
        self.watching = anyio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") == "true":
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b'{"type":"BOOKMARK","object":{}}\n')
            self.watching.set()
            await self.release.wait()
            return response
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await anyio.sleep(HELD)
        finally:
            self.in_flight -= 1
        return web.json_response({"metadata": {"resourceVersion": "1"}, "spec": {}})


async def burst(client: Client, n: int, path: str = "/api/v1/configmaps") -> None:
    async with anyio.create_task_group() as tg:
        for _ in range(n):
            tg.start_soon(client.request, "GET", path)


async def test_requests_share_at_most_their_connections() -> None:
    server = Server()
    async with local_client(server.handle, connections=3) as client:
        with anyio.fail_after(10):
            await burst(client, 12)
    assert server.most == 3


async def test_without_a_cap_a_burst_is_sent_at_once() -> None:
    """The control: the same burst on kubernetes_asyncio's default pool (100) is not held back."""
    server = Server()
    async with local_client(server.handle) as client:
        await burst(client, 12)
    assert server.most == 12


async def test_a_watch_never_takes_a_request_connection() -> None:
    server = Server()
    async with local_client(server.handle, connections=1) as client, anyio.create_task_group() as tg:
        async def watch() -> None:
            async with client.stream("/api/v1/configmaps", params={"watch": "true"}) as body:
                await body.readline()
                await server.release.wait()

        tg.start_soon(watch)
        with anyio.fail_after(5):
            await server.watching.wait()
            # The one request connection is free although the watch holds a connection.
            assert await client.request("GET", "/api/v1/configmaps")
        server.release.set()


async def finished_first(server: Server, client: Client, reserved: Callable[[], Awaitable[object]]) -> bool:
    """Whether ``reserved``, started while four shared requests queue on one connection, ends within
    the first of them (on the shared pool it would end last but none)."""
    finished: list[str] = []

    async def shared(i: int) -> None:
        await client.request("GET", "/api/v1/configmaps")
        finished.append(f"shared-{i}")

    async def lease() -> None:
        await anyio.sleep(HELD / 2)  # the shared requests are queued by now
        await reserved()
        finished.append("lease")

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(shared, i)
        tg.start_soon(lease)
    assert server.most == 2  # one shared and the reserved one
    return finished.index("lease") <= 1


async def test_a_reserved_prefix_does_not_wait_behind_the_shared_pool() -> None:
    server = Server()
    async with local_client(server.handle, connections=1) as client:
        client.reserve("/apis/coordination.k8s.io/")
        client.reserve("/apis/coordination.k8s.io/")  # once per prefix: the second is a no-op
        assert await finished_first(server, client, lambda: client.request(
            "GET", "/apis/coordination.k8s.io/v1/namespaces/n/leases/l"))


async def test_a_lease_lock_renews_on_a_connection_of_its_own() -> None:
    server = Server()
    async with local_client(server.handle, connections=1) as client:
        lock = LeaseLock(client, "n", "l")
        assert await finished_first(server, client, lock.get)


def test_connections_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Client(Configuration(), connections=0)
