"""A real JupyterHub (PyPI) with the real configurable-http-proxy (npm) and the JupyternetesSpawner,
against the real control plane and operator; shared by the hub tests.

Notebook servers really run: the templates put pods on a Node played by :class:`FakeKubelet`, which
runs each pod as a local ``jupyterhub-singleuser`` on its own loopback address, so the hub's
readiness check and the proxy's routes are real. The test talks to the hub over its REST API only.

The hub runs as a subprocess in its own session (its proxy is its child), so it can be stopped as
an operator would (SIGTERM) or killed (SIGKILL: the proxy then outlives it, and the next hub finds it
by its pid file and replaces it, as JupyterHub does). ``JupyterHub.cleanup_servers`` is off, so a
hub restart leaves servers running.

configurable-http-proxy comes from npm (``scripts/setup`` installs it into ``~/.cache/jupyternetes``);
without it :func:`require_tools` fails the test, saying so.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anyio

from jupyternetes_operator import api
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.reconcile.tenant import TenantPolicy
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.fakekubelet import FakeKubelet

from .operator_harness import TEMPLATE, running_operator, template_valid
from .test_spawner import hub_token


def find_chp() -> str | None:
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    pattern = "~/.cache/jupyternetes/chp*/node_modules/.bin/configurable-http-proxy"
    cached = sorted(glob.glob(os.path.expanduser(pattern)))
    return cached[-1] if cached else None


CHP = find_chp()
NODE = "local-node"


def require_tools() -> None:
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


def server_path(user: str, server: str = "") -> str:
    """The REST API path of a user's server (the default one if ``server`` is empty)."""
    return f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"


class Hub:
    """``jupyterhub`` as a subprocess with its own proxy, talking to the test over its REST API."""

    def __init__(self, workdir: Path, kubeconfig: Path, namespace: str,
                 settings: Mapping[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.token = secrets.token_hex(32)
        self.proxy_port, self.hub_port, self.proxy_api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.proxy_port}"
        self.log = workdir / "jupyterhub.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._sessions: list[int] = []  # process groups of every hub started (a killed hub's proxy stays in its)
        self.config = workdir / "jupyterhub_config.py"
        config: dict[str, Any] = {
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
            **(settings or {}),
        }
        lines = ["c = get_config()  # noqa"]
        for key, value in config.items():
            lines.append(f"c.{key} = {value!r}")
        self.config.write_text("\n".join(lines) + "\n")

    async def start(self, timeout: float = 60) -> None:
        """Start ``jupyterhub`` and wait until its REST API answers (through the proxy)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 (starting it is instant)
                [sys.executable, "-m", "jupyterhub", "-f", str(self.config)], cwd=self.workdir,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self._sessions.append(self.proc.pid)
        try:
            with anyio.fail_after(timeout):
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

    async def signal(self, sig: signal.Signals, timeout: float = 30) -> int | None:
        """Send ``sig`` to the hub process alone and wait for it to exit; its exit code (None if it did not)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(sig)
        with anyio.move_on_after(timeout):
            while self.proc.poll() is None:  # noqa: ASYNC110 (a Popen offers no awaitable exit)
                await anyio.sleep(0.1)
        return self.proc.poll()

    async def stop(self) -> None:
        """SIGTERM (the hub stops its proxy), then SIGKILL whatever is left of every hub started."""
        if self.proc is not None and self.proc.poll() is None and await self.signal(signal.SIGTERM) is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for session in self._sessions:  # a proxy left by a killed hub that no later hub replaced
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(session, signal.SIGKILL)

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
        events: list[dict[str, Any]] = []
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with aiohttp.ClientSession(headers=self.headers(), timeout=timeout) as session, session.get(
                f"{self.url}/hub/api{server_path(user, server)}/progress") as response:
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
        await self.ok("POST", server_path(user, server), options or {})
        return await self.progress(user, server)

    async def stop_server(self, user: str, server: str = "", timeout: float = 120) -> None:
        await self.ok("DELETE", server_path(user, server))
        with anyio.fail_after(timeout):
            while server in (await self.ok("GET", f"/users/{user}"))["servers"]:  # noqa: ASYNC110 (polls the hub)
                await anyio.sleep(0.2)

    async def through_proxy(self, user: str, server: str = "") -> tuple[int, Any]:
        prefix = f"/user/{user}/{server + '/' if server else ''}"
        async with aiohttp.ClientSession(headers=self.headers()) as session, session.get(
                f"{self.url}{prefix}api/status") as response:
            return response.status, await response.text()


@asynccontextmanager
async def environment(control_plane: ControlPlane, kube: Client, namespace: str, tmp_path: Path,
                      hub_settings: Mapping[str, Any] | None = None) -> AsyncIterator[tuple[Hub, FakeKubelet]]:
    """Templates ``jupyterlab`` (with a home PVC) and ``scratch`` (without), the fake kubelet, the
    operator and the hub (on the hub Role's token, ``hub_settings`` added to its configuration)."""
    await kube.create(api.TEMPLATES, on_node(TEMPLATE, "jupyterlab", home=True), namespace)
    await kube.create(api.TEMPLATES, on_node(TEMPLATE, "scratch", home=False), namespace)
    kubeconfig = control_plane.write_kubeconfig(f"hub-{namespace}", await hub_token(kube, namespace))
    hub = Hub(tmp_path, kubeconfig, namespace, hub_settings)
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
