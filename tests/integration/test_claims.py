"""Retained claims (a user's home) on the real control plane: one live server per claim, labels
that agree about their instance, and the record of servers that delete-forever reads; and a
child's create refused for good."""

from __future__ import annotations

import json

import anyio

from jupyternetes_operator import api
from jupyternetes_operator.api import INSTANCES, LABEL_INSTANCE, TEMPLATES
from jupyternetes_operator.kube.client import MERGE_PATCH, Client, Resource
from jupyternetes_operator.kube.resources import EVENTS, PODS, PVCS
from jupyternetes_operator.reconcile.claimtrust import ANNOTATION_SIGNATURE
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

QUOTAS = Resource("", "v1", "resourcequotas")


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


def release_request(name: str) -> dict[str, object]:
    return {"apiVersion": INSTANCES.api_version, "kind": "JupyterNotebookInstance", "metadata": {"name": name},
            "spec": {"release": True}}


async def released(kube: Client, name: str, namespace: str) -> str:
    done = await wait_for(kube, INSTANCES, name, namespace,
                          lambda o: o is not None and (o.get("status") or {}).get("phase") == "Released",
                          what=f"{name} Released")
    await kube.delete(INSTANCES, name, namespace)
    await wait_for(kube, INSTANCES, name, namespace, lambda o: o is None, what=f"{name} gone")
    return str(condition(done, "Ready")["message"])


async def test_deleting_one_server_forever_keeps_a_home_another_server_used(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """Two servers of one user used home-dan in turn. Releasing one (delete-forever) keeps the home
    and forgets that server; releasing the other, the last on record, deletes it."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        for server in ("jupyter-dan", "jupyter-dan--lab"):
            await kube.create(INSTANCES, instance(server, {"username": "dan"}), namespace)
            await ready_instance(kube, server, namespace)
            await kube.delete(INSTANCES, server, namespace)
            await wait_for(kube, INSTANCES, server, namespace, lambda o: o is None, what=f"{server} gone")
        home = await kube.get(PVCS, "home-dan", namespace)
        assert api.claim_servers(home) == ("jupyter-dan", "jupyter-dan--lab")

        await kube.create(INSTANCES, release_request("jupyter-dan--lab"), namespace)
        assert await released(kube, "jupyter-dan--lab", namespace) == "kept home-dan (also used by jupyter-dan)"
        kept = await kube.get(PVCS, "home-dan", namespace)
        assert kept["metadata"]["uid"] == home["metadata"]["uid"]
        assert "deletionTimestamp" not in kept["metadata"]
        assert api.claim_servers(kept) == ("jupyter-dan",)

        await kube.create(INSTANCES, release_request("jupyter-dan"), namespace)
        assert await released(kube, "jupyter-dan", namespace) == "deleted home-dan"
        await wait_for(kube, PVCS, "home-dan", namespace, lambda o: o is None or o["metadata"].get(
            "deletionTimestamp"), what="home-dan deleted")


async def test_a_release_never_deletes_a_home_a_live_server_holds(control_plane: ControlPlane, kube: Client,
                                                                  namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, instance("jupyter-eve", {"username": "eve"}), namespace)
        await ready_instance(kube, "jupyter-eve", namespace)
        await kube.delete(INSTANCES, "jupyter-eve", namespace)
        await wait_for(kube, INSTANCES, "jupyter-eve", namespace, lambda o: o is None, what="jupyter-eve gone")
        await kube.create(INSTANCES, instance("jupyter-eve-2", {"username": "eve"}), namespace)
        await ready_instance(kube, "jupyter-eve-2", namespace)
        # The record is forged to name only the released server; the live holder still protects it.
        await kube.patch(PVCS, "home-eve", {"metadata": {"annotations": {api.ANNOTATION_SERVERS: "jupyter-eve"}}},
                         namespace, content_type=MERGE_PATCH)
        await kube.create(INSTANCES, release_request("jupyter-eve"), namespace)
        assert await released(kube, "jupyter-eve", namespace) == "kept home-eve (held by another instance)"
        assert "deletionTimestamp" not in (await kube.get(PVCS, "home-eve", namespace))["metadata"]
        assert (await kube.get(INSTANCES, "jupyter-eve-2", namespace))["status"]["phase"] == "Running"


async def test_the_api_server_refuses_a_request_that_is_neither(control_plane: ControlPlane, kube: Client,
                                                                namespace: str) -> None:
    proc = control_plane.kubectl("create", "-n", namespace, "-f", "-", check=False, input=json.dumps(
        {"apiVersion": INSTANCES.api_version, "kind": "JupyterNotebookInstance", "metadata": {"name": "x"},
         "spec": {"variables": {}}}))
    assert proc.returncode != 0
    assert "spec.template is required (unless spec.release is true)" in proc.stderr
    await kube.create(INSTANCES, release_request("y"), namespace)
    flip = control_plane.kubectl("patch", "-n", namespace, "jupyternotebookinstance", "y", "--type=merge",
                                 "-p", '{"spec": {"release": false}}', check=False)
    assert flip.returncode != 0
    assert "spec.release is immutable" in flip.stderr


async def test_a_create_the_api_server_refuses_for_good_fails_the_instance(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """A quota admits no more pods: the pod's create answers 403, which no retry changes, so the
    instance fails ChildRejected with the API server's words instead of retrying forever."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(QUOTAS, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-pods"},
                                   "spec": {"hard": {"pods": "0"}}}, namespace)
        await wait_for(kube, QUOTAS, "no-pods", namespace, lambda q: (q.get("status") or {}).get("hard"),
                       what="the quota controller to count the namespace")
        await kube.create(INSTANCES, instance("jupyter-quinn", {"username": "quinn"}), namespace)
        failed = await instance_reason(kube, "jupyter-quinn", namespace, "ChildRejected")
        assert failed["status"]["phase"] == "Failed"
        assert "exceeded quota" in condition(failed, "Ready")["message"]


