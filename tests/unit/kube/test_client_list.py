"""``Client.list`` paging, against a scripted ``list_page``: an expired continue token
(410) restarts the list as one unpaginated request, as client-go's pager does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from kubernetes_asyncio.client import Configuration

from jupyternetes_operator.kube.client import Client, Object, Resource
from jupyternetes_operator.kube.errors import Gone
from jupyternetes_operator.kube.resources import CONFIG_MAPS

Answer = Object | Exception


def items(*names: str) -> list[Object]:
    return [{"metadata": {"name": n}} for n in names]


def page(names: list[str], *, cont: str | None = None, rv: str = "100") -> Object:
    metadata: dict[str, Any] = {"resourceVersion": rv}
    if cont is not None:
        metadata["continue"] = cont
    return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": metadata, "items": items(*names)}


def expired() -> Gone:
    return Gone(410, "Expired", "The provided continue parameter is too old")


class ScriptedClient(Client):
    """A Client whose LIST answers come from a script; every call's params are recorded."""

    def __init__(self, answers: list[Answer]) -> None:
        configuration = Configuration()
        configuration.host = "https://127.0.0.1:1"  # never contacted
        super().__init__(configuration)
        self.answers = list(answers)
        self.calls: list[tuple[Resource, str | None, dict[str, str | int | bool]]] = []

    async def list_page(self, resource: Resource, namespace: str | None = None, *,
                        params: Mapping[str, str | int | bool] | None = None) -> Object:
        self.calls.append((resource, namespace, dict(params or {})))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
async def scripted() -> AsyncIterator[list[ScriptedClient]]:
    made: list[ScriptedClient] = []
    yield made
    for client in made:
        await client.close()


def client(scripted: list[ScriptedClient], *answers: Answer) -> ScriptedClient:
    made = ScriptedClient(list(answers))
    scripted.append(made)
    return made


async def test_pages_are_joined_and_the_token_is_passed_on(scripted: list[ScriptedClient]) -> None:
    c = client(scripted, page(["a", "b"], cont="t1", rv="7"), page(["c", "d"], cont="t2", rv="7"),
               page(["e"], rv="7"))
    result = await c.list(CONFIG_MAPS, "ns", label_selector="x=y", limit=2)
    assert [o["metadata"]["name"] for o in result["items"]] == ["a", "b", "c", "d", "e"]
    assert result["metadata"]["resourceVersion"] == "7"
    assert "continue" not in result["metadata"]
    assert [p for *_, p in c.calls] == [
        {"limit": 2, "labelSelector": "x=y"},
        {"limit": 2, "labelSelector": "x=y", "continue": "t1"},
        {"limit": 2, "labelSelector": "x=y", "continue": "t2"},
    ]
    assert c.answers == []


async def test_expired_continue_falls_back_to_one_full_list(scripted: list[ScriptedClient]) -> None:
    full = page(["a", "b", "c", "d", "e"], rv="250")
    c = client(scripted, page(["a", "b"], cont="t1", rv="200"), expired(), full)
    result = await c.list(CONFIG_MAPS, "ns", label_selector="x=y", field_selector="metadata.name!=z",
                          resource_version="0", limit=2)
    # The fallback's answer alone is the result: no items from the abandoned first page are repeated.
    assert [o["metadata"]["name"] for o in result["items"]] == ["a", "b", "c", "d", "e"]
    assert result["metadata"]["resourceVersion"] == "250"
    assert len(c.calls) == 3
    assert c.calls[0][2] == {"limit": 2, "labelSelector": "x=y", "fieldSelector": "metadata.name!=z",
                             "resourceVersion": "0"}
    assert c.calls[1][2] == {"limit": 2, "labelSelector": "x=y", "fieldSelector": "metadata.name!=z",
                             "continue": "t1"}
    # The last call keeps the selectors but is unpaginated and reads the latest state.
    resource, namespace, last = c.calls[-1]
    assert (resource, namespace) == (CONFIG_MAPS, "ns")
    assert last == {"labelSelector": "x=y", "fieldSelector": "metadata.name!=z"}
    assert "continue" not in last
    assert "limit" not in last
    assert c.answers == []


async def test_gone_on_the_first_page_is_raised(scripted: list[ScriptedClient]) -> None:
    # A too-old resourceVersion on the first request is the caller's to handle (relist from scratch).
    c = client(scripted, expired())
    with pytest.raises(Gone):
        await c.list(CONFIG_MAPS, "ns", resource_version="1", limit=2)
    assert len(c.calls) == 1


async def test_gone_from_the_fallback_is_raised(scripted: list[ScriptedClient]) -> None:
    c = client(scripted, page(["a"], cont="t1"), expired(), expired())
    with pytest.raises(Gone):
        await c.list(CONFIG_MAPS, "ns", limit=1)
    assert len(c.calls) == 3
