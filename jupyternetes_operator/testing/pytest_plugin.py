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

import pytest

from ..kube.client import Client
from ..kube.errors import NotFound
from ..kube.resources import NAMESPACES
from .controlplane import ControlPlane, ControlPlaneConfig
from .namespaces import ensure_namespace


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
    await ensure_namespace(kube, name)
    yield name
    with contextlib.suppress(NotFound):
        await kube.delete(NAMESPACES, name)
