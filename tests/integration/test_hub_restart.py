"""A hub restart in the middle of a spawn burst (issue 16): a real JupyterHub, its real proxy, the
JupyternetesSpawner, the real control plane and operator, and servers really run by the fake kubelet
(:mod:`.hub_harness`).

``JUPYTERNETES_HUB_RESTART_USERS`` users (default 20: each signal's case took 1.5 to 4 minutes on
2 cores under a load of 15 to 25; 30 users took 112 s and 239 s) ask for their server at once; once
``JUPYTERNETES_HUB_RESTART_AT`` (default 0.3) of their instances are Running (the others still
starting), the hub is stopped (SIGTERM; SIGKILL if it has not exited 30 s later, as the kubelet does
after a pod's grace period: JupyterHub's shutdown can wait on its proxy API retries that long) or
killed (SIGKILL), and started again. Then:

- every server settles, with no server left pending: Running and reachable through the new proxy, or
  not running (the hub's REST API shows no server for it);
- no instance is left that no hub server wants (a start the old hub lost is either taken over or
  deleted), and no two instances serve one user's server;
- a retried start of every server that is not running succeeds, after which every user's server is
  Running, the proxy routes each to its instance's endpoint, the invariant checker
  (:func:`faults.invariants.check`) passes (no duplicate, no orphan, every status current), the fake
  kubelet runs exactly the cluster's pods, and every environment Secret the hub made is owned by a
  live instance (one per instance).

Each run prints one ``hub-restart`` line with its figures (the 100-user run is recorded in
``bench/results/hub-restart.md``).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from faults.invariants import check
from jupyternetes_operator import api
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import EVENTS, PODS, SECRETS
from jupyternetes_operator.spawner import lifecycle, shared
from jupyternetes_operator.spawner.manifests import LABEL_SERVERNAME, LABEL_USERNAME, SELECTOR
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.fakekubelet import FakeKubelet

from .hub_harness import Hub, environment, require_tools, server_path
from .operator_harness import running_operator, template_valid
from .test_spawner import make_spawner, without_home

USERS = int(os.environ.get("JUPYTERNETES_HUB_RESTART_USERS", "20"))
RESTART_AT = float(os.environ.get("JUPYTERNETES_HUB_RESTART_AT", "0.3"))
GRACE_S = 30.0  # a pod's default terminationGracePeriodSeconds: then the kubelet sends SIGKILL


@pytest.fixture(autouse=True)
def _tools_installed() -> None:
    require_tools()


async def hub_servers(hub: Hub) -> dict[str, dict[str, Any]]:
    """Each user's default server as the hub's REST API shows it (absent: not running)."""
    users = await hub.ok("GET", "/users?limit=10000")
    return {u["name"]: u["servers"][""] for u in users if "" in u["servers"]}


async def settled(hub: Hub, timeout: float) -> dict[str, dict[str, Any]]:
    """Wait until no server is pending (starting, being checked or stopping); the servers then."""
    with anyio.fail_after(timeout):
        while True:
            servers = await hub_servers(hub)
            if not any(s.get("pending") for s in servers.values()):
                return servers
            await anyio.sleep(0.5)


async def instances_of(kube: Client, namespace: str) -> list[dict[str, Any]]:
    return list((await kube.list(api.INSTANCES, namespace))["items"])


async def unwanted(kube: Client, namespace: str, ready: set[str]) -> list[str]:
    """Instances (not being deleted) that no ready hub server wants, and second instances of one server."""
    found = [i for i in await instances_of(kube, namespace) if not i["metadata"].get("deletionTimestamp")]
    per_server = Counter((i["metadata"]["labels"].get(LABEL_USERNAME), i["metadata"]["labels"].get(LABEL_SERVERNAME))
                         for i in found)
    problems = [f"{n} instances for server {key}" for key, n in per_server.items() if n > 1]
    problems += [f"instance {i['metadata']['name']} ({api.phase(i)}) has no ready hub server"
                 for i in found if i["metadata"]["labels"].get(LABEL_USERNAME) not in ready]
    return problems


async def secret_problems(kube: Client, namespace: str) -> list[str]:
    """Environment Secrets the hub made that no live instance owns, and instances with more than one."""
    uids = {i["metadata"]["uid"]: i["metadata"]["name"] for i in await instances_of(kube, namespace)}
    secrets = (await kube.list(SECRETS, namespace, label_selector=SELECTOR))["items"]
    owned: Counter[str] = Counter()
    problems = []
    for secret in secrets:
        owners = {ref["uid"] for ref in secret["metadata"].get("ownerReferences") or ()}
        live = owners & uids.keys()
        if not live:
            problems.append(f"Secret {secret['metadata']['name']} has no live owner ({sorted(owners)})")
        owned.update(uids[uid] for uid in live)
    problems += [f"instance {name} owns {n} env Secrets" for name, n in owned.items() if n > 1]
    return problems


async def eventually(what: str, probe: Callable[[], Awaitable[list[str]]], timeout: float = 60) -> None:
    """Wait until the async ``probe()`` returns no problems; fail with the last ones."""
    problems: list[str] = []
    with anyio.move_on_after(timeout):
        while problems := await probe():  # noqa: ASYNC110 (polls the API server)
            await anyio.sleep(0.5)
    assert not problems, f"{what} after {timeout:g} s: {problems[:10]} ({len(problems)} in all)"


async def burst_then_restart(hub: Hub, kube: Client, namespace: str, users: list[str],
                             sig: signal.Signals) -> dict[str, Any]:
    """Ask for every user's server at once; restart the hub with ``sig`` once enough instances run."""
    figures: dict[str, Any] = {"users": len(users), "signal": sig.name}
    answers: Counter[str] = Counter()

    async def ask(user: str) -> None:
        try:
            status, _ = await hub.api("POST", server_path(user), {})
            answers[str(status)] += 1
        except (aiohttp.ClientError, OSError):  # the hub went away before it answered
            answers["no answer"] += 1

    async with anyio.create_task_group() as tg:
        for user in users:
            tg.start_soon(ask, user)
        with anyio.fail_after(300):
            while True:
                found = await instances_of(kube, namespace)
                if sum(api.phase(i) == api.RUNNING for i in found) >= RESTART_AT * len(users):
                    break
                await anyio.sleep(0.1)
        figures["instances_at_signal"] = len(found)
        figures["running_at_signal"] = sum(api.phase(i) == api.RUNNING for i in found)
        began = time.monotonic()
        figures["exit_code"] = await hub.signal(sig, timeout=GRACE_S)
        figures["exit_s"] = round(time.monotonic() - began, 1)
        if figures["exit_code"] is None:  # as the kubelet does after terminationGracePeriodSeconds
            figures["exit_code"] = await hub.signal(signal.SIGKILL)
            figures["killed_after_grace"] = True
    figures["posts"] = dict(answers)
    assert figures["exit_code"] is not None, f"the hub did not exit on {sig.name}:\n{hub.tail()}"
    await hub.start(timeout=120)
    figures["restart_s"] = round(time.monotonic() - began, 1)
    figures["began"] = began
    return figures


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_hub_restart_mid_burst(sig: signal.Signals, control_plane: ControlPlane, kube: Client,
                                     namespace: str, tmp_path: Path) -> None:
    users = [f"user{i}" for i in range(USERS)]
    async with environment(control_plane, kube, namespace, tmp_path) as (hub, kubelet):
        await hub.ok("POST", "/users", {"usernames": users})
        figures = await burst_then_restart(hub, kube, namespace, users, sig)
        began = figures.pop("began")

        # Every server settles: Running and reachable, or not running; no instance nobody wants.
        servers = await settled(hub, timeout=400)
        figures["settled_s"] = round(time.monotonic() - began, 1)
        ready = {name for name, s in servers.items() if s.get("ready")}
        figures["running_after_restart"] = len(ready)
        figures["not_running_after_restart"] = len(users) - len(ready)
        for user in sorted(ready):
            status, body = await hub.through_proxy(user)
            assert status == 200, f"{user}: {status} {body}"
        await eventually("instances no hub server wants", lambda: unwanted(kube, namespace, ready))

        # A retried start of each server that is not running succeeds.
        retried = sorted(set(users) - ready)
        with anyio.fail_after(400):
            async with anyio.create_task_group() as tg:
                for user in retried:
                    tg.start_soon(hub.start_server, user)
        figures["retried"] = len(retried)
        figures["all_running_s"] = round(time.monotonic() - began, 1)
        listed = await hub.ok("GET", "/users?state=ready&limit=10000")
        assert sorted(u["name"] for u in listed) == sorted(users)
        for user in retried:
            status, body = await hub.through_proxy(user)
            assert status == 200, f"{user}: {status} {body}"
        await check_everything(hub, kube, kubelet, namespace, users)
        print("hub-restart", json.dumps(figures))


