import aiohttp
import pytest
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
