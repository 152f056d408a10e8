"""End to end: a real JupyterHub (PyPI) with the real configurable-http-proxy (npm) and the
JupyternetesSpawner, the real control plane and operator, and notebook servers that really run:
the template puts pods on a Node played by :class:`FakeKubelet`, which runs each pod as a local
``jupyterhub-singleuser`` on its own loopback address. Everything goes through the hub's REST API.

configurable-http-proxy comes from npm (``scripts/setup`` installs it into
``~/.cache/jupyternetes``); without it the test fails, saying so.
"""

from __future__ import annotations

import copy
import glob
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from jupyternetes_operator import api
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import NODES, PODS, PVCS
from jupyternetes_operator.reconcile.tenant import TenantPolicy
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.fakekubelet import TAINT, FakeKubelet

from .operator_harness import TEMPLATE, running_operator, template_valid, wait_for
from .test_spawner import hub_token


def find_chp() -> str | None:
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    pattern = "~/.cache/jupyternetes/chp*/node_modules/.bin/configurable-http-proxy"
    cached = sorted(glob.glob(os.path.expanduser(pattern)))
    return cached[-1] if cached else None


CHP = find_chp()
USERS = int(os.environ.get("JUPYTERNETES_E2E_USERS", "50"))
NODE = "local-node"

@pytest.fixture(autouse=True)
def _tools_installed() -> None:
    """Missing tools fail the test (scripts/setup installs them); they never skip it."""
    assert CHP is not None, "configurable-http-proxy is not installed: run scripts/setup (it installs it from npm)"
    assert importlib.util.find_spec("jupyter_server") is not None, "jupyter_server is missing: run scripts/setup"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def on_node(template: dict[str, Any], name: str, home: bool) -> dict[str, Any]:
    """The sample template with its pod on the fake kubelet's Node (and without its home PVC unless ``home``).
    ``nodeName`` bypasses the scheduler, so the operator runs with the tenant rule that allows it."""
    template = copy.deepcopy(template)
    template["metadata"] = {"name": name}
    pod = template["spec"]["pods"][0]["spec"]
    pod["nodeName"] = NODE
    if not home:
        template["spec"]["pvcs"] = []
        pod["volumes"] = []
        pod["containers"][0]["volumeMounts"] = []
    return template


