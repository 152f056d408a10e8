import asyncio
import inspect
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from kubernetes_asyncio.client import Configuration

from jupyternetes_operator.kube.client import Client, env_proxy
from jupyternetes_operator.kube.fence import WriteFenced
from jupyternetes_operator.kube.resources import CONFIG_MAPS, LEASES

from ..localapi import local_client


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

    async with local_client(handler) as client:
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


async def test_the_last_check_is_made_as_the_body_is_written() -> None:
    """aiohttp sends a request's headers with its body's first bytes, written in a task of its own: a
    check made once the connection is in hand still left a gap where a frozen replica resumed and sent
    the write (CI's failover run saw an Event land after the Lease changed hands). The fence's last word
    is asked from inside that write, and a refusal there sends nothing."""
    received: list[tuple[str, str, bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        received.append((request.method, request.content_type, await request.read()))
        return web.json_response({"metadata": {"name": "x"}})

    async with local_client(handler) as client:
        asked_in_body_write: list[bool] = []

        def fence(method: str, path: str) -> bool:
            asked_in_body_write.append(any(frame.function == "write_bytes" for frame in inspect.stack()))
            return len(asked_in_body_write) < 2 or allow_second

        allow_second = False
        client.write_fence = fence
        with pytest.raises(WriteFenced):
            await client.create(CONFIG_MAPS, {"metadata": {"name": "x"}}, "ns")
        assert received == []
        assert asked_in_body_write == [False, True]
        await client.fenced_writes_landed()  # a refused write is not left in flight

        asked_in_body_write.clear()
        allow_second = True
        await client.patch(CONFIG_MAPS, "x", {"data": {"a": "b"}}, "ns")
        assert received == [("PATCH", "application/merge-patch+json", b'{"data":{"a":"b"}}')]
        assert asked_in_body_write == [False, True]


async def test_a_netrc_entry_for_the_api_host_neither_clashes_with_the_token_nor_costs_a_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's trust_env would look up ~/.netrc in a worker thread on every request, and an entry for
    the API host would clash with the bearer token (ValueError): the client does neither."""
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"metadata": {"name": "x"}})

    (tmp_path / "netrc").write_text("machine 127.0.0.1 login someone password secret\n")
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    def token(configuration: Configuration) -> None:
        configuration.api_key = {"BearerToken": "token-1"}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}

    async with local_client(handler, configure=token) as client:
        loop = asyncio.get_running_loop()
        hops: list[object] = []
        original = loop.run_in_executor
        monkeypatch.setattr(loop, "run_in_executor", lambda *a: hops.append(a) or original(*a))
        await client.get(CONFIG_MAPS, "x", "ns")
        await client.create(CONFIG_MAPS, {"metadata": {"name": "x"}}, "ns")
    assert seen == ["Bearer token-1", "Bearer token-1"]
    assert hops == []


def test_the_proxy_comes_from_the_environment_unless_no_proxy_covers_the_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert env_proxy("https://api.example:6443") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert env_proxy("https://api.example:6443") == "http://proxy.corp:3128"
    monkeypatch.setenv("NO_PROXY", ".example,10.0.0.0/8")
    assert env_proxy("https://api.example:6443") is None
    assert env_proxy("https://other.test") == "http://proxy.corp:3128"


async def test_fenced_writes_landed_waits_for_every_write_that_passed_the_fence() -> None:
    """What a leader awaits before it hands its Lease back: the writes it already sent have been answered."""
    arrived, answer = asyncio.Event(), asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        if request.method == "POST":
            arrived.set()
            await answer.wait()
        return web.json_response({"metadata": {"name": "x"}})

    async with local_client(handler) as client:
        await asyncio.wait_for(client.fenced_writes_landed(), 1)  # none in flight: at once
        client.write_fence = lambda method, path: True
        write = asyncio.create_task(client.create(CONFIG_MAPS, {"metadata": {"name": "x"}}, "ns"))
        await asyncio.wait_for(arrived.wait(), 5)
        landed = asyncio.create_task(client.fenced_writes_landed())
        await client.get(CONFIG_MAPS, "x", "ns")  # reads are not waited for
        await asyncio.sleep(0.05)
        assert not landed.done()
        answer.set()
        await asyncio.wait_for(landed, 5)
        await write
        client.write_fence = lambda method, path: False
        with pytest.raises(WriteFenced):  # a refused write is never in flight
            await client.create(CONFIG_MAPS, {"metadata": {"name": "y"}}, "ns")
        await asyncio.wait_for(client.fenced_writes_landed(), 1)
