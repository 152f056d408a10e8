"""A real :class:`Client` whose requests a local aiohttp server answers: for unit tests of what the
client and the machinery on it do with answers a test scripts (never a stand-in for the API server
in integration tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio.client import Configuration

from jupyternetes_operator.kube.client import Client

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def local_client(handler: Handler, method: str = "*",
                       configure: Callable[[Configuration], None] = lambda c: None,
                       **options: Any) -> AsyncIterator[Client]:
    """A client whose every ``method`` request (any path) ``handler`` answers; ``configure`` adjusts
    its configuration (a token, say) before it is made; ``options`` go to :class:`Client`."""
    app = web.Application()
    app.router.add_route(method, "/{tail:.*}", handler)
    async with TestServer(app) as server:
        configuration = Configuration()
        configuration.host = str(server.make_url("")).rstrip("/")
        configure(configuration)
        async with Client(configuration, **options) as client:
            yield client