def planted_claim(name: str, holder: str, annotations: dict[str, str] | None = None) -> dict[str, object]:
    """A claim someone made under a user's home name, with the operator's labels."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "labels": {api.LABEL_RETAINED: "true", LABEL_INSTANCE: holder,
                                                  api.LABEL_MANAGED_BY: api.MANAGED_BY},
                         "annotations": annotations or {}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}


async def test_a_planted_home_is_never_mounted(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """A claim created beforehand under a user's home name, labelled as retained for that very user's
    instance: it was not made by the operator, so the instance fails ClaimUntrusted and no pod mounts
    it. A valid signature copied from a real home onto a re-created claim does not help either."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(PVCS, planted_claim("home-mallory", "jupyter-mallory"), namespace)
        await kube.create(INSTANCES, instance("jupyter-mallory", {"username": "mallory"}), namespace)
        failed = await instance_reason(kube, "jupyter-mallory", namespace, "ClaimUntrusted")
        assert "home-mallory is marked retained but was not created or adopted" in condition(failed, "Ready")["message"]
        assert await kube.get_or_none(PODS, "jupyter-mallory-notebook", namespace) is None

        # A real home, signed; then deleted and re-created by someone with the signature copied over.
        await kube.create(INSTANCES, instance("jupyter-olga", {"username": "olga"}), namespace)
        await ready_instance(kube, "jupyter-olga", namespace)
        real = await kube.get(PVCS, "home-olga", namespace)
        copied = {k: v for k, v in real["metadata"]["annotations"].items() if k.startswith("jupyternetes.io/")}
        assert "jupyternetes.io/claim-signature" in copied
        await kube.delete(INSTANCES, "jupyter-olga", namespace)
        await wait_for(kube, INSTANCES, "jupyter-olga", namespace, lambda o: o is None, what="jupyter-olga gone")
        await kube.delete(PVCS, "home-olga", namespace)
        await wait_for(kube, PVCS, "home-olga", namespace, lambda o: o is None, what="home-olga gone")
        await kube.create(PVCS, planted_claim("home-olga", "jupyter-olga", copied), namespace)
        await kube.create(INSTANCES, instance("jupyter-olga", {"username": "olga"}), namespace)
        await instance_reason(kube, "jupyter-olga", namespace, "ClaimUntrusted")
        assert await kube.get_or_none(PODS, "jupyter-olga-notebook", namespace) is None