async def check_everything(hub: Hub, kube: Client, kubelet: FakeKubelet, namespace: str, users: list[str]) -> None:
    """The hub's state against the cluster's, and the cluster's own invariants."""
    await eventually("instances no hub server wants", lambda: unwanted(kube, namespace, set(users)))
    instances = {i["metadata"]["name"]: i for i in await instances_of(kube, namespace)}
    assert sorted(instances) == sorted(f"jupyter-{u}" for u in users)
    routes: Mapping[str, Any] = await hub.ok("GET", "/proxy")
    for user in users:
        target = routes[f"/user/{user}/"]["target"]
        endpoint = instances[f"jupyter-{user}"]["status"]["endpoint"]["url"]
        assert target.rstrip("/") == endpoint.rstrip("/"), f"{user}: the proxy routes to {target}, not {endpoint}"

    async def invariants() -> list[str]:
        return (await check(kube, [namespace])).problems

    await eventually("invariants", invariants)
    await eventually("environment Secrets", lambda: secret_problems(kube, namespace))

    async def kubelet_processes() -> list[str]:
        pods = {p["metadata"]["uid"] for p in (await kube.list(PODS, namespace))["items"]}
        return [] if set(kubelet.pods) == pods and len(pods) == len(users) else [
            f"{len(kubelet.pods)} processes for {len(pods)} pods"]

    await eventually("the kubelet's processes", kubelet_processes)


