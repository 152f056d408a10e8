"""JupyternetesSpawner against the real control plane and the real operator (no JupyterHub process).

The spawner is built the way KubeSpawner's tests build theirs: a ``Hub()`` and a mock user
with a ``Server``, an API token, and ``_mock=True``.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest.mock import Mock

import anyio
import orjson
import pytest
import yaml
from jupyterhub.objects import Hub, Server
from jupyterhub.utils import iterate_until

from jupyternetes_operator import api
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.errors import Forbidden
from jupyternetes_operator.kube.resources import PODS, PVCS, SECRETS, SERVICE_ACCOUNTS
from jupyternetes_operator.spawner import JupyternetesSpawner, shared
from jupyternetes_operator.spawner.errors import SpawnError
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import TEMPLATE, running_operator, template_valid, wait_for

HUB_RBAC = Path(__file__).parents[2] / "deploy" / "components" / "hub"
PVS = Resource("", "v1", "persistentvolumes", namespaced=False)
RESOURCE_QUOTAS = Resource("", "v1", "resourcequotas")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings")
BY_KIND = {"ServiceAccount": SERVICE_ACCOUNTS, "Role": Resource("rbac.authorization.k8s.io", "v1", "roles"),
           "RoleBinding": ROLE_BINDINGS}


class MockUser(Mock):  # type: ignore[misc]
    """What a Spawner reads from its user (as in kubespawner's tests; the server name comes from
    ``orm_spawner``, as in JupyterHub's own)."""

    server = Server()

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    @property
    def escaped_name(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return str(self.server.url)


def make_spawner(kubeconfig: Path, namespace: str, user: str = "alice", server: str = "",
                 **config: Any) -> JupyternetesSpawner:
    return JupyternetesSpawner(hub=Hub(), user=MockUser(user), orm_spawner=SimpleNamespace(name=server, server=None),
                               api_token=secrets.token_hex(16), oauth_client_id="unused", kubeconfig=str(kubeconfig),
                               namespace=namespace, **{"template_name": "jupyterlab", **config})


def without_home() -> dict[str, Any]:
    """The sample template without its home PVC (named servers of one user would share it)."""
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["pvcs"] = []
    pod = template["spec"]["pods"][0]["spec"]
    pod["volumes"] = []
    pod["containers"][0]["volumeMounts"] = []
    return template


def with_static_home() -> dict[str, Any]:
    """The sample template, its home claim bound to a pre-created volume.

    kwok's dynamic provisioning races the controller-manager's PV controller, which then
    marks a fresh claim ``Lost`` for a moment (and the operator fails the instance); a
    claim without a class bound to a pre-created volume is bound by the PV controller
    alone, without that race.
    """
    template = copy.deepcopy(TEMPLATE)
    template["metadata"] = {"name": "jupyterlab-home"}
    template["spec"]["pvcs"][0]["spec"]["storageClassName"] = ""
    return template


async def static_volume(kube: Client, namespace: str, claim: str) -> None:
    await kube.create(PVS, {"apiVersion": "v1", "kind": "PersistentVolume",
                            "metadata": {"name": f"{namespace}-{claim}"},
                            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                                     "storageClassName": "", "persistentVolumeReclaimPolicy": "Retain",
                                     "hostPath": {"path": f"/tmp/{namespace}-{claim}"},
                                     "claimRef": {"namespace": namespace, "name": claim}}})


@pytest.fixture
async def template(kube: Client, namespace: str) -> str:
    await kube.create(api.TEMPLATES, without_home(), namespace)
    await kube.create(api.TEMPLATES, with_static_home(), namespace)
    return "jupyterlab"


@asynccontextmanager
async def operator(control_plane: ControlPlane, kube: Client, namespace: str) -> AsyncIterator[None]:
    """The real operator watching ``namespace``, once it has vetted the test templates."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await template_valid(kube, "jupyterlab", namespace)
        await template_valid(kube, "jupyterlab-home", namespace)
        yield


@pytest.fixture(autouse=True)
async def _close_shared() -> AsyncIterator[None]:
    yield
    await shared.close_all()


async def collect(spawner: JupyternetesSpawner) -> list[dict[str, Any]]:
    return [item async for item in spawner.progress()]


async def start_with_progress(spawner: JupyternetesSpawner) -> tuple[str, list[dict[str, Any]]]:
    result: dict[str, Any] = {}

    async def run_progress() -> None:
        result["progress"] = await collect(spawner)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_progress)
        result["url"] = await spawner.start()
    return result["url"], result["progress"]


async def test_start_poll_progress_stop(control_plane: ControlPlane, kube: Client, namespace: str,
                                        template: str) -> None:
    async with operator(control_plane, kube, namespace):
        spawner = make_spawner(control_plane.kubeconfig, namespace, user_options={"variables": {
            "image": "quay.io/jupyter/scipy-notebook:2025-10-20"}})
        with anyio.fail_after(60):
            url, progress = await start_with_progress(spawner)
        instance = await kube.get(api.INSTANCES, "jupyter-alice", namespace)
        assert url == instance["status"]["endpoint"]["url"]
        assert url.startswith("http://")
        assert url.endswith(":8888")
        assert instance["spec"]["variables"] == {"username": "alice",
                                                 "image": "quay.io/jupyter/scipy-notebook:2025-10-20"}
        assert instance["metadata"]["labels"]["hub.jupyter.org/username"] == "alice"

        # The token travels in the instance-owned Secret, never in the spec.
        assert spawner.api_token not in str(instance)
        secret_name = api.env_secret_of(instance)
        assert secret_name is not None
        assert instance["status"]["envSecret"] == secret_name
        secret = await kube.get(SECRETS, secret_name, namespace)
        assert base64.b64decode(secret["data"]["JUPYTERHUB_API_TOKEN"]).decode() == spawner.api_token
        assert secret["metadata"]["ownerReferences"][0]["uid"] == instance["metadata"]["uid"]
        # Made at once with the instance: its key proves it (the instance carries only the digest).
        assert api.ANNOTATION_ENV_DIGEST in instance["metadata"]["annotations"]
        assert api.env_secret_proven(instance, secret)
        assert secret["metadata"]["annotations"][api.ANNOTATION_ENV_KEY] not in str(instance)

        # Progress: phase changes and the operator's Events, ending at 100.
        messages = [p["message"] for p in progress]
        assert progress[-1] == {"progress": 100, "message": f"Server ready at {url}"}
        assert any(m.startswith("Created: created Pod") for m in messages), messages
        values = [p["progress"] for p in progress if "progress" in p]
        assert values == sorted(values)

        # poll() reads the shared cache only: no API request at all.
        conn = await shared.connection(str(control_plane.kubeconfig))
        calls: list[str] = []
        real = conn.client.request

        async def counting(*args: Any, **kwargs: Any) -> bytes:
            calls.append(str(args))
            return await real(*args, **kwargs)

        conn.client.request = counting  # type: ignore[method-assign]
        try:
            assert [await spawner.poll() for _ in range(1000)] == [None] * 1000
        finally:
            conn.client.request = real  # type: ignore[method-assign]
        assert calls == []

        assert spawner.get_state() == {"instance": "jupyter-alice", "namespace": namespace}
        pod = instance["status"]["children"]
        pod_name = next(c["name"] for c in pod if c["kind"] == "Pod")
        with anyio.fail_after(60):
            await spawner.stop()
        assert await kube.get_or_none(api.INSTANCES, "jupyter-alice", namespace) is None
        assert await kube.get_or_none(PODS, pod_name, namespace) is None
        assert await spawner.poll() == 0
        spawner.clear_state()
        assert await spawner.poll() == 0


async def test_named_servers_and_restart(control_plane: ControlPlane, kube: Client, namespace: str,
                                         template: str) -> None:
    async with operator(control_plane, kube, namespace):
        default = make_spawner(control_plane.kubeconfig, namespace)
        named = make_spawner(control_plane.kubeconfig, namespace, server="lab")
        assert await default.poll() == 0  # nothing was ever started
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(default.start)
                tg.start_soon(named.start)
        assert default.get_state()["instance"] == "jupyter-alice"
        assert named.get_state()["instance"] == "jupyter-alice--lab"
        assert (await kube.get(api.INSTANCES, "jupyter-alice--lab", namespace))["status"]["phase"] == "Running"

        # A hub restart: a new process (new shared informer) and new spawner objects from saved state.
        states = default.get_state(), named.get_state()
        await shared.close_all()
        revived = []
        for state, server in zip(states, ("", "lab"), strict=True):
            spawner = make_spawner(control_plane.kubeconfig, "elsewhere-ignored", server=server)
            spawner.load_state(state)
            assert await spawner.poll() is None
            revived.append(spawner)

        # A server that dies is noticed by poll() (here: its pod is deleted under it -> Failed).
        pod = next(c["name"] for c in (await kube.get(api.INSTANCES, "jupyter-alice--lab", namespace))
                   ["status"]["children"] if c["kind"] == "Pod")
        await kube.delete(PODS, pod, namespace, grace_period_seconds=0)
        with anyio.fail_after(30):
            while await revived[1].poll() is None:  # noqa: ASYNC110 (poll reads the cache; no API traffic)
                await anyio.sleep(0.05)
        assert await revived[1].poll() == 1
        assert await revived[0].poll() is None

        with anyio.fail_after(60):
            for spawner in revived:
                await spawner.stop()
        assert await kube.get_or_none(api.INSTANCES, "jupyter-alice", namespace) is None


async def test_delete_forever_removes_retained_pvc(control_plane: ControlPlane, kube: Client, namespace: str,
                                                   template: str) -> None:
    async with operator(control_plane, kube, namespace):
        await static_volume(kube, namespace, "home-bob")
        spawner = make_spawner(control_plane.kubeconfig, namespace, user="bob", template_name="jupyterlab-home")
        with anyio.fail_after(60):
            await spawner.start()
            await spawner.stop()
        pvc = await kube.get(PVCS, "home-bob", namespace)  # retained: survives the stop
        assert pvc["metadata"]["labels"][api.LABEL_RETAINED] == "true"
        spawner.clear_state()
        await spawner.delete_forever()
        await wait_for(kube, PVCS, "home-bob", namespace, lambda o: o is None or o["metadata"].get(
            "deletionTimestamp"), what="PVC home-bob deleted")


async def test_bad_options_missing_template_and_form(control_plane: ControlPlane, kube: Client, namespace: str,
                                                     template: str) -> None:
    cases = [
        ({"variables": {"storage": "5Gi"}}, "'storage' cannot be chosen by users"),
        ({"variables": {"image": "docker.io/evil/miner:latest"}}, "'image' must be one of"),
        ({"variables": {"nope": "1"}}, "'nope' is not a variable of template"),
        ({"profile": "gpu"}, "unknown profile 'gpu'"),
    ]
    for user_options, expect in cases:
        spawner = make_spawner(control_plane.kubeconfig, namespace, user_options=user_options)
        with pytest.raises(SpawnError, match=expect):
            await spawner.start()
    assert (await kube.list(api.INSTANCES, namespace))["items"] == []

    missing = make_spawner(control_plane.kubeconfig, namespace, template_name="no-such-template")
    with pytest.raises(SpawnError, match=f"JupyterNotebookTemplate {namespace}/no-such-template does not exist"):
        await missing.start()

    spawner = make_spawner(control_plane.kubeconfig, namespace, profile_list=[
        {"slug": "small", "display_name": "Small", "variables": {"storage": "5Gi"}, "default": True},
        {"slug": "scipy", "display_name": "SciPy", "variables": {"image": "quay.io/jupyter/scipy-notebook:2025-10-20"}},
    ])
    html = await spawner.get_options_form()
    assert '<input type="radio" name="profile" value="small" checked>' in html
    assert 'name="small/image"' in html
    assert 'name="scipy/image"' not in html  # fixed by the profile
    user_options = spawner.run_options_from_form({"profile": ["small"],
                                                  "small/image": ["quay.io/jupyter/scipy-notebook:2025-10-20"]})
    assert user_options == {"profile": "small", "variables": {"image": "quay.io/jupyter/scipy-notebook:2025-10-20"}}


async def test_failure_reason_reaches_the_hub(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    broken = copy.deepcopy(TEMPLATE)
    broken["spec"]["pods"][0]["spec"]["containers"][0]["image"] = "{{ nosuch }}"
    await kube.create(api.TEMPLATES, broken, namespace)
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await template_valid(kube, "jupyterlab", namespace, "False")
        spawner = make_spawner(control_plane.kubeconfig, namespace)
        start = asyncio.create_task(spawner.start())
        with anyio.fail_after(60):
            progress = await collect(spawner)
            with pytest.raises(SpawnError, match=r"TemplateInvalid.*UnknownReference.*kubectl describe jnt"):
                await start
    assert progress[-1]["message"].startswith("Server failed: TemplateInvalid: template ")
    # delete_failed_instances (default): nothing is left behind
    await wait_for(kube, api.INSTANCES, "jupyter-alice", namespace, lambda o: o is None, what="instance gone")


async def test_a_secret_the_hub_cannot_make_fails_the_start_and_leaves_no_instance(
        control_plane: ControlPlane, kube: Client, namespace: str, template: str) -> None:
    """The Secret and the instance are created at once: if only the instance is made, it is deleted."""
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-secrets"},
             "spec": {"hard": {"secrets": "0"}}}
    async with operator(control_plane, kube, namespace):  # its claim key Secret made first
        await kube.create(RESOURCE_QUOTAS, quota, namespace)
        await wait_for(kube, RESOURCE_QUOTAS, "no-secrets", namespace, lambda o: (o.get("status") or {}).get("hard"),
                       what="the quota's status")
        spawner = make_spawner(control_plane.kubeconfig, namespace)
        with anyio.fail_after(60), pytest.raises(
                SpawnError, match=r"create Secret jupyter-alice-env-.*exceeded quota.*describe resourcequota"):
            await spawner.start()
        await wait_for(kube, api.INSTANCES, "jupyter-alice", namespace, lambda o: o is None, what="instance gone")
        assert await kube.get_or_none(PODS, "jupyter-alice-notebook", namespace) is None


async def test_unschedulable_server_times_out_with_the_reason(control_plane: ControlPlane, kube: Client,
                                                            namespace: str, template: str) -> None:
    async with operator(control_plane, kube, namespace):
        spawner = make_spawner(control_plane.kubeconfig, namespace, start_timeout=3,
                               extra_variables=lambda _: {})
        spawner.instance_annotations = {"purpose": "test"}
        # A node selector no node matches: the scheduler says why, the hub shows it.
        unschedulable = without_home()
        unschedulable["metadata"] = {"name": "nowhere"}
        unschedulable["spec"]["pods"][0]["spec"]["nodeSelector"] = {"no-such-label": "x"}
        await kube.create(api.TEMPLATES, unschedulable, namespace)
        await template_valid(kube, "nowhere", namespace)
        spawner.template_name = "nowhere"
        start = asyncio.create_task(spawner.start())
        with anyio.fail_after(30):
            progress = await collect_until(spawner, start)
            with pytest.raises(SpawnError, match=r"not ready after 3 s .*Provisioning.*node"):
                await start
    assert any("node" in p["message"] for p in progress), progress


async def collect_until(spawner: JupyternetesSpawner, task: asyncio.Task[Any]) -> list[dict[str, Any]]:
    """Progress as JupyterHub's progress handler reads it: until ``task`` ends, plus what is ready then."""
    return [item async for item in iterate_until(task, spawner.progress())]


async def test_operator_not_running(control_plane: ControlPlane, kube: Client, namespace: str,
                                    template: str) -> None:
    spawner = make_spawner(control_plane.kubeconfig, namespace, operator_timeout=2)
    with anyio.fail_after(30), pytest.raises(SpawnError, match="no Jupyternetes operator picked up"):
        await spawner.start()
    await wait_for(kube, api.INSTANCES, "jupyter-alice", namespace, lambda o: o is None, what="instance gone")


async def hub_token(kube: Client, namespace: str) -> str:
    """Apply the shipped hub RBAC (kustomization's resources) in ``namespace``; a token for its ServiceAccount."""
    kustomization = yaml.safe_load((HUB_RBAC / "kustomization.yaml").read_text())
    for doc in kustomization["resources"]:
        manifest = yaml.safe_load((HUB_RBAC / doc).read_text())
        await kube.create(BY_KIND[manifest["kind"]], manifest, namespace)
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
               "spec": {"expirationSeconds": 3600}}
    data = await kube.request("POST", SERVICE_ACCOUNTS.path(namespace, "jupyternetes-hub", "token"),
                              body=orjson.dumps(request))
    return str(orjson.loads(data)["status"]["token"])


