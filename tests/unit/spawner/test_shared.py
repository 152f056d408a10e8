"""The hub's shared cache when a right is revoked between its probe and its informer's LIST.

The API server's authorizer works from its own cache of RoleBindings, so a probe can pass
just before a revoked right takes effect. A local server plays that answer sequence.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from aiohttp import web

from jupyternetes_operator.api import TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import Forbidden
from jupyternetes_operator.spawner.shared import SharedCache

from ..localapi import local_client

FORBIDDEN = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
             "message": "templates is forbidden"}


@asynccontextmanager
async def scripted_lists(answers: list[int]) -> AsyncIterator[tuple[Client, list[str]]]:
    """A client whose LISTs get the next status of ``answers`` (200: an empty list); watches hang."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        if request.query.get("watch") in ("1", "true"):
            seen.append("watch")
            await asyncio.sleep(3600)
        seen.append("probe" if request.query.get("limit") == "1" else "list")
        if answers.pop(0) == 403:
            return web.json_response(FORBIDDEN, status=403)
        return web.json_response({"kind": "List", "apiVersion": "v1", "items": [],
                                  "metadata": {"resourceVersion": "7"}})

    async with local_client(handler, "GET") as client:
        yield client, seen


async def test_a_right_revoked_after_the_probe_fails_fast_and_the_next_start_probes_again() -> None:
    async with scripted_lists([200, 403, 200, 200]) as (client, seen):
        cache = SharedCache(client, TEMPLATES, "ns")
        with anyio.fail_after(10), pytest.raises(Forbidden):  # not a wait for the sync timeout
            await cache.start(timeout=60)
        assert seen == ["probe", "list"]
        with anyio.fail_after(10):
            await cache.start(timeout=60)  # the right is back: probed again, and synced
        assert seen[:4] == ["probe", "list", "probe", "list"]
        assert cache.informer.has_synced
        await cache.close()
