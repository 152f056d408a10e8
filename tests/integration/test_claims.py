"""Retained claims (a user's home) on the real control plane: one live server per claim, labels
that agree about their instance, and the record of servers that delete-forever reads."""

from __future__ import annotations

from jupyternetes_operator import api
from jupyternetes_operator.api import INSTANCES, LABEL_INSTANCE, TEMPLATES
from jupyternetes_operator.kube.client import MERGE_PATCH, Client
from jupyternetes_operator.kube.resources import PODS, PVCS
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


def instance_labels(obj: dict[str, object]) -> dict[str, str]:
    labels: dict[str, str] = obj["metadata"]["labels"]  # type: ignore[index]
    return {k: labels[k] for k in (LABEL_INSTANCE, api.LABEL_APP_INSTANCE)}


async def test_a_live_servers_home_is_never_taken_by_another_server(control_plane: ControlPlane, kube: Client,
                                                                    namespace: str) -> None:
    """Alice's default server runs on home-alice; her named server renders the same claim: it fails
    ClaimInUse instead of mounting (or relabelling) the home the running server uses."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, instance("jupyter-alice", {"username": "alice"}), namespace)
        await ready_instance(kube, "jupyter-alice", namespace)
        claim = await kube.get(PVCS, "home-alice", namespace)
        assert api.claim_servers(claim) == ("jupyter-alice",)

        await kube.create(INSTANCES, instance("jupyter-alice--lab", {"username": "alice"}), namespace)
        failed = await instance_reason(kube, "jupyter-alice--lab", namespace, "ClaimInUse")
        assert failed["status"]["phase"] == "Failed"
        assert "home-alice is in use by instance jupyter-alice" in condition(failed, "Ready")["message"]
        after = await kube.get(PVCS, "home-alice", namespace)
        assert instance_labels(after) == {LABEL_INSTANCE: "jupyter-alice", api.LABEL_APP_INSTANCE: "jupyter-alice"}
        assert api.claim_servers(after) == ("jupyter-alice",)
        assert await kube.get_or_none(PODS, "jupyter-alice--lab-notebook", namespace) is None
        assert (await kube.get(INSTANCES, "jupyter-alice", namespace))["status"]["phase"] == "Running"


async def test_a_server_waits_for_the_holder_being_deleted_then_adopts(control_plane: ControlPlane, kube: Client,
                                                                       namespace: str) -> None:
    """The holder of the claim is being deleted (held here by a finalizer): the next server waits
    Pending/ClaimInUse, then adopts the claim once the holder is gone, and every label that names an
    instance names the adopter; the claim records both servers."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        first = instance("jupyter-bob", {"username": "bob"})
        first["metadata"]["finalizers"] = ["test.jupyternetes.io/hold"]
        await kube.create(INSTANCES, first, namespace)
        await ready_instance(kube, "jupyter-bob", namespace)
        await kube.delete(INSTANCES, "jupyter-bob", namespace)

        await kube.create(INSTANCES, instance("jupyter-bob-2", {"username": "bob"}), namespace)
        waiting = await instance_reason(kube, "jupyter-bob-2", namespace, "ClaimInUse")
        assert waiting["status"]["phase"] == "Pending"
        assert "being deleted" in condition(waiting, "Ready")["message"]

        await kube.patch(INSTANCES, "jupyter-bob", {"metadata": {"finalizers": None}}, namespace,
                         content_type=MERGE_PATCH)
        await ready_instance(kube, "jupyter-bob-2", namespace)
        adopted = await kube.get(PVCS, "home-bob", namespace)
        assert instance_labels(adopted) == {LABEL_INSTANCE: "jupyter-bob-2", api.LABEL_APP_INSTANCE: "jupyter-bob-2"}
        assert api.claim_servers(adopted) == ("jupyter-bob", "jupyter-bob-2")
        assert not api.claim_deletable_by(adopted, "jupyter-bob-2")
        await wait_for(kube, PODS, "jupyter-bob-2-notebook", namespace, lambda p: p is not None,
                       what="the adopter's pod")