class Hub:
    """``jupyterhub`` as a subprocess with its own proxy, talking to the test over its REST API."""

    def __init__(self, workdir: Path, kubeconfig: Path, namespace: str) -> None:
        self.workdir = workdir
        self.token = secrets.token_hex(32)
        self.proxy_port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.proxy_port}"
        self.log = workdir / "jupyterhub.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = workdir / "jupyterhub_config.py"
        settings = {
            "JupyterHub.ip": "127.0.0.1", "JupyterHub.port": self.proxy_port,
            "JupyterHub.hub_ip": "127.0.0.1", "JupyterHub.hub_port": self.hub_port,
            "JupyterHub.hub_connect_ip": "127.0.0.1",
            "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{self.proxy_api_port}",
            "ConfigurableHTTPProxy.command": [CHP],
            "ConfigurableHTTPProxy.pid_file": str(workdir / "proxy.pid"),
            "JupyterHub.pid_file": str(workdir / "jupyterhub.pid"),
            "JupyterHub.db_url": f"sqlite:///{workdir / 'jupyterhub.sqlite'}",
            "JupyterHub.cookie_secret_file": str(workdir / "cookie_secret"),
            "JupyterHub.cleanup_servers": False,  # a hub restart must leave servers running
            "JupyterHub.allow_named_servers": True,
            "JupyterHub.authenticator_class": "dummy",
            "Authenticator.allow_all": True,
            "JupyterHub.services": [{"name": "e2e", "api_token": self.token}],
            "JupyterHub.load_roles": [{"name": "admin", "services": ["e2e"]}],
            "JupyterHub.spawner_class": "jupyternetes",
            "JupyternetesSpawner.kubeconfig": str(kubeconfig),
            "JupyternetesSpawner.namespace": namespace,
            "JupyternetesSpawner.profile_list": [
                {"slug": "lab", "display_name": "JupyterLab", "template": "jupyterlab", "default": True},
                {"slug": "scratch", "display_name": "Scratch", "template": "scratch"},
            ],
            # POST answers 202 at once, so the progress stream shows the whole spawn.
            "JupyterHub.tornado_settings": {"slow_spawn_timeout": 0},
            "Spawner.start_timeout": 300, "Spawner.http_timeout": 120,
            # 50 real servers starting at once on 2 cores: correctness, not latency, is tested here.
            "JupyternetesSpawner.operator_timeout": 120,
        }
        lines = ["c = get_config()  # noqa"]
        for key, value in settings.items():
            lines.append(f"c.{key} = {value!r}")
        self.config.write_text("\n".join(lines) + "\n")

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (starting it is instant)
                [sys.executable, "-m", "jupyterhub", "-f", str(self.config)], cwd=self.workdir,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            with anyio.fail_after(60):
                while True:
                    assert self.proc.poll() is None, f"jupyterhub exited:\n{self.tail()}"
                    try:
                        status, _ = await self.api("GET", "/")
                        if status == 200:
                            return
                    except aiohttp.ClientError:
                        pass
                    await anyio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"jupyterhub did not answer:\n{self.tail()}") from None

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        with anyio.move_on_after(30):
            while self.proc.poll() is None:  # noqa: ASYNC110 (a Popen offers no awaitable exit)
                await anyio.sleep(0.1)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, n: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession(headers=self.headers()) as session, session.request(
                method, f"{self.url}/hub/api{path}", json=body) as response:
            text = await response.text()
            return response.status, (json.loads(text) if text and response.content_type == "application/json"
                                     else text)

    async def ok(self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 201, 202, 204)) -> Any:
        status, data = await self.api(method, path, body)
        assert status in expect, f"{method} {path}: {status} {data}\n{self.tail()}"
        return data

    async def progress(self, user: str, server: str = "") -> list[dict[str, Any]]:
        """Follow the event stream until ``ready`` (fails on ``failed``)."""
        path = f"/users/{user}/servers/{server}/progress" if server else f"/users/{user}/server/progress"
        events: list[dict[str, Any]] = []
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(headers=self.headers(), timeout=timeout) as session, session.get(
                f"{self.url}/hub/api{path}") as response:
            assert response.status == 200, await response.text()
            async for raw in response.content:
                line = raw.decode().strip()
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                events.append(event)
                assert not event.get("failed"), f"spawn failed: {events}\n{self.tail()}"
                if event.get("ready"):
                    return events
        raise AssertionError(f"progress ended without ready: {events}")

    async def start_server(self, user: str, server: str = "", options: Any = None) -> list[dict[str, Any]]:
        path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
        await self.ok("POST", path, options or {})
        return await self.progress(user, server)

    async def stop_server(self, user: str, server: str = "", timeout: float = 120) -> None:
        path = f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"
        await self.ok("DELETE", path)
        with anyio.fail_after(timeout):
            while server in (await self.ok("GET", f"/users/{user}"))["servers"]:  # noqa: ASYNC110 (polls the hub)
                await anyio.sleep(0.2)

    async def through_proxy(self, user: str, server: str = "") -> tuple[int, Any]:
        prefix = f"/user/{user}/{server + '/' if server else ''}"
        async with aiohttp.ClientSession(headers=self.headers()) as session, session.get(
                f"{self.url}{prefix}api/status") as response:
            return response.status, await response.text()


@asynccontextmanager
async def environment(control_plane: ControlPlane, kube: Client, namespace: str,
                      tmp_path: Path) -> AsyncIterator[tuple[Hub, FakeKubelet]]:
    """Templates, the fake kubelet, the operator and the hub (on the hub Role's token)."""
    await kube.create(api.TEMPLATES, on_node(TEMPLATE, "jupyterlab", home=True), namespace)
    await kube.create(api.TEMPLATES, on_node(TEMPLATE, "scratch", home=False), namespace)
    kubeconfig = control_plane.write_kubeconfig(f"hub-{namespace}", await hub_token(kube, namespace))
    hub = Hub(tmp_path, kubeconfig, namespace)
    async with FakeKubelet(kube, NODE, log_dir=tmp_path / "pods").running() as kubelet, \
            running_operator(control_plane.kubeconfig, (namespace,), tenant=TenantPolicy(node_name=True)):
        await template_valid(kube, "jupyterlab", namespace)
        await template_valid(kube, "scratch", namespace)
        await hub.start()
        try:
            yield hub, kubelet
        finally:
            with anyio.CancelScope(shield=True):
                await hub.stop()


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
    """``JUPYTERNETES_E2E_USERS`` (default 50) users started at once all become ready."""
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
