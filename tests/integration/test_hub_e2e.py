"""End to end: a real JupyterHub (PyPI) with the real configurable-http-proxy (npm) and the
JupyternetesSpawner, the real control plane and operator, and notebook servers that really run:
the template puts pods on a Node played by :class:`FakeKubelet`, which runs each pod as a local
``jupyterhub-singleuser`` on its own loopback address. Everything goes through the hub's REST API.

The hub, its proxy and the environment come from :mod:`.hub_harness`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import anyio
import pytest

from jupyternetes_operator import api
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import NODES, PODS, PVCS
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.fakekubelet import TAINT

from .hub_harness import NODE, environment, require_tools
from .operator_harness import wait_for

USERS = int(os.environ.get("JUPYTERNETES_E2E_USERS", "30"))


@pytest.fixture(autouse=True)
def _tools_installed() -> None:
    require_tools()


async def test_hub_spawns_real_servers(control_plane: ControlPlane, kube: Client, namespace: str,
                                       tmp_path: Path) -> None:
    async with environment(control_plane, kube, namespace, tmp_path) as (hub, kubelet):
        await hub.ok("POST", "/users/alice")
        with anyio.fail_after(120):
            events = await hub.start_server("alice")
        assert events[-1]["progress"] == 100
        assert any("Created" in e.get("message", "") for e in events), events
        instance = await kube.get(api.INSTANCES, "jupyter-alice", namespace)
        url = instance["status"]["endpoint"]["url"]
        pod_ip = url.split("//")[1].split(":")[0]
        assert pod_ip.startswith("127.1."), url
        model = await hub.ok("GET", "/users/alice")
        assert model["servers"][""]["ready"] is True
        status, body = await hub.through_proxy("alice")
        assert status == 200, body
        assert "last_activity" in json.loads(body)

        # A named server beside it (a profile without the home volume).
        with anyio.fail_after(120):
            await hub.start_server("alice", "lab", {"profile": "scratch"})
        status, _ = await hub.through_proxy("alice", "lab")
        assert status == 200
        assert (await kube.get(api.INSTANCES, "jupyter-alice--lab", namespace))["spec"]["template"]["name"] == "scratch"

        async with anyio.create_task_group() as tg:
            tg.start_soon(hub.stop_server, "alice")
            tg.start_soon(hub.stop_server, "alice", "lab")
        assert (await kube.list(api.INSTANCES, namespace))["items"] == []
        assert (await kube.list(PODS, namespace))["items"] == []
        assert kubelet.pods == {}
        assert (await kube.get(PVCS, "home-alice", namespace))["metadata"]["labels"][api.LABEL_RETAINED] == "true"

        # A hub restart while a server runs: poll() (on a fresh process's cache) says it still runs.
        with anyio.fail_after(120):
            await hub.start_server("alice")
        await hub.stop()
        await hub.start()
        model = await hub.ok("GET", "/users/alice")
        assert model["servers"][""]["ready"] is True, f"{model}\n{hub.tail()}"
        assert await kube.get_or_none(api.INSTANCES, "jupyter-alice", namespace) is not None
        status, _ = await hub.through_proxy("alice")  # the new proxy got the route back
        assert status == 200
        await hub.stop_server("alice")

        # Deleting the user: delete_forever removes the retained home PVC.
        await hub.ok("DELETE", "/users/alice")
        await wait_for(kube, PVCS, "home-alice", namespace, lambda o: o is None or o["metadata"].get(
            "deletionTimestamp"), what="PVC home-alice deleted")


async def test_concurrent_spawns(control_plane: ControlPlane, kube: Client, namespace: str, tmp_path: Path) -> None:
    """``JUPYTERNETES_E2E_USERS`` (default 30) users started at once all become ready."""
    users = [f"user{i}" for i in range(USERS)]
    async with environment(control_plane, kube, namespace, tmp_path) as (hub, kubelet):
        await hub.ok("POST", "/users", {"usernames": users})
        began = time.monotonic()
        with anyio.fail_after(300):
            async with anyio.create_task_group() as tg:
                for user in users:
                    tg.start_soon(hub.start_server, user)
        took = time.monotonic() - began
        print(f"{USERS} servers ready through the hub in {took:.1f} s")
        listed = await hub.ok("GET", "/users?state=ready&limit=1000")
        assert sorted(u["name"] for u in listed) == sorted(users)
        assert len(kubelet.pods) == USERS
        for user in users[:3]:
            status, _ = await hub.through_proxy(user)
            assert status == 200
        with anyio.fail_after(300):
            async with anyio.create_task_group() as tg:
                for user in users:
                    tg.start_soon(hub.stop_server, user, "", 300)
        assert kubelet.pods == {}
        # The node lifecycle controller saw a live kubelet throughout: Ready, no unreachable taint.
        node = await kube.get(NODES, NODE)
        assert [t["key"] for t in node["spec"].get("taints") or ()] == [TAINT]
        assert next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"


async def test_deleting_a_named_server_forever_keeps_the_home_the_default_server_mounts(
        control_plane: ControlPlane, kube: Client, namespace: str, tmp_path: Path) -> None:
    """A user's default server and a named server render one home claim. While the default server
    runs, the named one may not take the claim (ClaimInUse), so deleting the named server forever
    leaves the home in place; deleting the user, once the default server has stopped, deletes it."""
    async with environment(control_plane, kube, namespace, tmp_path) as (hub, _):
        await hub.ok("POST", "/users/carol")
        with anyio.fail_after(120):
            await hub.start_server("carol")
        home = await kube.get(PVCS, "home-carol", namespace)
        assert api.claim_servers(home) == ("jupyter-carol",)

        await hub.ok("POST", "/users/carol/servers/lab", {"profile": "lab"})  # the same template, the same home
        with anyio.fail_after(120), pytest.raises(AssertionError, match="ClaimInUse"):
            await hub.progress("carol", "lab")
        with anyio.fail_after(60):
            while "lab" in (await hub.ok("GET", "/users/carol"))["servers"]:  # noqa: ASYNC110 (polls the hub)
                await anyio.sleep(0.2)
        await hub.ok("DELETE", "/users/carol/servers/lab", {"remove": True})
        with anyio.fail_after(30):
            while "lab" in (await hub.ok("GET", "/users/carol?include_stopped_servers=1"))["servers"]:  # noqa: ASYNC110
                await anyio.sleep(0.2)

        kept = await kube.get(PVCS, "home-carol", namespace)
        assert kept["metadata"]["uid"] == home["metadata"]["uid"]
        assert "deletionTimestamp" not in kept["metadata"]
        assert kept["metadata"]["labels"][api.LABEL_INSTANCE] == "jupyter-carol"
        status, _ = await hub.through_proxy("carol")
        assert status == 200  # the default server still runs on it

        await hub.stop_server("carol")
        await hub.ok("DELETE", "/users/carol")
        await wait_for(kube, PVCS, "home-carol", namespace, lambda o: o is None or o["metadata"].get(
            "deletionTimestamp"), what="PVC home-carol deleted with its user")
