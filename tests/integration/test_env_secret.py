"""The hub's environment Secret on the real control plane: named by a nonce new at every start,
owned by its instance (checked by the operator first), required by the server's container; a
missing or planted one stops the server from starting, and an instance naming none gets none."""

from __future__ import annotations

from typing import Any

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


def secret(name: str, made_for: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {
        "name": api.env_secret_name(name, NONCE), "annotations": {api.ANNOTATION_ENV_FOR: made_for}},
        "stringData": {"JUPYTERHUB_API_TOKEN": "t0k3n"}}


def with_env(name: str, username: str) -> dict[str, Any]:
    obj = instance(name, {"username": username})
    obj["metadata"]["annotations"] = {api.ANNOTATION_ENV_SECRET: NONCE}
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


async def test_a_missing_or_planted_env_secret_stops_the_server(control_plane: ControlPlane, kube: Client,
                                                                namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)

        await kube.create(INSTANCES, with_env("jupyter-bo", "bo"), namespace)  # the hub never made the Secret
        missing = await instance_reason(kube, "jupyter-bo", namespace, "EnvSecretMissing")
        assert missing["status"]["phase"] == "Failed"

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
        for name in ("jupyter-bo", "jupyter-cy", "jupyter-dee"):
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
