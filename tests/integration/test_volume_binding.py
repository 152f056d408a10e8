"""Pods after their claims (reconcile/binding.py) on the real control plane: a pod that mounts a
claim of an ``Immediate`` StorageClass is created only once the claim is Bound (so it never meets
the scheduler's back-off on an unbound claim); with ``WaitForFirstConsumer`` it is created at once
(its claim binds only after it is scheduled)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.resources import PODS, PVCS, STORAGE_CLASSES
from jupyternetes_operator.reconcile.claimtrust import ANNOTATION_SIGNATURE
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import TEMPLATE, condition, instance, ready_instance, running_operator, wait_for
from .test_claims import planted_claim

PVS = Resource("", "v1", "persistentvolumes", namespaced=False)


def storage_class(name: str, mode: str) -> dict[str, Any]:
    """A class no provisioner serves: its claims bind only to a PersistentVolume the test makes."""
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": "example.com/nobody", "volumeBindingMode": mode}


def volume_for(namespace: str, class_name: str, claim: str) -> dict[str, Any]:
    """A PersistentVolume of ``class_name`` for claim ``claim`` alone: the PV controller binds the two."""
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": f"{namespace}-{claim}"},
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": class_name, "persistentVolumeReclaimPolicy": "Delete",
                     "csi": {"driver": "nobody.example.com", "volumeHandle": f"{namespace}-{claim}"},
                     "claimRef": {"namespace": namespace, "name": claim}}}


def template_on(class_name: str) -> dict[str, Any]:
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["pvcs"][0]["spec"]["storageClassName"] = class_name
    return template


@pytest.fixture
async def classes(kube: Client, namespace: str) -> AsyncIterator[dict[str, str]]:
    names = {mode: f"{namespace}-{mode.lower()}" for mode in ("Immediate", "WaitForFirstConsumer")}
    for mode, name in names.items():
        await kube.create(STORAGE_CLASSES, storage_class(name, mode))
    yield names
    for name in names.values():
        await kube.delete(STORAGE_CLASSES, name)


async def waiting_for_its_claim(kube: Client, namespace: str, class_name: str, user: str) -> Any:
    """``user``'s instance on a template whose home is of ``class_name`` (binding ``Immediate``-ly),
    once its status says its pod waits for that claim to bind."""
    await kube.create(TEMPLATES, template_on(class_name), namespace)
    await kube.create(INSTANCES, instance(f"jupyter-{user}", {"username": user}), namespace)
    return await wait_for(
        kube, INSTANCES, f"jupyter-{user}", namespace,
        lambda i: "to bind before the pod is created" in condition(i, "Ready").get("message", ""),
        what="the instance to say its pod waits for the claim")


async def test_a_pod_waits_for_its_immediate_claim_to_bind(control_plane: ControlPlane, kube: Client,
                                                          namespace: str, classes: dict[str, str]) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        waiting = await waiting_for_its_claim(kube, namespace, classes["Immediate"], "alice")
        assert waiting["status"]["phase"] == "Provisioning"
        assert "PersistentVolumeClaim home-alice" in condition(waiting, "Ready")["message"]
        pod = next(c for c in waiting["status"]["children"] if c["kind"] == "Pod")
        assert pod["state"] == "Missing"
        assert await kube.get_or_none(PODS, "jupyter-alice-notebook", namespace) is None
        claim = await kube.get(PVCS, "home-alice", namespace)
        assert claim["status"]["phase"] == "Pending"

        # A volume for that claim: the PV controller binds it, and only then is the pod created.
        await kube.create(PVS, volume_for(namespace, classes["Immediate"], "home-alice"))
        ready = await ready_instance(kube, "jupyter-alice", namespace, timeout=60)
        bound = await kube.get(PVCS, "home-alice", namespace)
        pod_obj = await kube.get(PODS, "jupyter-alice-notebook", namespace)
        assert bound["status"]["phase"] == "Bound"
        # Never unschedulable for an unbound claim: the scheduler placed it at its first attempt.
        assert pod_obj["spec"]["nodeName"]
        scheduled = next(c for c in pod_obj["status"]["conditions"] if c["type"] == "PodScheduled")
        assert scheduled["status"] == "True"
        assert ready["status"]["phase"] == "Running"
        await kube.delete(INSTANCES, "jupyter-alice", namespace)
        await kube.delete(PVCS, "home-alice", namespace)


async def test_a_pod_is_created_at_once_when_its_claim_waits_for_a_consumer(
        control_plane: ControlPlane, kube: Client, namespace: str, classes: dict[str, str]) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, template_on(classes["WaitForFirstConsumer"]), namespace)
        await kube.create(INSTANCES, instance("jupyter-bob", {"username": "bob"}), namespace)
        pod = await wait_for(kube, PODS, "jupyter-bob-notebook", namespace, lambda p: p is not None,
                             what="the pod, created before its claim binds")
        claim = await kube.get(PVCS, "home-bob", namespace)
        assert claim["status"]["phase"] == "Pending"  # no provisioner serves the class
        assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "home-bob"
        await kube.delete(INSTANCES, "jupyter-bob", namespace)
        await kube.delete(PVCS, "home-bob", namespace)


async def test_a_home_whose_server_goes_before_it_binds_is_signed_for_the_next_server(
        control_plane: ControlPlane, kube: Client, namespace: str, classes: dict[str, str]) -> None:
    """An Immediate claim is signed only once Bound (reconcile/signing.py): one whose server is deleted
    while it waits is signed then, so the next server of that name (another uid, which its creation
    mark does not name) mounts it once it binds instead of failing ClaimUntrusted."""
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await waiting_for_its_claim(kube, namespace, classes["Immediate"], "carol")
        claim = await kube.get(PVCS, "home-carol", namespace)
        assert ANNOTATION_SIGNATURE not in claim["metadata"]["annotations"]  # the volume controller's turn first

        await kube.delete(INSTANCES, "jupyter-carol", namespace)
        await wait_for(kube, PVCS, "home-carol", namespace,
                       lambda o: ANNOTATION_SIGNATURE in o["metadata"]["annotations"], what="home-carol signed")
        await kube.create(PVS, volume_for(namespace, classes["Immediate"], "home-carol"))
        await kube.create(INSTANCES, instance("jupyter-carol", {"username": "carol"}), namespace)
        ready = await ready_instance(kube, "jupyter-carol", namespace, timeout=60)
        assert ready["status"]["phase"] == "Running"
        kept = await kube.get(PVCS, "home-carol", namespace)
        assert kept["metadata"]["uid"] == claim["metadata"]["uid"]
        await kube.delete(INSTANCES, "jupyter-carol", namespace)
        await kube.delete(PVCS, "home-carol", namespace)


async def test_a_copy_of_a_waiting_homes_creation_mark_on_a_planted_claim_is_worthless(
        control_plane: ControlPlane, kube: Client, namespace: str, classes: dict[str, str]) -> None:
    """The creation mark names the instance, not the claim: an attacker who may delete and create
    claims deletes a home while it waits to bind (unsigned) and plants another under its name, with
    the operator's labels and the original's mark copied. The instance trusts only the uid it
    created (recorded in its status), so it fails ClaimUntrusted, creates no pod, and the copy is
    not signed when the instance goes: the next server of that name does not mount it either."""
    async with running_operator(control_plane.kubeconfig, (namespace,)) as operator:
        waiting = await waiting_for_its_claim(kube, namespace, classes["Immediate"], "dave")
        original = await kube.get(PVCS, "home-dave", namespace)
        record = next(c for c in waiting["status"]["children"] if c["kind"] == "PersistentVolumeClaim")
        assert record["uid"] == original["metadata"]["uid"]

        await kube.delete(PVCS, "home-dave", namespace)
        await wait_for(kube, PVCS, "home-dave", namespace, lambda o: o is None, what="home-dave gone")
        copied = {k: v for k, v in original["metadata"]["annotations"].items() if k.startswith("jupyternetes.io/")}
        planted = planted_claim("home-dave", "jupyter-dave", copied)
        planted["spec"]["storageClassName"] = classes["Immediate"]  # type: ignore[index]
        await kube.create(PVCS, planted, namespace)
        failed = await wait_for(kube, INSTANCES, "jupyter-dave", namespace,
                                lambda i: condition(i, "Ready").get("reason") == "ClaimUntrusted",
                                what="the instance to refuse the planted claim")
        assert failed["status"]["phase"] == "Failed"
        assert await kube.get_or_none(PODS, "jupyter-dave-notebook", namespace) is None

        await kube.delete(INSTANCES, "jupyter-dave", namespace)
        await wait_for(kube, INSTANCES, "jupyter-dave", namespace, lambda o: o is None, what="jupyter-dave gone")
        await wait_for(kube, PVCS, "home-dave", namespace, lambda _: not any(
            operator.instance_reconciler.remembered()[memo] for memo in ("unsigned", "made")),
                       what="the gone instance's claims settled")
        after = await kube.get(PVCS, "home-dave", namespace)
        assert after["metadata"]["uid"] != original["metadata"]["uid"]
        assert ANNOTATION_SIGNATURE not in after["metadata"]["annotations"]
        await kube.create(INSTANCES, instance("jupyter-dave", {"username": "dave"}), namespace)
        await wait_for(kube, INSTANCES, "jupyter-dave", namespace,
                       lambda i: condition(i, "Ready").get("reason") == "ClaimUntrusted",
                       what="the next server to refuse the planted claim")
        assert await kube.get_or_none(PODS, "jupyter-dave-notebook", namespace) is None
        await kube.delete(INSTANCES, "jupyter-dave", namespace)
        await kube.delete(PVCS, "home-dave", namespace)