async def test_an_upgrade_adopts_unsigned_homes_when_told_to(control_plane: ControlPlane, kube: Client,
                                                              namespace: str) -> None:
    """Homes made before signatures carry none: with adopt_unsigned_claims the operator adopts them
    (and signs them), so the setting can be turned off again afterwards; a wrong signature never passes."""
    async with running_operator(control_plane.kubeconfig, (namespace,), adopt_unsigned_claims=True):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(PVCS, planted_claim("home-legacy", "jupyter-legacy-old"), namespace)
        await kube.create(PVCS, planted_claim("home-forged", "jupyter-forged-old",
                                              {"jupyternetes.io/claim-signature": "0" * 64}), namespace)
        await kube.create(INSTANCES, instance("jupyter-legacy", {"username": "legacy"}), namespace)
        await ready_instance(kube, "jupyter-legacy", namespace)
        await kube.create(INSTANCES, instance("jupyter-forged", {"username": "forged"}), namespace)
        await instance_reason(kube, "jupyter-forged", namespace, "ClaimUntrusted")
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.delete(INSTANCES, "jupyter-legacy", namespace)
        await wait_for(kube, INSTANCES, "jupyter-legacy", namespace, lambda o: o is None, what="gone")
        await kube.create(INSTANCES, instance("jupyter-legacy-2", {"username": "legacy"}), namespace)
        await ready_instance(kube, "jupyter-legacy-2", namespace)  # signed at the adoption: trusted now


async def test_a_signature_that_did_not_land_is_completed_by_the_creator(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """The write that signs a new claim is lost (a reset, a 500): the claim still carries the mark of the
    instance that created it, which alone trusts it and signs it at its next pass."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, instance("jupyter-lost", {"username": "lost"}), namespace)
        await ready_instance(kube, "jupyter-lost", namespace)
        signature = (await kube.get(PVCS, "home-lost", namespace))["metadata"]["annotations"][ANNOTATION_SIGNATURE]
        await kube.patch(PVCS, "home-lost", {"metadata": {"annotations": {ANNOTATION_SIGNATURE: None}}}, namespace,
                         content_type=MERGE_PATCH)
        await kube.patch(INSTANCES, "jupyter-lost", {"metadata": {"annotations": {"touched": "1"}}}, namespace,
                         content_type=MERGE_PATCH)
        await wait_for(kube, PVCS, "home-lost", namespace,
                       lambda o: (o["metadata"].get("annotations") or {}).get(ANNOTATION_SIGNATURE) == signature,
                       what="the claim signed again by its creator")
        assert (await kube.get(INSTANCES, "jupyter-lost", namespace))["status"]["phase"] == "Running"


async def test_a_new_home_is_signed_once_bound_out_of_the_volume_controllers_way(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    """Twenty homes on the cluster's Immediate class at once: the operator writes a new claim again
    (its signature) only once it is Bound, so the volume controller's first save does not meet that
    write (before: a ProvisioningFailed 'object has been modified' Warning on 13 to 18 of 20 claims),
    and every home ends signed. This cluster's provisioner (kwok) binds a claim at its create, racing
    that save by itself: 1 of 60 claims here, 0 of 100 made directly, hence a margin, not zero."""
    names = [f"jupyter-c{n}" for n in range(20)]
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(kube.create, INSTANCES, instance(name, {"username": name[8:]}), namespace)
        for name in names:
            await ready_instance(kube, name, namespace)
        for name in names:
            await wait_for(kube, PVCS, f"home-{name[8:]}", namespace,
                           lambda o: ANNOTATION_SIGNATURE in (o["metadata"].get("annotations") or {}),
                           what=f"home-{name[8:]} signed")
    events = await kube.list(EVENTS, namespace)
    failures = [f"{e['regarding']['name']}: {e.get('note')}" for e in events["items"]
                if e["regarding"].get("kind") == "PersistentVolumeClaim" and e.get("reason") == "ProvisioningFailed"]
    assert len(failures) <= 3, failures
