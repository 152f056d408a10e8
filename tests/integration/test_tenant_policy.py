"""The tenant policy against the real control plane: templates that would hand out an identity or
another user's objects are Valid=False with the rule's reason, an instance value the kubelet would
expand is refused, the sample template still comes up — and each refusal lifts only with its flag."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import anyio

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.reconcile.tenant import TenantPolicy
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import (
    TEMPLATE,
    condition,
    instance,
    instance_reason,
    ready_instance,
    running_operator,
    template_valid,
)

Edit = Callable[[dict[str, Any]], Any]


def attack(name: str, *edits: Edit) -> dict[str, Any]:
    doc = copy.deepcopy(TEMPLATE)
    doc["metadata"] = {"name": name}
    for edit in edits:
        edit(doc["spec"])
    return doc


def pod(**fields: Any) -> Edit:
    return lambda spec: spec["pods"][0]["spec"].update(fields)


def declare(name: str, **fields: Any) -> Edit:
    return lambda spec: spec["variables"].append({"name": name, **fields})


def resource(**body: Any) -> Edit:
    return lambda spec: spec.setdefault("resources", []).append(body)


ATTACKS: dict[str, tuple[list[Edit], str, str]] = {
    # name: (edits, reason, a fragment of the message)
    "hub-account": ([pod(serviceAccountName="jupyterhub")], "TenantPolicyViolation", "--allowed-service-accounts"),
    "other-home": ([declare("owner", default="nobody"), lambda s: s["pods"][0]["spec"]["volumes"][0][
        "persistentVolumeClaim"].update(claimName="home-{{ owner }}")],
        "VariableInReferenceField", "spec.pods[0].spec.volumes[0].persistentVolumeClaim.claimName"),
    "other-env": ([declare("server", default="x"), lambda s: s["pods"][0]["spec"]["containers"][0].update(
        envFrom=[{"secretRef": {"name": "jupyter-{{ server }}-env"}}])], "VariableInReferenceField", "secretRef"),
    "pinned": ([pod(nodeName="kwok-node-0")], "TenantPolicyViolation", "--allow-node-name"),
    "critical": ([pod(priorityClassName="system-node-critical")], "TenantPolicyViolation",
                 "--allowed-priority-classes"),
    "node-port": ([resource(name="svc", apiVersion="v1", kind="Service", spec={
        "type": "NodePort", "ports": [{"port": 80, "targetPort": 8888}],
        "selector": {"app.kubernetes.io/instance": "{{ instance.name }}"}})],
        "TenantPolicyViolation", "--allowed-service-types"),
    "hostpath-pv": ([lambda s: s["pvcs"][0]["spec"].update(volumeName="hostpath-root")],
                    "TenantPolicyViolation", "--allow-pvc-binding"),
    "side-pod": ([resource(name="side", apiVersion="v1", kind="Pod",
                           spec={"containers": [{"name": "s", "image": "busybox"}]})],
                 "TenantPolicyViolation", "spec.pods"),
}


async def test_attacks_are_refused_and_the_sample_still_runs(
        control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        for name, (edits, _, _) in ATTACKS.items():
            await kube.create(TEMPLATES, attack(name, *edits), namespace)
        await kube.create(INSTANCES, instance("alice"), namespace)
        await kube.create(INSTANCES, instance("mallory", {"username": "mallory"}, template="other-home"), namespace)
        expanding = instance("eve", {"username": "eve", "image": "$(JUPYTERHUB_API_TOKEN)"})
        await kube.create(INSTANCES, expanding, namespace)

        valid = await template_valid(kube, "jupyterlab", namespace)
        assert condition(valid, "Valid")["reason"] == "Valid"
        for name, (_, reason, fragment) in ATTACKS.items():
            refused = condition(await template_valid(kube, name, namespace, status="False"), "Valid")
            assert refused["reason"] == reason, (name, refused)
            assert fragment in refused["message"], (name, refused["message"])

        await ready_instance(kube, "alice", namespace, timeout=60)
        mallory = condition(await instance_reason(kube, "mallory", namespace, "TemplateInvalid"), "Ready")
        assert "VariableInReferenceField" in mallory["message"]
        eve = condition(await instance_reason(kube, "eve", namespace, "InvalidVariable"), "Ready")
        assert "kubelet would expand" in eve["message"]


async def test_each_refusal_lifts_only_with_its_flag(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    loose = TenantPolicy(service_accounts=frozenset({"default", "jupyterhub"}), node_name=True,
                         priority_classes=frozenset({"system-node-critical"}))
    allowed = {"hub-account": ATTACKS["hub-account"], "pinned": ATTACKS["pinned"], "critical": ATTACKS["critical"]}
    async with running_operator(control_plane.kubeconfig, (namespace,), tenant=loose):
        for name, (edits, _, _) in allowed.items():
            await kube.create(TEMPLATES, attack(name, *edits), namespace)
        await kube.create(TEMPLATES, attack("node-port", *ATTACKS["node-port"][0]), namespace)
        opted_in = attack("opted-in", declare("pull", default="none", enum=["none", "regcred"],
                                              allowReferences=True),
                          pod(imagePullSecrets=[{"name": "{{ pull }}"}]))
        await kube.create(TEMPLATES, opted_in, namespace)
        with anyio.fail_after(60):
            for name in allowed:
                # The API server may still object (no such account here; system-node-critical belongs to
                # kube-system): the tenant policy does not.
                verdict = condition(await _validated(kube, name, namespace), "Valid")
                assert verdict["reason"] not in ("TenantPolicyViolation", "VariableInReferenceField"), (name, verdict)
            assert condition(await _validated(kube, "pinned", namespace), "Valid")["status"] == "True"
            refused = condition(await template_valid(kube, "node-port", namespace, status="False"), "Valid")
            assert refused["reason"] == "TenantPolicyViolation"
            await template_valid(kube, "opted-in", namespace)
        await kube.create(INSTANCES, instance("bob", {"username": "bob", "pull": "regcred"}, template="opted-in"),
                          namespace)
        await ready_instance(kube, "bob", namespace, timeout=60)


async def _validated(kube: Client, name: str, namespace: str) -> Any:
    """The template once its Valid condition describes its generation, True or False."""
    while True:
        obj = await kube.get(TEMPLATES, name, namespace)
        if condition(obj, "Valid") and (obj.get("status") or {}).get("observedGeneration") == \
                obj["metadata"]["generation"]:
            return obj
        await anyio.sleep(0.2)


async def test_a_verdict_reached_under_other_settings_is_reached_again(control_plane: ControlPlane, kube: Client,
                                                                       namespace: str) -> None:
    """A template found Valid by an operator that allowed nodeName is refused once the operator runs
    with the default settings again (an upgrade, a tightened flag), before any instance uses it."""
    pinned = copy.deepcopy(TEMPLATE)
    pinned["metadata"] = {"name": "pinned"}
    pinned["spec"]["pods"][0]["spec"]["nodeName"] = "kwok-node-0"
    async with running_operator(control_plane.kubeconfig, (namespace,), tenant=TenantPolicy(node_name=True)):
        await kube.create(TEMPLATES, pinned, namespace)
        await template_valid(kube, "pinned", namespace)
    async with running_operator(control_plane.kubeconfig, (namespace,)):
        refused = await template_valid(kube, "pinned", namespace, status="False")
        assert condition(refused, "Valid")["reason"] == "TenantPolicyViolation"
        await kube.create(INSTANCES, instance("jupyter-pat", {"username": "pat"}, template="pinned"), namespace)
        await instance_reason(kube, "jupyter-pat", namespace, "TemplateInvalid")