async def test_a_start_lost_between_its_secret_and_its_instance_is_finished_by_the_next_hub(
        control_plane: ControlPlane, kube: Client, namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub that dies with a server's env Secret made and its instance not (the hub may not delete
    Secrets) leaves in its database the state the spawner wrote before either; the next hub's first
    ``poll`` creates the instance, which then owns the Secret, and takes the server over."""
    template = without_home()
    await kube.create(api.TEMPLATES, template, namespace)
    persisted: dict[str, Any] = {}

    class HubDied(Exception):
        pass

    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await template_valid(kube, "jupyterlab", namespace)
        dying = make_spawner(control_plane.kubeconfig, namespace)

        async def secret_then_die(client: Client, secret: Mapping[str, Any], body: Mapping[str, Any],
                                  namespace: str) -> Any:
            await client.create(SECRETS, secret, namespace)
            persisted.update(dying.get_state())  # what the database holds when the hub dies here
            raise HubDied

        monkeypatch.setattr(lifecycle, "create", secret_then_die)
        with pytest.raises(HubDied):
            await dying.start()
        monkeypatch.undo()
        assert (await kube.get_or_none(api.INSTANCES, "jupyter-alice", namespace)) is None
        secrets = (await kube.list(SECRETS, namespace, label_selector=SELECTOR))["items"]
        assert len(secrets) == 1
        assert not secrets[0]["metadata"].get("ownerReferences")

        restarted = make_spawner(control_plane.kubeconfig, namespace)
        restarted.load_state(persisted)
        with anyio.fail_after(120):
            assert await restarted.poll() is None
        instance = await kube.get(api.INSTANCES, "jupyter-alice", namespace)
        assert await restarted.get_url() == instance["status"]["endpoint"]["url"]
        assert restarted.get_state() == {"instance": "jupyter-alice", "namespace": namespace}
        assert api.env_secret_of(instance) == secrets[0]["metadata"]["name"]
        await eventually("environment Secrets", lambda: secret_problems(kube, namespace), 30)
        await restarted.stop()
        await shared.close_all()


async def test_a_start_lost_with_its_instance_made_and_not_its_secret_ends_with_no_server(
        control_plane: ControlPlane, kube: Client, namespace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other half of the same death: the instance made, its Secret not. The operator waits for the
    Secret (``env_secret_wait``), fails it ``EnvSecretMissing``; the next hub's first ``poll`` then
    deletes it and reports no server, and a new start works."""
    await kube.create(api.TEMPLATES, without_home(), namespace)
    persisted: dict[str, Any] = {}

    class HubDied(Exception):
        pass

    async with running_operator(control_plane.kubeconfig, (namespace,), env_secret_wait=2.0):
        await template_valid(kube, "jupyterlab", namespace)
        dying = make_spawner(control_plane.kubeconfig, namespace, delete_failed_instances=False)  # it dies: no cleanup

        async def instance_then_die(client: Client, secret: Mapping[str, Any], body: Mapping[str, Any],
                                    namespace: str) -> Any:
            await client.create(api.INSTANCES, body, namespace)
            persisted.update(dying.get_state())
            raise HubDied

        monkeypatch.setattr(lifecycle, "create", instance_then_die)
        with pytest.raises(HubDied):
            await dying.start()
        monkeypatch.undo()
        assert (await kube.list(SECRETS, namespace, label_selector=SELECTOR))["items"] == []

        restarted = make_spawner(control_plane.kubeconfig, namespace)
        restarted.load_state(persisted)
        with anyio.fail_after(120):
            assert await restarted.poll() == 0
        gone = await kube.get_or_none(api.INSTANCES, "jupyter-alice", namespace)
        assert gone is None or gone["metadata"].get("deletionTimestamp")  # foreground: going

        async def no_warning() -> list[str]:
            events = (await kube.list(EVENTS, namespace))["items"]
            return [] if [e["regarding"]["name"] for e in events if e.get("reason") == "EnvSecretMissing"] == [
                "jupyter-alice"] else ["no EnvSecretMissing Event for jupyter-alice"]
        await eventually("the operator's Warning", no_warning, 30)
        assert await kube.get_or_none(PODS, "jupyter-alice-notebook", namespace) is None
        with anyio.fail_after(120):
            await restarted.start()
        await eventually("environment Secrets", lambda: secret_problems(kube, namespace), 30)
        await restarted.stop()
        await shared.close_all()
