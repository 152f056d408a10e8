"""The hub's environment Secret on the real control plane: named by a nonce new at every start,
owned by its instance (checked by the operator first: it names the instance and proves the key whose
digest the instance declares), required by the server's container; one created just after its
instance is waited for; a missing or planted one stops the server from starting (and a planted one
is not kept owned), and an instance naming none gets none."""

from __future__ import annotations

from typing import Any

import anyio

from jupyternetes_operator import api
from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import PODS, SECRETS
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import (
    TEMPLATE,
    condition,
    instance,
    instance_reason,
    ready_instance,
    running_operator,
    template_valid,
    wait_for,
)

NONCE = "00112233445566ff"
KEY = "5ec2e7ke7f0r7h15574r7"


def secret(name: str, made_for: str, key: str | None = None) -> dict[str, Any]:
    annotations = {api.ANNOTATION_ENV_FOR: made_for, **({api.ANNOTATION_ENV_KEY: key} if key is not None else {})}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": api.env_secret_name(name, NONCE), "annotations": annotations},
        "stringData": {"JUPYTERHUB_API_TOKEN": "t0k3n"}}


def with_env(name: str, username: str, key: str | None = None) -> dict[str, Any]:
    """The instance naming its Secret by the nonce, and, as the spawner makes it, the digest of ``key``."""
    obj = instance(name, {"username": username})
    obj["metadata"]["annotations"] = {api.ANNOTATION_ENV_SECRET: NONCE, **(
        {api.ANNOTATION_ENV_DIGEST: api.env_key_digest(key)} if key is not None else {})}
    return obj


async def test_the_env_secret_is_owned_by_its_instance_and_required_by_the_server(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(SECRETS, secret("jupyter-ann", "jupyter-ann"), namespace)
        await kube.create(INSTANCES, with_env("jupyter-ann", "ann"), namespace)
        running = await ready_instance(kube, "jupyter-ann", namespace)
        name = api.env_secret_name("jupyter-ann", NONCE)
        assert running["status"]["envSecret"] == name
        owned = await kube.get(SECRETS, name, namespace)
        assert [(o["kind"], o["uid"]) for o in owned["metadata"]["ownerReferences"]] == [
            (api.INSTANCE_KIND, running["metadata"]["uid"])]
        pod = await kube.get(PODS, "jupyter-ann-notebook", namespace)
        assert pod["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": name, "optional": False}}]

        await kube.delete(INSTANCES, "jupyter-ann", namespace)
        await wait_for(kube, SECRETS, name, namespace, lambda o: o is None,
                       what="the Secret garbage-collected with its instance")


async def test_a_secret_created_just_after_its_instance_is_waited_for(control_plane: ControlPlane, kube: Client,
                                                                      namespace: str) -> None:
    """The spawner creates the two at once: the operator may see the instance first."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, with_env("jupyter-eve", "eve", KEY), namespace)
        waiting = await instance_reason(kube, "jupyter-eve", namespace, "EnvSecretPending")  # after the 2 s grace
        assert waiting["status"]["phase"] == "Pending"
        assert await kube.get_or_none(PODS, "jupyter-eve-notebook", namespace) is None  # nothing before the Secret
        await kube.create(SECRETS, secret("jupyter-eve", "jupyter-eve", KEY), namespace)
        running = await ready_instance(kube, "jupyter-eve", namespace)
        owned = await kube.get(SECRETS, api.env_secret_name("jupyter-eve", NONCE), namespace)
        assert [o["uid"] for o in owned["metadata"]["ownerReferences"]] == [running["metadata"]["uid"]]


async def test_a_missing_or_planted_env_secret_stops_the_server(control_plane: ControlPlane, kube: Client,
                                                                namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,), env_secret_wait=1.0):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)

        await kube.create(INSTANCES, with_env("jupyter-bo", "bo", KEY), namespace)  # the hub never made the Secret
        missing = await instance_reason(kube, "jupyter-bo", namespace, "EnvSecretMissing")
        assert missing["status"]["phase"] == "Failed"
        assert "does not exist 1 s after the instance was seen" in condition(missing, "Ready")["message"]

        # Made for this instance, by someone who saw its digest but cannot know the key: owned for a
        # moment by the same patch, then taken back, and never wired in.
        for name, planted_key in (("jupyter-fay", api.env_key_digest(KEY)), ("jupyter-gus", None)):
            await kube.create(SECRETS, secret(name, name, planted_key), namespace)
            await kube.create(INSTANCES, with_env(name, name.removeprefix("jupyter-"), KEY), namespace)
            await instance_reason(kube, name, namespace, "EnvSecretMismatch")
            await wait_for(kube, SECRETS, api.env_secret_name(name, NONCE), namespace,
                           lambda o: "ownerReferences" not in o["metadata"], what=f"{name}'s planted Secret disowned")
        # A later pass (the instance changed) keeps each failure (no new wait for the missing one) and
        # leaves the planted Secret alone.
        for name in ("jupyter-bo", "jupyter-fay"):
            await kube.patch(INSTANCES, name, {"metadata": {"labels": {"touched": "yes"}}}, namespace)
        await anyio.sleep(1.0)
        for name, reason in (("jupyter-bo", "EnvSecretMissing"), ("jupyter-fay", "EnvSecretMismatch")):
            again = await kube.get(INSTANCES, name, namespace)
            assert (again["status"]["phase"], condition(again, "Ready")["reason"]) == ("Failed", reason)
        assert "ownerReferences" not in (await kube.get(SECRETS, api.env_secret_name("jupyter-fay", NONCE),
                                                        namespace))["metadata"]

        # Someone made a Secret under the name, but not for this instance.
        await kube.create(SECRETS, secret("jupyter-cy", "jupyter-someone-else"), namespace)
        await kube.create(INSTANCES, with_env("jupyter-cy", "cy"), namespace)
        planted = await instance_reason(kube, "jupyter-cy", namespace, "EnvSecretMismatch")
        assert "was not made for this instance" in condition(planted, "Ready")["message"]
        assert "ownerReferences" not in (await kube.get(SECRETS, api.env_secret_name("jupyter-cy", NONCE),
                                                        namespace))["metadata"]
        # A Secret under the name with no annotations at all.
        bare = secret("jupyter-dee", "jupyter-dee")
        del bare["metadata"]["annotations"]
        await kube.create(SECRETS, bare, namespace)
        await kube.create(INSTANCES, with_env("jupyter-dee", "dee"), namespace)
        await instance_reason(kube, "jupyter-dee", namespace, "EnvSecretMismatch")
        for name in ("jupyter-bo", "jupyter-cy", "jupyter-dee", "jupyter-fay", "jupyter-gus"):
            assert await kube.get_or_none(PODS, f"{name}-notebook", namespace) is None


async def test_a_secret_named_after_an_instance_is_not_wired_in(control_plane: ControlPlane, kube: Client,
                                                                namespace: str) -> None:
    """An instance that names no Secret (made with kubectl, say) gets none, whatever exists by its name."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        planted = secret("jupyter-di", "jupyter-di")
        planted["metadata"]["name"] = "jupyter-di-env"
        await kube.create(SECRETS, planted, namespace)
        await kube.create(INSTANCES, instance("jupyter-di", {"username": "di"}), namespace)
        await ready_instance(kube, "jupyter-di", namespace)
        pod = await kube.get(PODS, "jupyter-di-notebook", namespace)
        assert "envFrom" not in pod["spec"]["containers"][0]
        assert "ownerReferences" not in (await kube.get(SECRETS, "jupyter-di-env", namespace))["metadata"]
