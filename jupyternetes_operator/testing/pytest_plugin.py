"""pytest fixtures over the real control plane.

Enable with ``pytest_plugins = ["jupyternetes_operator.testing.pytest_plugin"]`` in a
``conftest.py``. Fixtures:

- ``control_plane`` (session): a started :class:`ControlPlane` (built on first use);
- ``kube`` (function): an admin :class:`~jupyternetes_operator.kube.client.Client`;
- ``namespace`` (function): a fresh namespace, deleted after the test; it is usable
  for pods when yielded (its ``default`` ServiceAccount exists).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from ..kube.client import Client
from ..kube.errors import NotFound
from ..kube.resources import NAMESPACES, SERVICE_ACCOUNTS
from .controlplane import ControlPlane, ControlPlaneConfig


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    plane = ControlPlane(ControlPlaneConfig())
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[Client]:
    async with await Client.from_kubeconfig(str(control_plane.kubeconfig)) as client:
        yield client


@pytest.fixture
async def namespace(kube: Client) -> AsyncIterator[str]:
    name = f"test-{secrets.token_hex(4)}"
    await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    with anyio.fail_after(30):
        while await kube.get_or_none(SERVICE_ACCOUNTS, "default", name) is None:  # noqa: ASYNC110 (polls the server)
            await anyio.sleep(0.05)
    yield name
    with contextlib.suppress(NotFound):
        await kube.delete(NAMESPACES, name)
