"""A namespace ready for pods: created if missing, and usable once its ``default``
ServiceAccount exists (the ServiceAccount admission plugin refuses pods before that)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import anyio

from ..kube.errors import AlreadyExists
from ..kube.resources import NAMESPACES, SERVICE_ACCOUNTS

if TYPE_CHECKING:
    from ..kube.client import Client


async def ensure_namespace(client: Client, name: str, timeout: float = 60) -> None:
    with contextlib.suppress(AlreadyExists):
        await client.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    with anyio.fail_after(timeout):
        while await client.get_or_none(SERVICE_ACCOUNTS, "default", name) is None:  # noqa: ASYNC110
            await anyio.sleep(0.05)
