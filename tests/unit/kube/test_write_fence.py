import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes_asyncio.client import Configuration

from jupyternetes_operator.kube.client import Client, WriteFenced
from jupyternetes_operator.kube.resources import CONFIG_MAPS, LEASES


async def test_writes_are_refused_locally_when_the_fence_says_no() -> None:
    configuration = Configuration()
    configuration.host = "https://127.0.0.1:1"  # nothing listens: a request that leaves would fail differently
    async with Client(configuration) as client:
        seen: list[tuple[str, str]] = []

        def fence(method: str, path: str) -> bool:
            seen.append((method, path))
            return "/leases/" in path

        client.write_fence = fence
        with pytest.raises(WriteFenced, match="not the leader"):
            await client.create(CONFIG_MAPS, {"metadata": {"name": "x"}}, "ns")
        with pytest.raises(WriteFenced):
            await client.delete(CONFIG_MAPS, "x", "ns")
        with pytest.raises(aiohttp.ClientConnectionError):  # let through the fence, then nothing answers
            await client.patch(LEASES, "lease", {}, "ns")
        assert [m for m, _ in seen] == ["POST", "DELETE", "PATCH"]


async def test_a_write_deposed_while_it_waited_for_a_connection_never_leaves() -> None:
    """The fence is asked again once the connection is in hand (new or reused): a replica frozen
    between the first check and the send does not deliver the write when it resumes."""
    received: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        received.append(request.method)
        return web.json_response({"metadata": {"name": "x"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app) as server:
        configuration = Configuration()
        configuration.host = str(server.make_url("")).rstrip("/")
        async with Client(configuration) as client:
            answers: list[bool] = []
            client.write_fence = lambda method, path: answers.pop(0)

            answers[:] = [True, False]  # a new connection: deposed during the connect
            with pytest.raises(WriteFenced):
                await client.create(CONFIG_MAPS, {"metadata": {"name": "x"}}, "ns")
            await client.get(CONFIG_MAPS, "x", "ns")  # leaves a kept-alive connection in the pool
            answers[:] = [True, False]  # a reused connection
            with pytest.raises(WriteFenced):
                await client.create(CONFIG_MAPS, {"metadata": {"name": "x"}}, "ns")
            answers[:] = [True, True]
            await client.create(CONFIG_MAPS, {"metadata": {"name": "x"}}, "ns")
            assert answers == []
    assert received == ["GET", "POST"]