async def test_hub_rbac_is_enough_and_no_more(control_plane: ControlPlane, kube: Client, namespace: str,
                                              template: str) -> None:
    token = await hub_token(kube, namespace)
    kubeconfig = control_plane.write_kubeconfig(f"hub-{namespace}", token)
    async with operator(control_plane, kube, namespace):
        await static_volume(kube, namespace, "home-carol")
        spawner = make_spawner(kubeconfig, namespace, user="carol", template_name="jupyterlab-home",
                               user_options={"variables": {
            "image": "quay.io/jupyter/scipy-notebook:2025-10-20"}})
        assert "<select" in await spawner.get_options_form()
        with anyio.fail_after(60):
            url, progress = await start_with_progress(spawner)
        assert url.startswith("http://")
        assert any(p["message"].startswith("Created:") for p in progress)  # Events readable with the Role
        assert await spawner.poll() is None
        with anyio.fail_after(60):
            await spawner.stop()
        await spawner.delete_forever()
        await wait_for(kube, PVCS, "home-carol", namespace, lambda o: o is None or o["metadata"].get(
            "deletionTimestamp"), what="PVC home-carol deleted")

    async with await Client.from_kubeconfig(str(kubeconfig)) as hub:
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sneaky"},
               "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        with pytest.raises(Forbidden):
            await hub.create(PODS, pod, namespace)
        with pytest.raises(Forbidden):
            await hub.get(SECRETS, api.env_secret_name("jupyter-carol", "0123456789abcdef"), namespace)
        with pytest.raises(Forbidden):  # the hub only creates Secrets; the operator owns them for the instance
            await hub.delete(SECRETS, "anything", namespace)
        with pytest.raises(Forbidden):
            await hub.list(api.INSTANCES, "default")  # only where the Role is bound
        with pytest.raises(Forbidden):  # retained claims are deleted by the operator (release requests)
            await hub.list(PVCS, namespace)
        with pytest.raises(Forbidden):
            await hub.delete(PVCS, "home-anyone", namespace)

    # Without the Role, the error says what to do.
    await kube.delete(ROLE_BINDINGS, "jupyternetes-hub", namespace)
    await shared.close_all()
    spawner = make_spawner(kubeconfig, namespace, user="dave")
    with anyio.fail_after(30), pytest.raises(
            SpawnError, match=r"not allowed to list and watch JupyterNotebookTemplates.*deploy/components/hub"):
        await spawner.start()

